// Reader and writer of the safetensors format (Hugging Face / open_clip weights).
//
// Layout: u64 little-endian N, N bytes of JSON header, then the byte buffer. The header is
// untrusted: every dtype, shape, offset and size is checked (overflow-safe) and anything else
// is refused with an Input error naming the file and the tensor. The parsing core
// (safetensors.cpp) is torch-free so that the fuzz target builds without torch; the torch
// conversions (safetensors_torch.cpp) take an at::Tensor declared here only by name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace at {
class Tensor;
}

namespace tc::clip {

enum class StDtype { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };
const char* st_dtype_name(StDtype d);   // "F32", ...
size_t st_dtype_size(StDtype d);        // bytes per element

struct StTensorInfo {
  std::string name;
  StDtype dtype = StDtype::F32;
  std::vector<int64_t> shape;           // [] is a scalar (1 element)
  uint64_t begin = 0, end = 0;          // data_offsets, relative to the byte buffer
  int64_t numel() const;
  uint64_t nbytes() const { return end - begin; }
};

struct StLimits {
  uint64_t max_header_bytes = 100ull << 20;  // 100 MB, as the reference implementation
  size_t max_rank = 16;
};

struct StHeader {
  std::map<std::string, std::string> metadata;  // `__metadata__` (string -> string)
  std::vector<StTensorInfo> tensors;             // sorted by name
  uint64_t data_start = 0;                       // 8 + N: file offset of the byte buffer
};

// Parses and validates the header of a complete file image (`size` = whole file). `origin`
// names the file in errors. Throws tc::Error (Input) on anything malformed.
StHeader parse_safetensors(const uint8_t* data, size_t size, const std::string& origin,
                           const StLimits& limits = {});

class SafetensorsFile {
 public:
  // Memory-maps `path` read-only (falls back to reading it) and validates the header.
  static SafetensorsFile open(const std::string& path, const StLimits& limits = {});
  // An in-memory image (tests, fuzzing).
  static SafetensorsFile from_bytes(std::vector<uint8_t> bytes, const std::string& origin,
                                    const StLimits& limits = {});

  const std::string& path() const;
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const;
  const StTensorInfo& info(const std::string& name) const;  // Input error naming the tensor
  const std::map<std::string, std::string>& metadata() const;
  // The tensor's raw little-endian bytes inside the mapped file (valid while *this lives).
  const uint8_t* data(const std::string& name) const;

  // float32 CPU tensor (F16/BF16/F64/ints/bool converted), contiguous, owning its memory.
  at::Tensor to_tensor(const std::string& name) const;
  // CPU tensor in the stored dtype, owning its memory.
  at::Tensor to_tensor_raw(const std::string& name) const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

// For writing (tests, converters): one tensor as dtype + shape + raw little-endian bytes.
struct StRawTensor {
  StDtype dtype = StDtype::F32;
  std::vector<int64_t> shape;
  std::string bytes;
};

// Writes atomically; tensors are laid out in name order, header padded with spaces to a
// multiple of 8 bytes (as the reference writer does).
void write_safetensors(const std::string& path, const std::map<std::string, StRawTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
// The same from CPU tensors of a supported dtype (made contiguous).
void write_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
// The file image as bytes (no file written), for tests and seed corpora.
std::string safetensors_bytes(const std::map<std::string, StRawTensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace tc::clip
