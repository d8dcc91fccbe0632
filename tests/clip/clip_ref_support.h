// Test helpers for the CLIP model: an independent, deliberately plain reference forward
// (double precision, per-head loops, explicit softmax and LayerNorm) written from METHOD.md,
// and random perturbation of every parameter so that biases and LayerNorms matter.
#pragma once

#include <torch/types.h>

#include <map>
#include <string>
#include <vector>

#include "clip/clip.h"

namespace tc::clip::testref {

using Params = std::map<std::string, torch::Tensor>;  // OpenAI names -> double tensors

Params params_of(ClipModel& m);
// Fills every parameter with random values (LayerNorm weights around 1, biases small).
void perturb(ClipModel& m, uint64_t seed);

struct RefVisual {
  torch::Tensor global, embed;
  std::vector<torch::Tensor> tokens;
};
// images [B,3,S,S]; vv_from <= 0: off. pos: the position embedding to use ([1+g*g,W]).
RefVisual ref_visual(const Params& P, const ClipConfig& c, const torch::Tensor& images,
                     const torch::Tensor& pos);
// ids [M,77]; deep as in TextTransformer::forward_embeddings (overwrite positions 1..n).
torch::Tensor ref_text(const Params& P, const ClipConfig& c, const torch::Tensor& x_emb,
                       const torch::Tensor& eot, const std::vector<torch::Tensor>& deep);

double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b);  // max|a-b| / max|b|

}  // namespace tc::clip::testref
