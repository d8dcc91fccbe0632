#include "app/setup.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <thread>

#include "data/batch.h"
#include "eval/blur.h"
#include "method/prompt_tokens.h"
#include "method/scores.h"
#include "util/check.h"
#include "util/log.h"

namespace tc::app {

Runtime init_runtime(const config::Config& cfg) {
  Runtime rt;
  const auto& env = dist::env();
  int threads = static_cast<int>(cfg.get_int("runtime.threads"));
  if (threads <= 0) {
    int cores = static_cast<int>(std::thread::hardware_concurrency());
    threads = std::max(1, cores / std::max(1, env.local_world));
  }
  at::set_num_threads(threads);
  rt.threads = threads;

  std::string dev = cfg.get_string("runtime.device");
  bool cuda = torch::cuda::is_available();
  if (dev == "cuda" && !cuda)
    TC_USAGE_ERROR("--runtime.device cuda: no CUDA device is available to this libtorch "
                   "(CPU-only build, no GPU visible, or libtorch_cuda not loaded: see `tokenclip "
                   "version` and `ldd`)");
  if (dev == "cuda" || (dev == "auto" && cuda)) {
    int n = static_cast<int>(torch::cuda::device_count());
    rt.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank % std::max(1, n)));
  }
  std::string backend = cfg.get_string("runtime.comm");
  dist::set_comm_timeout(static_cast<double>(cfg.get_int("runtime.comm_timeout_s")));
  // NCCL only under a launcher (it bootstraps over MPI) and with a device per rank; otherwise
  // device tensors go through host copies to MPI (or nowhere, for one process).
  if (backend == "auto") backend = rt.device.is_cuda() && dist::nccl_fits_node() ? "nccl" : (env.mpi ? "mpi" : "single");
  rt.comm = dist::make_communicator(backend);
  log::info("runtime: rank {}/{} (local {}/{}), device {}, {} thread(s), communicator {}",
            env.rank, env.world, env.local_rank, env.local_world, rt.device.str(), threads,
            rt.comm->backend());
  return rt;
}

clip::LoadOptions clip_load_options(const config::Config& cfg) {
  clip::LoadOptions o;
  o.preset = cfg.get_string("model.preset");
  o.image_size = static_cast<int>(cfg.get_int("model.image_size"));
  o.vv_from = static_cast<int>(cfg.get_int("model.vv_from"));
  for (int64_t l : cfg.get_int_list("model.layers")) o.layers.push_back(static_cast<int>(l));
  o.activation = cfg.get_string("model.activation");
  o.precision = cfg.get_string("model.precision");
  return o;
}

clip::LoadedClip load_backbone(const config::Config& cfg, const std::string& weights) {
  clip::LoadOptions o = clip_load_options(cfg);
  if (weights.empty()) {
    std::string preset = o.preset == "auto" ? "tiny" : o.preset;
    auto seed = static_cast<uint64_t>(cfg.get_int("model.init_seed"));
    log::warn("no --weights: using a RANDOM-initialised '{}' CLIP (seed {}). Results show that the "
              "pipeline runs, not zero-shot skill.", preset, seed);
    return clip::random_clip(preset, seed, o);
  }
  auto loaded = clip::load_clip(weights, o);
  log::info("backbone: {} ({}), {}", weights, loaded.format, loaded.model->config.describe());
  return loaded;
}

clip::Tokenizer load_tokenizer(const std::string& bpe, const clip::LoadedClip& backbone) {
  if (!bpe.empty()) {
    clip::Tokenizer tok = clip::Tokenizer::load(bpe);
    // A vocabulary larger than the text tower's embedding table would index past it.
    TC_CHECK_USAGE(tok.vocab_size() <= backbone.model->config.text.vocab,
                   "--bpe '{}' has {} tokens but the text tower of {} embeds {}: use the vocabulary the weights "
                   "were trained with", bpe, tok.vocab_size(),
                   backbone.path.empty() ? "the random CLIP" : backbone.path, backbone.model->config.text.vocab);
    return tok;
  }
  TC_CHECK_USAGE(backbone.random,
                 "--bpe is required with pretrained weights ({}): give CLIP's vocabulary file "
                 "(bpe_simple_vocab_16e6.txt.gz, or a Hugging Face vocab.json next to merges.txt)",
                 backbone.path);
  return clip::Tokenizer::byte_fallback(backbone.model->config.text.vocab);
}

method::Detector make_detector(const clip::LoadedClip& backbone, const clip::Tokenizer& tokenizer,
                               const method::MethodOptions& options, uint64_t seed,
                               const torch::Device& device) {
  options.validate(backbone.model->config.text.layers);
  auto tokens = method::make_prompt_tokens(tokenizer, options, backbone.model->config.text.context);
  method::Detector det(backbone.model, options, tokens, seed);
  det->to(device);
  return det;
}

train::TrainBatch DatasetImageSource::load(const std::vector<int64_t>& idx) {
  data::Batch raw = data::read_batch(reader_, idx, true);
  train::TrainBatch b;
  b.size = static_cast<int64_t>(idx.size());
  b.indices = idx;
  b.images = data::normalize_clip(raw.images.to(device_));
  b.masks = raw.masks.to(device_).to(torch::kFloat);
  b.labels = raw.labels.to(device_);
  return b;
}

config::Config checkpoint_config(const method::Checkpoint& ckpt, const std::string& path) {
  auto cfg = config::Config::for_sections({"model", "method", "train", "runtime"});
  cfg.apply(config::parse_ini_text(ckpt.meta.config, path + " (stored config)"));
  return cfg;
}

Restored restore_detector(const std::string& path, const std::string& weights_override,
                          const std::string& bpe, const torch::Device& device) {
  Restored r;
  r.ckpt = method::read_checkpoint(path);
  r.cfg = checkpoint_config(r.ckpt, path);
  std::string weights = weights_override.empty() ? r.ckpt.meta.backbone_path : weights_override;
  r.backbone = load_backbone(r.cfg, weights);
  TC_CHECK_USAGE(r.backbone.fingerprint == r.ckpt.meta.backbone_fingerprint,
                 "checkpoint '{}' was trained with backbone '{}' (fingerprint {}), but '{}' has fingerprint "
                 "{}; use the same weights",
                 path, r.ckpt.meta.backbone_path, r.ckpt.meta.backbone_fingerprint,
                 weights.empty() ? "the random tiny CLIP" : weights, r.backbone.fingerprint);
  auto tokenizer = load_tokenizer(bpe, r.backbone);
  r.mopt = method::MethodOptions::from_config(r.cfg);
  r.det = make_detector(r.backbone, tokenizer, r.mopt, 0, device);
  method::load_learnable(*r.det, r.ckpt, path);
  r.det->eval();
  return r;
}

ImageResults score_images(Restored& r, const method::TextFeatures& text, const at::Tensor& images,
                          double sigma) {
  method::FeatureBatch f = r.det->extract_features(images);
  auto out = r.det->forward_features(f, nullptr, &text);
  ImageResults res;
  res.count = images.size(0);
  res.maps = out.map.to(at::kCPU).to(at::kFloat).contiguous().clone();
  const int S = static_cast<int>(res.maps.size(1));
  for (int64_t i = 0; i < res.count; ++i) {
    float* m = res.maps[i].data_ptr<float>();
    eval::gaussian_blur(m, m, S, S, sigma);
  }
  res.global_prob = out.global_prob.to(at::kCPU).to(at::kFloat);
  res.scores = method::combine_image_score(res.global_prob, res.maps, r.mopt.gamma,
                                           static_cast<int64_t>(out.base_probs.size()))
                   .to(at::kFloat).contiguous();
  const auto& probs = r.mopt.map_source == "dyn" && !out.dyn_probs.empty() ? out.dyn_probs : out.base_probs;
  for (const auto& p : probs) res.token_probs.push_back(p.to(at::kCPU).to(at::kFloat).contiguous());
  for (const auto& a : out.assignment) res.assignment.push_back(a.to(at::kCPU).to(at::kFloat).contiguous());
  return res;
}


}  // namespace tc::app
