// libFuzzer target for the safetensors header parser (torch-free core only).
// Any input must either be refused with tc::Error or yield tensors whose byte ranges lie
// inside the input and match dtype x shape; ASan catches any read outside the buffer.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "clip/safetensors.h"
#include "util/check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tc::clip::StLimits limits;
  limits.max_header_bytes = 1 << 20;  // keeps single inputs cheap; the logic is the same
  try {
    auto f = tc::clip::SafetensorsFile::from_bytes(std::vector<uint8_t>(data, data + size),
                                                   "fuzz-input", limits);
    unsigned sum = 0;
    for (const auto& name : f.names()) {
      const auto& t = f.info(name);
      if (t.end < t.begin) std::abort();
      uint64_t numel = static_cast<uint64_t>(t.numel());
      if (numel * tc::clip::st_dtype_size(t.dtype) != t.nbytes()) std::abort();
      const uint8_t* p = f.data(name);
      for (uint64_t i = 0; i < t.nbytes(); ++i) sum += p[i];  // every byte must be readable
    }
    for (const auto& kv : f.metadata()) sum += static_cast<unsigned>(kv.first.size());
    volatile unsigned sink = sum;
    (void)sink;
  } catch (const tc::Error&) {
    // refused with a clear error: the expected outcome for malformed input
  }
  return 0;
}
