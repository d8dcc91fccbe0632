// Runs under mpiexec -n 1, 2 and 3 (see tests/CMakeLists.txt): real MPI collectives.
#include <gtest/gtest.h>

#include <numeric>

#include "dist/dist.h"

using tc::dist::DType;

TEST(MpiComm, AllreduceSumsEveryRanksContribution) {
  auto comm = tc::dist::make_communicator("mpi");
  int r = comm->rank(), w = comm->world();
  std::vector<float> v(1000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(r + 1) * static_cast<float>(i);
  comm->allreduce_sum(v.data(), v.size(), DType::F32);
  float factor = static_cast<float>(w * (w + 1) / 2);  // 1 + 2 + ... + w
  for (size_t i = 0; i < v.size(); ++i) ASSERT_FLOAT_EQ(v[i], factor * static_cast<float>(i)) << i;

  std::vector<double> d = {static_cast<double>(r)};
  comm->allreduce_max(d.data(), 1, DType::F64);
  EXPECT_EQ(d[0], w - 1);
}

TEST(MpiComm, BroadcastFromEveryRoot) {
  auto comm = tc::dist::make_communicator("mpi");
  for (int root = 0; root < comm->world(); ++root) {
    std::vector<int64_t> v(17, comm->rank() == root ? 1000 + root : -1);
    comm->broadcast(v.data(), v.size() * sizeof(int64_t), root);
    for (auto x : v) ASSERT_EQ(x, 1000 + root);
  }
}

TEST(MpiComm, GatherStringsOfDifferentSizes) {
  auto comm = tc::dist::make_communicator("mpi");
  auto all = comm->allgather_strings(std::string(static_cast<size_t>(comm->rank()), 'x') + "|");
  ASSERT_EQ(static_cast<int>(all.size()), comm->world());
  for (int r = 0; r < comm->world(); ++r) EXPECT_EQ(all[r], std::string(r, 'x') + "|");
}

TEST(MpiComm, LocalRankComesFromTheSharedMemorySplit) {
  const auto& env = tc::dist::env();
  auto comm = tc::dist::make_communicator("auto");
  if (tc::dist::launched_by_mpi()) {
    // NCCL only where every rank of the node has a GPU of its own (a GPU machine at np <= GPUs).
    const bool nccl = tc::dist::nccl_compiled() && tc::dist::cuda_device_count() >= env.local_world;
    EXPECT_EQ(comm->backend(), nccl ? "nccl" : "mpi");
    // All ranks of a test run share this one machine.
    EXPECT_EQ(env.local_rank, env.rank);
    EXPECT_EQ(env.local_world, env.world);
  }
}

#include "util/check.h"

TEST(NcclComm, AllreduceOrClearRefusalWithoutGpu) {
  if (!tc::dist::nccl_compiled()) GTEST_SKIP() << "NCCL not compiled in this build";
  if (tc::dist::cuda_device_count() == 0) {
    // Compiled but no device: a usage error that says why, never a crash or a hang.
    try {
      tc::dist::make_communicator("nccl");
      FAIL() << "expected a refusal without a CUDA device";
    } catch (const tc::Error& e) {
      EXPECT_EQ(e.kind(), tc::ErrorKind::Usage);
      EXPECT_NE(e.message().find("needs a CUDA device"), std::string::npos) << e.message();
    }
    EXPECT_EQ(tc::dist::make_communicator("auto")->backend(), "mpi");
    return;
  }
  if (tc::dist::cuda_device_count() < tc::dist::env().local_world) {
    // More ranks than GPUs: every rank refuses (none is left waiting in ncclCommInitRank).
    try {
      tc::dist::make_communicator("nccl");
      FAIL() << "expected a refusal with more ranks than GPUs";
    } catch (const tc::Error& e) {
      EXPECT_EQ(e.kind(), tc::ErrorKind::Usage);
      EXPECT_NE(e.message().find("one device per rank"), std::string::npos) << e.message();
    }
    EXPECT_EQ(tc::dist::make_communicator("auto")->backend(), "mpi");
    return;
  }
  // On a GPU machine: real NCCL all-reduce of a host buffer (staged through the device).
  auto comm = tc::dist::make_communicator("nccl");
  EXPECT_EQ(comm->backend(), "nccl");
  std::vector<float> v(4096);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(comm->rank() + 1) * 0.5f * static_cast<float>(i % 7);
  comm->allreduce_sum(v.data(), v.size(), DType::F32);
  float f = 0.5f * static_cast<float>(comm->world() * (comm->world() + 1) / 2);
  for (size_t i = 0; i < v.size(); ++i) ASSERT_FLOAT_EQ(v[i], f * static_cast<float>(i % 7));
}

TEST(MpiComm, PointToPointGatherInRankOrder) {
  auto comm = tc::dist::make_communicator("mpi");
  std::vector<double> mine(1000 + comm->rank(), comm->rank() + 0.5);
  if (comm->rank() == 0) {
    for (int r = 1; r < comm->world(); ++r) {
      std::vector<double> got(1000 + r);
      comm->recv(got.data(), got.size() * sizeof(double), r);
      for (double v : got) ASSERT_EQ(v, r + 0.5);
    }
  } else {
    comm->send(mine.data(), mine.size() * sizeof(double), 0);
  }
}

// The non-blocking paths (polled with a backoff) give the same results as blocking MPI: an
// all-gather, a barrier, an empty broadcast, and a broadcast and all-reduce large enough to
// outlast the sleepless first phase of the wait.
TEST(MpiComm, AllgatherBarrierAndLargeMessages) {
  auto comm = tc::dist::make_communicator("mpi");
  const int r = comm->rank(), w = comm->world();
  int64_t mine[2] = {r, 100 + r};
  std::vector<int64_t> all(2 * static_cast<size_t>(w));
  comm->allgather(mine, sizeof mine, all.data());
  for (int k = 0; k < w; ++k) {
    EXPECT_EQ(all[2 * k], k);
    EXPECT_EQ(all[2 * k + 1], 100 + k);
  }
  comm->barrier();
  comm->broadcast(nullptr, 0, 0);

  std::vector<uint8_t> big(24u << 20);  // 24 MiB
  for (size_t i = 0; i < big.size(); ++i) big[i] = r == 0 ? static_cast<uint8_t>(i * 7 + 3) : 0;
  comm->broadcast(big.data(), big.size(), 0);
  for (size_t i = 0; i < big.size(); i += 4099) ASSERT_EQ(big[i], static_cast<uint8_t>(i * 7 + 3)) << i;
  ASSERT_EQ(big.back(), static_cast<uint8_t>((big.size() - 1) * 7 + 3));

  std::vector<int32_t> sum(6u << 20, r + 1);
  comm->allreduce_sum(sum.data(), sum.size(), DType::I32);
  const int32_t want = w * (w + 1) / 2;
  for (size_t i = 0; i < sum.size(); i += 997) ASSERT_EQ(sum[i], want) << i;
  ASSERT_EQ(sum.back(), want);
}
