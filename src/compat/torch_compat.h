// The one place where libtorch 1.13 (Debian, CPU) and libtorch 2.x (pip wheels, CUDA) differ.
// Code elsewhere calls these helpers and never tests TORCH_VERSION_* itself.
#pragma once

#include <torch/version.h>
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <c10/core/InferenceMode.h>
#include <torch/cuda.h>

#include <string>

#define TC_TORCH_AT_LEAST(maj, min) \
  (TORCH_VERSION_MAJOR > (maj) || (TORCH_VERSION_MAJOR == (maj) && TORCH_VERSION_MINOR >= (min)))

namespace tc::compat {

inline std::string torch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

// RAII: autocast of the CUDA image tower to `dtype` (bf16/fp16); a no-op for float32.
// 2.4 replaced the per-device setters with device-type arguments.
class CudaAutocast {
 public:
  explicit CudaAutocast(at::ScalarType dtype) : active_(dtype != at::kFloat) {
    if (!active_) return;
#if TC_TORCH_AT_LEAST(2, 4)
    prev_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
    prev_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::set_autocast_dtype(at::kCUDA, dtype);
#else
    prev_enabled_ = at::autocast::is_enabled();
    prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_enabled(true);
    at::autocast::set_autocast_gpu_dtype(dtype);
#endif
  }
  ~CudaAutocast() {
    if (!active_) return;
#if TC_TORCH_AT_LEAST(2, 4)
    at::autocast::set_autocast_enabled(at::kCUDA, prev_enabled_);
    at::autocast::set_autocast_dtype(at::kCUDA, prev_dtype_);
#else
    at::autocast::set_enabled(prev_enabled_);
    at::autocast::set_autocast_gpu_dtype(prev_dtype_);
#endif
    at::autocast::clear_cache();
  }
  CudaAutocast(const CudaAutocast&) = delete;
  CudaAutocast& operator=(const CudaAutocast&) = delete;

 private:
  bool active_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kHalf;
};

// Inference mode exists in both; kept here so a future rename stays local.
using InferenceGuard = c10::InferenceMode;

// Blocks until every kernel queued on `device` (all streams) has finished; a no-op for the CPU.
// Before a raw device pointer goes to a library with its own stream (NCCL), so it never reads a
// buffer libtorch is still writing. torch::cuda::synchronize is in libtorch 1.13 and 2.x alike
// (the ATen/cuda stream API would need libtorch_cuda at link time, absent in a CPU build).
inline void synchronize_device(const at::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(static_cast<int64_t>(device.index()));
}

}  // namespace tc::compat
