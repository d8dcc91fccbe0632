// The trainer's part of a checkpoint: group `trainer/` in the checkpoint file (the model's
// learnable tensors and metadata are written first by the method's checkpoint writer).
//   trainer/exp_avg, trainer/exp_avg_sq   float32 [numel]  Adam moments of the flat buffer
//   attributes on trainer/: epoch, step_in_epoch, global_step, adam_step (int64),
//                           data_order ("permutation(seed, epoch)"), seed (int64)
// The data order is a pure function of (seed, epoch), so it is the whole RNG state.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>

#include "train/trainer.h"

namespace tc::train {

// Adds the group to an open, writable HDF5 file (the checkpoint writer's `extra` hook).
void write_train_state(hid_t file, const TrainState& state, uint64_t seed);
// Returns false when the file has no trainer/ group (e.g. an imported checkpoint).
bool read_train_state(const std::string& path, TrainState* state);

}  // namespace tc::train
