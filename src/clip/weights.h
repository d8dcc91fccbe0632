// CLIP weight files: format detection, name mapping onto OpenAI's names, architecture
// inference from tensor shapes, and the project's own HDF5 weight file.
//
// Formats (docs/CLIP.md has the full name tables):
//   openai-torchscript    OpenAI's released `.pt` archives, read with torch::jit::load
//   hf-safetensors        Hugging Face `openai/clip-vit-*` naming (q/k/v split), config.json
//                         next to the file gives the activation and the head counts
//   openclip-safetensors  open_clip naming (= OpenAI's); activation must be given explicitly
//   tokenclip-hdf5        written by `tokenclip convert-weights`; float32, carries preset,
//                         activation and head counts
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

#include "clip/clip.h"

namespace tc::clip {

using NamedTensors = std::map<std::string, at::Tensor>;

// Looks at the first bytes: zip archive, HDF5 signature or safetensors header (HF vs open_clip
// by tensor names). Input error naming the file otherwise.
std::string detect_weight_format(const std::string& path);

// Hugging Face names -> OpenAI names (q/k/v concatenated into in_proj, Linear weights of the
// projections transposed). Unknown names are an Input error listing each.
NamedTensors hf_to_openai(const NamedTensors& hf, const std::string& origin);
// The inverse (for tests and converters).
NamedTensors openai_to_hf(const NamedTensors& oa);

// Architecture of OpenAI-named tensors. Heads cannot be read from shapes: `vision_heads` /
// `text_heads` > 0 are used when given, else the matching preset's, else width / 64 (OpenAI's
// rule). `preset` is the matching preset or "custom"; defaults (S, V-V, layers) follow it.
ClipConfig infer_config(const NamedTensors& oa, const std::string& origin, int vision_heads = 0,
                        int text_heads = 0);

// Builds a frozen model from OpenAI-named tensors (any float dtype); every missing,
// unexpected or wrongly shaped tensor is named in one Input error.
ClipModel model_from_tensors(const NamedTensors& oa, const ClipConfig& config, const std::string& origin);

NamedTensors read_torchscript_params(const std::string& path);
NamedTensors read_safetensors_params(const std::string& path);  // stored names, float32

// The project's HDF5 weight file (format "tokenclip-clip-weights", version 1).
struct H5WeightsInfo {
  std::string preset, activation;
  int vision_heads = 0, text_heads = 0;
  std::string source_format, source_fingerprint, source_path;
  bool random = false;
  uint64_t init_seed = 0;
  // Storage precision: float32, or IEEE half (fp16 = true; read back as float32, for shipping
  // small files). On reading, true when any tensor is stored in 16 bits.
  bool fp16 = false;
  std::string recipe;  // optional free text (how the weights were made); attribute `recipe`
};
void save_weights_h5(const std::string& path, ClipModel& model, const H5WeightsInfo& info);
NamedTensors read_weights_h5(const std::string& path, H5WeightsInfo* info);

}  // namespace tc::clip
