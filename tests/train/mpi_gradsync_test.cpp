// The weighted all-reduce reproduces the full-batch gradient for any world size and uneven
// shares (METHOD.md section 3): each rank computes the mean-loss gradient on its share.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>

#include "dist/dist.h"
#include "train/optim.h"

TEST(GradSync, WeightedMeanEqualsFullBatchGradient) {
  auto comm = tc::dist::make_communicator("mpi");
  const int64_t global = 8;  // uneven at 3 ranks: 3, 3, 2
  torch::manual_seed(123);   // same data on every rank
  auto x = torch::randn({global, 5});
  auto y = torch::randn({global});
  auto w0 = torch::randn({5});

  auto grad_of = [&](int64_t begin, int64_t end) {
    auto w = w0.clone().requires_grad_(true);
    auto loss = (torch::mv(x.slice(0, begin, end), w) - y.slice(0, begin, end)).pow(2).mean();
    loss.backward();
    return w.grad().clone();
  };
  auto full = grad_of(0, global);

  int W = comm->world(), r = comm->rank();
  int64_t base = global / W, extra = global % W;
  int64_t begin = r * base + std::min<int64_t>(r, extra);
  int64_t count = base + (r < extra ? 1 : 0);
  auto g = count > 0 ? grad_of(begin, begin + count) : torch::zeros({5});
  g = g.contiguous();
  tc::train::allreduce_weighted_mean(*comm, g, count, global);
  // Not bit for bit: the shares and the all-reduce sum the per-sample terms in another order
  // than one process does. Bound: the rounding error of summing n terms in any order is at
  // most about n * eps * sum |terms| (Higham, recursive summation); n = the 8 samples plus the
  // share weighting and the all-reduce, 16 in all. That is ~6e-6 here (|g| ~ 3, measured
  // difference 1 ulp = 2.4e-7), while a wrong share or weight is off by O(1).
  auto terms = (2 * x * (torch::mv(x, w0) - y).unsqueeze(1)).abs().sum(0) / global;
  auto bound = 16 * std::numeric_limits<float>::epsilon() * terms;
  EXPECT_TRUE(((g - full).abs() <= bound).all().item<bool>())
      << "rank " << r << ": |diff| " << (g - full).abs() << " bound " << bound;
  EXPECT_GT((full - g * 0.9).abs().max().item<float>(), bound.max().item<float>() * 10)  // the bound is tight enough to see a 10% weight error
      << "bound too loose";
}
