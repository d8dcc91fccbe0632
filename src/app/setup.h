// Shared set-up of the model-running commands (train, eval, infer, calibrate, cache, encode):
// threads and device, the communicator, the backbone (weights or the random tiny preset), the
// tokenizer and the detector. One place, so every command treats these options alike.
#pragma once

#include <memory>
#include <string>

#include "clip/clip.h"
#include "clip/tokenizer.h"
#include "config/config.h"
#include "data/dataset.h"
#include "dist/dist.h"
#include "method/checkpoint.h"
#include "method/detector.h"
#include "train/trainer.h"

namespace tc::app {

struct Runtime {
  // Not torn down while an exception unwinds (a collective NCCL teardown would wait for peers
  // before the error is even printed): dist::CommPtr abandons it, and the job ends in MPI_Abort.
  dist::CommPtr comm;
  torch::Device device = torch::kCPU;
  int threads = 1;
};

// Threads (runtime.threads, or cores / ranks on this node), device (runtime.device: auto picks
// CUDA device = local rank when available), communicator (runtime.comm) and the bound on any
// wait for a peer (runtime.comm_timeout_s, for every backend).
Runtime init_runtime(const config::Config& cfg);

clip::LoadOptions clip_load_options(const config::Config& cfg);

// `weights` empty: the random-initialised `tiny` preset from model.init_seed (announced in the
// log; everything trained on it records it). Otherwise the file, format detected from content.
clip::LoadedClip load_backbone(const config::Config& cfg, const std::string& weights);

// `bpe` empty: the byte-level fallback, allowed only for a random backbone; pretrained weights
// need their vocabulary (Usage error otherwise).
clip::Tokenizer load_tokenizer(const std::string& bpe, const clip::LoadedClip& backbone);

method::Detector make_detector(const clip::LoadedClip& backbone, const clip::Tokenizer& tokenizer,
                               const method::MethodOptions& options, uint64_t seed,
                               const torch::Device& device);

// Training batches straight from a dataset file: images normalised for CLIP, masks (float
// 0/1) and labels, on the model's device (`train` without a cache, `pretrain`).
class DatasetImageSource final : public train::BatchSource {
 public:
  DatasetImageSource(const data::DatasetReader& reader, torch::Device device) : reader_(reader), device_(device) {}
  train::TrainBatch load(const std::vector<int64_t>& indices) override;

 private:
  const data::DatasetReader& reader_;
  torch::Device device_;
};

// The config a checkpoint was made with: its stored [model], [method], [train] and [runtime].
config::Config checkpoint_config(const method::Checkpoint& ckpt, const std::string& path);

// A trained detector restored from its checkpoint, ready to score images (eval, infer,
// calibrate). The backbone comes from the checkpoint's record unless `weights` overrides it; a
// different fingerprint is refused.
struct Restored {
  method::Checkpoint ckpt;
  config::Config cfg;  // the checkpoint's stored model + method (+ train, runtime) sections
  clip::LoadedClip backbone;
  method::Detector det{nullptr};
  method::MethodOptions mopt;
};
Restored restore_detector(const std::string& checkpoint, const std::string& weights,
                          const std::string& bpe, const torch::Device& device);

// Scores of one batch of normalised images [B,3,S,S] with text features computed once
// (Restored::det->encode_text()), on the CPU: blurred maps (eval.blur_sigma), image scores
// ((1 - gamma) global + gamma max(map) / layers), and the map source's token probabilities
// and assignments per layer.
struct ImageResults {
  int64_t count = 0;
  at::Tensor maps;                      // [B,S,S] blurred
  at::Tensor scores, global_prob;       // [B]
  std::vector<at::Tensor> token_probs;  // per layer [B,N,2] (the map source)
  std::vector<at::Tensor> assignment;   // per layer [B,N,Q]
};
ImageResults score_images(Restored& r, const method::TextFeatures& text, const at::Tensor& images,
                          double blur_sigma);

}  // namespace tc::app
