// The distributed training loop.
//
// One step reads as a straight line: this rank's share of the global batch -> tensors ->
// model forward + loss -> backward -> one flat, count-weighted all-reduce of the learnable
// gradients -> finite check (every rank sees the same reduced values, so they all decide
// alike) -> Adam -> log. Checkpoints are written by rank 0 atomically at the end of every
// epoch (and every N steps when asked); `resume` continues from the last one and ends with
// bit-identical learnable state to an uninterrupted run on the same world size. SIGTERM or
// SIGUSR1 on any rank stops every rank after the current step with a step checkpoint
// (train/stop_signal.h); the summary says so and the caller exits with kExitStopped.
//
// The trainer knows nothing of what the model computes: a TrainModel supplies the learnable
// tensors, the loss of a batch, and checkpoint IO of its own state.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "train/optim.h"

namespace tc::dist { class Communicator; }
namespace tc::data { class DatasetReader; }

namespace tc::train {

// A local batch (this rank's share of one global batch).
struct TrainBatch {
  int64_t size = 0;
  std::vector<int64_t> indices;      // dataset indices, in order
  at::Tensor images;                 // [b,3,S,S] float, normalised (undefined with a cache)
  at::Tensor global;                 // [b,D] cached global features (undefined without a cache)
  std::vector<at::Tensor> tokens;    // cached per-layer tokens [b,1+N,D]
  at::Tensor masks;                  // [b,S,S] float 0/1
  at::Tensor labels;                 // [b] int64
};

using Scalars = std::vector<std::pair<std::string, double>>;

struct StepLoss {
  at::Tensor loss;      // scalar, differentiable w.r.t. the learnable tensors
  Scalars terms;        // every loss term (already weighted or not: named as such)
  Scalars diagnostics;  // OT cost, mass per subspace, entropy, ... (logged as they come)
};

class TrainModel {
 public:
  virtual ~TrainModel() = default;
  // Named learnable tensors in a fixed order (identical on every rank).
  virtual std::vector<NamedTensor> learnable() = 0;
  virtual StepLoss forward_loss(const TrainBatch& batch) = 0;
  // Called once per step after the optimiser update (e.g. to refresh cached text features).
  virtual void after_update() {}
};

// Reads batches: from the dataset (images, normalised) or from a feature cache.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual TrainBatch load(const std::vector<int64_t>& indices) = 0;
};

struct TrainOptions {
  int64_t global_batch = 8;
  int64_t epochs = 15;
  uint64_t seed = 111;
  bool shuffle = true;
  AdamOptions adam;
  int64_t save_every_steps = 0;  // 0: per epoch only
  int64_t log_every_steps = 1;
  int64_t max_steps = 0;         // 0: no cap (stop after this many optimiser steps in total)
  std::string out_dir;
  bool resume = false;
  // Learning rate of optimiser step `step` (0-based, counted over the whole run); empty: the
  // constant adam.lr. A pure function of the step, so a resumed run follows the same schedule.
  std::function<double(int64_t step)> lr_schedule;
};

// Everything a checkpoint holds besides the model's own tensors.
struct TrainState {
  int64_t epoch = 0;        // epoch to continue with
  int64_t step_in_epoch = 0;  // steps of that epoch already done
  int64_t global_step = 0;  // optimiser steps done in total
  at::Tensor exp_avg, exp_avg_sq;
  int64_t adam_step = 0;
};

// Checkpoint IO is supplied by the caller (it knows the file format and the metadata).
struct CheckpointIO {
  // Writes a complete checkpoint (model tensors + state) to `path` (a temporary name; the
  // trainer renames it).
  std::function<void(const std::string& path, const TrainState& state)> save;
  // Loads model tensors into the model and returns the trainer state.
  std::function<TrainState(const std::string& path)> load;
};

struct TrainSummary {
  int64_t steps = 0;
  double seconds = 0, images_per_s = 0;
  double last_loss = 0;
  std::string checkpoint;
  int stopped_by = 0;  // the signal that stopped the run early (train/stop_signal.h), else 0
};

TrainSummary run_training(TrainModel& model, BatchSource& source, int64_t dataset_size,
                          dist::Communicator& comm, const TrainOptions& opt, const CheckpointIO& io);

}  // namespace tc::train
