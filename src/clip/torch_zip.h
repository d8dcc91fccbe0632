// Reader of Python `torch.save` checkpoints (the zip format of torch >= 1.6), e.g. the
// AnomalyCLIP prompt checkpoints `torch.save({"prompt_learner": module.state_dict()}, path)`.
//
// libtorch's own pickle_load cannot read these (one-key dicts, OrderedDict with _metadata),
// and a general unpickler would execute whatever a file names. This one is restricted: it
// accepts only the pickle opcodes such files use and only these globals:
//   collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter,
//   torch.{Double,Float,Half,BFloat16,Long,Int,Short,Char,Byte,Bool}Storage
// and refuses anything else (e.g. os.system, torch.storage._load_from_bytes) with an Input
// error naming the global. Legacy (pre-1.6, non-zip) files are refused.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace tc::clip {

struct TorchCheckpoint {
  // Every tensor leaf, named by the dotted path of dict keys / list indices from the root,
  // e.g. "prompt_learner.ctx_pos". CPU, contiguous, stored dtype, owning its memory.
  std::map<std::string, at::Tensor> tensors;
  // Non-tensor leaves (ints, floats, strings, None, ...) by dotted name, printed as text
  // ("5", "0.1", "'adam'"), so callers can report or ignore them.
  std::map<std::string, std::string> other;
};

TorchCheckpoint load_torch_checkpoint(const std::string& path);

// The restricted unpickler on its own: `pickle` is the bytes of data.pkl, `storage(key)`
// returns the raw bytes of storage `key` (the archive's data/<key> record). `origin` names the
// file in errors.
TorchCheckpoint unpickle_checkpoint(const std::string& pickle,
                                    const std::function<std::string(const std::string&)>& storage,
                                    const std::string& origin);

}  // namespace tc::clip
