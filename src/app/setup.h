// Shared set-up of the model-running commands (train, eval, infer, calibrate, cache, encode):
// threads and device, the communicator, the backbone (weights or the random tiny preset), the
// tokenizer and the detector. One place, so every command treats these options alike.
#pragma once

#include <memory>
#include <string>

#include "clip/clip.h"
#include "clip/tokenizer.h"
#include "config/config.h"
#include "dist/dist.h"
#include "method/detector.h"

namespace tc::app {

struct Runtime {
  std::unique_ptr<dist::Communicator> comm;
  torch::Device device = torch::kCPU;
  int threads = 1;
};

// Threads (runtime.threads, or cores / ranks on this node), device (runtime.device: auto picks
// CUDA device = local rank when available) and communicator (runtime.comm).
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

}  // namespace tc::app
