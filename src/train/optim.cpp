#include "train/optim.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>

#include "compat/torch_compat.h"
#include "dist/dist.h"
#include "util/check.h"

namespace tc::train {
namespace detail_optim {

// Runs `op` on a raw float buffer holding `t`'s values and leaves the result in `t`. A CUDA
// tensor goes to the communicator as it is only if the communicator reads device memory (NCCL),
// and only after the device is idle (NCCL runs on its own stream); for MPI it is copied to
// the host and back (OpenMPI here is not CUDA-aware: a device pointer would crash it).
template <typename Op>
void on_comm_buffer(dist::Communicator& comm, at::Tensor& t, Op&& op) {
  TC_CHECK(t.is_contiguous() && t.scalar_type() == at::kFloat, "communication buffer layout");
  if (!t.is_cuda()) {
    op(t.data_ptr<float>());
    return;
  }
  if (comm.device_buffers()) {
    compat::synchronize_device(t.device());
    op(t.data_ptr<float>());
    return;
  }
  at::Tensor host = t.to(at::kCPU).contiguous();  // blocking copy: the values are final
  op(host.data_ptr<float>());
  t.copy_(host);
}

}  // namespace detail_optim

FlatParams::FlatParams(std::vector<NamedTensor> params) : params_(std::move(params)) {
  for (const auto& p : params_) {
    TC_CHECK(p.tensor.defined(), "learnable tensor '{}' is undefined", p.name);
    TC_CHECK(p.tensor.scalar_type() == at::kFloat, "learnable tensor '{}' must be float32", p.name);
    numel_ += p.tensor.numel();
  }
}

at::Tensor FlatParams::values() const {
  std::vector<at::Tensor> parts;
  for (const auto& p : params_) parts.push_back(p.tensor.detach().reshape({-1}));
  return parts.empty() ? at::zeros({0}) : at::cat(parts).contiguous();
}

void FlatParams::set_values(const at::Tensor& flat) {
  TC_CHECK_EQ(flat.numel(), numel_, "flat parameter vector size");
  at::NoGradGuard ng;
  int64_t off = 0;
  for (auto& p : params_) {
    int64_t n = p.tensor.numel();
    p.tensor.copy_(flat.slice(0, off, off + n).view(p.tensor.sizes()).to(p.tensor.device()));
    off += n;
  }
}

at::Tensor FlatParams::grads() const {
  std::vector<at::Tensor> parts;
  for (const auto& p : params_) {
    const auto& g = p.tensor.grad();
    parts.push_back(g.defined() ? g.detach().reshape({-1}) : at::zeros({p.tensor.numel()}, p.tensor.options()));
  }
  return parts.empty() ? at::zeros({0}) : at::cat(parts).contiguous();
}

std::string FlatParams::signature() const {
  std::string s;
  for (const auto& p : params_) {
    s += p.name + ":";
    for (int64_t d : p.tensor.sizes()) s += fmt::format("{}x", d);
    s += ";";
  }
  return s;
}

at::Tensor FlatParams::decay_mask() const {
  std::vector<at::Tensor> parts;
  for (const auto& p : params_) parts.push_back(at::full({p.tensor.numel()}, p.weight_decay ? 1.0 : 0.0, at::kFloat));
  return parts.empty() ? at::zeros({0}) : at::cat(parts).contiguous();
}

void allreduce_weighted_mean(dist::Communicator& comm, at::Tensor& flat, int64_t local_count,
                             int64_t global_count) {
  TC_CHECK(flat.is_contiguous() && flat.scalar_type() == at::kFloat, "gradient buffer layout");
  TC_CHECK_GT(global_count, 0, "global batch size");
  if (local_count == 0)
    flat.zero_();
  else
    flat.mul_(static_cast<double>(local_count));
  detail_optim::on_comm_buffer(comm, flat, [&](float* p) {
    comm.allreduce_sum(p, static_cast<size_t>(flat.numel()), dist::DType::F32);
  });
  flat.div_(static_cast<double>(global_count));
}

void broadcast_flat(dist::Communicator& comm, at::Tensor& flat, int root) {
  detail_optim::on_comm_buffer(comm, flat, [&](float* p) {
    comm.broadcast(p, static_cast<size_t>(flat.numel()) * sizeof(float), root);
  });
}

Adam::Adam(int64_t numel, AdamOptions opt) : opt_(opt) {
  m_ = at::zeros({numel});
  v_ = at::zeros({numel});
}

void Adam::step(at::Tensor& params, const at::Tensor& grad_in) {
  TC_CHECK_EQ(params.numel(), m_.numel(), "Adam parameter count");
  at::NoGradGuard ng;
  if (m_.device() != params.device()) {
    m_ = m_.to(params.device());
    v_ = v_.to(params.device());
  }
  if (decay_mask_.defined() && decay_mask_.device() != params.device()) decay_mask_ = decay_mask_.to(params.device());
  at::Tensor grad = grad_in;
  if (opt_.weight_decay != 0 && opt_.decoupled) {
    // AdamW: params *= 1 - lr * wd (as torch.optim.AdamW rounds it: one float factor).
    const double f = 1.0 - opt_.lr * opt_.weight_decay;
    if (decay_mask_.defined())
      params.mul_(at::where(decay_mask_ > 0, at::scalar_tensor(f, params.options()),
                            at::scalar_tensor(1.0, params.options())));
    else
      params.mul_(f);
  } else if (opt_.weight_decay != 0) {
    grad = grad.add(decay_mask_.defined() ? params * decay_mask_ : params, opt_.weight_decay);
  }
  ++step_;
  // Same operation order as torch.optim.Adam (single-tensor path) so results agree to rounding.
  m_.mul_(opt_.beta1).add_(grad, 1.0 - opt_.beta1);
  v_.mul_(opt_.beta2).addcmul_(grad, grad, 1.0 - opt_.beta2);
  double bc1 = 1.0 - std::pow(opt_.beta1, static_cast<double>(step_));
  double bc2 = 1.0 - std::pow(opt_.beta2, static_cast<double>(step_));
  double step_size = opt_.lr / bc1;
  at::Tensor denom = (v_.sqrt() / std::sqrt(bc2)).add_(opt_.eps);
  params.addcdiv_(m_, denom, -step_size);
}

void Adam::set_weight_decay_mask(const at::Tensor& mask) {
  TC_CHECK_EQ(mask.numel(), m_.numel(), "weight decay mask size");
  decay_mask_ = mask.reshape({-1}).to(at::kFloat).contiguous();
}

void Adam::load_state(const at::Tensor& m, const at::Tensor& v, int64_t step) {
  TC_CHECK_EQ(m.numel(), m_.numel(), "Adam state size (exp_avg)");
  TC_CHECK_EQ(v.numel(), v_.numel(), "Adam state size (exp_avg_sq)");
  m_ = m.reshape({-1}).to(at::kFloat).clone();
  v_ = v.reshape({-1}).to(at::kFloat).clone();
  step_ = step;
}

}  // namespace tc::train
