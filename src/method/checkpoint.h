// Checkpoint files of the learnable tensors (format "tokenclip-checkpoint", version 1;
// docs/FORMATS.md). The file API leaves room for other groups: the trainer adds its optimiser
// state, step and RNG state through `extra` (writing) and `open_checkpoint` (reading).
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace H5 { class H5File; }

namespace tc::method {

class DetectorImpl;

inline constexpr const char* kCheckpointFormat = "tokenclip-checkpoint";
inline constexpr int kCheckpointVersion = 1;

using NamedTensorList = std::vector<std::pair<std::string, at::Tensor>>;

struct CheckpointMeta {
  std::string config;                // the full effective config (INI text)
  std::string backbone_path, backbone_preset, backbone_fingerprint;
  std::string dataset_name, dataset_hash;  // training data ("" when none, e.g. an import)
  std::string origin;                // what wrote it: "train", "import-anomalyclip FILE", ...
};

// Writes `path` atomically (temporary file, fsync, rename): root attributes, group
// `learnable/` with one float32 dataset per tensor (names as given, e.g. "base.deep.3") and
// an attribute `names` holding the order. `extra` may add groups before the file is closed.
void save_checkpoint(const std::string& path, const NamedTensorList& learnable,
                     const CheckpointMeta& meta,
                     const std::function<void(H5::H5File&)>& extra = {});

struct Checkpoint {
  CheckpointMeta meta;
  NamedTensorList learnable;  // in the stored order, CPU float32
};
// Input errors name the file and what is wrong (not HDF5, wrong format/version, missing
// attribute or tensor, a tensor holding NaN or Inf).
Checkpoint read_checkpoint(const std::string& path);
CheckpointMeta read_checkpoint_meta(const std::string& path);

// Input error naming `file`, the tensor and the first bad value when `t` holds NaN or Inf: every
// tensor read from a checkpoint passes here, so a damaged or diverged file stops at its load
// (not later, as a NaN map or a null threshold).
void check_finite(const at::Tensor& t, const std::string& file, const std::string& tensor);

// Copies a checkpoint's tensors into the detector's learnable tensors (in place, keeping the
// device). Every detector tensor must be present with the same shape; tensors the detector
// does not have are refused (a checkpoint of another method config) unless `allow_extra`.
// One Input error names every missing, unexpected or misshaped tensor.
void load_learnable(DetectorImpl& detector, const Checkpoint& ckpt, const std::string& origin,
                    bool allow_extra = false);

// AnomalyCLIP's released prompt checkpoints (METHOD.md section 2): maps
//   prompt_learner.ctx_pos [1,1,n,Dt] -> base.ctx_normal [n,Dt]
//   prompt_learner.ctx_neg [1,1,n,Dt] -> base.ctx_abnormal [n,Dt]
//   prompt_learner.compound_prompts_text.i [m,Dt] -> base.deep.i
// and ignores compound_prompt_projections.*, token_prefix_*, token_suffix_*,
// tokenized_prompts_*. The "prompt_learner." prefix is optional. `depth`/`n_ctx`/`width`
// (0 = infer) are checked; one Input error names every missing or misshaped tensor and
// every key that is neither mapped nor ignorable.
NamedTensorList import_anomalyclip_tensors(const std::map<std::string, at::Tensor>& tensors,
                                           const std::string& origin, int text_width = 0,
                                           int prompt_length = 0, int prompt_depth = 0,
                                           int deep_prompt_length = 0);

}  // namespace tc::method
