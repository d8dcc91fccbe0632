// safetensors <-> at::Tensor conversions (kept apart from the torch-free parsing core).
#include <ATen/ATen.h>

#include <cstring>

#include "clip/safetensors.h"
#include "util/check.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; a big-endian host would need byte swaps");

namespace tc::clip {
namespace detail_safetensors_torch {

at::ScalarType to_scalar_type(StDtype d) {
  switch (d) {
    case StDtype::F64: return at::kDouble;
    case StDtype::F32: return at::kFloat;
    case StDtype::F16: return at::kHalf;
    case StDtype::BF16: return at::kBFloat16;
    case StDtype::I64: return at::kLong;
    case StDtype::I32: return at::kInt;
    case StDtype::I16: return at::kShort;
    case StDtype::I8: return at::kChar;
    case StDtype::U8: return at::kByte;
    case StDtype::BOOL: return at::kBool;
  }
  return at::kFloat;
}

StDtype from_scalar_type(at::ScalarType s, const std::string& name) {
  switch (s) {
    case at::kDouble: return StDtype::F64;
    case at::kFloat: return StDtype::F32;
    case at::kHalf: return StDtype::F16;
    case at::kBFloat16: return StDtype::BF16;
    case at::kLong: return StDtype::I64;
    case at::kInt: return StDtype::I32;
    case at::kShort: return StDtype::I16;
    case at::kChar: return StDtype::I8;
    case at::kByte: return StDtype::U8;
    case at::kBool: return StDtype::BOOL;
    default: break;
  }
  TC_RUNTIME_ERROR("tensor '{}': dtype {} cannot be written to safetensors", name,
                   c10::toString(s));
}

}  // namespace detail_safetensors_torch

at::Tensor SafetensorsFile::to_tensor_raw(const std::string& name) const {
  const StTensorInfo& t = info(name);
  const uint8_t* p = data(name);
  if (t.dtype == StDtype::BOOL) {
    // torch assumes bool bytes are 0 or 1; anything else would be undefined behaviour.
    for (uint64_t i = 0; i < t.nbytes(); ++i)
      TC_CHECK_INPUT(p[i] <= 1, "safetensors file '{}': tensor '{}': BOOL element {} has byte "
                     "value {} (expected 0 or 1)", path(), name, i, static_cast<int>(p[i]));
  }
  at::Tensor out = at::empty(t.shape, at::TensorOptions().dtype(
                                          detail_safetensors_torch::to_scalar_type(t.dtype)));
  if (t.nbytes() > 0) std::memcpy(out.data_ptr(), p, t.nbytes());
  return out;
}

at::Tensor SafetensorsFile::to_tensor(const std::string& name) const {
  at::Tensor raw = to_tensor_raw(name);
  return raw.scalar_type() == at::kFloat ? raw : raw.to(at::kFloat);
}

void write_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::map<std::string, StRawTensor> raw;
  for (const auto& [name, t] : tensors) {
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    StRawTensor r;
    r.dtype = detail_safetensors_torch::from_scalar_type(c.scalar_type(), name);
    r.shape = c.sizes().vec();
    r.bytes.assign(static_cast<const char*>(c.data_ptr()), c.nbytes());
    raw.emplace(name, std::move(r));
  }
  write_safetensors(path, raw, metadata);
}

}  // namespace tc::clip
