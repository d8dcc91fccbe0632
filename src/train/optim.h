// Learnable state as one flat buffer, the weighted gradient all-reduce, and Adam.
//
// The learnable parameters are tiny (tens of thousands of values), so the trainer keeps their
// gradients in one flat float32 buffer and all-reduces it once per step. Adam is our own (the
// PyTorch update rule, single-tensor form) so that its state is plain tensors we checkpoint and
// restore bit for bit on libtorch 1.13 and 2.x alike.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace tc::dist { class Communicator; }

namespace tc::train {

struct NamedTensor {
  std::string name;
  at::Tensor tensor;
  bool weight_decay = true;  // whether Adam's weight decay (when set) applies to it
};

// Views a list of parameters as one flat vector (copying in and out; the parameters keep
// their own storage so modules stay ordinary libtorch modules).
class FlatParams {
 public:
  explicit FlatParams(std::vector<NamedTensor> params);
  int64_t numel() const { return numel_; }
  const std::vector<NamedTensor>& params() const { return params_; }

  at::Tensor values() const;               // concatenated parameter values [numel]
  void set_values(const at::Tensor& flat);  // writes back into the parameters (no grad)
  // Concatenated gradients; a parameter without a gradient contributes zeros.
  at::Tensor grads() const;
  // "name:dims;name:dims;..." for the start-up agreement between ranks.
  std::string signature() const;
  // [numel] float: 1 where the parameter takes weight decay, 0 elsewhere.
  at::Tensor decay_mask() const;

 private:
  std::vector<NamedTensor> params_;
  int64_t numel_ = 0;
};

// Every loss term is a mean over the local samples, so the global-batch gradient is
// sum_r n_r g_r / sum_r n_r. A rank with n_r = 0 passes zeros and still joins the reduction.
// `flat` must be contiguous float32; it is overwritten with the global gradient.
// `flat` may live on the CPU or a CUDA device: device memory goes to the communicator only
// when it accepts device buffers (NCCL), after the device has finished writing it; otherwise
// the values travel through a host copy that is written back.
void allreduce_weighted_mean(dist::Communicator& comm, at::Tensor& flat, int64_t local_count,
                             int64_t global_count);

// Root's values of a contiguous float32 tensor (CPU or CUDA, as above) on every rank.
void broadcast_flat(dist::Communicator& comm, at::Tensor& flat, int root);

struct AdamOptions {
  double lr = 1e-3, beta1 = 0.5, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  // false: L2 added to the gradient (torch.optim.Adam); true: decoupled decay applied to the
  // parameters before the update, params *= 1 - lr * weight_decay (torch.optim.AdamW).
  bool decoupled = false;
};

class Adam {
 public:
  Adam(int64_t numel, AdamOptions opt);
  // params <- params - lr * mhat / (sqrt(vhat) + eps), as torch.optim.Adam (or AdamW when
  // `decoupled`) computes it.
  void step(at::Tensor& params, const at::Tensor& grad);
  // Weight decay only where `mask` [numel] is 1 (biases, norms... take none); default: all.
  void set_weight_decay_mask(const at::Tensor& mask);
  // The learning rate of the next steps (a schedule sets it before each step).
  void set_lr(double lr) { opt_.lr = lr; }
  int64_t steps() const { return step_; }
  const at::Tensor& exp_avg() const { return m_; }
  const at::Tensor& exp_avg_sq() const { return v_; }
  void load_state(const at::Tensor& m, const at::Tensor& v, int64_t step);
  const AdamOptions& options() const { return opt_; }

 private:
  AdamOptions opt_;
  at::Tensor m_, v_, decay_mask_;
  int64_t step_ = 0;
};

}  // namespace tc::train
