#include "method/losses.h"

#include <ATen/ATen.h>

#include "util/check.h"

namespace tc::method {

torch::Tensor focal_loss(const torch::Tensor& probs, const torch::Tensor& mask) {
  TC_CHECK(probs.dim() == 4 && probs.size(1) == 2, "focal loss: probabilities [B,2,H,W] expected");
  TC_CHECK(mask.dim() == 3, "focal loss: mask [B,H,W] expected");
  constexpr double smooth = 1e-5;
  // Two classes: the clamped one-hot is (1-1e-5, 1e-5) for the true class and the other one.
  torch::Tensor m = mask.to(probs.scalar_type()).unsqueeze(1);  // [B,1,H,W], 1 = abnormal
  torch::Tensor onehot = torch::cat({1.0 - m, m}, 1).clamp(smooth, 1.0 - smooth);
  torch::Tensor pt = (onehot * probs).sum(1) + smooth;
  return (-(1.0 - pt).pow(2) * pt.log()).mean();
}

torch::Tensor dice_loss(const torch::Tensor& pred, const torch::Tensor& target) {
  const int64_t B = pred.size(0);
  torch::Tensor p = pred.reshape({B, -1}), g = target.to(pred.scalar_type()).reshape({B, -1});
  torch::Tensor dice = (2.0 * (p * g).sum(1) + 1.0) / (p.sum(1) + g.sum(1) + 1.0);
  return 1.0 - dice.sum() / double(B);
}

torch::Tensor local_loss(const torch::Tensor& probs, const torch::Tensor& mask) {
  torch::Tensor m = mask.to(probs.scalar_type());
  return focal_loss(probs, m) + dice_loss(probs.select(1, 1), m) +
         dice_loss(probs.select(1, 0), 1.0 - m);
}

torch::Tensor image_ce_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  TC_CHECK(logits.dim() == 2, "image CE: logits [B,C] expected");
  return at::cross_entropy_loss(logits, labels.to(torch::kLong));
}

torch::Tensor subspace_gram(const torch::Tensor& subspace_text) {
  torch::Tensor t = subspace_text.transpose(0, 1);  // [C,Q,D]
  return torch::matmul(t, t.transpose(1, 2));
}

torch::Tensor orthogonality_loss(const torch::Tensor& subspace_text) {
  const int64_t Q = subspace_text.size(0);
  if (Q <= 1) return torch::zeros({}, subspace_text.options());
  torch::Tensor g = subspace_gram(subspace_text);
  torch::Tensor eye = torch::eye(Q, subspace_text.options());
  return (g - eye).pow(2).sum() / double(Q * (Q - 1));
}

}  // namespace tc::method
