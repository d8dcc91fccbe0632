#include "data/sampler.h"

#include <algorithm>

#include "util/check.h"
#include "util/rng.h"

namespace tc::data {

Range split_range(int64_t n, int rank, int world) {
  TC_CHECK(world >= 1 && rank >= 0 && rank < world, "rank {} of world {}", rank, world);
  TC_CHECK(n >= 0, "cannot split {} items", n);
  const int64_t base = n / world, extra = n % world;
  Range r;
  r.begin = rank * base + std::min<int64_t>(rank, extra);
  r.end = r.begin + base + (rank < extra ? 1 : 0);
  return r;
}

std::vector<int64_t> split_counts(int64_t n, int world) {
  std::vector<int64_t> c(static_cast<size_t>(world));
  for (int r = 0; r < world; ++r) c[static_cast<size_t>(r)] = split_range(n, r, world).size();
  return c;
}

Range eval_shard(int64_t n, int rank, int world) { return split_range(n, rank, world); }

ShardedSampler::ShardedSampler(SamplerOptions opt) : opt_(opt) {
  TC_CHECK_INPUT(opt_.size > 0, "the training data holds no samples");
  TC_CHECK_USAGE(opt_.global_batch >= 1, "train.global_batch must be >= 1, got {}",
                 opt_.global_batch);
  TC_CHECK(opt_.world >= 1 && opt_.rank >= 0 && opt_.rank < opt_.world, "rank {} of world {}",
           opt_.rank, opt_.world);
}

int64_t ShardedSampler::steps_per_epoch() const {
  return (opt_.size + opt_.global_batch - 1) / opt_.global_batch;
}

std::vector<int64_t> ShardedSampler::order(int64_t epoch) const {
  TC_CHECK(epoch >= 0, "epoch {}", epoch);
  if (opt_.shuffle) return tc::permutation(opt_.size, opt_.seed, static_cast<uint64_t>(epoch));
  std::vector<int64_t> id(static_cast<size_t>(opt_.size));
  for (int64_t i = 0; i < opt_.size; ++i) id[static_cast<size_t>(i)] = i;
  return id;
}

Step ShardedSampler::make_step(const std::vector<int64_t>& ord, int64_t epoch,
                               int64_t step) const {
  TC_CHECK(step >= 0 && step < steps_per_epoch(), "step {} outside [0, {})", step,
           steps_per_epoch());
  Step s;
  s.epoch = epoch;
  s.step = step;
  const int64_t begin = step * opt_.global_batch;
  s.global_batch = std::min(opt_.global_batch, opt_.size - begin);
  s.rank_counts = split_counts(s.global_batch, opt_.world);
  Range mine = split_range(s.global_batch, opt_.rank, opt_.world);
  s.indices.assign(ord.begin() + begin + mine.begin, ord.begin() + begin + mine.end);
  return s;
}

Step ShardedSampler::step(int64_t epoch, int64_t step) const {
  return make_step(order(epoch), epoch, step);
}

std::vector<Step> ShardedSampler::epoch_steps(int64_t epoch) const {
  auto ord = order(epoch);
  std::vector<Step> out;
  out.reserve(static_cast<size_t>(steps_per_epoch()));
  for (int64_t s = 0; s < steps_per_epoch(); ++s) out.push_back(make_step(ord, epoch, s));
  return out;
}

}  // namespace tc::data
