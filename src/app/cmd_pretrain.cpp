// `tokenclip pretrain`: contrastive image-text pretraining of a whole CLIP on a captioned
// corpus (`tokenclip synth --corpus captions`), distributed like `train`. Reads top to bottom:
// runtime -> corpus and captions -> vocabulary -> model -> agreement -> loop -> weights.
// The loss and its distribution: src/train/pretrain.h; the recipe: docs/PRETRAIN.md.
#include <H5Cpp.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

#include "app/command.h"
#include "app/setup.h"
#include "clip/bpe_build.h"
#include "clip/tokenizer.h"
#include "clip/weights.h"
#include "data/dataset.h"
#include "data/synth_captions.h"
#include "dist/agreement.h"
#include "train/pretrain.h"
#include "train/train_state_io.h"
#include "train/trainer.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/log.h"

namespace tc::app {
namespace detail_pretrain_cmd {

at::Tensor token_table(const clip::Tokenizer& tok, const std::vector<std::string>& texts, int context) {
  const int64_t n = static_cast<int64_t>(texts.size());
  at::Tensor t = at::zeros({n, context}, at::kLong);
  auto* p = t.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    auto ids = tok.encode(texts[static_cast<size_t>(i)], context, /*truncate=*/true);
    std::copy(ids.begin(), ids.end(), p + i * context);
  }
  return t;
}

std::string captions_hash(const data::synth::CaptionColumns& c) {
  Sha256 h;
  for (const auto* col : {&c.caption, &c.normal, &c.defect})
    for (const auto& s : *col) h.update(s).update("\n", 1);
  return h.hex();
}

int run_pretrain(Invocation& inv) {
  const auto& cfg = inv.cfg;
  Runtime rt = init_runtime(cfg);
  auto& comm = *rt.comm;
  const std::string out_dir = cfg.get_string("out");
  const std::string data_path = cfg.get_string("data");
  const bool resume = cfg.get_bool("resume");
  if (comm.rank() == 0) make_dirs(out_dir);
  comm.barrier();

  // Corpus: images, masks and the three caption columns.
  data::DatasetReader reader(data_path);
  const auto& meta = reader.meta();
  auto captions = data::synth::read_caption_columns(data_path);
  const std::string cap_hash = captions_hash(captions);

  // Vocabulary: the given file, or one learned from the corpus's texts (every rank learns the
  // same; rank 0 keeps it next to the weights).
  std::string bpe = cfg.get_string("bpe");
  if (bpe.empty()) {
    std::vector<std::string> texts = captions.caption;
    texts.insert(texts.end(), captions.normal.begin(), captions.normal.end());
    texts.insert(texts.end(), captions.defect.begin(), captions.defect.end());
    clip::LearnedBpe learned = clip::learn_bpe(texts);
    bpe = out_dir + "/vocab.txt";
    if (comm.rank() == 0) write_file_atomic(bpe, learned.file_text());
    comm.barrier();
    log::info("vocabulary: {} merges learned from the corpus ({} of {} distinct words are single tokens) -> {}",
              learned.merges.size(), learned.single_token_words, learned.words, bpe);
  }
  clip::Tokenizer tok = clip::Tokenizer::load(bpe);
  const std::string vocab_hash = sha256_file_hex(bpe);

  // Model: the preset's architecture with the vocabulary's size, random weights from the seed.
  clip::LoadOptions lo = clip_load_options(cfg);
  const std::string preset = lo.preset == "auto" ? "tiny" : lo.preset;
  clip::ClipConfig cc = clip::apply_options(clip::preset_config(preset), lo);
  cc.text.vocab = tok.vocab_size();
  TC_CHECK_INPUT(meta.image_size == cc.image_size,
                 "corpus '{}' holds {}x{} images but the model runs at S = {}; make the corpus with --size {} or "
                 "set --model.image_size {}", data_path, meta.image_size, meta.image_size, cc.image_size,
                 cc.image_size, meta.image_size);
  const auto seed = static_cast<uint64_t>(cfg.get_int("pretrain.seed"));
  clip::ClipModel model(cc);
  clip::init_random(model, seed);
  model->to(rt.device);
  log::info("pretraining {} (vocabulary {} tokens)", cc.describe(), cc.text.vocab);

  train::CaptionIds ids;
  ids.caption = token_table(tok, captions.caption, cc.text.context);
  ids.normal = token_table(tok, captions.normal, cc.text.context);
  ids.defect = token_table(tok, captions.defect, cc.text.context);
  const auto dense_types = cfg.get_string_list("pretrain.dense_defects");
  const std::set<std::string> dense_set(dense_types.begin(), dense_types.end());
  int64_t dense_count = 0;
  for (int64_t i = 0; i < reader.size(); ++i) {
    const std::string& d = reader.defects()[static_cast<size_t>(i)];
    const bool ok = reader.has_mask()[static_cast<size_t>(i)] && (d == "good" || dense_set.count(d));
    ids.dense.push_back(ok ? 1 : 0);
    dense_count += ok;
  }

  train::PretrainLossOptions lopt;
  lopt.dense_weight = cfg.get_float("pretrain.dense_weight");
  lopt.dense_temperature = cfg.get_float("pretrain.dense_temperature");
  lopt.dense_cover_full = cfg.get_float("pretrain.dense_cover_full");
  lopt.state_weight = cfg.get_float("pretrain.state_weight");
  lopt.logit_scale_max = cfg.get_float("pretrain.logit_scale_max");
  lopt.readout = cfg.get_string("pretrain.readout");
  const int64_t B = cfg.get_int("pretrain.global_batch");
  train::ClipPretrainModel pm(model, ids, comm, B, lopt);

  // Every batch is full (the contrastive loss needs every rank in each step): the corpus tail
  // beyond a multiple of the global batch is left out.
  const int64_t used = reader.size() / B * B;
  TC_CHECK_INPUT(used > 0, "corpus '{}' holds {} pairs, fewer than one global batch of {}", data_path,
                 reader.size(), B);

  train::FlatParams shapes(pm.learnable());
  dist::check_agreement(comm, {{"effective config hash", cfg.hash()},
                               {"learnable shapes", shapes.signature()},
                               {"corpus content hash", meta.content_hash},
                               {"captions hash", cap_hash},
                               {"vocabulary hash", vocab_hash}});
  if (comm.rank() == 0) write_effective_config(inv, out_dir);
  log::info("corpus {}: {} pairs ({} used: full batches of {}), {} with masks the patch-text term may use",
            data_path, reader.size(), used, B, dense_count);

  clip::H5WeightsInfo winfo;
  winfo.preset = cc.preset;
  winfo.activation = clip::activation_name(cc.activation);
  winfo.vision_heads = cc.vision.heads;
  winfo.text_heads = cc.text.heads;
  winfo.source_format = "tokenclip-pretrain";
  winfo.source_fingerprint = meta.content_hash;
  winfo.source_path = data_path;
  winfo.init_seed = seed;

  train::CheckpointIO io;
  io.save = [&](const std::string& path, const train::TrainState& st) {
    clip::save_weights_h5(path, model, winfo);
    H5::H5File f(path, H5F_ACC_RDWR);
    train::write_train_state(f.getId(), st, seed);
  };
  io.load = [&](const std::string& path) {
    clip::H5WeightsInfo info;
    auto tensors = clip::read_weights_h5(path, &info);
    TC_CHECK_INPUT(info.source_fingerprint == meta.content_hash,
                   "--resume: checkpoint '{}' was pretrained on corpus {}, not on {} ({})", path,
                   info.source_fingerprint, meta.content_hash, data_path);
    at::NoGradGuard ng;
    for (auto& [name, p] : model->openai_named_parameters()) {
      auto it = tensors.find(name);
      TC_CHECK_INPUT(it != tensors.end() && it->second.sizes() == p.sizes(),
                     "--resume: checkpoint '{}': tensor {} is missing or has another shape", path, name);
      p.copy_(it->second);
    }
    train::TrainState st;
    TC_CHECK_INPUT(train::read_train_state(path, &st), "--resume: checkpoint '{}' holds no trainer state", path);
    return st;
  };

  train::TrainOptions o;
  o.global_batch = B;
  o.epochs = cfg.get_int("pretrain.epochs");
  o.seed = seed;
  o.adam.lr = cfg.get_float("pretrain.lr");
  o.adam.beta1 = cfg.get_float("pretrain.beta1");
  o.adam.beta2 = cfg.get_float("pretrain.beta2");
  o.adam.eps = cfg.get_float("pretrain.eps");
  o.adam.weight_decay = cfg.get_float("pretrain.weight_decay");
  o.adam.decoupled = true;
  o.save_every_steps = cfg.get_int("pretrain.save_every_steps");
  o.log_every_steps = cfg.get_int("pretrain.log_every_steps");
  o.max_steps = cfg.get_int("max-steps");
  o.out_dir = out_dir;
  o.resume = resume;
  // The schedule spans the configured epochs (--max-steps only stops early), so a run stopped
  // and resumed follows the same learning rates.
  const int64_t total = used / B * o.epochs, warmup = cfg.get_int("pretrain.warmup_steps");
  const double lr = o.adam.lr;
  if (cfg.get_string("pretrain.schedule") == "cosine")
    o.lr_schedule = [=](int64_t s) { return train::cosine_lr(s, lr, warmup, total); };
  else
    o.lr_schedule = [=](int64_t s) { return warmup > 0 && s < warmup ? lr * double(s + 1) / double(warmup) : lr; };

  DatasetImageSource source(reader, rt.device);
  auto summary = train::run_training(pm, source, used, comm, o, io);

  if (comm.rank() == 0) {
    winfo.fp16 = cfg.get_string("pretrain.export_precision") == "fp16";
    winfo.recipe = fmt::format(
        "tokenclip pretrain ({}); corpus {} (name {}, {} pairs, {} used, content hash {}, captions sha256 {}); "
        "vocabulary {} (sha256 {}, {} tokens); {} steps on {} rank(s) x {} thread(s) in {:.0f} s; final loss {:.5f}\n{}",
        inv.command_line, data_path, meta.name, reader.size(), used, meta.content_hash, cap_hash, bpe, vocab_hash,
        tok.vocab_size(), summary.steps, comm.world(), rt.threads, summary.seconds, summary.last_loss,
        cfg.to_ini(false));
    const std::string weights = out_dir + "/weights.h5";
    clip::save_weights_h5(weights, model, winfo);
    std::printf("pretrained %lld steps in %.1f s (%.1f pairs/s); final loss %.5f; weights %s (%s, sha256 %s); "
                "vocabulary %s\n",
                static_cast<long long>(summary.steps), summary.seconds, summary.images_per_s, summary.last_loss,
                weights.c_str(), winfo.fp16 ? "fp16" : "fp32", sha256_file_hex(weights).c_str(), bpe.c_str());
  }
  comm.barrier();
  return 0;
}

}  // namespace detail_pretrain_cmd

TC_REGISTER_COMMAND(Command{
    "pretrain", "contrastive image-text pretraining of a CLIP on a captioned corpus (MPI like train)",
    "Pretrains every weight of a CLIP (the [model] preset, default tiny) with CLIP's symmetric InfoNCE and a "
    "learnable temperature, plus a patch-text term on the detector's patch tokens, on the image-caption pairs "
    "of DATA (`tokenclip synth --corpus captions`). Distributed like train: each rank encodes its share, the "
    "embeddings are all-gathered for the loss, one gradient all-reduce per step; AdamW with warmup and a cosine "
    "schedule ([pretrain]). Without --bpe it learns a BPE vocabulary from the captions (OUT/vocab.txt). Writes "
    "OUT/config.ini, OUT/log.jsonl, OUT/checkpoints/*.h5, OUT/checkpoint.h5 (latest, resumable) and at the "
    "end OUT/weights.h5, which every command loads with --weights W --bpe OUT/vocab.txt. See docs/PRETRAIN.md.",
    {"model", "pretrain", "runtime"},
    {flag_string("data", "", "captioned corpus (tokenclip synth --corpus captions)", true),
     flag_string("out", "", "run directory", true),
     flag_string("bpe", "", "vocabulary file; empty = learn one from the corpus (written to OUT/vocab.txt)"),
     flag_bool("resume", "continue from OUT/checkpoint.h5 (bit-identical to an uninterrupted run)"),
     flag_int("max-steps", "0", "stop after this many optimiser steps in total (0 = all epochs)", 0)},
    "", "", 0, 0, 21, detail_pretrain_cmd::run_pretrain});

}  // namespace tc::app
