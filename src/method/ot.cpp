#include "method/ot.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <limits>
#include <optional>

#include "util/check.h"

namespace tc::method {

namespace {

torch::Tensor ot_check_cost(const torch::Tensor& cost) {
  TC_CHECK(cost.defined() && cost.dim() == 3, "cost must be [B,N,Q], got {} dims",
           cost.defined() ? cost.dim() : -1);
  TC_CHECK(cost.size(1) >= 1 && cost.size(2) >= 1, "cost [B,N,Q] needs N, Q >= 1");
  return cost;
}

}  // namespace

SinkhornResult sinkhorn_log(const torch::Tensor& cost_in, const torch::Tensor& log_nu_in,
                            const SinkhornOptions& opt) {
  ot_check_cost(cost_in);
  TC_CHECK(opt.eps > 0, "Sinkhorn eps must be > 0 (got {})", opt.eps);
  TC_CHECK(opt.tol > 0 && opt.max_iters >= 1, "Sinkhorn tol > 0 and max_iters >= 1");
  std::optional<torch::NoGradGuard> no_grad;
  torch::Tensor cost = cost_in, log_nu = log_nu_in;
  if (!opt.backprop) {
    no_grad.emplace();
    cost = cost.detach();
    if (log_nu.defined()) log_nu = log_nu.detach();
  }
  const int64_t B = cost.size(0), N = cost.size(1), Q = cost.size(2);
  auto fopts = cost.options();
  // Duals in units of eps: log P = u_i + v_q + K_iq with K = -C / eps.
  torch::Tensor K = cost * (-1.0 / opt.eps);
  torch::Tensor log_mu = torch::full({B, N}, -std::log(double(N)), fopts);
  if (!log_nu.defined() || log_nu.numel() == 0) {
    log_nu = torch::full({B, Q}, -std::log(double(Q)), fopts);
  } else {
    TC_CHECK(log_nu.size(-1) == Q, "log_nu has {} entries for {} subspaces", log_nu.size(-1), Q);
    log_nu = log_nu.to(cost.scalar_type()).expand({B, Q});
  }
  torch::Tensor u = torch::zeros({B, N}, fopts), v = torch::zeros({B, Q}, fopts);
  torch::Tensor active = torch::ones({B}, fopts.dtype(torch::kBool));
  torch::Tensor iters = torch::zeros({B}, fopts.dtype(torch::kLong));
  torch::Tensor viol;
  for (int it = 0;; ++it) {
    // Row log-sums with the current duals. Columns are exact after each v update, so the row
    // violation is the marginal violation of the current plan.
    torch::Tensor row_lse = torch::logsumexp(v.unsqueeze(1) + K, 2);  // [B,N]
    // Violation relative to the target masses: |row_i / mu_i - 1| (and |col_q / nu_q - 1|),
    // so that one tolerance means the same at N = 64 and N = 1369 (an absolute 1e-4 would be
    // 14 % of a token's mass 1/1369).
    torch::Tensor row_viol = (u + row_lse - log_mu).exp().sub(1.0).abs().amax(1).to(torch::kDouble);
    if (it == 0) {
      // Before the first column update the columns are not exact: count them too.
      torch::Tensor col_rel = (torch::logsumexp(u.unsqueeze(2) + K, 1) + v - log_nu).exp().sub(1.0);
      viol = torch::maximum(row_viol, col_rel.abs().amax(1).to(torch::kDouble));
    } else {
      viol = torch::where(active, row_viol, viol);
    }
    active = active & (viol < opt.tol).logical_not();
    if (it == opt.max_iters || !active.any().item<bool>()) break;
    torch::Tensor act_n = active.unsqueeze(1);
    torch::Tensor u_new = log_mu - row_lse;
    u = torch::where(act_n, u_new, u);
    torch::Tensor v_new = log_nu - torch::logsumexp(u.unsqueeze(2) + K, 1);
    v = torch::where(act_n, v_new, v);
    iters += active.to(torch::kLong);
  }
  SinkhornResult r;
  r.log_plan = u.unsqueeze(2) + v.unsqueeze(1) + K;
  r.violation = viol.cpu();
  r.iterations = iters.cpu();
  return r;
}

torch::Tensor greedy_log_plan(const torch::Tensor& cost_in, double eps, bool backprop) {
  ot_check_cost(cost_in);
  TC_CHECK(eps > 0, "greedy eps must be > 0 (got {})", eps);
  std::optional<torch::NoGradGuard> no_grad;
  torch::Tensor cost = cost_in;
  if (!backprop) {
    no_grad.emplace();
    cost = cost.detach();
  }
  return torch::log_softmax(cost * (-1.0 / eps), -1);
}

torch::Tensor topk_mask(const torch::Tensor& log_plan, int64_t k) {
  const int64_t Q = log_plan.size(-1);
  TC_CHECK(k >= 1 && k <= Q, "topk k = {} must be in 1..Q = {}", k, Q);
  if (k == Q) return torch::ones_like(log_plan, log_plan.options().dtype(torch::kBool));
  torch::NoGradGuard no_grad;
  torch::Tensor x = log_plan.detach();
  // rank_q = #{q' : x_q' > x_q} + #{q' < q : x_q' == x_q}; keep rank < k. Q is small, so the
  // [.., Q, Q] comparison is cheap and the tie rule is exact (torch::topk does not promise one).
  torch::Tensor xq = x.unsqueeze(-1);   // [..., Q, 1] entry q
  torch::Tensor xo = x.unsqueeze(-2);   // [..., 1, Q] entry q'
  torch::Tensor lower = torch::ones({Q, Q}, x.options().dtype(torch::kBool)).tril(-1);  // q' < q
  torch::Tensor beats = (xo > xq) | ((xo == xq) & lower);
  torch::Tensor rank = beats.sum(-1);
  return rank < k;
}

torch::Tensor topk_assignment(const torch::Tensor& log_plan, int64_t k) {
  TC_CHECK(log_plan.dim() >= 1, "log_plan needs a subspace dimension");
  torch::Tensor keep = topk_mask(log_plan, k);
  torch::Tensor masked =
      log_plan.masked_fill(keep.logical_not(), -std::numeric_limits<double>::infinity());
  return torch::softmax(masked, -1);
}

}  // namespace tc::method
