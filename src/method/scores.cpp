#include "method/scores.h"

#include <ATen/ATen.h>

#include <cmath>

#include "util/check.h"

namespace tc::method {

torch::Tensor l2_normalize(const torch::Tensor& x) { return x / x.norm(2, {-1}, true); }

torch::Tensor base_token_probs(const torch::Tensor& tokens_norm, const torch::Tensor& text,
                               double tau) {
  TC_CHECK(tokens_norm.dim() == 3 && text.dim() == 2, "tokens [B,T,D] and text [C,D] expected");
  TC_CHECK_EQ(tokens_norm.size(2), text.size(1), "feature width of tokens and text");
  torch::Tensor logits = torch::matmul(tokens_norm, text.t()) / tau;
  return torch::softmax(logits, -1).slice(1, 1);
}

torch::Tensor global_logits(const torch::Tensor& global_norm, const torch::Tensor& text, double tau) {
  TC_CHECK(global_norm.dim() == 2 && text.dim() == 2, "global [B,D] and text [C,D] expected");
  return torch::matmul(global_norm, text.t()) / tau;
}

torch::Tensor probs_to_map(const torch::Tensor& token_probs, int64_t image_size) {
  TC_CHECK(token_probs.dim() == 3, "token probabilities [B,N,C] expected");
  const int64_t B = token_probs.size(0), N = token_probs.size(1), C = token_probs.size(2);
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(double(N))));
  TC_CHECK_EQ(side * side, N, "patch tokens must form a square grid");
  torch::Tensor grid = token_probs.reshape({B, side, side, C}).permute({0, 3, 1, 2});
  return at::upsample_bilinear2d(grid, {image_size, image_size}, /*align_corners=*/false);
}

torch::Tensor subspace_similarities(const torch::Tensor& patches_norm,
                                    const torch::Tensor& subspace_text) {
  TC_CHECK(patches_norm.dim() == 3 && subspace_text.dim() == 3,
           "patches [B,N,D] and subspace text [Q,C,D] expected");
  const int64_t Q = subspace_text.size(0), C = subspace_text.size(1), D = subspace_text.size(2);
  torch::Tensor flat = subspace_text.reshape({Q * C, D});
  torch::Tensor s = torch::matmul(patches_norm, flat.t());  // [B,N,Q*C]
  return s.reshape({patches_norm.size(0), patches_norm.size(1), Q, C});
}

torch::Tensor ot_cost_max(const torch::Tensor& sims) { return 1.0 - std::get<0>(sims.max(-1)); }

torch::Tensor ot_cost_centre(const torch::Tensor& patches_norm, const torch::Tensor& subspace_text) {
  torch::Tensor centre = l2_normalize(subspace_text.sum(1));  // [Q,D]
  return 1.0 - torch::matmul(patches_norm, centre.t());
}

torch::Tensor dynamic_token_probs(const torch::Tensor& assignment, const torch::Tensor& sims,
                                  double tau) {
  torch::Tensor z = (assignment.unsqueeze(-1) * sims).sum(2) / tau;  // [B,N,C]
  return torch::softmax(z, -1);
}

torch::Tensor combine_image_score(const torch::Tensor& global_prob_a, const torch::Tensor& map,
                                  double gamma, int64_t layers) {
  if (gamma == 0.0) return global_prob_a;
  torch::Tensor mx = std::get<0>(map.flatten(1).max(1));
  return (1.0 - gamma) * global_prob_a + gamma * mx / double(layers);
}

}  // namespace tc::method
