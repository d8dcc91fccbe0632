// AUPRO building blocks: 8-connected region labelling, the official MVTec trapezoid, and
// AnomalyCLIP's threshold grid. The sweeps themselves live in metrics.cpp (one sort serves
// every pixel metric).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "eval/metrics.h"
#include "util/check.h"

namespace tc::eval {
namespace detail_aupro {

int32_t uf_find(std::vector<int32_t>& parent, int32_t a) {
  while (parent[a] != a) {
    parent[a] = parent[parent[a]];  // path halving keeps the trees flat
    a = parent[a];
  }
  return a;
}

int32_t uf_union(std::vector<int32_t>& parent, int32_t a, int32_t b) {
  a = uf_find(parent, a);
  b = uf_find(parent, b);
  if (a == b) return a;
  if (a < b) std::swap(a, b);
  parent[a] = b;  // the older (smaller) label stays the root
  return b;
}

}  // namespace detail_aupro

int32_t label_regions_8(const uint8_t* mask, int h, int w, int32_t* labels) {
  using detail_aupro::uf_find;
  using detail_aupro::uf_union;
  std::vector<int32_t> parent{0};
  // Pass 1: provisional labels, merging with the already visited 8-neighbours (W, NW, N, NE).
  for (int y = 0; y < h; ++y) {
    const uint8_t* m = mask + int64_t(y) * w;
    int32_t* l = labels + int64_t(y) * w;
    const int32_t* up = y > 0 ? l - w : nullptr;
    for (int x = 0; x < w; ++x) {
      if (!m[x]) {
        l[x] = 0;
        continue;
      }
      int32_t lab = 0;
      auto take = [&](int32_t nl) {
        if (nl == 0) return;
        lab = lab == 0 ? uf_find(parent, nl) : uf_union(parent, lab, nl);
      };
      if (x > 0) take(l[x - 1]);
      if (up) {
        if (x > 0) take(up[x - 1]);
        take(up[x]);
        if (x + 1 < w) take(up[x + 1]);
      }
      if (lab == 0) {
        lab = static_cast<int32_t>(parent.size());
        parent.push_back(lab);
      }
      l[x] = lab;
    }
  }
  // Pass 2: final labels 1..count in raster order of each component's first pixel.
  std::vector<int32_t> final_label(parent.size(), 0);
  int32_t count = 0;
  const int64_t n = int64_t(h) * w;
  for (int64_t i = 0; i < n; ++i) {
    if (labels[i] == 0) continue;
    int32_t r = uf_find(parent, labels[i]);
    if (final_label[r] == 0) final_label[r] = ++count;
    labels[i] = final_label[r];
  }
  return count;
}

std::optional<double> trapezoid_mvtec(const std::vector<double>& x_in,
                                      const std::vector<double>& y_in,
                                      std::optional<double> x_max) {
  TC_CHECK_EQ(x_in.size(), y_in.size(), "trapezoid: x and y lengths");
  std::vector<double> x, y;
  for (size_t i = 0; i < x_in.size(); ++i)
    if (std::isfinite(x_in[i]) && std::isfinite(y_in[i])) {
      x.push_back(x_in[i]);
      y.push_back(y_in[i]);
    }
  if (x.empty()) return std::nullopt;
  long double correction = 0;
  size_t keep = x.size();
  if (x_max) {
    const double xm = *x_max;
    if (std::find(x.begin(), x.end(), xm) == x.end()) {
      // bisect.bisect(x, x_max): insertion point to the right of equal values.
      size_t ins = size_t(std::upper_bound(x.begin(), x.end(), xm) - x.begin());
      if (ins == 0 || ins >= x.size()) return std::nullopt;  // the reference asserts here
      double y_interp = y[ins - 1] + ((y[ins] - y[ins - 1]) * (xm - x[ins - 1]) / (x[ins] - x[ins - 1]));
      correction = 0.5 * (y_interp + y[ins - 1]) * (xm - x[ins - 1]);
    }
    keep = 0;
    while (keep < x.size() && x[keep] <= xm) ++keep;  // x is sorted: the kept points are a prefix
  }
  long double s = 0;
  for (size_t i = 1; i < keep; ++i) s += 0.5 * (y[i] + y[i - 1]) * (x[i] - x[i - 1]);
  return static_cast<double>(s + correction);
}

std::vector<float> anomalyclip_thresholds(float min_value, float max_value, int steps) {
  TC_CHECK_GE(steps, 1, "anomalyclip AUPRO steps");
  // cal_pro_score: delta = (max - min) / steps with float32 max/min -> float32 difference, then
  // a float64 quotient; np.arange(min, max, delta) is float64 with length
  // ceil(float32(max - min) / delta) (often steps + 1 through rounding), first value `min`,
  // second `min + delta`, then min + i * ((min + delta) - min).
  const float fdiff = max_value - min_value;
  const double delta = double(fdiff) / steps;
  if (!(delta > 0) || !std::isfinite(delta)) return {};
  const double len_d = std::ceil(double(fdiff) / delta);
  const int64_t len = static_cast<int64_t>(len_d);
  TC_CHECK(len >= 1 && len <= int64_t(steps) + 2, "threshold count {}", len);
  const double start = min_value;
  const double next = start + delta;
  const double step = next - start;
  std::vector<float> th(static_cast<size_t>(len));
  for (int64_t i = 0; i < len; ++i) {
    double v = i == 0 ? start : i == 1 ? next : start + double(i) * step;
    // `float32_array > float64_scalar` compares in float32 under numpy 1.x casting rules.
    th[size_t(i)] = static_cast<float>(v);
  }
  return th;
}

}  // namespace tc::eval
