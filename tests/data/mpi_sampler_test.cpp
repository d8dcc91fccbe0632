// Sampler properties under real MPI (CTest runs this at np 1, 2 and 3): every rank derives the
// same permutation, ranks' shares of each global batch are disjoint and cover it exactly, per
// rank counts are as equal as possible; plus in-process checks of other world sizes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "data/sampler.h"
#include "dist/dist.h"
#include "util/check.h"

namespace {

using tc::data::SamplerOptions;
using tc::data::ShardedSampler;

std::string pack(const std::vector<int64_t>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int64_t));
}
std::vector<int64_t> unpack(const std::string& s) {
  std::vector<int64_t> v(s.size() / sizeof(int64_t));
  std::memcpy(v.data(), s.data(), s.size());
  return v;
}

struct Case {
  int64_t n, batch;
  uint64_t seed;
  bool shuffle;
};

const Case kCases[] = {{37, 8, 111, true}, {8, 8, 1, true},  {5, 8, 2, true},
                       {100, 3, 7, false}, {2, 1, 9, true},  {17, 2, 3, true}};

TEST(MpiSampler, SharesAreDisjointCoverEachBatchAndAgreeAcrossRanks) {
  auto comm = tc::dist::make_communicator("mpi");
  const int rank = comm->rank(), world = comm->world();
  for (const Case& c : kCases) {
    SCOPED_TRACE(::testing::Message() << "n=" << c.n << " B=" << c.batch << " world=" << world);
    ShardedSampler s({c.n, c.batch, c.seed, c.shuffle, rank, world});
    for (int64_t epoch : {0, 1, 5}) {
      auto order = s.order(epoch);
      // Identical permutation on every rank.
      auto orders = comm->allgather_strings(pack(order));
      for (int r = 0; r < world; ++r) ASSERT_EQ(unpack(orders[r]), order) << "rank " << r;
      // It is a permutation of [0, n).
      auto sorted = order;
      std::sort(sorted.begin(), sorted.end());
      for (int64_t i = 0; i < c.n; ++i) ASSERT_EQ(sorted[i], i);
      if (!c.shuffle)
        EXPECT_EQ(order, sorted);

      const int64_t steps = s.steps_per_epoch();
      EXPECT_EQ(steps, (c.n + c.batch - 1) / c.batch);
      std::set<int64_t> seen;
      for (int64_t st = 0; st < steps; ++st) {
        auto step = s.step(epoch, st);
        int64_t expect_b = st + 1 < steps ? c.batch : c.n - (steps - 1) * c.batch;
        ASSERT_EQ(step.global_batch, expect_b);
        ASSERT_EQ(int(step.rank_counts.size()), world);
        ASSERT_EQ(int64_t(step.indices.size()), step.rank_counts[rank]);
        auto shares = comm->allgather_strings(pack(step.indices));
        // Rank-major concatenation of the shares is exactly this global batch of the order.
        std::vector<int64_t> cat;
        for (int r = 0; r < world; ++r) {
          auto v = unpack(shares[r]);
          ASSERT_EQ(int64_t(v.size()), step.rank_counts[r]) << "rank " << r;
          cat.insert(cat.end(), v.begin(), v.end());
        }
        std::vector<int64_t> want(order.begin() + st * c.batch,
                                  order.begin() + st * c.batch + expect_b);
        ASSERT_EQ(cat, want);
        // As equal as possible, larger shares first.
        for (int r = 0; r < world; ++r) {
          EXPECT_EQ(step.rank_counts[r], expect_b / world + (r < expect_b % world ? 1 : 0));
        }
        for (auto i : cat) ASSERT_TRUE(seen.insert(i).second) << "sample " << i << " twice";
      }
      EXPECT_EQ(int64_t(seen.size()), c.n);  // an epoch visits every sample once
    }
  }
}

TEST(MpiSampler, EvalShardsAreContiguousWithoutPaddingOrDuplicates) {
  auto comm = tc::dist::make_communicator("mpi");
  for (int64_t n : {0, 1, 2, 3, 10, 1725}) {
    auto mine = tc::data::eval_shard(n, comm->rank(), comm->world());
    std::vector<int64_t> range = {mine.begin, mine.end};
    auto all = comm->allgather_strings(pack(range));
    int64_t next = 0;
    for (int r = 0; r < comm->world(); ++r) {
      auto v = unpack(all[r]);
      EXPECT_EQ(v[0], next) << "n=" << n << " rank " << r;
      EXPECT_GE(v[1], v[0]);
      EXPECT_LE(v[1] - v[0], n / comm->world() + 1);
      next = v[1];
    }
    EXPECT_EQ(next, n);
  }
}

// Other world sizes, all ranks simulated in one process.
TEST(SamplerInProcess, MoreRanksThanSamplesGiveEmptySharesAndEpochsDiffer) {
  const int64_t n = 11, B = 3;
  for (int world = 1; world <= 7; ++world) {
    std::vector<ShardedSampler> ranks;
    for (int r = 0; r < world; ++r) ranks.emplace_back(SamplerOptions{n, B, 42, true, r, world});
    for (int64_t st = 0; st < ranks[0].steps_per_epoch(); ++st) {
      std::vector<int64_t> cat;
      for (int r = 0; r < world; ++r) {
        auto s = ranks[r].step(2, st);
        cat.insert(cat.end(), s.indices.begin(), s.indices.end());
        if (world > s.global_batch && r >= s.global_batch) EXPECT_TRUE(s.indices.empty());
      }
      auto order = ranks[0].order(2);
      EXPECT_EQ(cat, std::vector<int64_t>(order.begin() + st * B,
                                          order.begin() + std::min(n, (st + 1) * B)));
    }
  }
  ShardedSampler s({1000, 8, 42, true, 0, 1});
  EXPECT_NE(s.order(0), s.order(1));
  EXPECT_EQ(s.order(3), s.order(3));
  ShardedSampler other_seed({1000, 8, 43, true, 0, 1});
  EXPECT_NE(s.order(0), other_seed.order(0));
}

TEST(SamplerInProcess, RefusesBadOptions) {
  EXPECT_THROW(ShardedSampler({0, 8, 1, true, 0, 1}), tc::Error);
  EXPECT_THROW(ShardedSampler({10, 0, 1, true, 0, 1}), tc::Error);
  EXPECT_THROW(ShardedSampler({10, 8, 1, true, 2, 2}), tc::Error);
}

}  // namespace
