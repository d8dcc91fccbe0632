// Similarities, probabilities, maps and image scores (docs/METHOD.md sections 3 and 4.3-4.9).
//
// Conventions: class index 0 = normal (n), 1 = abnormal (a). Patch features arrive as
// [B,1+N,D] with CLS at position 0; text features as [C,D] (base) or [Q,C,D] (subspaces),
// already L2-normalised.
#pragma once

#include <torch/types.h>

namespace tc::method {

// x / ||x|| over the last dimension, exactly as the reference (no epsilon).
torch::Tensor l2_normalize(const torch::Tensor& x);

// Base token probabilities: softmax_c(<f_i, t_c> / tau) on the normalised tokens of all 1+N
// positions, then CLS dropped: [B,1+N,D] x [C,D] -> [B,N,C].
torch::Tensor base_token_probs(const torch::Tensor& tokens_norm, const torch::Tensor& text,
                               double tau);

// Global logits <g, t_c> / tau for normalised g [B,D] and text [C,D] -> [B,C].
torch::Tensor global_logits(const torch::Tensor& global_norm, const torch::Tensor& text,
                            double tau);

// Token probabilities [B,N,C] -> grid [B,C,h,w] (N must be a square) -> bilinear upsample
// (align_corners = false) of the PROBABILITIES to S x S: [B,C,S,S].
torch::Tensor probs_to_map(const torch::Tensor& token_probs, int64_t image_size);

// Subspace similarities s_iqc = <f_i, t^q_c>: patch tokens [B,N,D] x [Q,C,D] -> [B,N,Q,C].
torch::Tensor subspace_similarities(const torch::Tensor& patches_norm, const torch::Tensor& subspace_text);

// OT cost C_iq [B,N,Q]: "max": 1 - max_c s_iqc; "centre": 1 - <f_i, normalize(t^q_n + t^q_a)>.
torch::Tensor ot_cost_max(const torch::Tensor& sims);
torch::Tensor ot_cost_centre(const torch::Tensor& patches_norm, const torch::Tensor& subspace_text);

// Dynamic probabilities P^dyn_i = softmax_c(sum_q A_iq s_iqc / tau): A [B,N,Q], s [B,N,Q,C].
torch::Tensor dynamic_token_probs(const torch::Tensor& assignment, const torch::Tensor& sims,
                                  double tau);

// Image score = (1 - gamma) * global probability + gamma * max(map) / layers, per image.
// `global_prob_a` [B], `map` [B,S,S] (the blurred map at test time; see docs/METHOD_IMPL.md).
torch::Tensor combine_image_score(const torch::Tensor& global_prob_a, const torch::Tensor& map,
                                  double gamma, int64_t layers);

}  // namespace tc::method
