// Loss terms (docs/METHOD.md sections 3 and 4.8). Every term is a mean over the samples of the
// batch (focal: over all pixels of all samples), so per-rank losses combine by sample counts.
#pragma once

#include <torch/types.h>

namespace tc::method {

// Focal loss on probabilities P [B,2,H,W] with a binary mask [B,H,W] (0/1 float): gamma 2,
// alpha 1, one-hot target clamped to [1e-5, 1 - 1e-5], pt = sum(onehot * P) + 1e-5,
// mean of -(1 - pt)^2 log(pt) over all pixels.
torch::Tensor focal_loss(const torch::Tensor& probs, const torch::Tensor& mask);

// Dice per sample: 1 - (2 sum(m g) + 1) / (sum(m) + sum(g) + 1), mean over the batch.
torch::Tensor dice_loss(const torch::Tensor& pred, const torch::Tensor& target);

// Focal(P, mask) + Dice(P_a, mask) + Dice(P_n, 1 - mask) for one layer.
torch::Tensor local_loss(const torch::Tensor& probs, const torch::Tensor& mask);

// Cross entropy of global logits [B,2] against labels [B] (int64, 0 normal / 1 anomalous).
torch::Tensor image_ce_loss(const torch::Tensor& logits, const torch::Tensor& labels);

// Orthogonality of the subspace text embeddings T [Q,C,D] (unit vectors):
// 1/(Q(Q-1)) sum_c ||T_c T_c^T - I||_F^2; 0 when Q = 1.
torch::Tensor orthogonality_loss(const torch::Tensor& subspace_text);

// Gram matrices G_c = T_c T_c^T: [C,Q,Q].
torch::Tensor subspace_gram(const torch::Tensor& subspace_text);

}  // namespace tc::method
