// Anomaly operators with exact masks (DATASETS.md §3 and §4.3).
//
// Each operator proposes a modified image and the set of pixels it touched. The mask is then
// touched AND changed (some channel differs by more than 2 levels), closed with a 3x3 kernel
// inside the touched set; every pixel outside the mask is reset to the normal image, so
// "outside the mask nothing changed" holds exactly. A proposal whose mask is smaller than
// 16 px or larger than 25 % of the image (objects and organs: of the foreground) is redrawn
// from the next stream (attempt counter in the key).
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <cmath>

#include "data/synth_detail.h"
#include "util/check.h"

namespace tc::data::synth::detail {

namespace defect_impl {

constexpr double kPi = 3.141592653589793;

struct Proposal {
  std::vector<double> px;       // S*S*3 in [0, 1]
  std::vector<uint8_t> touched; // S*S
};

struct Env {
  const Category& cat;
  uint64_t seed;
  const std::string& key;
  const Canvas& canvas;
  std::vector<double> src;  // the 8-bit normal image as doubles
  int S;
  double k;
  Rng& r;
};

// A point inside the foreground (uniform by rejection), at least `margin` px from the border.
void point_in_fg(Env& e, double margin, double& x, double& y) {
  double lo = margin, hi = e.S - margin;
  if (hi <= lo) { lo = 0; hi = e.S; }
  for (int t = 0; t < 2000; ++t) {
    x = e.r.uniform(lo, hi);
    y = e.r.uniform(lo, hi);
    if (e.canvas.fg[size_t(y) * e.S + size_t(x)]) return;
  }
  x = y = e.S * 0.5;
}

bool gated(const Env& e) { return e.cat.kind != Kind::Texture; }

double bilinear(const std::vector<double>& img, int S, double x, double y, int c) {
  // x, y in pixel-centre coordinates (pixel i covers [i, i+1), centre i + 0.5); edges clamp.
  double fx = std::min(std::max(x - 0.5, 0.0), S - 1.0), fy = std::min(std::max(y - 0.5, 0.0), S - 1.0);
  int x0 = std::min(int(fx), S - 2 < 0 ? 0 : S - 2), y0 = std::min(int(fy), S - 2 < 0 ? 0 : S - 2);
  double tx = fx - x0, ty = fy - y0;
  auto at = [&](int xx, int yy) { return img[(size_t(yy) * S + xx) * 3 + c]; };
  double a = at(x0, y0) + tx * (at(x0 + 1, y0) - at(x0, y0));
  double b = at(x0, y0 + 1) + tx * (at(x0 + 1, y0 + 1) - at(x0, y0 + 1));
  return a + ty * (b - a);
}

// Colour jitter of CutPaste (brightness, contrast, saturation, hue; factor 0.1 each).
struct Jitter {
  double bright, contrast, sat, hue;
  explicit Jitter(Rng& r)
      : bright(r.uniform(0.9, 1.1)), contrast(r.uniform(0.9, 1.1)), sat(r.uniform(0.9, 1.1)),
        hue(r.uniform(-0.1, 0.1)) {}
  void apply(double* rgb, double mean) const {
    for (int c = 0; c < 3; ++c) rgb[c] = clamp01(mean + (rgb[c] * bright - mean) * contrast);
    double g = (rgb[0] + rgb[1] + rgb[2]) / 3;
    for (int c = 0; c < 3; ++c) rgb[c] = clamp01(g + sat * (rgb[c] - g));
    double h, s, v;
    rgb_to_hsv(rgb[0], rgb[1], rgb[2], h, s, v);
    hsv_to_rgb(h + hue, s, v, rgb[0], rgb[1], rgb[2]);
  }
};

double mean_of(const std::vector<double>& img) {
  double s = 0;
  for (double v : img) s += v;
  return img.empty() ? 0 : s / double(img.size());
}

// ------------------------------------------------------------ family S (training-style)
Proposal draem(Env& e) {
  int S = e.S;
  int sx = 1 << e.r.int_in(0, 5), sy = 1 << e.r.int_in(0, 5);
  Perlin P(e.r, sx, sy);
  double rot = e.r.uniform(-90, 90) * kPi / 180, cr = std::cos(rot), sr = std::sin(rot);
  Proposal p{e.src, std::vector<uint8_t>(size_t(S) * S, 0)};
  // Anomaly source (DRAEM uses DTD images): a random procedural colour field that is none of
  // the benchmark's categories, so no category of another split leaks in as "anomalous".
  std::vector<double> A(size_t(S) * S * 3);
  {
    int kind = int(e.r.below(3));
    double c3[3][3];
    for (auto& c : c3) hsv_to_rgb(e.r.uniform(), e.r.uniform(0.2, 1), e.r.uniform(0.2, 1), c[0], c[1], c[2]);
    Fbm f(e.r, S, e.r.uniform(8, 64) * e.k, 4);
    Worley w(e.r, S, std::max(3.0, e.r.uniform(6, 40) * e.k));
    double period = std::max(3.0, e.r.uniform(4, 32) * e.k), ga = e.r.uniform(0, kPi);
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x) {
        double px = x + 0.5, py = y + 0.5, t;
        if (kind == 0) {
          t = 0.5 + 0.7 * f.at(px, py);  // fbm cloud
        } else if (kind == 1) {
          double f1, f2;
          w.f12(px, py, f1, f2);
          t = std::min(1.0, (f2 - f1) / (0.5 * std::max(3.0, period))) + 0.2 * f.at(px, py);  // cells
        } else {
          t = 0.5 + 0.5 * std::sin(2 * kPi / period * (px * std::cos(ga) + py * std::sin(ga)) + 3 * f.at(px, py));
        }
        t = clamp01(t) * 2;
        int a = t < 1 ? 0 : 1;
        double u = t - a;
        for (int c = 0; c < 3; ++c)
          A[(size_t(y) * S + x) * 3 + c] = c3[a][c] + u * (c3[a + 1][c] - c3[a][c]);
      }
  }
  // Three distinct augmentations out of five (DRAEM uses 3 of 10 imgaug ops).
  std::vector<int> ops = {0, 1, 2, 3, 4};
  e.r.shuffle(ops);
  for (int oi = 0; oi < 3; ++oi) {
    int op = ops[size_t(oi)];
    double g[3] = {e.r.uniform(0.5, 2), e.r.uniform(0.5, 2), e.r.uniform(0.5, 2)};
    double mul = e.r.uniform(0.8, 1.2), add = e.r.uniform(-30, 30) / 255;
    double thr = e.r.uniform(32, 128) / 255;
    int levels = 1 << e.r.int_in(2, 4);
    for (size_t i = 0; i < A.size(); ++i) {
      double& v = A[i];
      if (op == 0) v = std::pow(v, g[i % 3]);
      else if (op == 1) v = clamp01(v * mul + add);
      else if (op == 2) v = 1 - v;
      else if (op == 3) v = v >= thr ? 1 - v : v;
      else v = std::floor(v * levels) / levels;
    }
  }
  double beta = e.r.uniform(0, 0.8);
  double c0 = S * 0.5;
  for (int y = 0; y < S; ++y)
    for (int x = 0; x < S; ++x) {
      // Rotated field, zero fill: the value at (row y, col x) is P at the inverse rotation.
      double dy = y - c0, dx = x - c0;
      double iy = c0 + cr * dy + sr * dx, ix = c0 - sr * dy + cr * dx;
      double v = 0;
      if (iy >= 0 && iy < S && ix >= 0 && ix < S) v = P.eval(iy * sx / S, ix * sy / S);
      size_t pi = size_t(y) * S + x;
      if (!(v > 0.5) || (gated(e) && !e.canvas.fg[pi])) continue;
      p.touched[pi] = 1;
      for (int c = 0; c < 3; ++c)
        p.px[pi * 3 + c] = (1 - beta) * A[pi * 3 + c] + beta * e.src[pi * 3 + c];
    }
  return p;
}

Proposal cutpaste(Env& e) {
  int S = e.S;
  // Objects: the area is relative to the object, so a patch fits even a thin screw.
  double fgfrac = 1;
  if (gated(e)) {
    size_t n = 0;
    for (uint8_t v : e.canvas.fg) n += v;
    fgfrac = double(n) / (double(S) * S);
  }
  double area = e.r.uniform(0.02, 0.15) * S * S * fgfrac;
  double ar = e.r.bernoulli(0.5) ? e.r.uniform(0.3, 1) : e.r.uniform(1, 3.3);
  int w = std::min(S - 2, std::max(2, int(std::floor(std::sqrt(area * ar) + 0.5))));
  int h = std::min(S - 2, std::max(2, int(std::floor(std::sqrt(area / ar) + 0.5))));
  int sx = int(e.r.int_in(0, S - w)), sy = int(e.r.int_in(0, S - h));
  int tx, ty;
  if (gated(e)) {
    double cx, cy;
    point_in_fg(e, 0, cx, cy);
    tx = std::min(std::max(int(cx) - w / 2, 0), S - w);
    ty = std::min(std::max(int(cy) - h / 2, 0), S - h);
  } else {
    tx = int(e.r.int_in(0, S - w));
    ty = int(e.r.int_in(0, S - h));
  }
  Jitter j(e.r);
  Proposal p{e.src, std::vector<uint8_t>(size_t(S) * S, 0)};
  double m = mean_of(e.src);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      size_t si = (size_t(sy + y) * S + sx + x), ti = (size_t(ty + y) * S + tx + x);
      if (gated(e) && !e.canvas.fg[ti]) continue;  // objects: the defect is on the object
      double rgb[3] = {e.src[si * 3], e.src[si * 3 + 1], e.src[si * 3 + 2]};
      j.apply(rgb, m);
      for (int c = 0; c < 3; ++c) p.px[ti * 3 + c] = rgb[c];
      p.touched[ti] = 1;
    }
  return p;
}

Proposal scar(Env& e) {
  int S = e.S;
  double w = std::max(2.0, e.r.uniform(2, 16) * e.k), h = std::max(4.0, e.r.uniform(10, 25) * e.k);
  double rad = 0.5 * std::sqrt(w * w + h * h) + 1;
  double scx = e.r.uniform(rad, S - rad), scy = e.r.uniform(rad, S - rad);
  double ang = e.r.uniform(-45, 45) * kPi / 180, ca = std::cos(ang), sa = std::sin(ang);
  double tcx, tcy;
  point_in_fg(e, rad, tcx, tcy);
  Jitter j(e.r);
  Proposal p{e.src, std::vector<uint8_t>(size_t(S) * S, 0)};
  double m = mean_of(e.src);
  for (int y = std::max(0, int(tcy - rad)); y < std::min(S, int(tcy + rad) + 1); ++y)
    for (int x = std::max(0, int(tcx - rad)); x < std::min(S, int(tcx + rad) + 1); ++x) {
      double dx = x + 0.5 - tcx, dy = y + 0.5 - tcy;
      double lx = ca * dx + sa * dy, ly = -sa * dx + ca * dy;  // inverse rotation
      if (std::fabs(lx) > w / 2 || std::fabs(ly) > h / 2) continue;
      int qx = std::min(S - 1, std::max(0, int(std::floor(scx + lx))));
      int qy = std::min(S - 1, std::max(0, int(std::floor(scy + ly))));
      size_t si = size_t(qy) * S + qx, ti = size_t(y) * S + x;
      if (gated(e) && !e.canvas.fg[ti]) continue;
      double rgb[3] = {e.src[si * 3], e.src[si * 3 + 1], e.src[si * 3 + 2]};
      j.apply(rgb, m);
      for (int c = 0; c < 3; ++c) p.px[ti * 3 + c] = rgb[c];
      p.touched[ti] = 1;
    }
  return p;
}

Proposal nsa(Env& e) {
  int S = e.S;
  bool object = e.cat.kind == Kind::Object;
  std::vector<double> other;
  {
    Canvas oc = render_normal(e.cat, e.seed, e.key + "|nsa-source", S);
    auto q = quantize(oc);
    other.resize(q.size());
    for (size_t i = 0; i < q.size(); ++i) other[i] = q[i] / 255.0;
  }
  double lo = 0.03 * S, hi = (object ? 0.25 : 0.4) * S;
  hi = std::min(hi, S * 0.5 - 3);
  double hw = std::min(hi, std::max(lo, (0.03 + gamma_int(e.r, 2, 0.05)) * S));
  double hh = std::min(hi, std::max(lo, (0.03 + gamma_int(e.r, 2, 0.05)) * S));
  double scx = e.r.uniform(hw + 2, S - hw - 2), scy = e.r.uniform(hh + 2, S - hh - 2);
  double sc = object ? std::min(1.3, std::max(0.7, e.r.normal(1, 0.5)))
                     : std::min(2.0, std::max(0.5, e.r.normal(1, 0.5)));
  double nhw = std::min(hi, std::max(lo, hw * sc)), nhh = std::min(hi, std::max(lo, hh * sc));
  double dcx, dcy;
  if (gated(e)) {
    point_in_fg(e, 0, dcx, dcy);
    dcx = std::min(std::max(dcx, nhw + 2), S - nhw - 2);
    dcy = std::min(std::max(dcy, nhh + 2), S - nhh - 2);
  } else {
    dcx = e.r.uniform(nhw + 2, S - nhw - 2);
    dcy = e.r.uniform(nhh + 2, S - nhh - 2);
  }
  int x0 = std::max(1, int(std::floor(dcx - nhw))), x1 = std::min(S - 2, int(std::floor(dcx + nhw)));
  int y0 = std::max(1, int(std::floor(dcy - nhh))), y1 = std::min(S - 2, int(std::floor(dcy + nhh)));
  std::vector<double> placed = e.src;
  std::vector<uint8_t> region(size_t(S) * S, 0);
  double sxs = hw / nhw, sys = hh / nhh;  // source pixels per destination pixel
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x) {
      size_t i = size_t(y) * S + x;
      region[i] = 1;
      double qx = scx + (x + 0.5 - dcx) * sxs, qy = scy + (y + 0.5 - dcy) * sys;
      for (int c = 0; c < 3; ++c) placed[i * 3 + c] = bilinear(other, S, qx, qy, c);
    }
  // Optimal SOR factor for the patch's larger side keeps the sweep count moderate.
  double n = std::max(x1 - x0 + 1, y1 - y0 + 1);
  double omega = 2.0 / (1.0 + std::sin(kPi / n));
  Proposal p;
  p.px = poisson_blend(e.src, placed, region, S, S, 3, /*mixed=*/!object, 4 * int(n) + 100, omega);
  for (double& v : p.px) v = clamp01(v);
  p.touched = region;
  if (gated(e))  // objects: only the object's pixels count (and change)
    for (size_t i = 0; i < region.size(); ++i) p.touched[i] = region[i] && e.canvas.fg[i];
  return p;
}

// ------------------------------------------------------------ family P (drawn defects)
// Coverage of a polyline stroke of half-width hw over a bounding box; returns per-pixel alpha.
std::vector<double> stroke(int S, const std::vector<double>& pts_xy, bool polyline_pairs,
                           double hw) {
  std::vector<double> a(size_t(S) * S, 0.0);
  if (pts_xy.size() < 4) return a;
  double minx = 1e300, miny = 1e300, maxx = -1e300, maxy = -1e300;
  for (size_t i = 0; i < pts_xy.size(); i += 2) {
    minx = std::min(minx, pts_xy[i]); maxx = std::max(maxx, pts_xy[i]);
    miny = std::min(miny, pts_xy[i + 1]); maxy = std::max(maxy, pts_xy[i + 1]);
  }
  int bx0 = std::max(0, int(minx - hw - 2)), bx1 = std::min(S - 1, int(maxx + hw + 2));
  int by0 = std::max(0, int(miny - hw - 2)), by1 = std::min(S - 1, int(maxy + hw + 2));
  size_t step = polyline_pairs ? 4 : 2;  // pairs: independent segments (a,b),(c,d)...
  for (int y = by0; y <= by1; ++y)
    for (int x = bx0; x <= bx1; ++x) {
      double px = x + 0.5, py = y + 0.5, d = 1e300;
      for (size_t i = 0; i + 3 < pts_xy.size(); i += step)
        d = std::min(d, dist_segment(px, py, pts_xy[i], pts_xy[i + 1], pts_xy[i + 2], pts_xy[i + 3]));
      a[size_t(y) * S + x] = coverage(d - hw);
    }
  return a;
}

Proposal from_alpha(Env& e, const std::vector<double>& alpha, const std::vector<double>& target,
                    bool target_is_delta) {
  Proposal p{e.src, std::vector<uint8_t>(size_t(e.S) * e.S, 0)};
  for (size_t i = 0; i < alpha.size(); ++i) {
    double a = alpha[i];
    if (a <= 0 || (gated(e) && !e.canvas.fg[i])) continue;
    p.touched[i] = 1;
    for (int c = 0; c < 3; ++c) {
      double s = e.src[i * 3 + c];
      double t = target_is_delta ? s + target[c] : target[c];
      p.px[i * 3 + c] = clamp01(s + a * (t - s));
    }
  }
  return p;
}

Proposal scratch(Env& e) {
  double L = e.r.uniform(0.1, 0.5) * e.S;
  int n = int(e.r.int_in(3, 6));
  double step = L / (n - 1), hd = e.r.uniform(0, 2 * kPi);
  double x, y;
  point_in_fg(e, 2, x, y);
  std::vector<double> pts = {x, y};
  for (int i = 1; i < n; ++i) {
    hd += e.r.uniform(-0.3, 0.3);
    x += step * std::cos(hd);
    y += step * std::sin(hd);
    pts.insert(pts.end(), {x, y});
  }
  double w = e.r.uniform(1, 3) * std::max(1.0, e.k);
  auto a = stroke(e.S, pts, false, w / 2);
  bool specular = e.r.bernoulli(0.3);
  double delta = (e.r.bernoulli(0.5) ? 1 : -1) * e.r.uniform(40, 90) / 255;
  if (specular) {
    double v = e.r.uniform(0.85, 1.0);
    return from_alpha(e, a, {v, v, v}, false);
  }
  return from_alpha(e, a, {delta, delta, delta}, true);
}

// An irregular blob: a disc of radius r whose edge is perturbed by Perlin noise.
std::vector<double> blob(Env& e, double cx, double cy, double r, double soft) {
  int S = e.S;
  Perlin P(e.r, 4, 4);
  std::vector<double> a(size_t(S) * S, 0.0);
  for (int y = std::max(0, int(cy - r - 2)); y < std::min(S, int(cy + r + 2)); ++y)
    for (int x = std::max(0, int(cx - r - 2)); x < std::min(S, int(cx + r + 2)); ++x) {
      double dx = x + 0.5 - cx, dy = y + 0.5 - cy, d = std::sqrt(dx * dx + dy * dy);
      double u = (dy / r + 1) * 2, v = (dx / r + 1) * 2;  // [0, 4] lattice units
      double shape = (1 - d / r) + 0.45 * P.eval(u, v);
      a[size_t(y) * S + x] = soft > 0 ? smoothstep(0.3, 0.3 + soft, shape)
                                      : clamp01((shape - 0.3) * r + 0.5);
    }
  return a;
}

Proposal stain(Env& e) {
  double r = e.r.uniform(0.03, 0.1) * e.S, cx, cy;
  point_in_fg(e, 0, cx, cy);
  auto a = blob(e, cx, cy, r, 0);
  double dh = (e.r.bernoulli(0.5) ? 1 : -1) * e.r.uniform(10, 30) / 360;
  double dv = (e.r.bernoulli(0.5) ? 1 : -1) * e.r.uniform(0.12, 0.25);
  double ds = e.r.uniform(0, 0.25);
  double alpha = e.r.uniform(0.4, 0.9);
  Proposal p{e.src, std::vector<uint8_t>(size_t(e.S) * e.S, 0)};
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] <= 0 || (gated(e) && !e.canvas.fg[i])) continue;
    p.touched[i] = 1;
    double h, s, v, rgb[3];
    rgb_to_hsv(e.src[i * 3], e.src[i * 3 + 1], e.src[i * 3 + 2], h, s, v);
    hsv_to_rgb(h + dh, clamp01(s + ds), clamp01(v * (1 + dv)), rgb[0], rgb[1], rgb[2]);
    for (int c = 0; c < 3; ++c)
      p.px[i * 3 + c] = e.src[i * 3 + c] + alpha * a[i] * (rgb[c] - e.src[i * 3 + c]);
  }
  return p;
}

Proposal crack(Env& e) {
  double step = std::max(1.0, 1.5 * e.k);
  double total = e.r.uniform(0.15, 0.4) * e.S;
  double x, y;
  point_in_fg(e, 2, x, y);
  struct Walker { double x, y, hd, len; };
  std::vector<Walker> todo = {{x, y, e.r.uniform(0, 2 * kPi), total}};
  std::vector<double> segs;  // pairs of points
  int branches = 0;
  while (!todo.empty()) {
    Walker w = todo.back();
    todo.pop_back();
    for (double l = 0; l < w.len; l += step) {
      w.hd += 0.25 * e.r.normal();
      double nx = w.x + step * std::cos(w.hd), ny = w.y + step * std::sin(w.hd);
      segs.insert(segs.end(), {w.x, w.y, nx, ny});
      w.x = nx;
      w.y = ny;
      if (branches < 3 && e.r.bernoulli(0.05)) {
        ++branches;
        double turn = (e.r.bernoulli(0.5) ? 1 : -1) * e.r.uniform(0.4, 1.0);
        todo.push_back({w.x, w.y, w.hd + turn, (w.len - l) * 0.5});
      }
    }
  }
  double hw = e.r.uniform(1, 2) * std::max(1.0, e.k) / 2;
  double dark = e.r.uniform(0.2, 0.45);
  auto core = stroke(e.S, segs, true, hw);
  auto rim = stroke(e.S, segs, true, hw + 1);
  Proposal p{e.src, std::vector<uint8_t>(size_t(e.S) * e.S, 0)};
  for (size_t i = 0; i < core.size(); ++i) {
    if (rim[i] <= 0 || (gated(e) && !e.canvas.fg[i])) continue;
    p.touched[i] = 1;
    double ring = rim[i] - core[i];
    for (int c = 0; c < 3; ++c) {
      double s = e.src[i * 3 + c];
      p.px[i * 3 + c] = clamp01(s * (1 - core[i] * (1 - dark)) + 0.08 * ring);
    }
  }
  return p;
}

Proposal hole(Env& e) {
  double r = e.r.uniform(0.02, 0.06) * e.S, ecc = e.r.uniform(0.5, 1), ang = e.r.uniform(0, kPi);
  double cx, cy;
  point_in_fg(e, r + 1, cx, cy);
  double dark = e.r.uniform(0.05, 0.15), la = e.r.uniform(0, 2 * kPi);
  double ca = std::cos(ang), sa = std::sin(ang);
  int S = e.S;
  Proposal p{e.src, std::vector<uint8_t>(size_t(S) * S, 0)};
  for (int y = std::max(0, int(cy - r - 2)); y < std::min(S, int(cy + r + 2)); ++y)
    for (int x = std::max(0, int(cx - r - 2)); x < std::min(S, int(cx + r + 2)); ++x) {
      double px = x + 0.5, py = y + 0.5;
      double a = coverage(sdf_ellipse(px, py, cx, cy, r, r * ecc, ang));
      size_t i = size_t(y) * S + x;
      if (a <= 0 || (gated(e) && !e.canvas.fg[i])) continue;
      p.touched[i] = 1;
      double dx = px - cx, dy = py - cy, lx = (ca * dx + sa * dy) / r, ly = (-sa * dx + ca * dy) / (r * ecc);
      // Inner shadow: the wall facing the light is lit, the near wall is in shadow.
      double lit = dark + 0.18 * clamp01(0.5 + 0.5 * (lx * std::cos(la) + ly * std::sin(la)));
      for (int c = 0; c < 3; ++c) {
        double s = e.src[i * 3 + c];
        p.px[i * 3 + c] = s + a * (lit - s);
      }
    }
  return p;
}

Proposal fold(Env& e) {
  int S = e.S;
  double cx = e.r.uniform(0.15, 0.85) * S, cy = e.r.uniform(0.15, 0.85) * S;
  double A = e.r.uniform(3, 8) * std::max(1.0, e.k), sg = e.r.uniform(0.04, 0.1) * S;
  double dir = e.r.uniform(0, 2 * kPi), ux = std::cos(dir), uy = std::sin(dir);
  Proposal p{e.src, std::vector<uint8_t>(size_t(S) * S, 0)};
  for (int y = 0; y < S; ++y)
    for (int x = 0; x < S; ++x) {
      double px = x + 0.5, py = y + 0.5, dx = px - cx, dy = py - cy;
      double m = A * std::exp(-(dx * dx + dy * dy) / (2 * sg * sg));
      if (m <= 1) continue;
      size_t i = size_t(y) * S + x;
      p.touched[i] = 1;
      for (int c = 0; c < 3; ++c) p.px[i * 3 + c] = bilinear(e.src, S, px - m * ux, py - m * uy, c);
    }
  return p;
}

Proposal thread(Env& e) {
  double x0, y0;
  point_in_fg(e, 2, x0, y0);
  double L = e.r.uniform(0.15, 0.4) * e.S, hd = e.r.uniform(0, 2 * kPi);
  double x3 = x0 + L * std::cos(hd), y3 = y0 + L * std::sin(hd);
  double x1 = x0 + e.r.uniform(-0.5, 0.5) * L, y1 = y0 + e.r.uniform(-0.5, 0.5) * L;
  double x2 = x3 + e.r.uniform(-0.5, 0.5) * L, y2 = y3 + e.r.uniform(-0.5, 0.5) * L;
  std::vector<double> pts;
  for (int i = 0; i <= 48; ++i) {
    double t = i / 48.0, u = 1 - t;
    pts.push_back(u * u * u * x0 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t * t * t * x3);
    pts.push_back(u * u * u * y0 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t * t * t * y3);
  }
  auto a = stroke(e.S, pts, false, 0.5 * std::max(1.0, e.k));
  double col[3];
  if (e.r.bernoulli(0.5)) {
    double v = e.r.uniform(0.03, 0.2);
    col[0] = col[1] = col[2] = v;
  } else {
    hsv_to_rgb(e.r.uniform(), e.r.uniform(0.7, 1), e.r.uniform(0.7, 1), col[0], col[1], col[2]);
  }
  return from_alpha(e, a, {col[0], col[1], col[2]}, false);
}

Proposal part_edit(Env& e, bool missing) {
  PartEdit pe;
  pe.mode = missing ? PartEdit::Missing : PartEdit::Moved;
  const std::string& n = e.cat.name;
  double dist = std::max(3.0, e.r.uniform(4, 12) * e.k), da = e.r.uniform(0, 2 * kPi);
  pe.dx = dist * std::cos(da);
  pe.dy = dist * std::sin(da);
  double turn = (e.r.bernoulli(0.5) ? 1 : -1);
  if (n == "screw") {
    pe.dx = pe.dy = 0;  // the slot turns in the head
    pe.dtheta = turn * e.r.uniform(30, 80) * kPi / 180;
  } else if (n == "hexnut") {
    pe.which = int(e.r.int_in(0, 5));
  } else if (n == "pcb") {
    pe.which = int(e.r.int_in(0, 1));
    pe.dtheta = turn * e.r.uniform(10, 30) * kPi / 180;
  }
  Canvas c = render_normal(e.cat, e.seed, e.key, e.S, pe);
  auto q = quantize(c);
  Proposal p;
  p.px.resize(q.size());
  for (size_t i = 0; i < q.size(); ++i) p.px[i] = q[i] / 255.0;
  p.touched = dilate3(c.part, e.S, e.S);  // anti-aliased edges reach one pixel further
  return p;
}

// ------------------------------------------------------------ medical-like lesions
Proposal lesion(Env& e) {
  double r = e.r.uniform(0.04, 0.1) * e.S, cx, cy;
  point_in_fg(e, 0, cx, cy);
  auto a = blob(e, cx, cy, r, 0.25);
  // Sign from the tissue underneath, so a lesion never vanishes into air or bone: dense (bright)
  // in dark tissue such as lung, dark in bright tissue, either way in between.
  double sum = 0, n = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] > 0 && e.canvas.fg[i]) { sum += e.src[i * 3]; n += 1; }
  double mean = n > 0 ? sum / n : 0.5;
  double sign = e.r.bernoulli(0.5) ? 1 : -1;
  if (mean < 0.3) sign = 1;
  if (mean > 0.7) sign = -1;
  double d = sign * e.r.uniform(0.15, 0.35);
  return from_alpha(e, a, {d, d, d}, true);
}

Proposal nodule(Env& e) {
  int S = e.S;
  double r = std::max(2.0, e.r.uniform(0.015, 0.035) * S), cx, cy;
  point_in_fg(e, r, cx, cy);
  double b = e.r.uniform(0.25, 0.45);
  Proposal p{e.src, std::vector<uint8_t>(size_t(S) * S, 0)};
  for (int y = std::max(0, int(cy - r - 2)); y < std::min(S, int(cy + r + 2)); ++y)
    for (int x = std::max(0, int(cx - r - 2)); x < std::min(S, int(cx + r + 2)); ++x) {
      double px = x + 0.5, py = y + 0.5, d = std::sqrt((px - cx) * (px - cx) + (py - cy) * (py - cy));
      double a = coverage(d - r);
      size_t i = size_t(y) * S + x;
      if (a <= 0 || !e.canvas.fg[i]) continue;
      p.touched[i] = 1;
      double prof = 0.5 + 0.5 * clamp01(1 - (d / r) * (d / r));
      for (int c = 0; c < 3; ++c) p.px[i * 3 + c] = clamp01(e.src[i * 3 + c] + a * b * prof);
    }
  return p;
}

Proposal cyst(Env& e) {
  int S = e.S;
  double r = e.r.uniform(0.03, 0.06) * S, ecc = e.r.uniform(0.7, 1), ang = e.r.uniform(0, kPi), cx, cy;
  point_in_fg(e, r, cx, cy);
  double inner = e.r.uniform(0.05, 0.15), rimw = std::max(1.0, 1.5 * e.k);
  Proposal p{e.src, std::vector<uint8_t>(size_t(S) * S, 0)};
  for (int y = std::max(0, int(cy - r - 3)); y < std::min(S, int(cy + r + 3)); ++y)
    for (int x = std::max(0, int(cx - r - 3)); x < std::min(S, int(cx + r + 3)); ++x) {
      double px = x + 0.5, py = y + 0.5;
      double d = sdf_ellipse(px, py, cx, cy, r, r * ecc, ang);
      double a = coverage(d - rimw), core = coverage(d);
      size_t i = size_t(y) * S + x;
      if (a <= 0 || !e.canvas.fg[i]) continue;
      p.touched[i] = 1;
      for (int c = 0; c < 3; ++c) {
        double s = e.src[i * 3 + c];
        double v = s + a * (clamp01(s + 0.25) - s);  // bright wall
        p.px[i * 3 + c] = v + core * (inner - v);     // dark fluid inside
      }
    }
  return p;
}

Proposal propose(const std::string& d, Env& e) {
  if (d == "draem") return draem(e);
  if (d == "cutpaste") return cutpaste(e);
  if (d == "scar") return scar(e);
  if (d == "nsa") return nsa(e);
  if (d == "scratch") return scratch(e);
  if (d == "stain") return stain(e);
  if (d == "crack") return crack(e);
  if (d == "hole") return hole(e);
  if (d == "fold") return fold(e);
  if (d == "thread") return thread(e);
  if (d == "missing_part") return part_edit(e, true);
  if (d == "misplaced") return part_edit(e, false);
  if (d == "lesion") return lesion(e);
  if (d == "nodule") return nodule(e);
  if (d == "cyst") return cyst(e);
  TC_USAGE_ERROR("unknown defect type '{}'", d);
}

}  // namespace defect_impl

const std::vector<std::string>& all_defects() {
  static const std::vector<std::string> d = {"draem", "cutpaste", "scar", "nsa", "scratch",
                                             "stain", "crack", "hole", "fold", "thread",
                                             "missing_part", "misplaced", "lesion", "nodule", "cyst"};
  return d;
}

bool defect_applies(const std::string& d, const Category& cat) {
  if (cat.kind == Kind::Medical) return d == "lesion" || d == "nodule" || d == "cyst";
  if (d == "lesion" || d == "nodule" || d == "cyst") return false;
  if (d == "fold") return cat.kind == Kind::Texture;
  if (d == "missing_part" || d == "misplaced")
    return cat.name == "disc" || cat.name == "screw" || cat.name == "hexnut" || cat.name == "pcb";
  return std::find(all_defects().begin(), all_defects().end(), d) != all_defects().end();
}

DefectResult apply_defect(const std::string& defect, const Category& cat, uint64_t seed,
                          const std::string& key, const Canvas& canvas,
                          const std::vector<uint8_t>& normal) {
  using namespace defect_impl;
  TC_CHECK(defect_applies(defect, cat), "defect {} on category {}", defect, cat.name);
  const int S = canvas.S;
  const size_t N = size_t(S) * S;
  TC_CHECK_EQ(normal.size(), N * 3, "normal image size");
  std::vector<double> src(normal.size());
  for (size_t i = 0; i < src.size(); ++i) src[i] = normal[i] / 255.0;
  size_t fg_area = 0;
  for (uint8_t v : canvas.fg) fg_area += v;
  double max_area = 0.25 * double(cat.kind == Kind::Texture ? N : fg_area);
  // 16 px at S >= 128 (DATASETS.md §4.3), scaled with the image area below that, at least 4.
  const size_t min_area = size_t(std::max(4.0, std::min(16.0, std::floor(16.0 * S * S / (128.0 * 128.0)))));
  for (int attempt = 0; attempt < 100; ++attempt) {
    Rng r = make_rng(seed, key + "|defect|" + defect + "|" + std::to_string(attempt));
    Env e{cat, seed, key, canvas, src, S, S / 256.0, r};
    Proposal p = propose(defect, e);
    if (cat.gray)  // grayscale categories stay grayscale
      for (size_t i = 0; i < N; ++i) {
        double g = (p.px[i * 3] + p.px[i * 3 + 1] + p.px[i * 3 + 2]) / 3;
        p.px[i * 3] = p.px[i * 3 + 1] = p.px[i * 3 + 2] = g;
      }
    std::vector<uint8_t> q(N * 3), mask(N, 0);
    for (size_t i = 0; i < q.size(); ++i) q[i] = to_u8(p.px[i]);
    for (size_t i = 0; i < N; ++i) {
      if (!p.touched[i]) continue;
      int dmax = 0;
      for (int c = 0; c < 3; ++c) dmax = std::max(dmax, std::abs(int(q[i * 3 + c]) - int(normal[i * 3 + c])));
      mask[i] = dmax > 2;
    }
    mask = erode3(dilate3(mask, S, S), S, S);  // close small gaps ...
    size_t area = 0;
    for (size_t i = 0; i < N; ++i) {
      mask[i] = mask[i] && p.touched[i];  // ... but never beyond what the defect touched
      area += mask[i];
    }
    // A part's footprint is bounded by construction; redrawing would not shrink it.
    bool part = defect == "missing_part" || defect == "misplaced";
    if (area < min_area || (!part && double(area) > max_area)) continue;
    DefectResult out;
    out.image = normal;
    for (size_t i = 0; i < N; ++i)
      if (mask[i])
        for (int c = 0; c < 3; ++c) out.image[i * 3 + c] = q[i * 3 + c];
    out.mask = std::move(mask);
    out.attempts = attempt + 1;
    return out;
  }
  TC_RUNTIME_ERROR("synth: defect '{}' on '{}' ({}) gave no mask within the area bounds in 100 attempts",
                   defect, cat.name, key);
}

}  // namespace tc::data::synth::detail

#pragma GCC pop_options
