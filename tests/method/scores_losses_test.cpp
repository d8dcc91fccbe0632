// Scores, maps and loss terms against hand-worked values and brute-force loops.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <vector>

#include "method/losses.h"
#include "method/scores.h"
#include "util/check.h"

namespace {

namespace m = tc::method;
const auto kD = torch::TensorOptions().dtype(torch::kDouble);

TEST(Scores, BaseTokenProbsSoftmaxThenDropCls) {
  // D = 2, tokens already unit vectors; text n = (1,0), a = (0,1); tau = 0.5.
  torch::Tensor f = torch::tensor({1.0, 0.0, 0.6, 0.8, 0.0, 1.0}, kD).reshape({1, 3, 2});
  torch::Tensor t = torch::tensor({1.0, 0.0, 0.0, 1.0}, kD).reshape({2, 2});
  torch::Tensor P = m::base_token_probs(f, t, 0.5);
  ASSERT_EQ(P.sizes(), (std::vector<int64_t>{1, 2, 2}));
  // token 1: logits (1.2, 1.6); token 2: (0, 2).
  double pa1 = std::exp(1.6) / (std::exp(1.2) + std::exp(1.6));
  double pa2 = std::exp(2.0) / (1.0 + std::exp(2.0));
  EXPECT_NEAR(P[0][0][1].item<double>(), pa1, 1e-15);
  EXPECT_NEAR(P[0][1][1].item<double>(), pa2, 1e-15);
  EXPECT_NEAR(P[0][1][0].item<double>(), 1 - pa2, 1e-15);
}

TEST(Scores, L2NormalizeAndGlobalLogits) {
  torch::Tensor g = torch::tensor({3.0, 4.0}, kD).reshape({1, 2});
  torch::Tensor gn = m::l2_normalize(g);
  EXPECT_NEAR(gn[0][0].item<double>(), 0.6, 1e-15);
  torch::Tensor t = torch::tensor({1.0, 0.0, 0.0, 1.0}, kD).reshape({2, 2});
  torch::Tensor l = m::global_logits(gn, t, 0.07);
  EXPECT_NEAR(l[0][1].item<double>(), 0.8 / 0.07, 1e-12);
}

// Bilinear, align_corners = false, written out: src = max(0, (dst + 0.5) * in/out - 0.5).
double bilinear_ref(const std::vector<double>& g, int in, int out, int y, int x) {
  auto coord = [&](int d, int* i0, int* i1, double* w) {
    double s = std::max(0.0, (d + 0.5) * double(in) / out - 0.5);
    *i0 = std::min(int(std::floor(s)), in - 1);
    *i1 = std::min(*i0 + 1, in - 1);
    *w = s - *i0;
  };
  int y0, y1, x0, x1;
  double wy, wx;
  coord(y, &y0, &y1, &wy);
  coord(x, &x0, &x1, &wx);
  return (1 - wy) * ((1 - wx) * g[y0 * in + x0] + wx * g[y0 * in + x1]) +
         wy * ((1 - wx) * g[y1 * in + x0] + wx * g[y1 * in + x1]);
}

TEST(Scores, ProbabilitiesUpsampledBilinearly) {
  torch::manual_seed(1);
  const int side = 3, S = 16;
  torch::Tensor logits = torch::randn({2, side * side, 2}, kD);
  torch::Tensor P = torch::softmax(logits, -1);
  torch::Tensor map = m::probs_to_map(P, S);
  ASSERT_EQ(map.sizes(), (std::vector<int64_t>{2, 2, S, S}));
  for (int b = 0; b < 2; ++b)
    for (int c = 0; c < 2; ++c) {
      std::vector<double> g(side * side);
      for (int i = 0; i < side * side; ++i) g[i] = P[b][i][c].item<double>();  // row-major grid
      for (int y = 0; y < S; ++y)
        for (int x = 0; x < S; ++x)
          ASSERT_NEAR(map[b][c][y][x].item<double>(), bilinear_ref(g, side, S, y, x), 1e-14);
    }
  // Probabilities stay probabilities after upsampling.
  EXPECT_LT((map.sum(1) - 1).abs().max().item<double>(), 1e-14);
  EXPECT_THROW(m::probs_to_map(torch::rand({1, 8, 2}), 16), tc::Error);
}

TEST(Scores, SubspaceSimilaritiesCostsAndDynamicProbs) {
  torch::manual_seed(3);
  torch::Tensor f = m::l2_normalize(torch::randn({2, 5, 4}, kD));
  torch::Tensor T = m::l2_normalize(torch::randn({3, 2, 4}, kD));
  torch::Tensor s = m::subspace_similarities(f, T);
  torch::Tensor cmax = m::ot_cost_max(s), ccen = m::ot_cost_centre(f, T);
  torch::manual_seed(4);
  torch::Tensor A = torch::softmax(torch::randn({2, 5, 3}, kD), -1);
  torch::Tensor Pd = m::dynamic_token_probs(A, s, 0.07);
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < 5; ++i) {
      double z[2] = {0, 0};
      for (int q = 0; q < 3; ++q) {
        double sc[2], cen[4] = {0, 0, 0, 0}, cn = 0, dot = 0;
        for (int c = 0; c < 2; ++c) {
          sc[c] = 0;
          for (int d = 0; d < 4; ++d) sc[c] += f[b][i][d].item<double>() * T[q][c][d].item<double>();
          EXPECT_NEAR(s[b][i][q][c].item<double>(), sc[c], 1e-14);
          z[c] += A[b][i][q].item<double>() * sc[c] / 0.07;
        }
        EXPECT_NEAR(cmax[b][i][q].item<double>(), 1 - std::max(sc[0], sc[1]), 1e-14);
        for (int d = 0; d < 4; ++d) {
          cen[d] = T[q][0][d].item<double>() + T[q][1][d].item<double>();
          cn += cen[d] * cen[d];
        }
        for (int d = 0; d < 4; ++d) dot += f[b][i][d].item<double>() * cen[d] / std::sqrt(cn);
        EXPECT_NEAR(ccen[b][i][q].item<double>(), 1 - dot, 1e-14);
      }
      double pa = 1.0 / (1.0 + std::exp(z[0] - z[1]));
      EXPECT_NEAR(Pd[b][i][1].item<double>(), pa, 1e-12);
    }
}

TEST(Scores, ImageScoreCombination) {
  torch::Tensor g = torch::tensor({0.2, 0.9}, kD);
  torch::Tensor map = torch::zeros({2, 4, 4}, kD);
  map[0][1][2] = 1.6;
  map[1][3][3] = 0.4;
  torch::Tensor s0 = m::combine_image_score(g, map, 0.0, 2);
  EXPECT_TRUE(torch::equal(s0, g));
  torch::Tensor s = m::combine_image_score(g, map, 0.25, 2);
  EXPECT_NEAR(s[0].item<double>(), 0.75 * 0.2 + 0.25 * 0.8, 1e-15);
  EXPECT_NEAR(s[1].item<double>(), 0.75 * 0.9 + 0.25 * 0.2, 1e-15);
}

TEST(Losses, FocalHandValue) {
  // Four pixels (P_a, mask): (0.8,1) (0.3,0) (0.5,1) (0.999,0); value worked out in Python
  // from the reference formula.
  torch::Tensor pa = torch::tensor({0.8, 0.3, 0.5, 0.999}, kD).reshape({1, 2, 2});
  torch::Tensor P = torch::stack({1 - pa, pa}, 1);
  torch::Tensor mask = torch::tensor({1.0, 0.0, 1.0, 0.0}, kD).reshape({1, 2, 2});
  EXPECT_NEAR(m::focal_loss(P, mask).item<double>(), 1.772056744090317, 1e-13);
  // Split across two samples of two pixels: same mean.
  torch::Tensor P2 = P.reshape({1, 2, 4}).permute({0, 2, 1}).reshape({2, 2, 2}).permute({0, 2, 1})
                         .reshape({2, 2, 1, 2});
  EXPECT_NEAR(m::focal_loss(P2, mask.reshape({2, 1, 2})).item<double>(), 1.772056744090317, 1e-13);
}

TEST(Losses, DiceHandValues) {
  // m = (0.5, 0.5), g = (1, 0): 1 - (2*0.5 + 1)/(1 + 1 + 1) = 1/3.
  torch::Tensor p = torch::tensor({0.5, 0.5}, kD).reshape({1, 1, 2});
  torch::Tensor g = torch::tensor({1.0, 0.0}, kD).reshape({1, 1, 2});
  EXPECT_NEAR(m::dice_loss(p, g).item<double>(), 1.0 / 3, 1e-15);
  // Batch of two: second sample m = (0,0), g = (0,0): 1 - 1/1 = 0. Mean = 1/6.
  torch::Tensor p2 = torch::cat({p, torch::zeros({1, 1, 2}, kD)});
  torch::Tensor g2 = torch::cat({g, torch::zeros({1, 1, 2}, kD)});
  EXPECT_NEAR(m::dice_loss(p2, g2).item<double>(), 1.0 / 6, 1e-15);
  // local = focal + dice(P_a, mask) + dice(P_n, 1 - mask).
  torch::Tensor P = torch::stack({1 - p, p}, 1);
  double want = m::focal_loss(P, g).item<double>() + 1.0 / 3 +
                (1 - (2 * 0.5 + 1) / (1.0 + 1.0 + 1.0));
  EXPECT_NEAR(m::local_loss(P, g).item<double>(), want, 1e-15);
}

TEST(Losses, CrossEntropyHandValue) {
  torch::Tensor logits = torch::tensor({1.0, 2.0, 0.0, 3.0}, kD).reshape({2, 2});
  torch::Tensor labels = torch::tensor({1, 1}, torch::kLong);
  EXPECT_NEAR(m::image_ce_loss(logits, labels).item<double>(), 0.1809245195459824, 1e-15);
  EXPECT_NEAR(m::image_ce_loss(logits.slice(0, 0, 1), labels.slice(0, 0, 1)).item<double>(),
              0.31326168751822286, 1e-15);
}

TEST(Losses, OrthogonalityAndGram) {
  // Q = 2, C = 2 in D = 2: state n has vectors at angle 60 degrees, state a is orthonormal.
  double c60 = 0.5, s60 = std::sqrt(0.75);
  torch::Tensor T = torch::tensor({1.0, 0.0, 1.0, 0.0,  // q=0: n, a
                                   c60, s60, 0.0, 1.0}, // q=1: n, a
                                  kD).reshape({2, 2, 2});
  // ||G_n - I||^2 = 2 * 0.25, ||G_a - I||^2 = 0; divided by Q(Q-1) = 2.
  EXPECT_NEAR(m::orthogonality_loss(T).item<double>(), 0.25, 1e-15);
  torch::Tensor G = m::subspace_gram(T);
  EXPECT_NEAR(G[0][0][1].item<double>(), 0.5, 1e-15);
  EXPECT_NEAR(G[1][0][1].item<double>(), 0.0, 1e-15);
  EXPECT_EQ(m::orthogonality_loss(T.slice(0, 0, 1)).item<double>(), 0.0);
}

}  // namespace
