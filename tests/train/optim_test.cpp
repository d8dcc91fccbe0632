#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>

#include "train/optim.h"

using tc::train::Adam;
using tc::train::AdamOptions;
using tc::train::FlatParams;

// Our Adam against libtorch's own torch::optim::Adam (an independent implementation) on the
// recipe's settings, over 50 steps of a noisy quadratic.
TEST(Adam, MatchesTorchOptimAdam) {
  torch::manual_seed(0);
  auto target = torch::randn({300});
  auto p_ref = torch::randn({300}).requires_grad_(true);
  auto p_ours = p_ref.detach().clone();
  torch::optim::Adam ref({p_ref}, torch::optim::AdamOptions(1e-3).betas({0.5, 0.999}).eps(1e-8));
  Adam ours(300, AdamOptions{1e-3, 0.5, 0.999, 1e-8, 0.0});
  for (int step = 0; step < 50; ++step) {
    auto noise = torch::randn({300}) * 0.1;
    ref.zero_grad();
    auto loss = ((p_ref - target) * (p_ref - target)).sum() + (p_ref * noise).sum();
    loss.backward();
    auto grad = (2 * (p_ours - target) + noise);
    ref.step();
    ours.step(p_ours, grad);
  }
  EXPECT_LT((p_ref.detach() - p_ours).abs().max().item<float>(), 1e-6);
  EXPECT_EQ(ours.steps(), 50);
}

TEST(Adam, StateRoundTripContinuesIdentically) {
  auto p1 = torch::linspace(-1, 1, 64);
  auto p2 = p1.clone();
  Adam a(64, AdamOptions{}), b(64, AdamOptions{});
  auto g = torch::cos(torch::arange(64).to(torch::kFloat));
  for (int i = 0; i < 5; ++i) a.step(p1, g * (i + 1));
  // b resumes from a's saved state
  p2.copy_(p1);
  b.load_state(a.exp_avg().clone(), a.exp_avg_sq().clone(), a.steps());
  for (int i = 5; i < 9; ++i) {
    a.step(p1, g * (i + 1));
    b.step(p2, g * (i + 1));
  }
  // Bit-identical on purpose: the same elementwise code on the same numbers in one process.
  EXPECT_TRUE(torch::equal(p1, p2));
}

TEST(FlatParams, FlattensGradsAndWritesBack) {
  auto a = torch::zeros({2, 3}).requires_grad_(true);
  auto b = torch::zeros({4}).requires_grad_(true);
  FlatParams flat({{"a", a}, {"b", b}});
  EXPECT_EQ(flat.numel(), 10);
  EXPECT_EQ(flat.signature(), "a:2x3x;b:4x;");
  (a.sum() * 2 + (b * torch::arange(4)).sum()).backward();
  auto g = flat.grads();
  std::vector<float> expect = {2, 2, 2, 2, 2, 2, 0, 1, 2, 3};
  for (int i = 0; i < 10; ++i) EXPECT_FLOAT_EQ(g[i].item<float>(), expect[i]);
  flat.set_values(torch::arange(10).to(torch::kFloat));
  EXPECT_FLOAT_EQ(a[1][2].item<float>(), 5);
  EXPECT_FLOAT_EQ(b[3].item<float>(), 9);
  // A parameter without a gradient contributes zeros.
  auto c = torch::ones({3}).requires_grad_(true);
  FlatParams f2({{"c", c}});
  EXPECT_EQ(f2.grads().sum().item<float>(), 0);
}

#include "dist/dist.h"

namespace {

// Stands in for another rank: broadcast delivers the root's values, allreduce adds a second
// rank's contribution, and every buffer handed over is recorded.
class FakeTwoRankComm final : public tc::dist::Communicator {
 public:
  std::vector<float> root_values, other_rank;
  std::vector<const void*> seen;
  std::string backend() const override { return "fake"; }
  int rank() const override { return 1; }
  int world() const override { return 2; }
  void allreduce_sum(void* data, size_t count, tc::dist::DType) override {
    seen.push_back(data);
    auto* p = static_cast<float*>(data);
    for (size_t i = 0; i < count; ++i) p[i] += other_rank[i];
  }
  void allreduce_max(void*, size_t, tc::dist::DType) override {}
  void broadcast(void* data, size_t bytes, int) override {
    seen.push_back(data);
    std::memcpy(data, root_values.data(), bytes);
  }
  void allgather(const void*, size_t, void*) override {}
  std::vector<std::string> allgather_strings(const std::string& s) override { return {s, s}; }
  void barrier() override {}
  void send(const void*, size_t, int) override {}
  void recv(void*, size_t, int) override {}
};

}  // namespace

// Host tensors go to the communicator in place (no copy) and come back with its result; a
// backend that reads no device memory (MPI) is the default.
TEST(CommBuffers, HostTensorsAreReducedAndBroadcastInPlace) {
  FakeTwoRankComm comm;
  EXPECT_FALSE(comm.device_buffers());
  auto g = torch::tensor({1.f, 2.f, 3.f});
  // This rank had 1 sample, the other 3: (1 * g + 3 * g') / 4 with the other's sum pre-weighted.
  comm.other_rank = {30.f, 60.f, 90.f};
  tc::train::allreduce_weighted_mean(comm, g, 1, 4);
  ASSERT_EQ(comm.seen.size(), 1u);
  EXPECT_EQ(comm.seen[0], g.data_ptr());
  EXPECT_TRUE(torch::allclose(g, torch::tensor({7.75f, 15.5f, 23.25f})));

  auto v = torch::zeros({4});
  comm.root_values = {0.5f, -1.f, 2.f, 4.f};
  tc::train::broadcast_flat(comm, v, 0);
  ASSERT_EQ(comm.seen.size(), 2u);
  EXPECT_EQ(comm.seen[1], v.data_ptr());
  EXPECT_TRUE(torch::equal(v, torch::tensor({0.5f, -1.f, 2.f, 4.f})));
}
