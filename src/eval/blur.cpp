// Separable Gaussian blur reproducing scipy.ndimage's correlate1d for symmetric kernels: per
// output sample, centre tap first, then the pairs from the outermost inwards, in double.
#include "eval/blur.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "util/check.h"

namespace tc::eval {
namespace detail_blur {

// numpy's pairwise summation (add.reduce) for short arrays, so that the normalising sum, and
// hence every weight, has the same rounding as scipy's `phi_x / phi_x.sum()`.
double numpy_pairwise_sum(const double* a, long n) {
  if (n < 8) {
    double s = 0.;
    for (long i = 0; i < n; ++i) s += a[i];
    return s;
  }
  if (n <= 128) {
    double r[8];
    for (int k = 0; k < 8; ++k) r[k] = a[k];
    long i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int k = 0; k < 8; ++k) r[k] += a[i + k];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  long n2 = n / 2;
  n2 -= n2 % 8;
  return numpy_pairwise_sum(a, n2) + numpy_pairwise_sum(a + n2, n - n2);
}

// acc[x] += (a[x] + b[x]) * w in double. Element-wise (no reassociation), so vectorising keeps
// the results bit-identical; -O2's "very cheap" cost model will not do it on its own.
#if defined(__GNUC__) && !defined(__clang__)
#define TC_BLUR_VECTORIZE __attribute__((optimize("tree-loop-vectorize", "vect-cost-model=cheap")))
#else
#define TC_BLUR_VECTORIZE
#endif
TC_BLUR_VECTORIZE void add_pair_f(double* __restrict acc, const float* a, const float* b, double w, int n) {
  for (int x = 0; x < n; ++x) acc[x] += (double(a[x]) + double(b[x])) * w;
}
TC_BLUR_VECTORIZE void add_pair_d(double* __restrict acc, const double* a, const double* b, double w, int n) {
  for (int x = 0; x < n; ++x) acc[x] += (a[x] + b[x]) * w;
}

}  // namespace detail_blur

int gaussian_radius(double sigma, double truncate) {
  return static_cast<int>(truncate * sigma + 0.5);
}

std::vector<double> gaussian_kernel(double sigma, double truncate) {
  TC_CHECK_USAGE(sigma > 0 && truncate > 0, "Gaussian blur: sigma {} truncate {}; expected positive values",
                 sigma, truncate);
  const int r = gaussian_radius(sigma, truncate);
  const double sigma2 = sigma * sigma;
  std::vector<double> phi(size_t(2 * r + 1));
  for (int x = -r; x <= r; ++x) phi[size_t(x + r)] = std::exp(-0.5 / sigma2 * double(x * x));
  const double s = detail_blur::numpy_pairwise_sum(phi.data(), long(phi.size()));
  for (double& v : phi) v = v / s;
  return phi;
}

void gaussian_blur(const float* in, float* out, int h, int w, double sigma, double truncate) {
  TC_CHECK(h > 0 && w > 0, "blur of a {}x{} map", h, w);
  const size_t hw = size_t(h) * size_t(w);
  if (sigma <= 1e-15) {
    if (out != in)
      for (size_t i = 0; i < hw; ++i) out[i] = in[i];
    return;
  }
  const std::vector<double> k = gaussian_kernel(sigma, truncate);
  const int r = int(k.size() / 2);
  const double* wc = k.data() + r;  // wc[j] = weight at offset j (symmetric)

  // Axis 0: output row y mixes rows reflect(y +- j); vectorised along x.
  std::vector<float> mid(hw);
  std::vector<double> acc(static_cast<size_t>(w));
  for (int y = 0; y < h; ++y) {
    const float* c = in + size_t(y) * w;
    for (int x = 0; x < w; ++x) acc[size_t(x)] = double(c[x]) * wc[0];
    for (int j = r; j >= 1; --j) {
      const float* up = in + size_t(reflect_index(y - j, h)) * w;
      const float* dn = in + size_t(reflect_index(y + j, h)) * w;
      const double wj = wc[-j];
      detail_blur::add_pair_f(acc.data(), up, dn, wj, w);
    }
    float* m = mid.data() + size_t(y) * w;
    for (int x = 0; x < w; ++x) m[x] = static_cast<float>(acc[size_t(x)]);
  }
  // Axis 1: each row padded by reflection into a double line, then the same tap order.
  std::vector<double> line(size_t(w + 2 * r));
  for (int y = 0; y < h; ++y) {
    const float* m = mid.data() + size_t(y) * w;
    for (int i = -r; i < w + r; ++i) line[size_t(i + r)] = double(m[reflect_index(i, w)]);
    const double* L = line.data() + r;
    for (int x = 0; x < w; ++x) acc[size_t(x)] = L[x] * wc[0];
    for (int j = r; j >= 1; --j) {
      const double wj = wc[-j];
      detail_blur::add_pair_d(acc.data(), L - j, L + j, wj, w);
    }
    float* o = out + size_t(y) * w;
    for (int x = 0; x < w; ++x) o[x] = static_cast<float>(acc[size_t(x)]);
  }
}

}  // namespace tc::eval
