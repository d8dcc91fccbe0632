// Reading a list of samples into tensors, and CLIP's input normalisation.
//
// The hot path of training: uint8 images [B,S,S,3] straight from the dataset file, normalised
// on the device the model runs on (x / 255, then (x - mean) / std per channel, float32, in the
// order torchvision's ToTensor + Normalize use, so values match the Python reference exactly).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "data/dataset.h"

namespace tc::data {

inline constexpr float kClipMean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
inline constexpr float kClipStd[3] = {0.26862954f, 0.26130258f, 0.27577711f};

struct Batch {
  std::vector<int64_t> indices;  // dataset indices, in batch order
  at::Tensor images;     // uint8 [B,S,S,3] (CPU)
  at::Tensor masks;      // uint8 [B,S,S] 0/1 (undefined when not requested)
  at::Tensor labels;     // int64 [B]
  at::Tensor class_ids;  // int64 [B]
  at::Tensor has_mask;   // bool [B]
};

// Reads the given samples (any order, repeats allowed; B may be 0).
Batch read_batch(const DatasetReader& reader, const std::vector<int64_t>& indices,
                 bool with_masks = true);

// uint8 [B,S,S,3] -> float32 [B,3,S,S] normalised with CLIP's mean/std, on images' device.
at::Tensor normalize_clip(const at::Tensor& images_u8);

}  // namespace tc::data
