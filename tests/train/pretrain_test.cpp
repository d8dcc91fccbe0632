// Pretraining losses and schedule against independent computations: the symmetric InfoNCE and
// the patch-text term in double precision with explicit loops, the patch cover by hand, the
// cosine schedule at hand-worked points, AdamW's decoupled decay with a mask by hand.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "train/optim.h"
#include "train/pretrain.h"

namespace {

using namespace tc::train;

torch::Tensor unit_rows(int64_t n, int64_t d, int seed) {
  torch::manual_seed(seed);
  auto x = torch::randn({n, d});
  return x / x.norm(2, -1, true);
}

// -log softmax(row)[k] in double.
double nll(const std::vector<double>& row, size_t k) {
  double m = row[0];
  for (double v : row) m = std::max(m, v);
  double s = 0;
  for (double v : row) s += std::exp(v - m);
  return -(row[k] - m - std::log(s));
}

}  // namespace

TEST(PretrainLoss, ContrastiveMatchesExplicitDoubleLoops) {
  const int64_t n = 6, d = 5;
  auto img = unit_rows(n, d, 1), txt = unit_rows(n, d, 2);
  const double scale = 9.5;
  auto got = clip_contrastive_loss(img, txt, torch::tensor(scale)).item<double>();
  auto I = img.to(torch::kDouble), T = txt.to(torch::kDouble);
  double rows = 0, cols = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<double> r(n), c(n);
    for (int64_t j = 0; j < n; ++j) {
      double dij = 0, dji = 0;
      for (int64_t k = 0; k < d; ++k) {
        dij += I[i][k].item<double>() * T[j][k].item<double>();
        dji += T[i][k].item<double>() * I[j][k].item<double>();
      }
      r[j] = scale * dij;  // image i against every caption
      c[j] = scale * dji;  // caption i against every image
    }
    rows += nll(r, size_t(i));
    cols += nll(c, size_t(i));
  }
  const double want = (rows / n + cols / n) / 2;
  EXPECT_NEAR(got, want, 1e-5 * want);
  // Perfectly matched pairs at a large scale: the loss goes to 0.
  EXPECT_LT(clip_contrastive_loss(img, img, torch::tensor(1000.0)).item<double>(), 1e-4);
}

TEST(PretrainLoss, DensePatchLossMatchesExplicitDoubleLoops) {
  const int64_t b = 3, N = 4, d = 6;
  auto tok = unit_rows(b * N, d, 3).reshape({b, N, d});
  auto tn = unit_rows(b, d, 4), td = unit_rows(b, d, 5);
  // image 0: defect covering patch 1 fully and patch 2 by a quarter; image 1: normal;
  // image 2: a defect, but not used (its mask may not be used).
  auto cover = torch::tensor({0.0, 1.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0}).reshape({b, N}).to(torch::kFloat);
  auto use = torch::tensor({1.0, 1.0, 0.0}).to(torch::kFloat);
  const double tau = 0.07;
  double got = dense_patch_loss(tok, tn, td, cover, use, tau).item<double>();

  double want = 0;
  for (int64_t i = 0; i < b; ++i) {
    if (use[i].item<double>() == 0) continue;
    double dsum = 0, nsum = 0, dterm = 0, nterm = 0;
    for (int64_t p = 0; p < N; ++p) {
      double sn = 0, sd = 0;
      for (int64_t k = 0; k < d; ++k) {
        sn += tok[i][p][k].item<double>() * tn[i][k].item<double>();
        sd += tok[i][p][k].item<double>() * td[i][k].item<double>();
      }
      const std::vector<double> row = {sn / tau, sd / tau};
      const double c = cover[i][p].item<double>();
      dterm += c * nll(row, 1);
      nterm += (1 - c) * nll(row, 0);
      dsum += c;
      nsum += 1 - c;
    }
    want += dsum > 0 ? (dterm / dsum + nterm / nsum) / 2 : nterm / nsum;
  }
  want /= b;  // a per-sample mean over the whole batch
  EXPECT_NEAR(got, want, 1e-5 * want);
}

TEST(PretrainLoss, PatchCoverIsTheShareOfMaskPixels) {
  auto m = torch::zeros({1, 4, 4});
  m[0][0][0] = 1;  // patch (0,0): 1 of 4 pixels
  m[0][2][2] = 1;
  m[0][2][3] = 1;
  m[0][3][2] = 1;
  m[0][3][3] = 1;  // patch (1,1): all 4
  auto c = patch_cover(m, 2);
  ASSERT_EQ(c.sizes(), (std::vector<int64_t>{1, 4}));
  EXPECT_FLOAT_EQ(c[0][0].item<float>(), 0.25f);
  EXPECT_FLOAT_EQ(c[0][1].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(c[0][2].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(c[0][3].item<float>(), 1.0f);
}

TEST(PretrainSchedule, CosineWithWarmup) {
  const double lr = 1e-3;
  EXPECT_DOUBLE_EQ(cosine_lr(0, lr, 10, 110), 1e-4);         // first warmup step: lr / warmup
  EXPECT_DOUBLE_EQ(cosine_lr(9, lr, 10, 110), 1e-3);         // last warmup step
  EXPECT_DOUBLE_EQ(cosine_lr(10, lr, 10, 110), 1e-3);        // cosine starts at the peak
  EXPECT_NEAR(cosine_lr(60, lr, 10, 110), 0.5e-3, 1e-15);    // half way: lr / 2
  EXPECT_NEAR(cosine_lr(110, lr, 10, 110), 0.0, 1e-18);      // the end
  EXPECT_NEAR(cosine_lr(35, lr, 10, 110), lr * (1 + std::cos(M_PI * 0.25)) / 2, 1e-15);
  EXPECT_DOUBLE_EQ(cosine_lr(0, lr, 0, 100), lr);            // no warmup
}

// AdamW: params *= 1 - lr * wd where the mask is 1, then the Adam step; worked by hand for
// the first step (mhat = g, vhat = g^2: the step is lr * g / (|g| + eps)).
TEST(Adam, DecoupledWeightDecayWithMask) {
  AdamOptions o;
  o.lr = 0.1;
  o.beta1 = 0.9;
  o.beta2 = 0.98;
  o.eps = 1e-6;
  o.weight_decay = 0.5;
  o.decoupled = true;
  Adam a(3, o);
  a.set_weight_decay_mask(torch::tensor({1.0f, 0.0f, 1.0f}));
  auto p = torch::tensor({2.0f, 2.0f, -4.0f});
  auto g = torch::tensor({0.5f, 0.5f, 0.0f});
  a.step(p, g);
  const double d0 = 2.0 * (1 - 0.1 * 0.5) - 0.1 * 0.5 / (0.5 + 1e-6);
  const double d1 = 2.0 - 0.1 * 0.5 / (0.5 + 1e-6);  // masked out: no decay
  const double d2 = -4.0 * (1 - 0.1 * 0.5);           // zero gradient: decay only
  EXPECT_NEAR(p[0].item<double>(), d0, 1e-6);
  EXPECT_NEAR(p[1].item<double>(), d1, 1e-6);
  EXPECT_NEAR(p[2].item<double>(), d2, 1e-6);
}

// Against libtorch's own AdamW over 30 steps (no mask: every value decays).
TEST(Adam, DecoupledMatchesTorchOptimAdamW) {
  torch::manual_seed(0);
  auto target = torch::randn({200});
  auto p_ref = torch::randn({200}).requires_grad_(true);
  auto p_ours = p_ref.detach().clone();
  torch::optim::AdamW ref({p_ref}, torch::optim::AdamWOptions(5e-3).betas({0.9, 0.98}).eps(1e-6).weight_decay(0.1));
  AdamOptions o{5e-3, 0.9, 0.98, 1e-6, 0.1};
  o.decoupled = true;
  Adam ours(200, o);
  for (int step = 0; step < 30; ++step) {
    ref.zero_grad();
    auto loss = ((p_ref - target) * (p_ref - target)).sum();
    loss.backward();
    auto grad = 2 * (p_ours - target);
    ref.step();
    ours.step(p_ours, grad);
  }
  EXPECT_LT((p_ref.detach() - p_ours).abs().max().item<float>(), 1e-6);
}

TEST(FlatParams, DecayMaskFollowsTheFlags) {
  FlatParams f({{"w", torch::zeros({2, 2}), true}, {"b", torch::zeros({3}), false}});
  auto m = f.decay_mask();
  ASSERT_EQ(m.numel(), 7);
  EXPECT_EQ(m.sum().item<float>(), 4.0f);
  EXPECT_EQ(m.slice(0, 4).sum().item<float>(), 0.0f);
}
