// `tokenclip train`: learn the prompts (and subspace heads) on an auxiliary dataset.
// Reads top to bottom: runtime -> data -> backbone -> detector -> agreement -> loop.
#include <H5Cpp.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>

#include "app/command.h"
#include "app/setup.h"
#include "data/batch.h"
#include "data/dataset.h"
#include "data/features.h"
#include "dist/agreement.h"
#include "method/checkpoint.h"
#include "method/method_config.h"
#include "train/run_dir.h"
#include "train/stop_signal.h"
#include "train/train_state_io.h"
#include "train/trainer.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/log.h"

namespace tc::app {
namespace detail_train {

// The detector as the trainer sees it: learnable tensors and the loss of a local batch.
class DetectorModel final : public train::TrainModel {
 public:
  explicit DetectorModel(method::Detector det) : det_(std::move(det)) {}

  std::vector<train::NamedTensor> learnable() override {
    std::vector<train::NamedTensor> out;
    for (const auto& [name, t] : det_->learnable_parameters()) out.push_back({name, t});
    return out;
  }

  train::StepLoss forward_loss(const train::TrainBatch& b) override {
    method::Targets targets{b.masks, b.labels};
    method::DetectorOutput out;
    if (b.images.defined()) {
      out = det_->forward(b.images, &targets);
    } else {
      method::FeatureBatch f{b.global, b.tokens};
      out = det_->forward_features(f, &targets);
    }
    train::StepLoss s;
    s.loss = out.loss.total;
    s.terms = {{"loss_global", out.loss.global.item<double>()},
               {"loss_base_local", out.loss.base_local.item<double>()},
               {"loss_dyn_local", out.loss.dyn_local.item<double>()},
               {"loss_reg", out.loss.reg.item<double>()}};
    const auto& ot = out.ot;
    for (size_t l = 0; l < ot.transport_cost.size(); ++l) {
      std::string p = ot.transport_cost.size() > 1 ? fmt::format("l{}_", l) : "";
      s.diagnostics.emplace_back(p + "ot_cost", ot.transport_cost[l]);
      s.diagnostics.emplace_back(p + "ot_entropy", ot.entropy[l]);
      if (l < ot.max_iterations.size())
        s.diagnostics.emplace_back(p + "ot_iters", static_cast<double>(ot.max_iterations[l]));
      if (l < ot.max_violation.size()) s.diagnostics.emplace_back(p + "ot_violation", ot.max_violation[l]);
      if (l < ot.mass.size())
        for (size_t q = 0; q < ot.mass[l].size(); ++q)
          s.diagnostics.emplace_back(fmt::format("{}mass_q{}", p, q), ot.mass[l][q]);
    }
    return s;
  }

 private:
  method::Detector det_;
};

// Frozen-backbone features from a feature cache (masks and labels still come from the data).
class CacheSource final : public train::BatchSource {
 public:
  CacheSource(const data::DatasetReader& reader, const data::FeatureCacheReader& cache, torch::Device device)
      : reader_(reader), cache_(cache), device_(device) {}
  train::TrainBatch load(const std::vector<int64_t>& idx) override {
    data::Batch raw = data::read_batch(reader_, idx, true);
    data::FeatureRows rows = cache_.read(idx);
    train::TrainBatch b;
    b.size = static_cast<int64_t>(idx.size());
    b.indices = idx;
    b.global = rows.global.to(device_);
    for (auto& t : rows.tokens) b.tokens.push_back(t.to(device_));
    b.masks = raw.masks.to(device_).to(torch::kFloat);
    b.labels = raw.labels.to(device_);
    return b;
  }

 private:
  const data::DatasetReader& reader_;
  const data::FeatureCacheReader& cache_;
  torch::Device device_;
};

std::string short_hash(const std::string& h) { return h.substr(0, 12); }

// --resume: everything that must match the checkpoint is checked before anything is written
// (backbone, recipe, training data, then learnable shapes and finite values as it loads).
// Loads the learnable tensors into `det` and returns the trainer state.
train::TrainState load_resume(const std::string& path, const config::Config& cfg,
                              const data::DatasetReader& reader, const clip::LoadedClip& backbone,
                              method::DetectorImpl& det) {
  auto ck = method::read_checkpoint(path);
  TC_CHECK_USAGE(ck.meta.backbone_fingerprint == backbone.fingerprint,
                 "--resume: checkpoint '{}' was trained with backbone {} (fingerprint {}), not {} ({})", path,
                 ck.meta.backbone_path, short_hash(ck.meta.backbone_fingerprint),
                 backbone.path.empty() ? "the random tiny CLIP" : backbone.path, short_hash(backbone.fingerprint));
  auto diffs = train::recipe_differences(checkpoint_config(ck, path), cfg);
  if (!diffs.empty()) {
    std::string all;
    for (const auto& d : diffs) all += "\n  " + d;
    TC_FAIL_HINT(ErrorKind::Usage,
                 "a resumed run continues the same training: resume with the run's settings (its "
                 "config.ini), or start a new run (a new --out, or --overwrite)",
                 "--resume: checkpoint '{}' was trained with another recipe ({} key(s) differ):{}", path,
                 diffs.size(), all);
  }
  const auto& meta = reader.meta();
  TC_CHECK_USAGE(ck.meta.dataset_hash == meta.content_hash,
                 "--resume: checkpoint '{}' was trained on dataset '{}' (content hash {}), but --data '{}' "
                 "holds '{}' (content hash {}); resume with the same --data",
                 path, ck.meta.dataset_name, short_hash(ck.meta.dataset_hash), reader.path(), meta.name,
                 short_hash(meta.content_hash));
  method::load_learnable(det, ck, path);
  train::TrainState st;
  TC_CHECK_INPUT(train::read_train_state(path, &st),
                 "--resume: checkpoint '{}' holds no trainer state (an imported checkpoint?)", path);
  return st;
}

int run_train(Invocation& inv) {
  train::StopSignals signals;  // SIGTERM/SIGUSR1 from start-up on: stop after a step, checkpointed
  const auto& cfg = inv.cfg;
  const std::string out_dir = cfg.get_string("out");
  const bool resume = cfg.get_bool("resume");
  // Nothing is written into OUT before every check has passed (this one, the resume checks
  // and the ranks' agreement), so a refused run leaves an earlier one as it was.
  train::check_out_dir(out_dir, resume, cfg.get_bool("overwrite"));
  Runtime rt = init_runtime(cfg);
  auto& comm = *rt.comm;

  // Data: refuse what the recipe cannot train on before loading any model.
  data::DatasetReader reader(cfg.get_string("data"));
  const auto& meta = reader.meta();
  method::MethodOptions mopt = method::MethodOptions::from_config(cfg);
  int64_t with_mask = 0, anomalous_without_mask = 0;
  for (int64_t i = 0; i < reader.size(); ++i) {
    with_mask += reader.has_mask()[i];
    if (reader.labels()[i] && !reader.has_mask()[i]) ++anomalous_without_mask;
  }
  if (mopt.lambda_loc > 0) {
    TC_CHECK_INPUT(with_mask > 0,
                   "dataset '{}' ({}) has no pixel masks, but the local losses need them; train on a "
                   "dataset with masks, or set --method.lambda_loc 0 to train the global branch only",
                   meta.name, reader.path());
    TC_CHECK_INPUT(anomalous_without_mask == 0,
                   "dataset '{}' ({}): {} anomalous image(s) have no mask, so the local losses would "
                   "treat their defects as normal; set --method.lambda_loc 0 or use a dataset with masks",
                   meta.name, reader.path(), anomalous_without_mask);
  }

  // Model.
  auto backbone = load_backbone(cfg, cfg.get_string("weights"));
  auto tokenizer = load_tokenizer(cfg.get_string("bpe"), backbone);
  const auto& cc = backbone.model->config;
  TC_CHECK_INPUT(meta.image_size == cc.image_size,
                 "dataset '{}' holds {}x{} images but the model runs at S = {}; convert the data with "
                 "--size {} or set --model.image_size {}",
                 reader.path(), meta.image_size, meta.image_size, cc.image_size, cc.image_size,
                 meta.image_size);
  const auto seed = static_cast<uint64_t>(cfg.get_int("train.seed"));
  method::Detector det = make_detector(backbone, tokenizer, mopt, seed, rt.device);
  train::TrainState resumed;
  if (resume) {
    resumed = load_resume(out_dir + "/checkpoint.h5", cfg, reader, backbone, *det);
  } else if (!cfg.get_string("init-from").empty()) {
    auto ck = method::read_checkpoint(cfg.get_string("init-from"));
    method::load_learnable(*det, ck, cfg.get_string("init-from"));
    log::info("learnable tensors initialised from {}", cfg.get_string("init-from"));
  }
  DetectorModel model(det);

  // Feature cache (optional): keyed by backbone, image size, layers and the data's hash.
  std::unique_ptr<data::FeatureCacheReader> cache;
  if (!cfg.get_string("cache").empty()) {
    data::FeatureKey key = data::feature_key(backbone.fingerprint, cc.image_size, cc.layers, cc.vv_from,
                                             meta.content_hash);
    cache = std::make_unique<data::FeatureCacheReader>(cfg.get_string("cache"), key);
  }

  // Every rank must be about to run the same thing.
  train::FlatParams shapes(model.learnable());
  dist::check_agreement(comm, {{"effective config hash", cfg.hash()},
                               {"learnable shapes", shapes.signature()},
                               {"dataset content hash", meta.content_hash},
                               {"backbone fingerprint", backbone.fingerprint},
                               {"feature cache", cfg.get_string("cache").empty() ? "none" : "used"}});
  if (comm.rank() == 0) {
    if (cfg.get_bool("overwrite")) train::clear_run(out_dir);
    write_effective_config(inv, out_dir);
  }

  method::CheckpointMeta cmeta;
  cmeta.config = cfg.to_ini(false);
  cmeta.backbone_path = backbone.path;
  cmeta.backbone_preset = cc.preset;
  cmeta.backbone_fingerprint = backbone.fingerprint;
  cmeta.dataset_name = meta.name;
  cmeta.dataset_hash = meta.content_hash;
  cmeta.origin = backbone.random ? "train (random-initialised backbone)" : "train";

  if (det->learnable_parameters().empty()) {
    // method.text = handwritten: nothing to learn; the checkpoint records the prompts (in its
    // config) and the backbone, so eval/infer run the hand-written detector like any other.
    if (comm.rank() == 0) {
      make_dirs(out_dir);
      cmeta.origin = "hand-written prompts (no training)";
      method::save_checkpoint(out_dir + "/checkpoint.h5", {}, cmeta);
      std::printf("hand-written prompts: nothing to train; checkpoint %s/checkpoint.h5\n", out_dir.c_str());
    }
    comm.barrier();
    return 0;
  }

  train::CheckpointIO io;
  io.save = [&](const std::string& path, const train::TrainState& st) {
    method::NamedTensorList learn;
    for (const auto& [n, t] : det->learnable_parameters()) learn.emplace_back(n, t.detach().cpu());
    method::save_checkpoint(path, learn, cmeta,
                            [&](H5::H5File& f) { train::write_train_state(f.getId(), st, seed); });
  };
  io.load = [&](const std::string&) { return resumed; };  // loaded and checked above

  train::TrainOptions o;
  o.global_batch = cfg.get_int("train.global_batch");
  o.epochs = cfg.get_int("train.epochs");
  o.seed = seed;
  o.shuffle = cfg.get_bool("train.shuffle");
  o.adam.lr = cfg.get_float("train.lr");
  o.adam.beta1 = cfg.get_float("train.beta1");
  o.adam.beta2 = cfg.get_float("train.beta2");
  o.save_every_steps = cfg.get_int("train.save_every_steps");
  o.log_every_steps = cfg.get_int("train.log_every_steps");
  o.max_steps = cfg.get_int("max-steps");
  o.out_dir = out_dir;
  o.resume = resume;

  DatasetImageSource images(reader, rt.device);
  std::unique_ptr<CacheSource> cached;
  if (cache) cached = std::make_unique<CacheSource>(reader, *cache, rt.device);
  train::BatchSource& source = cached ? static_cast<train::BatchSource&>(*cached) : images;

  auto summary = train::run_training(model, source, reader.size(), comm, o, io);
  if (summary.stopped_by) {
    if (comm.rank() == 0)
      std::printf("stopped by %s after step %lld; checkpoint %s: continue with --resume (exit code %d)\n",
                  train::signal_name(summary.stopped_by), static_cast<long long>(summary.steps),
                  summary.checkpoint.c_str(), train::kExitStopped);
    std::fflush(stdout);
    comm.barrier();  // a launcher may end the job at the first non-zero exit: rank 0 has spoken
    return train::kExitStopped;
  }
  if (comm.rank() == 0) {
    std::printf("trained %lld steps in %.1f s (%.1f images/s); final loss %.5f; checkpoint %s%s\n",
                static_cast<long long>(summary.steps), summary.seconds, summary.images_per_s,
                summary.last_loss, summary.checkpoint.c_str(),
                backbone.random ? " (random-initialised backbone)" : "");
  }
  return 0;
}

}  // namespace detail_train

TC_REGISTER_COMMAND(Command{
    "train", "learn the prompts on an auxiliary dataset (MPI: one rank per GPU or CPU share)",
    "Trains the learnable prompts (and subspace heads) on the test split of an auxiliary dataset, "
    "as the zero-shot protocol does (e.g. MVTec AD to evaluate everything else). Launch with "
    "mpirun/srun for several ranks: the global batch is split across ranks and the gradients are "
    "all-reduced once per step (NCCL on GPUs, MPI on CPUs). Writes OUT/config.ini, OUT/log.jsonl "
    "(one JSON line per step and per epoch), OUT/checkpoints/*.h5 and OUT/checkpoint.h5 (the "
    "latest; replaced atomically). An OUT that already holds a run is refused unless --resume or "
    "--overwrite is given. SIGTERM or SIGUSR1 (a Slurm time limit or preemption) stops every rank "
    "after the current step with a step checkpoint and exit code 75; --resume continues it.",
    {"model", "method", "train", "runtime"},
    {flag_string("data", "", "training dataset (tokenclip-dataset HDF5, from prep or synth)", true),
     flag_string("out", "", "run directory", true),
     flag_string("weights", "", "CLIP weights (OpenAI .pt, safetensors, or tokenclip HDF5); none = random tiny CLIP"),
     flag_string("bpe", "", "CLIP vocabulary (bpe_simple_vocab_16e6.txt.gz or HF vocab.json)"),
     flag_string("cache", "", "feature cache of the frozen image tower (tokenclip cache build)"),
     flag_bool("resume", "continue from OUT/checkpoint.h5 (bit-identical to an uninterrupted run); the "
               "recipe, data and backbone must be the checkpoint's"),
     flag_bool("overwrite", "replace the run already in OUT (its checkpoints, log and config are removed)"),
     flag_string("init-from", "", "initialise the learnable tensors from this checkpoint"),
     flag_int("max-steps", "0", "stop after this many optimiser steps in total (0 = all epochs)", 0)},
    "", "", 0, 0, 20, detail_train::run_train});

}  // namespace tc::app
