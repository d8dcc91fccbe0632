// Noise fields, geometry and Poisson blending for the synthetic benchmark.
// FMA contraction would change results between machines (x86-64 without -mfma vs aarch64),
// so it is switched off for the generator's code.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <cmath>

#include "data/synth_detail.h"
#include "util/check.h"
#include "util/hash.h"

namespace tc::data::synth::detail {

namespace noise_impl {
constexpr double kTwoPi = 6.283185307179586;
inline double fade(double t) { return t * t * t * (t * (t * 6 - 15) + 10); }
inline double lerp(double a, double b, double t) { return a + t * (b - a); }
}  // namespace noise_impl

uint64_t stream_id(const std::string& key) {
  Sha256 h;
  h.update(key);
  auto d = h.digest();
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | d[size_t(i)];
  return v;
}

double gamma_int(Rng& r, int k, double theta) {
  double s = 0;
  for (int i = 0; i < k; ++i) s += -std::log(1.0 - r.uniform());  // 1-u in (0, 1]
  return theta * s;
}

uint8_t to_u8(double v) {
  double x = std::floor(v * 255.0 + 0.5);
  if (!(x > 0)) return 0;  // also NaN
  if (x > 255) return 255;
  return static_cast<uint8_t>(x);
}

Perlin::Perlin(Rng& r, int nx, int ny) : nx_(nx), ny_(ny) {
  TC_CHECK(nx >= 1 && ny >= 1, "perlin lattice {}x{}", nx, ny);
  g_.resize(size_t(nx + 1) * size_t(ny + 1) * 2);
  for (size_t i = 0; i < g_.size(); i += 2) {
    double a = noise_impl::kTwoPi * r.uniform();
    g_[i] = std::cos(a);
    g_[i + 1] = std::sin(a);
  }
}

double Perlin::eval(double u, double v) const {
  using noise_impl::fade;
  using noise_impl::lerp;
  u = std::min(std::max(u, 0.0), double(nx_));
  v = std::min(std::max(v, 0.0), double(ny_));
  int a = std::min(int(std::floor(u)), nx_ - 1), b = std::min(int(std::floor(v)), ny_ - 1);
  double fx = u - a, fy = v - b;
  auto dot = [&](int da, int db, double x, double y) {
    size_t i = 2 * (size_t(a + da) * (ny_ + 1) + size_t(b + db));
    return g_[i] * x + g_[i + 1] * y;
  };
  double n00 = dot(0, 0, fx, fy), n10 = dot(1, 0, fx - 1, fy);
  double n01 = dot(0, 1, fx, fy - 1), n11 = dot(1, 1, fx - 1, fy - 1);
  double tx = fade(fx), ty = fade(fy);
  return 1.4142135623730951 * lerp(lerp(n00, n10, tx), lerp(n01, n11, tx), ty);
}

std::vector<double> perlin_field(Rng& r, int H, int W, int rx, int ry) {
  Perlin p(r, rx, ry);
  std::vector<double> out(size_t(H) * W);
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j)
      out[size_t(i) * W + j] = p.eval(double(i) * rx / H, double(j) * ry / W);
  return out;
}

Fbm::Fbm(Rng& r, int S, double period, int octaves, double persistence)
    : period_(period), persistence_(persistence), margin_(S * 0.5) {
  double extent = S + 2 * margin_;
  for (int o = 0; o < octaves; ++o) {
    int n = int(std::ceil(extent * double(1 << o) / period)) + 1;
    oct_.emplace_back(r, n, n);
  }
}

double Fbm::at(double x, double y) const {
  double s = 0, amp = 1;
  for (size_t o = 0; o < oct_.size(); ++o) {
    double f = double(1 << o) / period_;
    s += amp * oct_[o].eval((y + margin_) * f, (x + margin_) * f);
    amp *= persistence_;
  }
  return s;
}

Worley::Worley(Rng& r, int S, double cell) : cell_(cell) {
  n_ = int(std::ceil(S / cell)) + 4;
  pts_.resize(size_t(n_) * n_ * 2);
  for (int cy = 0; cy < n_; ++cy)
    for (int cx = 0; cx < n_; ++cx) {
      size_t i = 2 * (size_t(cy) * n_ + cx);
      pts_[i] = (cx - 2 + r.uniform()) * cell;
      pts_[i + 1] = (cy - 2 + r.uniform()) * cell;
    }
}

void Worley::f12(double x, double y, double& f1, double& f2) const {
  int cx = int(std::floor(x / cell_)) + 2, cy = int(std::floor(y / cell_)) + 2;
  double d1 = 1e300, d2 = 1e300;
  for (int dy = -2; dy <= 2; ++dy)
    for (int dx = -2; dx <= 2; ++dx) {
      int gx = cx + dx, gy = cy + dy;
      if (gx < 0 || gy < 0 || gx >= n_ || gy >= n_) continue;
      size_t i = 2 * (size_t(gy) * n_ + gx);
      double ex = pts_[i] - x, ey = pts_[i + 1] - y;
      double d = ex * ex + ey * ey;
      if (d < d1) { d2 = d1; d1 = d; } else if (d < d2) { d2 = d; }
    }
  f1 = std::sqrt(d1);
  f2 = std::sqrt(d2);
}

double dist_segment(double px, double py, double ax, double ay, double bx, double by) {
  double vx = bx - ax, vy = by - ay, wx = px - ax, wy = py - ay;
  double l2 = vx * vx + vy * vy;
  double t = l2 > 0 ? std::min(1.0, std::max(0.0, (wx * vx + wy * vy) / l2)) : 0.0;
  double dx = wx - t * vx, dy = wy - t * vy;
  return std::sqrt(dx * dx + dy * dy);
}

double sdf_circle(double px, double py, double cx, double cy, double r) {
  double dx = px - cx, dy = py - cy;
  return std::sqrt(dx * dx + dy * dy) - r;
}

double sdf_ellipse(double px, double py, double cx, double cy, double rx, double ry, double angle) {
  // Approximate SDF (exact on the axes): scaled distance times the smaller radius. Good enough
  // for shading; masks come from what changed, not from this value.
  double c = std::cos(angle), s = std::sin(angle);
  double dx = px - cx, dy = py - cy;
  double lx = c * dx + s * dy, ly = -s * dx + c * dy;
  double q = std::sqrt((lx / rx) * (lx / rx) + (ly / ry) * (ly / ry));
  return (q - 1.0) * std::min(rx, ry);
}

double sdf_box(double px, double py, double cx, double cy, double hx, double hy, double angle) {
  double c = std::cos(angle), s = std::sin(angle);
  double dx = px - cx, dy = py - cy;
  double lx = std::fabs(c * dx + s * dy) - hx, ly = std::fabs(-s * dx + c * dy) - hy;
  double ox = std::max(lx, 0.0), oy = std::max(ly, 0.0);
  return std::sqrt(ox * ox + oy * oy) + std::min(std::max(lx, ly), 0.0);
}

double sdf_stadium(double px, double py, double ax, double ay, double bx, double by, double r) {
  return dist_segment(px, py, ax, ay, bx, by) - r;
}

double sdf_hexagon(double px, double py, double cx, double cy, double r_in, double angle) {
  // Max over the three face normals of |<p, n>| - r_in (a regular hexagon with inradius r_in).
  double dx = px - cx, dy = py - cy, d = -1e300;
  for (int k = 0; k < 3; ++k) {
    double a = angle + k * (noise_impl::kTwoPi / 6.0);
    d = std::max(d, std::fabs(dx * std::cos(a) + dy * std::sin(a)) - r_in);
  }
  return d;
}

std::vector<uint8_t> dilate3(const std::vector<uint8_t>& m, int W, int H) {
  std::vector<uint8_t> o(m.size(), 0);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      uint8_t v = 0;
      for (int dy = -1; dy <= 1 && !v; ++dy)
        for (int dx = -1; dx <= 1 && !v; ++dx) {
          int yy = y + dy, xx = x + dx;
          if (yy >= 0 && yy < H && xx >= 0 && xx < W && m[size_t(yy) * W + xx]) v = 1;
        }
      o[size_t(y) * W + x] = v;
    }
  return o;
}

std::vector<uint8_t> erode3(const std::vector<uint8_t>& m, int W, int H) {
  std::vector<uint8_t> o(m.size(), 0);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      uint8_t v = 1;
      for (int dy = -1; dy <= 1 && v; ++dy)
        for (int dx = -1; dx <= 1 && v; ++dx) {
          int yy = y + dy, xx = x + dx;
          if (yy >= 0 && yy < H && xx >= 0 && xx < W && !m[size_t(yy) * W + xx]) v = 0;
        }
      o[size_t(y) * W + x] = v;
    }
  return o;
}

void rgb_to_hsv(double r, double g, double b, double& h, double& s, double& v) {
  double mx = std::max(r, std::max(g, b)), mn = std::min(r, std::min(g, b)), d = mx - mn;
  v = mx;
  s = mx > 0 ? d / mx : 0;
  if (d <= 0) { h = 0; return; }
  if (mx == r) h = (g - b) / d;
  else if (mx == g) h = 2 + (b - r) / d;
  else h = 4 + (r - g) / d;
  h /= 6;
  if (h < 0) h += 1;
}

void hsv_to_rgb(double h, double s, double v, double& r, double& g, double& b) {
  h = h - std::floor(h);
  double hh = h * 6;
  int i = std::min(5, int(std::floor(hh)));
  double f = hh - i, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  switch (i) {
    case 0: r = v; g = t; b = p; break;
    case 1: r = q; g = v; b = p; break;
    case 2: r = p; g = v; b = t; break;
    case 3: r = p; g = q; b = v; break;
    case 4: r = t; g = p; b = v; break;
    default: r = v; g = p; b = q; break;
  }
}

std::vector<double> poisson_blend(const std::vector<double>& dst, const std::vector<double>& src,
                                  const std::vector<uint8_t>& region, int W, int H, int C,
                                  bool mixed, int sweeps, double omega) {
  TC_CHECK_EQ(dst.size(), size_t(W) * H * C, "poisson dst size");
  TC_CHECK_EQ(src.size(), dst.size(), "poisson src size");
  TC_CHECK_EQ(region.size(), size_t(W) * H, "poisson region size");
  std::vector<uint8_t> interior(region.size(), 0);
  std::vector<int> idx;  // interior pixels in raster order
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      size_t p = size_t(y) * W + x;
      if (!region[p]) continue;
      TC_CHECK(x > 0 && y > 0 && x < W - 1 && y < H - 1, "poisson region touches the border");
      if (region[p - 1] && region[p + 1] && region[p - W] && region[p + W]) {
        interior[p] = 1;
        idx.push_back(int(p));
      }
    }
  std::vector<double> f = dst;
  const int nb[4] = {-1, 1, -W, W};
  std::vector<double> rhs(idx.size() * size_t(C));
  for (size_t k = 0; k < idx.size(); ++k) {
    size_t p = size_t(idx[k]);
    for (int c = 0; c < C; ++c) {
      double s = 0;
      for (int n = 0; n < 4; ++n) {
        size_t q = size_t(int64_t(p) + nb[n]);
        double gs = src[p * C + c] - src[q * C + c];
        if (mixed) {
          double gd = dst[p * C + c] - dst[q * C + c];
          if (std::fabs(gd) > std::fabs(gs)) gs = gd;
        }
        s += gs;
        if (!interior[q]) s += dst[q * C + c];  // Dirichlet boundary value
      }
      rhs[k * C + c] = s;
      // Start from the source shifted onto the boundary level: fewer sweeps to converge.
      f[p * C + c] = src[p * C + c];
    }
  }
  for (int it = 0; it < sweeps; ++it)
    for (size_t k = 0; k < idx.size(); ++k) {
      size_t p = size_t(idx[k]);
      for (int c = 0; c < C; ++c) {
        double s = rhs[k * C + c];
        for (int n = 0; n < 4; ++n) {
          size_t q = size_t(int64_t(p) + nb[n]);
          if (interior[q]) s += f[q * C + c];
        }
        double& v = f[p * C + c];
        v += omega * (s * 0.25 - v);
      }
    }
  return f;
}

std::vector<uint8_t> quantize(const Canvas& c) {
  std::vector<uint8_t> o(c.px.size());
  for (size_t i = 0; i < o.size(); ++i) o[i] = to_u8(c.px[i]);
  return o;
}

}  // namespace tc::data::synth::detail

#pragma GCC pop_options
