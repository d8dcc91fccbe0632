// Metrics against independent brute-force computations (every threshold enumerated, regions by
// flood fill, pairwise Mann-Whitney) on random data with many ties, plus hand-worked cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <set>

#include "eval/metrics.h"
#include "eval/report_metrics.h"
#include "util/check.h"
#include "util/rng.h"

namespace tc::eval::test_metrics {

// ---------------------------------------------------------------- brute force references

// AUROC as the probability that a random anomalous sample outscores a random normal one (ties
// count one half): equal to the trapezoid under the tie-merged ROC curve.
double brute_auroc_pairs(const std::vector<float>& s, const std::vector<uint8_t>& y) {
  double wins = 0;
  int64_t P = 0, N = 0;
  for (size_t i = 0; i < s.size(); ++i) (y[i] ? P : N)++;
  for (size_t i = 0; i < s.size(); ++i)
    if (y[i])
      for (size_t j = 0; j < s.size(); ++j)
        if (!y[j]) wins += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
  return wins / double(P) / double(N);
}

struct BrutePR {
  double ap = 0, auroc = 0, f1 = -1, thr = 0;
};
// Every distinct score as a threshold (predict positive when score >= t), highest first.
BrutePR brute_pr(const std::vector<float>& s, const std::vector<uint8_t>& y) {
  std::set<float, std::greater<float>> ts(s.begin(), s.end());
  int64_t P = 0, N = 0;
  for (size_t i = 0; i < s.size(); ++i) (y[i] ? P : N)++;
  BrutePR r;
  double prev_rec = 0, prev_fpr = 0, prev_tpr = 0;
  for (float t : ts) {
    int64_t tp = 0, fp = 0;
    for (size_t i = 0; i < s.size(); ++i)
      if (s[i] >= t) (y[i] ? tp : fp)++;
    double prec = double(tp) / double(tp + fp), rec = double(tp) / double(P);
    r.ap += (rec - prev_rec) * prec;
    prev_rec = rec;
    double fpr = double(fp) / N, tpr = double(tp) / P;
    r.auroc += (fpr - prev_fpr) * (tpr + prev_tpr) / 2;
    prev_fpr = fpr;
    prev_tpr = tpr;
    if (prec + rec > 0) {
      double f1 = 2 * prec * rec / (prec + rec);
      if (f1 > r.f1 + 1e-15 || std::abs(f1 - r.f1) <= 1e-15) {
        r.f1 = f1;
        r.thr = t;
      }
    }
  }
  return r;
}

// Regions by breadth-first flood fill (independent of the union-find labeller).
int brute_label(const uint8_t* m, int h, int w, std::vector<int>& lab) {
  lab.assign(size_t(h) * w, 0);
  int n = 0;
  for (int y0 = 0; y0 < h; ++y0)
    for (int x0 = 0; x0 < w; ++x0) {
      if (!m[y0 * w + x0] || lab[size_t(y0) * w + x0]) continue;
      ++n;
      std::deque<std::pair<int, int>> q{{y0, x0}};
      lab[size_t(y0) * w + x0] = n;
      while (!q.empty()) {
        auto [y, x] = q.front();
        q.pop_front();
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx) {
            int yy = y + dy, xx = x + dx;
            if (yy < 0 || xx < 0 || yy >= h || xx >= w) continue;
            size_t k = size_t(yy) * w + xx;
            if (m[k] && !lab[k]) {
              lab[k] = n;
              q.push_back({yy, xx});
            }
          }
      }
    }
  return n;
}

struct ProPoint {
  double fpr, pro;
};
// PRO and FPR at one threshold; `strict` selects '>' (anomalyclip) or '>=' (mvtec curve points).
ProPoint brute_pro_at(const std::vector<std::vector<float>>& maps,
                      const std::vector<std::vector<uint8_t>>& masks, int h, int w, float t,
                      bool strict, int64_t* fp_out = nullptr) {
  double overlap_sum = 0;
  int regions = 0;
  int64_t fp = 0, ok = 0;
  for (size_t i = 0; i < maps.size(); ++i) {
    std::vector<int> lab;
    int n = brute_label(masks[i].data(), h, w, lab);
    std::vector<int64_t> area(size_t(n) + 1, 0), hit(size_t(n) + 1, 0);
    for (size_t p = 0; p < lab.size(); ++p) {
      bool on = strict ? maps[i][p] > t : maps[i][p] >= t;
      ++area[size_t(lab[p])];
      if (on) ++hit[size_t(lab[p])];
      if (lab[p] == 0) {
        ++ok;
        fp += on;
      }
    }
    for (int r = 1; r <= n; ++r) overlap_sum += double(hit[size_t(r)]) / double(area[size_t(r)]);
    regions += n;
  }
  if (fp_out) *fp_out = fp;
  return {double(fp) / double(ok), overlap_sum / regions};
}

// Official MVTec AU-PRO: every distinct score a threshold; the curve (with (0,0) and (1,1)) is
// integrated up to `limit` with linear interpolation at the cut, then divided by `limit`.
double brute_aupro_mvtec(const std::vector<std::vector<float>>& maps,
                         const std::vector<std::vector<uint8_t>>& masks, int h, int w,
                         double limit = 0.3) {
  std::set<float, std::greater<float>> ts;
  int64_t ok = 0;
  for (size_t i = 0; i < maps.size(); ++i) {
    ts.insert(maps[i].begin(), maps[i].end());
    for (auto v : masks[i]) ok += v == 0;
  }
  std::vector<ProPoint> pts{{0, 0}};
  for (float t : ts) {
    int64_t fp = 0;
    ProPoint p = brute_pro_at(maps, masks, h, w, t, false, &fp);
    p.fpr = double(float(fp) / float(ok));  // the reference's float32 FPR
    pts.push_back({std::min(p.fpr, 1.0), std::min(p.pro, 1.0)});
  }
  pts.push_back({1, 1});
  // Integrate the piecewise-linear curve over [0, limit].
  double area = 0;
  for (size_t k = 1; k < pts.size(); ++k) {
    double x0 = pts[k - 1].fpr, x1 = pts[k].fpr, y0 = pts[k - 1].pro, y1 = pts[k].pro;
    if (x0 >= limit) break;
    if (x1 <= limit) {
      area += (x1 - x0) * (y0 + y1) / 2;
    } else {
      double yl = y0 + (y1 - y0) * (limit - x0) / (x1 - x0);
      area += (limit - x0) * (y0 + yl) / 2;
    }
  }
  return area / limit;
}

// AnomalyCLIP cal_pro_score, written out directly: thresholds min + k * delta with numpy's
// arange length, '>' in float32, mean overlap over regions, FPR < limit kept, rescaled, trapz.
std::optional<double> brute_aupro_anomalyclip(const std::vector<std::vector<float>>& maps,
                                              const std::vector<std::vector<uint8_t>>& masks, int h,
                                              int w, int steps = 200, double limit = 0.3) {
  float mn = INFINITY, mx = -INFINITY;
  for (auto& m : maps)
    for (float v : m) {
      mn = std::min(mn, v);
      mx = std::max(mx, v);
    }
  float diff = mx - mn;
  double delta = double(diff) / steps;
  if (delta == 0) return std::nullopt;
  int64_t len = int64_t(std::ceil(double(diff) / delta));
  std::vector<double> fx, fy;
  for (int64_t k = 0; k < len; ++k) {
    double th = k == 1 ? double(mn) + delta : double(mn) + double(k) * ((double(mn) + delta) - double(mn));
    ProPoint p = brute_pro_at(maps, masks, h, w, float(th), true);
    if (p.fpr < limit) {
      fx.push_back(p.fpr);
      fy.push_back(p.pro);
    }
  }
  if (fx.size() < 2) return std::nullopt;
  double lo = *std::min_element(fx.begin(), fx.end()), hi = *std::max_element(fx.begin(), fx.end());
  if (!(hi > lo)) return std::nullopt;
  double a = 0;
  for (size_t k = 1; k < fx.size(); ++k)
    a += ((fx[k - 1] - lo) / (hi - lo) - (fx[k] - lo) / (hi - lo)) * (fy[k] + fy[k - 1]) / 2;
  return a;  // x runs from high FPR to low FPR: the sign flip is sklearn.auc's direction
}

std::vector<const float*> ptrs(const std::vector<std::vector<float>>& v) {
  std::vector<const float*> p;
  for (auto& x : v) p.push_back(x.data());
  return p;
}
std::vector<const uint8_t*> ptrs(const std::vector<std::vector<uint8_t>>& v) {
  std::vector<const uint8_t*> p;
  for (auto& x : v) p.push_back(x.empty() ? nullptr : x.data());
  return p;
}

// Random masks made of a few rectangles (so regions touch diagonally now and then).
std::vector<uint8_t> random_mask(Rng& r, int h, int w, int rects) {
  std::vector<uint8_t> m(size_t(h) * w, 0);
  for (int k = 0; k < rects; ++k) {
    int y0 = int(r.below(uint64_t(h))), x0 = int(r.below(uint64_t(w)));
    int hh = 1 + int(r.below(4)), ww = 1 + int(r.below(4));
    for (int y = y0; y < std::min(h, y0 + hh); ++y)
      for (int x = x0; x < std::min(w, x0 + ww); ++x) m[size_t(y) * w + x] = 1;
  }
  return m;
}

// ---------------------------------------------------------------- binary metrics

TEST(BinaryMetrics, MatchesBruteForceWithManyTies) {
  Rng r(7);
  for (int trial = 0; trial < 60; ++trial) {
    size_t n = 5 + r.below(300);
    int levels = 2 + int(r.below(trial % 3 == 0 ? 1000 : 12));  // few levels -> many ties
    std::vector<float> s(n);
    std::vector<uint8_t> y(n);
    double p_pos = 0.05 + 0.9 * r.uniform();
    for (size_t i = 0; i < n; ++i) {
      y[i] = r.bernoulli(p_pos);
      s[i] = float(int(r.below(uint64_t(levels))) - levels / 3) * 0.25f + (y[i] ? 0.3f : 0.0f) * float(trial % 2);
    }
    if (std::count(y.begin(), y.end(), 1) == 0 || std::count(y.begin(), y.end(), 0) == 0) continue;
    BinaryMetrics m = binary_metrics(s.data(), y.data(), n);
    BrutePR b = brute_pr(s, y);
    ASSERT_TRUE(m.auroc && m.ap && m.f1_max && m.f1_threshold);
    EXPECT_NEAR(*m.auroc, brute_auroc_pairs(s, y), 1e-12) << trial;
    EXPECT_NEAR(*m.auroc, b.auroc, 1e-12) << trial;
    EXPECT_NEAR(*m.ap, b.ap, 1e-12) << trial;
    EXPECT_NEAR(*m.f1_max, b.f1, 1e-12) << trial;
    EXPECT_EQ(*m.f1_threshold, b.thr) << trial;
  }
}

TEST(BinaryMetrics, KnownCases) {
  // Perfect separation.
  std::vector<float> s{0.1f, 0.2f, 0.3f, 0.8f, 0.9f};
  std::vector<uint8_t> y{0, 0, 0, 1, 1};
  auto m = binary_metrics(s.data(), y.data(), s.size());
  EXPECT_DOUBLE_EQ(*m.auroc, 1.0);
  EXPECT_DOUBLE_EQ(*m.ap, 1.0);
  EXPECT_DOUBLE_EQ(*m.f1_max, 1.0);
  EXPECT_FLOAT_EQ(float(*m.f1_threshold), 0.8f);
  // Inverted.
  std::vector<uint8_t> yi{1, 1, 1, 0, 0};
  m = binary_metrics(s.data(), yi.data(), s.size());
  EXPECT_DOUBLE_EQ(*m.auroc, 0.0);
  // AP for inverted: positives only found after both negatives: (1/3)(1/3) + (1/3)(2/4) + (1/3)(3/5)
  EXPECT_NEAR(*m.ap, (1.0 / 3 + 2.0 / 4 + 3.0 / 5) / 3, 1e-15);
  // Constant scores: one point (1, 1); AUROC 0.5, AP = prevalence, F1 = 2p/(1+p).
  std::vector<float> c(5, 0.5f);
  m = binary_metrics(c.data(), y.data(), c.size());
  EXPECT_DOUBLE_EQ(*m.auroc, 0.5);
  EXPECT_DOUBLE_EQ(*m.ap, 0.4);
  EXPECT_NEAR(*m.f1_max, 2 * 0.4 / 1.4, 1e-15);
  // sklearn's example: roc_auc_score([0,0,1,1],[.1,.4,.35,.8]) = 0.75, AP = 0.8333...
  std::vector<float> s2{0.1f, 0.4f, 0.35f, 0.8f};
  std::vector<uint8_t> y2{0, 0, 1, 1};
  m = binary_metrics(s2.data(), y2.data(), 4);
  EXPECT_DOUBLE_EQ(*m.auroc, 0.75);
  EXPECT_NEAR(*m.ap, 0.8333333333333333, 1e-15);
  // -0 and +0 are one score.
  std::vector<float> z{-0.0f, 0.0f};
  std::vector<uint8_t> yz{0, 1};
  m = binary_metrics(z.data(), yz.data(), 2);
  EXPECT_DOUBLE_EQ(*m.auroc, 0.5);
}

TEST(BinaryMetrics, OneLabelOnlyIsNotAvailable) {
  std::vector<float> s{0.1f, 0.2f, 0.3f};
  std::vector<uint8_t> y0{0, 0, 0}, y1{1, 1, 1};
  for (auto* y : {&y0, &y1}) {
    auto m = binary_metrics(s.data(), y->data(), 3);
    EXPECT_FALSE(m.auroc);
    EXPECT_FALSE(m.ap);
    EXPECT_FALSE(m.f1_max);
    EXPECT_FALSE(m.f1_threshold);
  }
  auto m = binary_metrics(nullptr, nullptr, 0);
  EXPECT_FALSE(m.auroc);
}

TEST(BinaryMetrics, BadInputIsAnInputError) {
  std::vector<float> s{0.1f, NAN};
  std::vector<uint8_t> y{0, 1};
  try {
    binary_metrics(s.data(), y.data(), 2);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Input);
    EXPECT_NE(e.message().find("sample 1"), std::string::npos) << e.message();
  }
  std::vector<float> s2{0.1f, 0.2f};
  std::vector<uint8_t> y2{0, 2};
  EXPECT_THROW(binary_metrics(s2.data(), y2.data(), 2), Error);
}

TEST(BinaryMetrics, LargeRandomAgainstPairwiseCount) {
  // Large enough for the radix passes (n >= 256), values with ties across both classes.
  Rng r(11);
  const size_t n = 3000;
  std::vector<float> s(n);
  std::vector<uint8_t> y(n);
  for (size_t i = 0; i < n; ++i) {
    y[i] = r.bernoulli(0.3);
    s[i] = float(r.normal(y[i] ? 0.7 : 0.0, 1.0));
    if (i % 3 == 0) s[i] = std::round(s[i] * 4) / 4;  // ties
  }
  auto m = binary_metrics(s.data(), y.data(), n);
  BrutePR b = brute_pr(s, y);
  EXPECT_NEAR(*m.auroc, brute_auroc_pairs(s, y), 1e-12);
  EXPECT_NEAR(*m.ap, b.ap, 1e-12);
  EXPECT_NEAR(*m.f1_max, b.f1, 1e-12);
  EXPECT_EQ(*m.f1_threshold, b.thr);
}

// ---------------------------------------------------------------- regions

TEST(Regions, UnionFindMatchesFloodFill) {
  Rng r(3);
  for (int trial = 0; trial < 200; ++trial) {
    int h = 1 + int(r.below(30)), w = 1 + int(r.below(30));
    std::vector<uint8_t> m(size_t(h) * w);
    double p = r.uniform();
    for (auto& v : m) v = r.bernoulli(p) ? uint8_t(1 + r.below(255)) : 0;
    std::vector<int32_t> lab(m.size());
    std::vector<int> ref;
    int n = label_regions_8(m.data(), h, w, lab.data());
    int nb = brute_label(m.data(), h, w, ref);
    ASSERT_EQ(n, nb) << trial;
    // Both number regions in raster order of their first pixel: labels must agree exactly.
    for (size_t k = 0; k < m.size(); ++k) ASSERT_EQ(lab[k], ref[k]) << trial << " at " << k;
  }
}

TEST(Regions, HandBuiltEightConnectivity) {
  // Diagonal touch joins; a gap separates; U shape merges late.
  const char* pic[] = {"X..X.X", ".X.X.X", "..XX.X", "......", "X.X..X", "XXX..."};
  int h = 6, w = 6;
  std::vector<uint8_t> m;
  for (auto row : pic)
    for (int x = 0; x < w; ++x) m.push_back(row[x] == 'X');
  std::vector<int32_t> lab(m.size());
  EXPECT_EQ(label_regions_8(m.data(), h, w, lab.data()), 4);
  EXPECT_EQ(lab[0], 1);
  EXPECT_EQ(lab[3], 1);   // joined through (1,1)-(2,2)-(2,3)
  EXPECT_EQ(lab[5], 2);
  EXPECT_EQ(lab[24], 3);  // U shape at the bottom left
  EXPECT_EQ(lab[26], 3);
  EXPECT_EQ(lab[29], 4);
}

// ---------------------------------------------------------------- AUPRO

struct ProData {
  int h, w;
  std::vector<std::vector<float>> maps;
  std::vector<std::vector<uint8_t>> masks;  // may contain all-zero masks
};

ProData random_pro_data(uint64_t seed, int n, int h, int w, int levels) {
  Rng r(seed);
  ProData d{h, w, {}, {}};
  for (int i = 0; i < n; ++i) {
    auto m = i % 3 == 2 ? std::vector<uint8_t>(size_t(h) * w, 0) : random_mask(r, h, w, 1 + int(r.below(4)));
    std::vector<float> s(m.size());
    for (size_t p = 0; p < s.size(); ++p)
      s[p] = float(int(r.below(uint64_t(levels)))) / float(levels) + (m[p] ? 0.25f : 0.0f) - 0.1f;
    d.maps.push_back(std::move(s));
    d.masks.push_back(std::move(m));
  }
  return d;
}

TEST(Aupro, MvtecMatchesBruteForce) {
  for (int trial = 0; trial < 12; ++trial) {
    int levels = trial % 2 ? 7 : 200;
    ProData d = random_pro_data(100 + trial, 4 + trial % 3, 9 + trial % 5, 11, levels);
    auto got = aupro_mvtec(ptrs(d.maps), ptrs(d.masks), d.h, d.w);
    ASSERT_TRUE(got) << trial;
    EXPECT_NEAR(*got, brute_aupro_mvtec(d.maps, d.masks, d.h, d.w), 1e-12) << trial;
    // Other limits, including one that may fall exactly on the curve's grid.
    for (double lim : {0.05, 0.5, 1.0}) {
      auto g2 = aupro_mvtec(ptrs(d.maps), ptrs(d.masks), d.h, d.w, lim);
      EXPECT_NEAR(*g2, brute_aupro_mvtec(d.maps, d.masks, d.h, d.w, lim), 1e-12) << trial << " " << lim;
    }
  }
}

TEST(Aupro, AnomalyClipMatchesBruteForce) {
  for (int trial = 0; trial < 12; ++trial) {
    int levels = trial % 2 ? 9 : 1000;
    ProData d = random_pro_data(200 + trial, 4 + trial % 3, 10, 8 + trial % 4, levels);
    auto got = aupro_anomalyclip(ptrs(d.maps), ptrs(d.masks), d.h, d.w);
    auto ref = brute_aupro_anomalyclip(d.maps, d.masks, d.h, d.w);
    ASSERT_EQ(bool(got), bool(ref)) << trial;
    if (got) EXPECT_NEAR(*got, *ref, 1e-12) << trial;
  }
}

TEST(Aupro, BothVariantsOnSameDataDifferAsExpected) {
  ProData d = random_pro_data(5, 6, 16, 16, 1000);
  auto a = aupro_anomalyclip(ptrs(d.maps), ptrs(d.masks), d.h, d.w);
  auto m = aupro_mvtec(ptrs(d.maps), ptrs(d.masks), d.h, d.w);
  ASSERT_TRUE(a && m);
  EXPECT_GT(*a, 0.0);
  EXPECT_LE(*a, 1.0);
  EXPECT_GT(*m, 0.0);
  EXPECT_LE(*m, 1.0);
  EXPECT_NE(*a, *m);  // different definitions
  EXPECT_NEAR(*a, *brute_aupro_anomalyclip(d.maps, d.masks, d.h, d.w), 1e-12);
  EXPECT_NEAR(*m, brute_aupro_mvtec(d.maps, d.masks, d.h, d.w), 1e-12);
}

TEST(Aupro, RegionsWeighEquallyNotByPixels) {
  // One image, a 1-pixel region and a 9-pixel region; only the small one is detected first.
  int h = 6, w = 6;
  std::vector<uint8_t> m(36, 0);
  m[0] = 1;  // small region at (0,0)
  for (int y = 3; y < 6; ++y)
    for (int x = 3; x < 6; ++x) m[size_t(y) * 6 + x] = 1;
  std::vector<float> s(36, 0.0f);
  s[0] = 1.0f;  // small region found at the top score, with no false positive
  for (int y = 3; y < 6; ++y)
    for (int x = 3; x < 6; ++x) s[size_t(y) * 6 + x] = 0.5f;
  // Points: t=1: (fpr 0, pro 0.5); t=0.5: (0, 1); t=0: (1, 1). Area to 0.3 is all at PRO 1.
  auto got = aupro_mvtec({s.data()}, {m.data()}, h, w);
  ASSERT_TRUE(got);
  EXPECT_DOUBLE_EQ(*got, 1.0);
  // Swap: the large region is found first, the small one only with all normals.
  std::vector<float> s2(36, 0.0f);
  for (int y = 3; y < 6; ++y)
    for (int x = 3; x < 6; ++x) s2[size_t(y) * 6 + x] = 1.0f;
  // Points: t=1: (0, 0.5); t=0: (1, 1). At 0.3: y = 0.5 + 0.5*0.3 = 0.65; area = 0.3*(0.5+0.65)/2.
  got = aupro_mvtec({s2.data()}, {m.data()}, h, w);
  EXPECT_NEAR(*got, (0.5 + 0.65) / 2, 1e-7);  // FPR is float32 in the reference
  // (Pixel-weighted overlap would give 0.9 at FPR 0 instead of 0.5.)
}

TEST(Aupro, KnownCases) {
  Rng r(9);
  int h = 20, w = 20;
  std::vector<std::vector<float>> maps, inv, cst;
  std::vector<std::vector<uint8_t>> masks;
  for (int i = 0; i < 5; ++i) {
    auto m = i == 4 ? std::vector<uint8_t>(400, 0) : random_mask(r, h, w, 3);
    std::vector<float> s(400), si(400);
    for (size_t p = 0; p < 400; ++p) {
      s[p] = m[p] ? float(r.uniform(0.6, 1.0)) : float(r.uniform(0.0, 0.4));
      si[p] = -s[p];
    }
    maps.push_back(s);
    inv.push_back(si);
    cst.push_back(std::vector<float>(400, 0.25f));
    masks.push_back(m);
  }
  // Perfect (graded) maps: PRO reaches 1 before any false positive.
  EXPECT_DOUBLE_EQ(*aupro_mvtec(ptrs(maps), ptrs(masks), h, w), 1.0);
  EXPECT_NEAR(*aupro_anomalyclip(ptrs(maps), ptrs(masks), h, w), 1.0, 1e-12);
  // Inverted: no overlap before FPR reaches 1.
  EXPECT_DOUBLE_EQ(*aupro_mvtec(ptrs(inv), ptrs(masks), h, w), 0.0);
  // Constant: one point (1, 1): 0.5 * 0.3 * 0.3 / 0.3 = 0.15; anomalyclip has no grid (max == min).
  EXPECT_NEAR(*aupro_mvtec(ptrs(cst), ptrs(masks), h, w), 0.15, 1e-12);
  EXPECT_FALSE(aupro_anomalyclip(ptrs(cst), ptrs(masks), h, w));
  // Binary perfect maps: every anomalyclip threshold gives FPR 0 -> 0/0 rescaling -> n/a.
  std::vector<std::vector<float>> bin;
  for (auto& m : masks) bin.emplace_back(m.begin(), m.end());
  EXPECT_FALSE(aupro_anomalyclip(ptrs(bin), ptrs(masks), h, w));
  EXPECT_DOUBLE_EQ(*aupro_mvtec(ptrs(bin), ptrs(masks), h, w), 1.0);
  // No region at all: not available.
  std::vector<std::vector<uint8_t>> none(5);
  EXPECT_FALSE(aupro_mvtec(ptrs(maps), ptrs(none), h, w));
  EXPECT_FALSE(aupro_anomalyclip(ptrs(maps), ptrs(none), h, w));
}

TEST(Aupro, ToyDatasetOfTheOfficialScripts) {
  // generic_util.generate_toy_dataset: U[0,1) maps, a 10x10 square GT in the corner. PRO ~ FPR,
  // so AU-PRO@0.3 ~ 0.5 * 0.3 * 0.3 / 0.3 = 0.15.
  Rng r(1338);
  int h = 300, w = 500, n = 40;
  std::vector<std::vector<float>> maps(n, std::vector<float>(size_t(h) * w));
  std::vector<std::vector<uint8_t>> masks(n, std::vector<uint8_t>(size_t(h) * w, 0));
  for (int i = 0; i < n; ++i) {
    for (auto& v : maps[i]) v = float(r.uniform());
    for (int y = 0; y < 10; ++y)
      for (int x = 0; x < 10; ++x) masks[i][size_t(y) * w + x] = 1;
  }
  EXPECT_NEAR(*aupro_mvtec(ptrs(maps), ptrs(masks), h, w), 0.15, 0.01);
  EXPECT_NEAR(*aupro_anomalyclip(ptrs(maps), ptrs(masks), h, w), 0.15, 0.01);
}

TEST(Trapezoid, OfficialSemantics) {
  // Interpolation at the cut.
  auto a = trapezoid_mvtec({0, 0.2, 0.4}, {0, 1, 1}, 0.3);
  EXPECT_NEAR(*a, 0.1 + 0.1, 1e-15);
  // Limit on a grid point: no correction.
  a = trapezoid_mvtec({0, 0.3, 0.4}, {0, 1, 1}, 0.3);
  EXPECT_NEAR(*a, 0.15, 1e-15);
  // Non-finite points dropped; no limit.
  a = trapezoid_mvtec({0, NAN, 1}, {0, 1, 1});
  EXPECT_NEAR(*a, 0.5, 1e-15);
}

TEST(AnomalyClipThresholds, NumpyArangeSemantics) {
  // np.arange(np.float32(0), np.float32(1), (np.float32(1) - np.float32(0)) / 200): 200 values.
  auto t = anomalyclip_thresholds(0.0f, 1.0f, 200);
  ASSERT_EQ(t.size(), 200u);
  EXPECT_EQ(t[0], 0.0f);
  EXPECT_EQ(t[1], float(0.005));
  EXPECT_EQ(t[199], float(199 * 0.005));
  EXPECT_TRUE(anomalyclip_thresholds(2.0f, 2.0f).empty());
}

// ---------------------------------------------------------------- class level

TEST(ClassMetrics, PixelMetricsMatchBruteForceAndNormalImagesCountAsZeroMasks) {
  ProData d = random_pro_data(77, 6, 12, 10, 13);
  ClassData c;
  c.name = "bottle";
  c.height = d.h;
  c.width = d.w;
  std::vector<float> flat_s;
  std::vector<uint8_t> flat_y;
  for (size_t i = 0; i < d.maps.size(); ++i) {
    bool anomalous = std::count(d.masks[i].begin(), d.masks[i].end(), 1) > 0;
    c.image_scores.push_back(*std::max_element(d.maps[i].begin(), d.maps[i].end()));
    c.image_labels.push_back(anomalous);
    c.maps.push_back(d.maps[i].data());
    c.masks.push_back(anomalous ? d.masks[i].data() : nullptr);  // normal: no mask
    flat_s.insert(flat_s.end(), d.maps[i].begin(), d.maps[i].end());
    flat_y.insert(flat_y.end(), d.masks[i].begin(), d.masks[i].end());
  }
  c.has_masks = true;
  MetricsOptions one, two;
  one.threads = 1;
  two.threads = 2;  // forced: the automatic choice uses one worker below 1 Mpixel
  ClassMetrics m = compute_class_metrics(c, two);
  ClassMetrics m1 = compute_class_metrics(c, one);
  EXPECT_NEAR(*m1.pixel.auroc, *m.pixel.auroc, 1e-15);
  EXPECT_NEAR(*m1.pixel.ap, *m.pixel.ap, 1e-15);
  EXPECT_EQ(*m1.pixel.f1_threshold, *m.pixel.f1_threshold);
  EXPECT_NEAR(*m1.aupro_mvtec, *m.aupro_mvtec, 1e-14);
  EXPECT_NEAR(*m1.aupro_anomalyclip, *m.aupro_anomalyclip, 1e-14);
  EXPECT_EQ(m1.n_regions, m.n_regions);
  ASSERT_TRUE(m.has_pixel);
  BrutePR b = brute_pr(flat_s, flat_y);
  EXPECT_NEAR(*m.pixel.auroc, brute_auroc_pairs(flat_s, flat_y), 1e-12);
  EXPECT_NEAR(*m.pixel.ap, b.ap, 1e-12);
  EXPECT_NEAR(*m.pixel.f1_max, b.f1, 1e-12);
  EXPECT_EQ(*m.pixel.f1_threshold, b.thr);
  EXPECT_NEAR(*m.aupro_mvtec, brute_aupro_mvtec(d.maps, d.masks, d.h, d.w), 1e-12);
  EXPECT_NEAR(*m.aupro_anomalyclip, *brute_aupro_anomalyclip(d.maps, d.masks, d.h, d.w), 1e-12);
  BrutePR bi = brute_pr(c.image_scores, c.image_labels);
  EXPECT_NEAR(*m.image.auroc, bi.auroc, 1e-12);
  EXPECT_EQ(m.n_images, 6);
  EXPECT_EQ(m.pixel.n_pos + m.pixel.n_neg, 6 * 12 * 10);
}

TEST(ClassMetrics, ImageOnlyAndPixelOnlySets) {
  ClassData c;
  c.name = "headct";
  c.image_scores = {0.1f, 0.9f, 0.4f};
  c.image_labels = {0, 1, 0};
  ClassMetrics m = compute_class_metrics(c);
  EXPECT_FALSE(m.has_pixel);
  EXPECT_DOUBLE_EQ(*m.image.auroc, 1.0);
  auto j = to_json(m);
  EXPECT_TRUE(j["pixel"].is_null());

  // Every image anomalous: image metrics n/a, pixel metrics defined.
  ProData d = random_pro_data(8, 3, 8, 8, 50);
  ClassData p;
  p.name = "isic";
  p.height = 8;
  p.width = 8;
  for (size_t i = 0; i < 3; ++i) {
    d.masks[i][0] = 1;  // make sure each has a region
    p.image_scores.push_back(0.5f);
    p.image_labels.push_back(1);
    p.maps.push_back(d.maps[i].data());
    p.masks.push_back(d.masks[i].data());
  }
  p.has_masks = true;
  m = compute_class_metrics(p);
  EXPECT_FALSE(m.image.auroc);
  EXPECT_FALSE(m.image.ap);
  EXPECT_TRUE(m.pixel.auroc);
  EXPECT_TRUE(m.aupro_mvtec);
  j = to_json(m);
  EXPECT_TRUE(j["image"]["auroc"].is_null());
  EXPECT_TRUE(j["pixel"]["auroc"].is_number());
}

TEST(PixelAccumulator, StreamingEqualsBatchAndBruteForce) {
  ProData d = random_pro_data(31, 7, 12, 13, 11);
  std::vector<float> flat_s;
  std::vector<uint8_t> flat_y;
  for (size_t i = 0; i < d.maps.size(); ++i) {
    flat_s.insert(flat_s.end(), d.maps[i].begin(), d.maps[i].end());
    flat_y.insert(flat_y.end(), d.masks[i].begin(), d.masks[i].end());
  }
  for (int threads : {1, 2}) {
    MetricsOptions o;
    o.threads = threads;  // 2: the single accumulator's normal pixels are sorted in two chunks
    PixelAccumulator acc(12, 13, "stream");
    for (size_t i = 0; i < d.maps.size(); ++i) {
      bool normal = std::count(d.masks[i].begin(), d.masks[i].end(), 1) == 0;
      acc.add(d.maps[i].data(), normal ? nullptr : d.masks[i].data());
    }
    EXPECT_EQ(acc.images(), 7);
    PixelMetrics pm = acc.finish(o);
    EXPECT_EQ(acc.images(), 0);  // emptied, name and image numbering kept for messages
    std::vector<float> nan_map(12 * 13, NAN);
    try {
      acc.add(nan_map.data(), nullptr);
      ADD_FAILURE();
    } catch (const Error& e) {
      EXPECT_NE(e.message().find("class 'stream', image 7"), std::string::npos) << e.message();
    }
    EXPECT_NEAR(*pm.pixel.auroc, brute_auroc_pairs(flat_s, flat_y), 1e-12) << threads;
    EXPECT_NEAR(*pm.aupro_mvtec, brute_aupro_mvtec(d.maps, d.masks, d.h, d.w), 1e-12) << threads;
    EXPECT_NEAR(*pm.aupro_anomalyclip, *brute_aupro_anomalyclip(d.maps, d.masks, d.h, d.w), 1e-12) << threads;
    // Three parts (as three threads would fill them), merged.
    std::vector<PixelAccumulator> parts;
    for (int k = 0; k < 3; ++k) parts.emplace_back(12, 13);
    for (size_t i = 0; i < d.maps.size(); ++i) parts[i % 3].add(d.maps[i].data(), d.masks[i].data());
    PixelMetrics pp = PixelAccumulator::finish(parts, o);
    EXPECT_NEAR(*pp.pixel.auroc, *pm.pixel.auroc, 1e-15);
    EXPECT_NEAR(*pp.pixel.ap, *pm.pixel.ap, 1e-15);
    EXPECT_EQ(*pp.pixel.f1_threshold, *pm.pixel.f1_threshold);
    EXPECT_NEAR(*pp.aupro_mvtec, *pm.aupro_mvtec, 1e-14);
    EXPECT_NEAR(*pp.aupro_anomalyclip, *pm.aupro_anomalyclip, 1e-14);
    EXPECT_EQ(pp.n_regions, pm.n_regions);
    // Assembled with image metrics.
    ClassMetrics c = class_metrics_from("stream", {0.1f, 0.9f}, {0, 1}, pm);
    EXPECT_TRUE(c.has_pixel);
    EXPECT_DOUBLE_EQ(*c.image.auroc, 1.0);
    EXPECT_EQ(*c.aupro_mvtec, *pm.aupro_mvtec);
  }
  PixelAccumulator bad(2, 2, "cable", 10);
  std::vector<float> m{0.f, 1.f, NAN, 0.f};
  try {
    bad.add(m.data(), nullptr);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("class 'cable', image 10"), std::string::npos) << e.message();
  }
}

TEST(ClassMetrics, EdgeCases) {
  // Every pixel anomalous: no normal pixel -> pixel AUROC/AP/F1 and both AUPROs n/a.
  std::vector<float> map(16);
  for (int i = 0; i < 16; ++i) map[size_t(i)] = float(i);
  std::vector<uint8_t> full(16, 1), none(16, 0);
  ClassData c;
  c.name = "all_defect";
  c.image_scores = {1.0f};
  c.image_labels = {1};
  c.height = c.width = 4;
  c.maps = {map.data()};
  c.masks = {full.data()};
  c.has_masks = true;
  ClassMetrics m = compute_class_metrics(c);
  EXPECT_TRUE(m.has_pixel);
  EXPECT_FALSE(m.pixel.auroc);
  EXPECT_FALSE(m.aupro_mvtec);
  EXPECT_FALSE(m.aupro_anomalyclip);
  EXPECT_EQ(m.n_regions, 1);
  // No anomalous pixel at all (a class of normal images): everything pixel-level n/a.
  c.masks = {nullptr};
  c.image_labels = {0};
  m = compute_class_metrics(c);
  EXPECT_FALSE(m.pixel.auroc);
  EXPECT_FALSE(m.aupro_mvtec);
  EXPECT_EQ(m.pixel.n_neg, 16);
  // One image with one region: defined, and equal to the brute force.
  std::vector<uint8_t> one(16, 0);
  one[5] = one[6] = one[10] = 1;
  c.masks = {one.data()};
  m = compute_class_metrics(c);
  std::vector<uint8_t> yy(one.begin(), one.end());
  EXPECT_NEAR(*m.pixel.auroc, brute_auroc_pairs(map, yy), 1e-15);
  EXPECT_NEAR(*m.aupro_mvtec, brute_aupro_mvtec({map}, {one}, 4, 4), 1e-12);
  // Pixel metrics switched off, or an image-only set with maps: no pixel block.
  MetricsOptions off;
  off.pixel = false;
  EXPECT_FALSE(compute_class_metrics(c, off).has_pixel);
  c.has_masks = false;
  EXPECT_FALSE(compute_class_metrics(c).has_pixel);
  // Only one AUPRO variant requested.
  c.has_masks = true;
  MetricsOptions only_mvtec;
  only_mvtec.aupro_anomalyclip = false;
  m = compute_class_metrics(c, only_mvtec);
  EXPECT_FALSE(m.aupro_anomalyclip);
  EXPECT_TRUE(m.aupro_mvtec);
  // Bad FPR limit is a usage error.
  MetricsOptions bad;
  bad.pro_fpr_limit = 0;
  EXPECT_THROW(compute_class_metrics(c, bad), Error);
}

TEST(ClassMetrics, BadInputNamesClassFieldAndImage) {
  ClassData c;
  c.name = "cable";
  c.image_scores = {0.1f, 0.2f};
  c.image_labels = {0};
  EXPECT_THROW(compute_class_metrics(c), Error);
  c.image_labels = {0, 1};
  std::vector<float> map(4, 0.f);
  map[3] = INFINITY;
  std::vector<uint8_t> mask(4, 1);
  c.height = c.width = 2;
  c.maps = {map.data(), map.data()};
  c.masks = {mask.data(), nullptr};
  c.has_masks = true;
  try {
    compute_class_metrics(c);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Input);
    EXPECT_NE(e.message().find("class 'cable', image 0"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("y=1, x=1"), std::string::npos) << e.message();
  }
}

TEST(Aggregate, UnweightedMeanOverDefinedClassesAndJson) {
  ClassMetrics a, b, c;
  a.name = "a";
  a.image.auroc = 0.8;
  a.has_pixel = true;
  a.aupro_mvtec = 0.5;
  b.name = "b";
  b.image.auroc = 0.6;
  b.has_pixel = true;
  b.aupro_mvtec = std::nullopt;  // no region in this class
  c.name = "c";
  c.image.auroc = std::nullopt;
  DatasetMetrics d = aggregate({a, b, c}, {AuproVariant::Mvtec}, "toy");
  EXPECT_DOUBLE_EQ(*d.mean.image.auroc, 0.7);
  EXPECT_DOUBLE_EQ(*d.mean.aupro_mvtec, 0.5);
  EXPECT_FALSE(d.mean.image.ap);
  EXPECT_FALSE(d.mean.image.f1_threshold);
  auto j = to_json(d);
  EXPECT_EQ(j["format"], "tokenclip-metrics");
  EXPECT_EQ(j["aupro_variants"][0], "mvtec");
  EXPECT_EQ(j["classes"].size(), 3u);
  EXPECT_TRUE(j["classes"][1]["pixel"]["aupro_mvtec"].is_null());
  EXPECT_TRUE(j["classes"][2]["pixel"].is_null());
  EXPECT_DOUBLE_EQ(j["mean"]["image"]["auroc"].get<double>(), 0.7);
  EXPECT_EQ(j["mean"]["classes_defined"]["image_auroc"], 2);
  EXPECT_EQ(j["mean"]["classes_defined"]["aupro_mvtec"], 1);
  EXPECT_EQ(parse_aupro_variants("both").size(), 2u);
  EXPECT_THROW(parse_aupro_variants("pro"), Error);
}

}  // namespace tc::eval::test_metrics
