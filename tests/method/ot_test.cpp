// Sinkhorn, greedy plan and topK against independent computations: a plain (scaling-form,
// double precision) Sinkhorn written here, the closed-form limits, and brute-force selection.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "method/ot.h"
#include "util/check.h"

namespace {

using tc::method::SinkhornOptions;

// Plain Sinkhorn in the scaling form: P = diag(a) K diag(b), K = exp(-C/eps), iterated to a
// tight tolerance in double precision. Independent of the log-domain code under test.
std::vector<double> plain_sinkhorn(const std::vector<double>& C, int N, int Q, double eps,
                                   const std::vector<double>& nu) {
  std::vector<double> K(C.size()), a(N, 1.0), b(Q, 1.0);
  for (size_t i = 0; i < C.size(); ++i) K[i] = std::exp(-C[i] / eps);
  for (int it = 0; it < 100000; ++it) {
    for (int i = 0; i < N; ++i) {
      double s = 0;
      for (int q = 0; q < Q; ++q) s += K[i * Q + q] * b[q];
      a[i] = (1.0 / N) / s;
    }
    double err = 0;
    for (int q = 0; q < Q; ++q) {
      double s = 0;
      for (int i = 0; i < N; ++i) s += K[i * Q + q] * a[i];
      b[q] = nu[q] / s;
    }
    for (int i = 0; i < N; ++i) {
      double s = 0;
      for (int q = 0; q < Q; ++q) s += a[i] * K[i * Q + q] * b[q];
      err = std::max(err, std::abs(s - 1.0 / N));
    }
    if (err < 1e-15) break;
  }
  std::vector<double> P(C.size());
  for (int i = 0; i < N; ++i)
    for (int q = 0; q < Q; ++q) P[i * Q + q] = a[i] * K[i * Q + q] * b[q];
  return P;
}

torch::Tensor random_cost(int64_t B, int64_t N, int64_t Q, uint64_t seed, torch::Dtype dt) {
  torch::manual_seed(seed);
  return torch::rand({B, N, Q}, torch::TensorOptions().dtype(dt)) * 2.0;  // like 1 - cosine
}

TEST(Sinkhorn, MarginalsMetToTolerance) {
  for (double tol : {1e-3, 1e-4, 1e-6}) {
    torch::Tensor C = random_cost(3, 60, 4, 1, torch::kDouble);
    SinkhornOptions o;
    o.tol = tol;
    o.max_iters = 10000;
    auto r = tc::method::sinkhorn_log(C, {}, o);
    torch::Tensor P = r.log_plan.exp();
    double row_err = (P.sum(2) - 1.0 / 60).abs().max().item<double>();
    double col_err = (P.sum(1) - 0.25).abs().max().item<double>();
    EXPECT_LT(row_err, tol) << "tol " << tol;
    EXPECT_LT(col_err, 1e-12) << "columns are exact after each column update";
    EXPECT_LT(r.violation.max().item<double>(), tol);
    EXPECT_GE(r.iterations.min().item<int64_t>(), 1);
    // Float32 too.
    auto rf = tc::method::sinkhorn_log(C.to(torch::kFloat), {}, o);
    if (tol >= 1e-4) {
      EXPECT_LT((rf.log_plan.exp().sum(2) - 1.0 / 60).abs().max().item<double>(), tol);
    }
  }
}

TEST(Sinkhorn, AgreesWithPlainDoubleSinkhorn) {
  const int N = 37, Q = 5;
  for (double eps : {0.05, 0.1, 0.5}) {
    torch::Tensor C = random_cost(2, N, Q, 7, torch::kDouble);
    std::vector<double> nu = {0.1, 0.3, 0.2, 0.25, 0.15};
    torch::Tensor log_nu = torch::tensor(nu, torch::kDouble).log();
    SinkhornOptions o;
    o.eps = eps;
    o.tol = 1e-13;
    o.max_iters = 100000;
    auto r = tc::method::sinkhorn_log(C, log_nu, o);
    auto rf = tc::method::sinkhorn_log(C.to(torch::kFloat), log_nu.to(torch::kFloat),
                                       SinkhornOptions{eps, 1e-6, 100000, false});
    for (int b = 0; b < 2; ++b) {
      torch::Tensor cb = C[b].contiguous();
      std::vector<double> cv(cb.data_ptr<double>(), cb.data_ptr<double>() + N * Q);
      auto ref = plain_sinkhorn(cv, N, Q, eps, nu);
      torch::Tensor P = r.log_plan[b].exp().contiguous();
      torch::Tensor Pf = rf.log_plan[b].exp().to(torch::kDouble).contiguous();
      for (int i = 0; i < N * Q; ++i) {
        ASSERT_NEAR(P.data_ptr<double>()[i], ref[i], 1e-12 + 1e-9 * ref[i]) << "eps " << eps;
        // float32 stops at an absolute row violation of 1e-6: compare in absolute mass.
        ASSERT_NEAR(Pf.data_ptr<double>()[i], ref[i], 5e-6) << "eps " << eps;
      }
    }
  }
}

TEST(Sinkhorn, LargeEpsGivesProductOfMarginals) {
  torch::Tensor C = random_cost(2, 20, 3, 3, torch::kDouble);
  auto r = tc::method::sinkhorn_log(C, {}, SinkhornOptions{1e6, 1e-12, 1000, false});
  EXPECT_LT((r.log_plan.exp() - 1.0 / 60).abs().max().item<double>(), 1e-7);
}

TEST(Sinkhorn, SingleSubspaceTakesAllMass) {
  torch::Tensor C = random_cost(2, 30, 1, 4, torch::kFloat);
  auto r = tc::method::sinkhorn_log(C, {}, SinkhornOptions{});
  EXPECT_LT((r.log_plan.exp() - 1.0 / 30).abs().max().item<double>(), 1e-7);
  EXPECT_TRUE(torch::allclose(tc::method::topk_assignment(r.log_plan, 1), torch::ones_like(C)));
}

TEST(Sinkhorn, SmallEpsOnCosinesStaysFinite) {
  torch::manual_seed(11);
  torch::Tensor f = torch::randn({2, 1369, 64});
  f = f / f.norm(2, {-1}, true);
  torch::Tensor t = torch::randn({8, 2, 64});
  t = t / t.norm(2, {-1}, true);
  torch::Tensor s = torch::matmul(f, t.reshape({16, 64}).t()).reshape({2, 1369, 8, 2});
  torch::Tensor C = 1.0 - std::get<0>(s.max(-1));
  auto r = tc::method::sinkhorn_log(C, {}, SinkhornOptions{1e-3, 1e-4, 100, false});
  EXPECT_TRUE(torch::isfinite(r.log_plan).all().item<bool>());
  torch::Tensor A = tc::method::topk_assignment(r.log_plan, 2);
  EXPECT_TRUE(torch::isfinite(A).all().item<bool>());
  EXPECT_LT((A.sum(-1) - 1).abs().max().item<double>(), 1e-5);
  EXPECT_LT((r.log_plan.exp().sum(1) - 0.125).abs().max().item<double>(), 1e-5);
  auto g = tc::method::greedy_log_plan(C, 1e-3, false);
  EXPECT_TRUE(torch::isfinite(g).all().item<bool>());
}

TEST(Sinkhorn, EachImageStopsOnItsOwn) {
  torch::Tensor C = random_cost(3, 40, 4, 5, torch::kFloat);
  C[1] = C[1] * 0.01;  // nearly flat cost: converges much faster
  SinkhornOptions o;
  auto all = tc::method::sinkhorn_log(C, {}, o);
  for (int b = 0; b < 3; ++b) {
    auto one = tc::method::sinkhorn_log(C.slice(0, b, b + 1), {}, o);
    EXPECT_EQ(one.iterations[0].item<int64_t>(), all.iterations[b].item<int64_t>());
    EXPECT_TRUE(torch::allclose(one.log_plan[0], all.log_plan[b], 1e-6, 1e-6));
  }
  EXPECT_LT(all.iterations[1].item<int64_t>(), all.iterations[0].item<int64_t>());
}

TEST(Sinkhorn, IterationCapIsHonoured) {
  torch::Tensor C = random_cost(1, 50, 4, 6, torch::kFloat);
  auto r = tc::method::sinkhorn_log(C, {}, SinkhornOptions{0.01, 1e-12, 3, false});
  EXPECT_EQ(r.iterations[0].item<int64_t>(), 3);
  EXPECT_GT(r.violation[0].item<double>(), 1e-12);
}

TEST(Sinkhorn, DetachedByDefaultUnrolledOnRequest) {
  torch::Tensor C = random_cost(1, 6, 3, 8, torch::kDouble).requires_grad_(true);
  auto det = tc::method::sinkhorn_log(C, {}, SinkhornOptions{});
  EXPECT_FALSE(det.log_plan.requires_grad());
  SinkhornOptions o{0.2, 1e-14, 5000, true};
  auto r = tc::method::sinkhorn_log(C, {}, o);
  ASSERT_TRUE(r.log_plan.requires_grad());
  torch::manual_seed(9);
  torch::Tensor W = torch::randn({1, 6, 3}, torch::kDouble);
  torch::Tensor g = torch::autograd::grad({(r.log_plan.exp() * W).sum()}, {C})[0];
  // Central finite differences of the converged plan.
  const double h = 1e-6;
  torch::Tensor Cd = C.detach().clone();
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t q = 0; q < 3; ++q) {
      torch::Tensor cp = Cd.clone(), cm = Cd.clone();
      cp[0][i][q] += h;
      cm[0][i][q] -= h;
      o.backprop = false;
      double fp = (tc::method::sinkhorn_log(cp, {}, o).log_plan.exp() * W).sum().item<double>();
      double fm = (tc::method::sinkhorn_log(cm, {}, o).log_plan.exp() * W).sum().item<double>();
      EXPECT_NEAR(g[0][i][q].item<double>(), (fp - fm) / (2 * h), 1e-6);
    }
}

TEST(Sinkhorn, RejectsBadArguments) {
  torch::Tensor C = random_cost(1, 4, 2, 1, torch::kFloat);
  EXPECT_THROW(tc::method::sinkhorn_log(C, {}, SinkhornOptions{0.0, 1e-4, 10, false}), tc::Error);
  EXPECT_THROW(tc::method::sinkhorn_log(C[0], {}, SinkhornOptions{}), tc::Error);
  EXPECT_THROW(tc::method::sinkhorn_log(C, torch::zeros({3}), SinkhornOptions{}), tc::Error);
}

TEST(Greedy, IsSoftmaxOfSimilarityOverEps) {
  torch::Tensor C = torch::tensor({0.2, 0.5, 0.9}, torch::kDouble).reshape({1, 1, 3});
  torch::Tensor lp = tc::method::greedy_log_plan(C, 0.1, false);
  // softmax(a / eps) with a = 1 - C = (0.8, 0.5, 0.1): weights e^8, e^5, e^1.
  double z = std::exp(8.0) + std::exp(5.0) + std::exp(1.0);
  EXPECT_NEAR(lp.exp()[0][0][0].item<double>(), std::exp(8.0) / z, 1e-14);
  EXPECT_NEAR(lp.exp()[0][0][1].item<double>(), std::exp(5.0) / z, 1e-14);
  EXPECT_NEAR(lp.exp()[0][0][2].item<double>(), std::exp(1.0) / z, 1e-14);
}

TEST(TopK, KeepsKLargestRenormalisedBruteForce) {
  torch::manual_seed(2);
  torch::Tensor lp = torch::randn({2, 10, 5}, torch::kDouble);
  for (int64_t k = 1; k <= 5; ++k) {
    torch::Tensor A = tc::method::topk_assignment(lp, k);
    for (int b = 0; b < 2; ++b)
      for (int i = 0; i < 10; ++i) {
        std::vector<double> x(5);
        for (int q = 0; q < 5; ++q) x[q] = lp[b][i][q].item<double>();
        std::vector<int> idx(5);
        std::iota(idx.begin(), idx.end(), 0);
        std::stable_sort(idx.begin(), idx.end(), [&](int l, int r) { return x[l] > x[r]; });
        double z = 0;
        for (int j = 0; j < k; ++j) z += std::exp(x[idx[j]]);
        std::vector<double> want(5, 0.0);
        for (int j = 0; j < k; ++j) want[idx[j]] = std::exp(x[idx[j]]) / z;
        int nz = 0;
        double sum = 0;
        for (int q = 0; q < 5; ++q) {
          double a = A[b][i][q].item<double>();
          EXPECT_NEAR(a, want[q], 1e-14);
          nz += a != 0.0;
          sum += a;
        }
        EXPECT_EQ(nz, k);
        EXPECT_NEAR(sum, 1.0, 1e-14);
      }
  }
}

TEST(TopK, TiesGoToTheLowerIndex) {
  torch::Tensor lp = torch::tensor({0.0, 0.0, 0.0, -1.0,   // tie among 0,1,2
                                    -1.0, 0.0, 0.0, 0.0,   // tie among 1,2,3
                                    -2.0, -2.0, -2.0, -2.0},
                                   torch::kFloat)
                         .reshape({1, 3, 4});
  torch::Tensor m2 = tc::method::topk_mask(lp, 2).to(torch::kInt);
  EXPECT_TRUE(torch::equal(m2[0][0], torch::tensor({1, 1, 0, 0}, torch::kInt)));
  EXPECT_TRUE(torch::equal(m2[0][1], torch::tensor({0, 1, 1, 0}, torch::kInt)));
  EXPECT_TRUE(torch::equal(m2[0][2], torch::tensor({1, 1, 0, 0}, torch::kInt)));
  torch::Tensor m1 = tc::method::topk_mask(lp, 1).to(torch::kInt);
  EXPECT_TRUE(torch::equal(m1[0][2], torch::tensor({1, 0, 0, 0}, torch::kInt)));
  torch::Tensor A = tc::method::topk_assignment(lp, 3);
  EXPECT_EQ((A[0][2] > 0).sum().item<int64_t>(), 3);
  EXPECT_NEAR(A[0][2][0].item<double>(), 1.0 / 3, 1e-7);
}

TEST(TopK, KEqualsQIsPlainRowNormalisation) {
  torch::Tensor C = random_cost(2, 12, 4, 3, torch::kDouble);
  auto r = tc::method::sinkhorn_log(C, {}, SinkhornOptions{});
  torch::Tensor P = r.log_plan.exp();
  torch::Tensor A = tc::method::topk_assignment(r.log_plan, 4);
  EXPECT_TRUE(torch::allclose(A, P / P.sum(-1, true), 1e-12, 1e-14));
  EXPECT_THROW(tc::method::topk_assignment(r.log_plan, 5), tc::Error);
  EXPECT_THROW(tc::method::topk_assignment(r.log_plan, 0), tc::Error);
}

}  // namespace
