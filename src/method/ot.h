// Token-to-subspace assignment: entropic optimal transport (log-domain Sinkhorn), the greedy
// ablation, and topK masking on the log-plan (docs/METHOD.md section 4, items 4-6 and 10).
//
// Shapes: B images (or image x layer pairs), N tokens, Q subspaces. Everything is batched over
// B; each image stops iterating on its own, so a plan never depends on which other images
// share its batch (a batch split across ranks gives the same plans).
#pragma once

#include <torch/types.h>

#include <string>

namespace tc::method {

struct SinkhornOptions {
  double eps = 0.1;      // entropic regularisation (> 0)
  double tol = 1e-4;     // stop when the max relative marginal violation of an image is below this
  int max_iters = 100;   // cap on (row, column) update pairs
  bool backprop = false; // false: the plan is computed without autograd (detached)
};

struct SinkhornResult {
  torch::Tensor log_plan;   // [B,N,Q] log of the plan; columns sum to nu, rows to 1/N (to tol)
  torch::Tensor violation;  // [B] max |marginal / target - 1| of each image's final plan (double)
  torch::Tensor iterations; // [B] int64 update pairs each image used
};

// Entropic OT between mu = 1/N (tokens) and nu (subspaces) for cost [B,N,Q]:
// plan = argmin <P, C> - eps H(P). `log_nu` is [Q] or [B,Q] (log of a distribution);
// empty means uniform 1/Q. The violation is relative to the target masses:
// max(max_i |row_i N - 1|, max_q |col_q / nu_q - 1|); columns are exact after each update pair.
SinkhornResult sinkhorn_log(const torch::Tensor& cost, const torch::Tensor& log_nu,
                            const SinkhornOptions& opt);

// Greedy ablation: log_softmax_q(-cost / eps), i.e. softmax_q(a / eps) for cost = 1 - a,
// with no column marginal. Shape [B,N,Q]. Detached unless `backprop`.
torch::Tensor greedy_log_plan(const torch::Tensor& cost, double eps, bool backprop);

// topK on a log-plan [..., Q]: per row keep the k largest entries (ties go to the lower
// subspace index) and renormalise the kept entries with a softmax over their log values.
// Rows sum to 1 with exactly k non-zeros; k = Q keeps everything (plain row normalisation).
torch::Tensor topk_assignment(const torch::Tensor& log_plan, int64_t k);

// The boolean mask of kept entries (the selection rule of topk_assignment).
torch::Tensor topk_mask(const torch::Tensor& log_plan, int64_t k);

}  // namespace tc::method
