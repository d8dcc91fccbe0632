// Rank sharding of the data: which samples each rank processes at each training step, and the
// contiguous shards of evaluation.
//
// Training: one permutation of [0, N) per epoch from (seed, epoch) (identity when shuffling is
// off), identical on every rank without communication. It is cut into global batches of
// `global_batch` consecutive entries (the last one may be short; it is kept). Within a global
// batch rank r takes a contiguous share; shares are as equal as possible, the first
// `B % world` ranks taking one more, so some ranks can get 0 samples when B < world. Because
// shares differ, each step exposes every rank's count: the trainer weights the gradient
// average by them (sum over ranks of count_r * mean_r / B equals the single-process mean).
//
// Evaluation: contiguous shards of [0, N) in the same as-equal-as-possible split, with no
// padding and no duplicates, so per-sample results gathered rank-major are in file order.
#pragma once

#include <cstdint>
#include <vector>

namespace tc::data {

struct SamplerOptions {
  int64_t size = 0;          // N samples
  int64_t global_batch = 8;  // B samples per optimiser step, over all ranks
  uint64_t seed = 0;
  bool shuffle = true;
  int rank = 0, world = 1;
};

// Contiguous split of `n` items over `world` parts: part r gets n / world items, plus one for
// r < n % world.
struct Range {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};
Range split_range(int64_t n, int rank, int world);
std::vector<int64_t> split_counts(int64_t n, int world);

struct Step {
  int64_t epoch = 0, step = 0;        // step within the epoch
  int64_t global_batch = 0;           // samples in this global batch (last one may be short)
  std::vector<int64_t> rank_counts;   // samples of each rank in this batch (sum = global_batch)
  std::vector<int64_t> indices;       // this rank's sample indices (rank_counts[rank] of them)
};

class ShardedSampler {
 public:
  explicit ShardedSampler(SamplerOptions opt);

  int64_t steps_per_epoch() const;  // ceil(N / B)
  // The epoch's order of [0, N); every rank computes the same one.
  std::vector<int64_t> order(int64_t epoch) const;
  Step step(int64_t epoch, int64_t step) const;          // one step (computes the order)
  std::vector<Step> epoch_steps(int64_t epoch) const;    // all steps of an epoch
  const SamplerOptions& options() const { return opt_; }

 private:
  Step make_step(const std::vector<int64_t>& order, int64_t epoch, int64_t step) const;
  SamplerOptions opt_;
};

// This rank's evaluation shard of [0, n).
Range eval_shard(int64_t n, int rank, int world);

}  // namespace tc::data
