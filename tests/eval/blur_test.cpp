// Gaussian blur against a direct 2-D convolution with scipy's weights and 'reflect' border.
#include <gtest/gtest.h>

#include <cmath>

#include "eval/blur.h"
#include "util/rng.h"

namespace tc::eval::test_blur {

// Independent 2-D reference: weights from the closed form, full (2r+1)^2 stencil, reflect by
// explicit mirroring loop (not the library's index formula).
long mirror(long i, long n) {
  // Walk the reflections: ... d c b a | a b c d | d c b a ...
  while (i < 0 || i >= n) {
    if (i < 0) i = -i - 1;
    if (i >= n) i = 2 * n - 1 - i;
  }
  return i;
}

std::vector<double> direct_blur(const std::vector<float>& in, int h, int w, double sigma, double truncate) {
  int r = int(truncate * sigma + 0.5);
  std::vector<double> k(size_t(2 * r + 1));
  double s = 0;
  for (int x = -r; x <= r; ++x) s += k[size_t(x + r)] = std::exp(-double(x * x) / (2 * sigma * sigma));
  for (auto& v : k) v /= s;
  std::vector<double> out(in.size());
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double acc = 0;
      for (int dy = -r; dy <= r; ++dy)
        for (int dx = -r; dx <= r; ++dx)
          acc += k[size_t(dy + r)] * k[size_t(dx + r)] * in[size_t(mirror(y + dy, h)) * w + mirror(x + dx, w)];
      out[size_t(y) * w + x] = acc;
    }
  return out;
}

TEST(Blur, KernelIsScipys) {
  auto k = gaussian_kernel(4.0);
  ASSERT_EQ(k.size(), 33u);  // radius int(4 * 4 + 0.5) = 16
  double s = 0;
  for (double v : k) s += v;
  EXPECT_NEAR(s, 1.0, 1e-15);
  EXPECT_DOUBLE_EQ(k[0], k[32]);
  EXPECT_NEAR(k[16] / k[15], std::exp(1.0 / 32), 1e-14);
  EXPECT_EQ(gaussian_radius(1.2), 5);   // int(4.8 + 0.5)
  EXPECT_EQ(gaussian_radius(0.3), 1);   // int(1.7)
}

TEST(Blur, ReflectIndexIsSymmetricPeriodic) {
  // n = 4: ... b a | a b c d | d c ...
  EXPECT_EQ(reflect_index(-1, 4), 0);
  EXPECT_EQ(reflect_index(-2, 4), 1);
  EXPECT_EQ(reflect_index(4, 4), 3);
  EXPECT_EQ(reflect_index(5, 4), 2);
  EXPECT_EQ(reflect_index(-5, 4), 3);
  EXPECT_EQ(reflect_index(-9, 4), 0);
  EXPECT_EQ(reflect_index(17, 1), 0);
  for (long i = -50; i < 50; ++i) EXPECT_EQ(reflect_index(i, 7), mirror(i, 7)) << i;
}

TEST(Blur, MatchesDirect2DConvolution) {
  Rng r(5);
  struct Case { int h, w; double sigma; };
  for (Case c : {Case{40, 37, 4.0}, Case{9, 50, 4.0}, Case{5, 3, 4.0}, Case{1, 20, 4.0}, Case{23, 23, 1.5}}) {
    std::vector<float> in(size_t(c.h) * c.w);
    for (auto& v : in) v = float(r.uniform(-1, 3));
    in[0] = 50.0f;  // a spike in the corner exercises the border
    std::vector<float> out(in.size());
    gaussian_blur(in.data(), out.data(), c.h, c.w, c.sigma);
    auto ref = direct_blur(in, c.h, c.w, c.sigma, 4.0);
    for (size_t i = 0; i < in.size(); ++i)
      ASSERT_NEAR(out[i], ref[i], 2e-6 * (1 + std::abs(ref[i]))) << c.h << "x" << c.w << " at " << i;
    // In place gives the same bits.
    std::vector<float> inplace = in;
    gaussian_blur(inplace.data(), inplace.data(), c.h, c.w, c.sigma);
    EXPECT_EQ(inplace, out);
  }
}

TEST(Blur, ConstantStaysConstantAndZeroSigmaCopies) {
  std::vector<float> in(64 * 64, 0.75f), out(in.size());
  gaussian_blur(in.data(), out.data(), 64, 64);
  for (float v : out) ASSERT_NEAR(v, 0.75f, 1e-6f);
  in[5] = 2.0f;
  gaussian_blur(in.data(), out.data(), 64, 64, 0.0);
  EXPECT_EQ(in, out);
}

}  // namespace tc::eval::test_blur
