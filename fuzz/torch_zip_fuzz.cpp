// libFuzzer target for the restricted unpickler of torch.save checkpoints (links libtorch).
// Input = the bytes of data.pkl; every storage key resolves to the same 64 bytes. Any input
// must be refused with tc::Error (or a c10::Error from a torch call on validated shapes) or
// yield tensors; ASan flags out-of-bounds reads, UBSan overflow.
#include <ATen/ATen.h>

#include <cstdint>
#include <string>

#include "clip/torch_zip.h"
#include "util/check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string storage_bytes(64, '\x01');
  const std::string pkl(reinterpret_cast<const char*>(data), size);
  try {
    auto ck = tc::clip::unpickle_checkpoint(
        pkl, [](const std::string&) { return storage_bytes; }, "fuzz-input");
    for (const auto& kv : ck.tensors) (void)kv.second.sum();
  } catch (const tc::Error&) {
  }
  return 0;
}
