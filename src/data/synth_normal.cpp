// Procedural normal images: 7 textures, 5 objects, 3 medical-like scans (DATASETS.md §4).
// Per-class constants come from the stream (seed, "class|<name>"), per-image jitter from the
// image's own stream, sensor noise from a third stream; a part edit changes only geometry,
// never which random numbers are drawn, so an edited render equals the normal one outside the
// part's footprint.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <cmath>

#include "data/synth_detail.h"
#include "util/check.h"

namespace tc::data::synth {

const std::vector<Category>& categories() {
  static const std::vector<Category> cats = {
      {"stripes", "striped fabric", Kind::Texture, false},
      {"mesh", "metal mesh", Kind::Texture, true},
      {"wood", "wood", Kind::Texture, false},
      {"leather", "leather", Kind::Texture, false},
      {"carpet", "carpet", Kind::Texture, false},
      {"marble", "marble tile", Kind::Texture, false},
      {"woven", "woven fabric", Kind::Texture, false},
      {"disc", "bottle cap", Kind::Object, false},
      {"screw", "screw", Kind::Object, true},
      {"pill", "pill", Kind::Object, false},
      {"hexnut", "metal nut", Kind::Object, false},
      {"pcb", "printed circuit board", Kind::Object, false},
      {"brain", "brain scan", Kind::Medical, true},
      {"chest", "chest scan", Kind::Medical, true},
      {"cells", "cell tissue", Kind::Medical, true},
  };
  return cats;
}

const Category& find_category(const std::string& name) {
  for (const auto& c : categories())
    if (c.name == name) return c;
  TC_USAGE_ERROR("unknown synthetic category '{}'", name);
}

namespace detail {
namespace normal_impl {

constexpr double kPi = 3.141592653589793;

struct Rgb {
  double r = 0, g = 0, b = 0;
};
inline Rgb mix(const Rgb& a, const Rgb& b, double t) {
  return {a.r + t * (b.r - a.r), a.g + t * (b.g - a.g), a.b + t * (b.b - a.b)};
}
inline Rgb scale(const Rgb& a, double s) { return {a.r * s, a.g * s, a.b * s}; }
inline Rgb gray(double v) { return {v, v, v}; }
inline Rgb hsv(double h, double s, double v) {
  Rgb c;
  hsv_to_rgb(h, s, v, c.r, c.g, c.b);
  return c;
}

struct Ctx {
  const Category& cat;
  int S;
  double k;  // feature scale: sizes are given for S = 256
  Rng& cls;
  Rng& img;
  const PartEdit& edit;
  Canvas& out;
  void set(int x, int y, const Rgb& c) {
    size_t i = (size_t(y) * S + x) * 3;
    out.px[i] = c.r;
    out.px[i + 1] = c.g;
    out.px[i + 2] = c.b;
  }
  void fg(int x, int y, bool v) { out.fg[size_t(y) * S + x] = v ? 1 : 0; }
  void part(int x, int y, bool v) {
    if (v) out.part[size_t(y) * S + x] = 1;
  }
};

// Light direction for height-map shading: azimuth jittered +-10 degrees around the class's.
struct Light {
  double x, y, z;
};
Light make_light(double azimuth, double elevation) {
  return {std::cos(azimuth) * std::cos(elevation), std::sin(azimuth) * std::cos(elevation),
          std::sin(elevation)};
}
double lambert(double hx, double hy, const Light& L) {
  double n = std::sqrt(hx * hx + hy * hy + 1);
  return std::max(0.0, (-hx * L.x - hy * L.y + L.z) / n);
}

// ---------------------------------------------------------------- textures
void render_stripes(Ctx& c) {
  double period = std::max(3.0, c.cls.uniform(8, 24) * c.k);
  double theta0 = c.cls.uniform(0, kPi);
  double h = c.cls.uniform();
  Rgb c1 = hsv(h, c.cls.uniform(0.3, 0.7), c.cls.uniform(0.75, 0.95));
  Rgb c2 = hsv(h + c.cls.uniform(0.3, 0.7), c.cls.uniform(0.5, 0.9), c.cls.uniform(0.3, 0.6));
  double theta = theta0 + c.img.uniform(-2, 2) * kPi / 180, phi = c.img.uniform(0, 2 * kPi);
  Fbm f(c.img, c.S, 32 * c.k, 4), fine(c.img, c.S, std::max(2.0, 3 * c.k), 2);
  double ct = std::cos(theta), st = std::sin(theta);
  for (int y = 0; y < c.S; ++y)
    for (int x = 0; x < c.S; ++x) {
      double px = x + 0.5, py = y + 0.5;
      double v = 0.5 + 0.35 * std::sin(2 * kPi / period * (px * ct + py * st) + phi) +
                 0.05 * f.at(px, py);
      Rgb col = mix(c1, c2, clamp01(v));
      c.set(x, y, scale(col, 1 + 0.04 * fine.at(px, py)));
    }
}

void render_mesh(Ctx& c) {
  double p = c.cls.uniform(20, 28) * c.k, lw = std::max(1.5, 3 * c.k);
  double bg = c.cls.uniform(0.68, 0.8), metal = c.cls.uniform(0.22, 0.32);
  double ox = c.img.uniform(0, p), oy = c.img.uniform(0, p);
  Fbm warp(c.img, c.S, 40 * c.k, 3), bgn(c.img, c.S, 64 * c.k, 3);
  double amp = std::max(0.5, 0.5 * c.k * 2);
  for (int y = 0; y < c.S; ++y)
    for (int x = 0; x < c.S; ++x) {
      double px = x + 0.5, py = y + 0.5;
      double wx = px + ox + amp * warp.at(px, py), wy = py + oy + amp * warp.at(py, px);
      double tx = wx / p - std::floor(wx / p), ty = wy / p - std::floor(wy / p);
      double dx = std::fabs(tx - 0.5) * p, dy = std::fabs(ty - 0.5) * p;
      double cx = coverage(dx - lw / 2), cy = coverage(dy - lw / 2);
      // Round wires: brightest along the wire's centre line.
      double wire_x = metal + 0.25 * clamp01(1 - (dx / (lw / 2)) * (dx / (lw / 2)));
      double wire_y = metal + 0.25 * clamp01(1 - (dy / (lw / 2)) * (dy / (lw / 2)));
      double v = bg * (1 + 0.05 * bgn.at(px, py));
      v = v + cx * (wire_x - v);
      v = v + cy * (wire_y - v);
      c.set(x, y, gray(v));
    }
}

void render_wood(Ctx& c) {
  double ring = c.cls.uniform(10, 16) * c.k;
  Rgb light = hsv(c.cls.uniform(0.06, 0.09), c.cls.uniform(0.45, 0.6), c.cls.uniform(0.7, 0.85));
  Rgb dark = hsv(c.cls.uniform(0.04, 0.07), c.cls.uniform(0.6, 0.75), c.cls.uniform(0.3, 0.42));
  double off = c.img.uniform(0, ring);
  Fbm warp(c.img, c.S, 20 * c.k, 4), grain(c.img, c.S, std::max(2.0, 2.5 * c.k), 3);
  for (int y = 0; y < c.S; ++y)
    for (int x = 0; x < c.S; ++x) {
      double px = x + 0.5, py = y + 0.5;
      double w = (py + off + 6 * c.k * warp.at(px * 0.2, py)) / ring;
      double t = w - std::floor(w);
      double late = t * t * t * t;  // sawtooth: gradual earlywood, dark latewood line
      Rgb col = mix(light, dark, 0.75 * late);
      c.set(x, y, scale(col, 1 + 0.06 * grain.at(px * 0.15, py)));
    }
}

void render_leather(Ctx& c) {
  double cell = c.cls.uniform(14, 20) * c.k;
  bool black = c.cls.bernoulli(0.5);
  Rgb base = black ? Rgb{0.16, 0.15, 0.14} : hsv(c.cls.uniform(0.06, 0.1), 0.5, 0.7);
  double az = c.cls.uniform(0, 2 * kPi) + c.img.uniform(-10, 10) * kPi / 180;
  Light L = make_light(az, 50 * kPi / 180);
  Worley w(c.img, c.S, cell);
  Fbm f(c.img, c.S, 24 * c.k, 4);
  int S = c.S, E = S + 2;
  std::vector<double> h(size_t(E) * E);
  for (int y = 0; y < E; ++y)
    for (int x = 0; x < E; ++x) {
      double f1, f2, px = x - 0.5, py = y - 0.5;
      w.f12(px, py, f1, f2);
      h[size_t(y) * E + x] = (0.6 * std::min(1.0, (f2 - f1) / (0.5 * cell)) + 0.4 * f.at(px, py)) * 3 * c.k;
    }
  for (int y = 0; y < S; ++y)
    for (int x = 0; x < S; ++x) {
      size_t i = size_t(y + 1) * E + (x + 1);
      double hx = (h[i + 1] - h[i - 1]) * 0.5, hy = (h[i + E] - h[i - E]) * 0.5;
      double s = 0.45 + 0.7 * lambert(hx, hy, L);
      c.set(x, y, scale(base, s));
    }
}

void render_carpet(Ctx& c) {
  Rgb col = hsv(c.cls.uniform(), c.cls.uniform(0.6, 0.9), c.cls.uniform(0.5, 0.7));
  double wp = std::max(2.0, 4 * c.k);
  Fbm f(c.img, c.S, std::max(3.0, 6 * c.k), 3), low(c.img, c.S, 64 * c.k, 2);
  for (int y = 0; y < c.S; ++y)
    for (int x = 0; x < c.S; ++x) {
      double px = x + 0.5, py = y + 0.5;
      double weave = 0.8 + 0.2 * std::sin(2 * kPi * px / wp) * std::sin(2 * kPi * py / wp);
      double v = (0.75 + 0.35 * f.at(px, py) + 0.08 * low.at(px, py)) * weave;
      c.set(x, y, scale(col, v));
    }
}

void render_marble(Ctx& c) {
  double vf = 2 * kPi / (c.cls.uniform(40, 80) * c.k), ang = c.cls.uniform(0, kPi);
  Rgb base = hsv(c.cls.uniform(0.05, 0.15), c.cls.uniform(0.02, 0.1), c.cls.uniform(0.82, 0.92));
  Rgb vein = hsv(c.cls.uniform(0.3, 0.6), c.cls.uniform(0.05, 0.2), c.cls.uniform(0.3, 0.45));
  Rgb grout{0.55, 0.54, 0.52};
  double tile = 96 * c.k, gw = std::max(1.5, 3 * c.k);
  double ox = c.img.uniform(0, tile), oy = c.img.uniform(0, tile), ph = c.img.uniform(0, 2 * kPi);
  Fbm f(c.img, c.S, 128 * c.k, 4);
  double ca = std::cos(ang), sa = std::sin(ang);
  for (int y = 0; y < c.S; ++y)
    for (int x = 0; x < c.S; ++x) {
      double px = x + 0.5, py = y + 0.5;
      double u = px * ca + py * sa;
      double v = std::sin(u * vf + 4 * f.at(px, py) + ph);
      double a = 1 - std::fabs(v);
      a = a * a * a * a * a * a;  // veins where the sine crosses zero
      Rgb col = mix(base, vein, 0.7 * a);
      double gx = std::fmod(px + ox, tile), gy = std::fmod(py + oy, tile);
      double d = std::min(std::min(gx, tile - gx), std::min(gy, tile - gy));
      col = mix(col, grout, coverage(d - gw / 2));
      c.set(x, y, col);
    }
}

void render_woven(Ctx& c) {
  double cell = std::max(3.0, 8 * c.k);
  double h = c.cls.uniform();
  Rgb warp = hsv(h, c.cls.uniform(0.2, 0.5), c.cls.uniform(0.6, 0.8));
  Rgb weft = hsv(h + c.cls.uniform(-0.05, 0.05), c.cls.uniform(0.2, 0.5), c.cls.uniform(0.5, 0.7));
  Fbm fib(c.img, c.S, std::max(2.0, 2 * c.k), 2), low(c.img, c.S, 48 * c.k, 2);
  double ox = c.img.uniform(0, 2 * cell), oy = c.img.uniform(0, 2 * cell);
  for (int y = 0; y < c.S; ++y)
    for (int x = 0; x < c.S; ++x) {
      double px = x + 0.5 + ox, py = y + 0.5 + oy;
      int cx = int(std::floor(px / cell)), cy = int(std::floor(py / cell));
      bool vertical = ((cx + cy) & 1) == 0;
      double t = vertical ? px / cell - cx : py / cell - cy;
      double along = vertical ? py : px, across = vertical ? px : py;
      double round = std::sin(kPi * t);  // thread cross-section
      double v = 0.35 + 0.65 * round + 0.08 * fib.at(along * 0.3, across);
      Rgb col = scale(vertical ? warp : weft, v * (1 + 0.05 * low.at(x + 0.5, y + 0.5)));
      c.set(x, y, col);
    }
}

// ---------------------------------------------------------------- objects
void render_disc(Ctx& c) {
  double S = c.S;
  Rgb metal = hsv(c.cls.uniform(), c.cls.uniform(0.1, 0.4), c.cls.uniform(0.6, 0.8));
  Rgb logo_col = hsv(c.cls.uniform(), c.cls.uniform(0.5, 0.8), c.cls.uniform(0.3, 0.5));
  double ringf = 2 * kPi / (c.cls.uniform(6, 10) * c.k);
  double cx = S / 2 + c.img.uniform(-0.02, 0.02) * S, cy = S / 2 + c.img.uniform(-0.02, 0.02) * S;
  double R = 0.38 * S * c.img.uniform(0.98, 1.02);
  Fbm bgn(c.img, c.S, 48 * c.k, 3);
  double lr = 0.09 * S;
  double lx = cx, ly = cy;
  if (c.edit.mode == PartEdit::Moved) { lx += c.edit.dx; ly += c.edit.dy; }
  for (int y = 0; y < c.S; ++y)
    for (int x = 0; x < c.S; ++x) {
      double px = x + 0.5, py = y + 0.5;
      double dx = px - cx, dy = py - cy, r = std::sqrt(dx * dx + dy * dy);
      Rgb bg = gray(0.1 + 0.03 * bgn.at(px, py));
      double a = coverage(r - R);
      double v = 0.75 + 0.1 * std::sin(r * ringf) + 0.2 * (1 - r / R) +
                 0.35 * std::exp(-((R - r) / (3 * c.k)) * ((R - r) / (3 * c.k)));
      Rgb col = scale(metal, v);
      double la = c.edit.mode == PartEdit::Missing ? 0.0 : coverage(sdf_circle(px, py, lx, ly, lr));
      col = mix(col, logo_col, la);
      c.set(x, y, mix(bg, col, a));
      c.fg(x, y, a >= 0.5);
      if (c.edit.mode != PartEdit::None)
        c.part(x, y, sdf_circle(px, py, cx, cy, lr) < 1 || sdf_circle(px, py, lx, ly, lr) < 1);
    }
}

void render_screw(Ctx& c) {
  double S = c.S;
  double ang = c.img.uniform(0, 2 * kPi);
  double cx = S / 2 + c.img.uniform(-0.03, 0.03) * S, cy = S / 2 + c.img.uniform(-0.03, 0.03) * S;
  double slot_ang = c.img.uniform(0, kPi);
  double pitch = std::max(2.5, 0.03 * S);
  Fbm bgn(c.img, c.S, 64 * c.k, 3);
  double L = 0.3 * S, rs = 0.04 * S, Rh = 0.09 * S;
  double ca = std::cos(ang), sa = std::sin(ang);
  double hx = cx - L * ca, hy = cy - L * sa;  // head centre
  double sl = slot_ang, sdx = 0, sdy = 0;
  if (c.edit.mode == PartEdit::Moved) { sl += c.edit.dtheta; sdx = c.edit.dx; sdy = c.edit.dy; }
  const double t30 = std::tan(kPi / 6);
  for (int y = 0; y < c.S; ++y)
    for (int x = 0; x < c.S; ++x) {
      double px = x + 0.5, py = y + 0.5;
      double dx = px - cx, dy = py - cy;
      double lx = ca * dx + sa * dy, ly = -sa * dx + ca * dy;  // along / across the shaft
      Rgb bg = gray(0.8 + 0.03 * bgn.at(px, py));
      // Shaft: radius tapers to a point over the last 25 % of its length.
      double taper = lx > 0.55 * L ? std::max(0.15, 1 - (lx - 0.55 * L) / (0.45 * L)) : 1.0;
      double r = rs * taper;
      double sd = std::max(std::fabs(ly) - r, std::max(-L - lx, lx - L));
      double shaft_a = coverage(sd);
      double ph = (lx + ly * t30) / pitch;
      double saw = ph - std::floor(ph);
      double cyl = std::sqrt(clamp01(1 - (ly / r) * (ly / r)));
      double shaft_v = 0.25 + 0.3 * saw * cyl + 0.25 * cyl;
      double hd = sdf_circle(px, py, hx, hy, Rh);
      double head_a = coverage(hd);
      double hr = std::sqrt((px - hx) * (px - hx) + (py - hy) * (py - hy));
      double head_v = 0.45 + 0.3 * (1 - hr / Rh);
      double slot_a = 0;
      if (c.edit.mode != PartEdit::Missing)
        slot_a = coverage(sdf_box(px, py, hx + sdx, hy + sdy, 0.75 * Rh, 0.13 * Rh, sl));
      head_v = head_v + slot_a * (0.12 - head_v);
      double v = bg.r;
      v = v + shaft_a * (shaft_v - v);
      v = v + head_a * (head_v - v);
      c.set(x, y, gray(v));
      c.fg(x, y, std::max(shaft_a, head_a) >= 0.5);
      if (c.edit.mode != PartEdit::None)
        c.part(x, y, sdf_box(px, py, hx, hy, 0.75 * Rh, 0.13 * Rh, slot_ang) < 1 ||
                         sdf_box(px, py, hx + sdx, hy + sdy, 0.75 * Rh, 0.13 * Rh, sl) < 1);
    }
}

void render_pill(Ctx& c) {
  double S = c.S;
  Rgb body = hsv(c.cls.uniform(0.08, 0.14), c.cls.uniform(0.03, 0.1), c.cls.uniform(0.88, 0.95));
  Rgb speck = hsv(c.cls.uniform(-0.02, 0.03), c.cls.uniform(0.6, 0.8), c.cls.uniform(0.6, 0.75));
  double ang = c.img.uniform(-2, 2) * kPi / 180;
  double cx = S / 2 + c.img.uniform(-0.01, 0.01) * S, cy = S / 2 + c.img.uniform(-0.01, 0.01) * S;
  double L = 0.35 * S, r = 0.16 * S;
  double ax = cx - (L - r) * std::cos(ang), ay = cy - (L - r) * std::sin(ang);
  double bx = cx + (L - r) * std::cos(ang), by = cy + (L - r) * std::sin(ang);
  int n = int(c.img.int_in(10, 20));
  std::vector<double> sp;  // x, y, radius
  for (int i = 0; i < n; ++i) {
    double t = c.img.uniform(-1, 1), u = c.img.uniform(-0.75, 0.75);
    double sx = cx + t * (L - r * 0.6) * std::cos(ang) - u * r * std::sin(ang);
    double sy = cy + t * (L - r * 0.6) * std::sin(ang) + u * r * std::cos(ang);
    sp.insert(sp.end(), {sx, sy, std::max(0.8, c.img.uniform(0.006, 0.011) * S)});
  }
  Fbm bgn(c.img, c.S, 48 * c.k, 3), surf(c.img, c.S, std::max(2.0, 4 * c.k), 2);
  for (int y = 0; y < c.S; ++y)
    for (int x = 0; x < c.S; ++x) {
      double px = x + 0.5, py = y + 0.5;
      Rgb bg = {0.2 + 0.03 * bgn.at(px, py), 0.17 + 0.03 * bgn.at(px, py), 0.15};
      double d = dist_segment(px, py, ax, ay, bx, by);
      double a = coverage(d - r);
      double dome = std::sqrt(clamp01(1 - (d / r) * (d / r)));
      Rgb col = scale(body, 0.72 + 0.28 * dome + 0.02 * surf.at(px, py));
      for (size_t i = 0; i < sp.size(); i += 3)
        col = mix(col, speck, coverage(sdf_circle(px, py, sp[i], sp[i + 1], sp[i + 2])));
      c.set(x, y, mix(bg, col, a));
      c.fg(x, y, a >= 0.5);
    }
}

void render_hexnut(Ctx& c) {
  double S = c.S;
  Rgb metal = hsv(c.cls.uniform(0.05, 0.12), c.cls.uniform(0.05, 0.25), c.cls.uniform(0.65, 0.8));
  double ang = c.img.uniform(0, kPi / 3);
  double cx = S / 2 + c.img.uniform(-0.02, 0.02) * S, cy = S / 2 + c.img.uniform(-0.02, 0.02) * S;
  double Rin = 0.3 * S, Rh = 0.13 * S, Rc = 0.31 * S;  // hexagon inradius, hole, chamfer circle
  Fbm bgn(c.img, c.S, 48 * c.k, 3);
  double brushf = 2 * kPi / std::max(2.0, 3 * c.k);
  double hx = cx, hy = cy;
  if (c.edit.mode == PartEdit::Moved) { hx += c.edit.dx; hy += c.edit.dy; }
  // Missing part: one corner broken off (a disc around vertex `which`).
  double vr = Rin / std::cos(kPi / 6);
  double va = ang + kPi / 6 + c.edit.which * kPi / 3;
  double vx = cx + vr * std::cos(va), vy = cy + vr * std::sin(va), cut = 0.14 * S;
  for (int y = 0; y < c.S; ++y)
    for (int x = 0; x < c.S; ++x) {
      double px = x + 0.5, py = y + 0.5;
      Rgb bg = gray(0.1 + 0.03 * bgn.at(px, py));
      double hex = sdf_hexagon(px, py, cx, cy, Rin, ang);
      if (c.edit.mode == PartEdit::Missing) hex = std::max(hex, -sdf_circle(px, py, vx, vy, cut));
      double hole = sdf_circle(px, py, hx, hy, Rh);
      double body = std::max(hex, -hole);
      double a = coverage(body);
      double r = std::sqrt((px - cx) * (px - cx) + (py - cy) * (py - cy));
      double chamfer = smoothstep(Rc - 2 * c.k, Rc + 2 * c.k, r);
      // Facets: light from the top-left catches faces by their direction.
      double fi = std::floor((std::atan2(py - cy, px - cx) - ang) / (kPi / 3) + 0.5);
      double facet = 0.5 + 0.5 * std::cos(ang + fi * (kPi / 3) + kPi * 0.75);
      double vflat = 0.7 + 0.05 * std::sin(r * brushf);
      double v = vflat + chamfer * (0.45 + 0.4 * facet - vflat);
      double hr = std::sqrt((px - hx) * (px - hx) + (py - hy) * (py - hy));
      v *= 1 - 0.35 * std::exp(-((hr - Rh) / (3 * c.k)) * ((hr - Rh) / (3 * c.k)));  // hole edge
      c.set(x, y, mix(bg, scale(metal, v), a));
      c.fg(x, y, a >= 0.5);
      if (c.edit.mode == PartEdit::Moved)
        c.part(x, y, sdf_circle(px, py, cx, cy, Rh) < 1 || hole < 1 + 3 * c.k);
      if (c.edit.mode == PartEdit::Missing)
        c.part(x, y, sdf_circle(px, py, vx, vy, cut) < 1 && sdf_hexagon(px, py, cx, cy, Rin, ang) < 1);
    }
}

void render_pcb(Ctx& c) {
  // Layout from the class stream: fixed per class, like a real board design.
  double S = c.S;
  struct Chip { double x, y, hw, hh; int pins; };
  std::vector<Chip> chips;
  int nchips = int(c.cls.int_in(2, 4));
  for (int i = 0; i < nchips; ++i) {
    Chip ch;
    ch.hw = c.cls.uniform(0.08, 0.14) * S;
    ch.hh = c.cls.uniform(0.05, 0.09) * S;
    ch.x = c.cls.uniform(0.2, 0.8) * S;
    ch.y = (0.15 + 0.7 * (i + 0.5) / nchips) * S;
    ch.pins = int(c.cls.int_in(3, 7));
    chips.push_back(ch);
  }
  struct Seg { double ax, ay, bx, by; };
  std::vector<Seg> traces;
  std::vector<double> pads;
  int ntr = int(c.cls.int_in(8, 14));
  for (int i = 0; i < ntr; ++i) {
    double ax = c.cls.uniform(0.05, 0.95) * S, ay = c.cls.uniform(0.05, 0.95) * S;
    double bx = c.cls.uniform(0.05, 0.95) * S, by = c.cls.uniform(0.05, 0.95) * S;
    traces.push_back({ax, ay, bx, ay});  // Manhattan routing: horizontal then vertical
    traces.push_back({bx, ay, bx, by});
    pads.insert(pads.end(), {ax, ay, bx, by});
  }
  Rgb board = hsv(c.cls.uniform(0.3, 0.38), 0.65, 0.42), trace = hsv(0.33, 0.6, 0.6);
  Rgb gold{0.82, 0.68, 0.32}, chip{0.1, 0.1, 0.11}, pin{0.72, 0.72, 0.74};
  double jx = c.img.uniform(-1, 1), jy = c.img.uniform(-1, 1);
  Fbm bgn(c.img, c.S, 32 * c.k, 3);
  double tw = std::max(1.0, 1.5 * c.k), pr = std::max(1.5, 3 * c.k), pw = std::max(1.0, 2 * c.k);
  for (int y = 0; y < c.S; ++y)
    for (int x = 0; x < c.S; ++x) {
      double px = x + 0.5 - jx, py = y + 0.5 - jy;
      Rgb col = scale(board, 1 + 0.05 * bgn.at(px, py));
      double dt = 1e9;
      for (const auto& s : traces) dt = std::min(dt, dist_segment(px, py, s.ax, s.ay, s.bx, s.by));
      col = mix(col, trace, coverage(dt - tw));
      for (size_t i = 0; i < pads.size(); i += 2)
        col = mix(col, gold, coverage(sdf_circle(px, py, pads[i], pads[i + 1], pr)));
      for (size_t i = 0; i < chips.size(); ++i) {
        const Chip& ch = chips[i];
        bool missing = c.edit.mode == PartEdit::Missing && int(i) == c.edit.which;
        bool moved = c.edit.mode == PartEdit::Moved && int(i) == c.edit.which;
        double ox = moved ? c.edit.dx : 0, oy = moved ? c.edit.dy : 0, rot = moved ? c.edit.dtheta : 0;
        auto draw = [&](double ccx, double ccy, double a) {
          double cs = std::cos(a), sn = std::sin(a);
          double dx = px - ccx, dy = py - ccy, lx = cs * dx + sn * dy, ly = -sn * dx + cs * dy;
          for (int p = 0; p < ch.pins; ++p) {
            double pxl = -ch.hw + (p + 0.5) * 2 * ch.hw / ch.pins;
            double d = sdf_box(lx, ly, pxl, 0, pw, ch.hh + 2.5 * pw, 0);
            col = mix(col, pin, coverage(d));
          }
          col = mix(col, chip, coverage(sdf_box(lx, ly, 0, 0, ch.hw, ch.hh, 0)));
          col = mix(col, gray(0.35), coverage(sdf_circle(lx, ly, -ch.hw * 0.75, -ch.hh * 0.5, pw)));
        };
        if (!missing) draw(ch.x + ox, ch.y + oy, rot);
        if (missing || moved) {
          auto foot = [&](double ccx, double ccy, double a) {
            double cs = std::cos(a), sn = std::sin(a);
            double dx = px - ccx, dy = py - ccy, lx = cs * dx + sn * dy, ly = -sn * dx + cs * dy;
            return sdf_box(lx, ly, 0, 0, ch.hw + pw, ch.hh + 3.5 * pw, 0) < 1;
          };
          c.part(x, y, foot(ch.x, ch.y, 0) || (moved && foot(ch.x + ox, ch.y + oy, rot)));
        }
      }
      c.set(x, y, col);
      c.fg(x, y, true);
    }
}

// ---------------------------------------------------------------- medical-like (grayscale)
void render_brain(Ctx& c) {
  double S = c.S;
  double cx = S / 2 + c.img.uniform(-0.02, 0.02) * S, cy = S / 2 + c.img.uniform(-0.02, 0.02) * S;
  double rx = 0.38 * S * c.img.uniform(0.95, 1.05), ry = 0.45 * S * c.img.uniform(0.95, 1.05);
  double ang = c.img.uniform(-5, 5) * kPi / 180;
  double skull = 0.035 * S;
  Fbm gyri(c.img, c.S, 36 * c.k, 4), tex(c.img, c.S, 8 * c.k, 2);
  double vent = c.img.uniform(0.8, 1.2);
  double ca = std::cos(ang), sa = std::sin(ang);
  for (int y = 0; y < c.S; ++y)
    for (int x = 0; x < c.S; ++x) {
      double px = x + 0.5, py = y + 0.5;
      double outer = sdf_ellipse(px, py, cx, cy, rx, ry, ang);
      double inner = sdf_ellipse(px, py, cx, cy, rx - skull, ry - skull, ang);
      double brain_d = sdf_ellipse(px, py, cx, cy, rx - 1.4 * skull, ry - 1.4 * skull, ang);
      double v = 0.02;
      v += coverage(outer) * (0.85 - v);            // skull
      v += coverage(inner) * (0.08 - v);            // CSF gap
      double g = gyri.at(px, py);
      double cortex = 0.38 + 0.22 * smoothstep(0.0, 0.25, std::fabs(g));  // sulci dark, gyri bright
      double dx = px - cx, dy = py - cy, lx = ca * dx + sa * dy, ly = -sa * dx + ca * dy;
      double depth = std::sqrt((lx / rx) * (lx / rx) + (ly / ry) * (ly / ry));
      double tissue = cortex + 0.12 * smoothstep(0.75, 0.3, depth) + 0.03 * tex.at(px, py);
      // Ventricles: a mirrored pair of tilted ellipses around the midline.
      double vl = sdf_ellipse(lx, ly, -0.05 * S * vent, -0.03 * S, 0.028 * S * vent, 0.11 * S, 0.35);
      double vr = sdf_ellipse(lx, ly, 0.05 * S * vent, -0.03 * S, 0.028 * S * vent, 0.11 * S, -0.35);
      tissue += coverage(std::min(vl, vr)) * (0.1 - tissue);
      double ba = coverage(brain_d);
      v += ba * (tissue - v);
      c.set(x, y, gray(v));
      c.fg(x, y, brain_d < -2);
    }
}

void render_chest(Ctx& c) {
  double S = c.S;
  double cx = S / 2 + c.img.uniform(-0.02, 0.02) * S, cy = S / 2 + c.img.uniform(-0.02, 0.02) * S;
  double brx = 0.45 * S * c.img.uniform(0.96, 1.04), bry = 0.34 * S * c.img.uniform(0.96, 1.04);
  double lrx = 0.15 * S * c.img.uniform(0.95, 1.05), lry = 0.22 * S * c.img.uniform(0.95, 1.05);
  Worley vessels(c.img, c.S, 10 * c.k);
  Fbm tex(c.img, c.S, 24 * c.k, 3), fine(c.img, c.S, std::max(2.0, 4 * c.k), 2);
  double fat = 0.03 * S;
  for (int y = 0; y < c.S; ++y)
    for (int x = 0; x < c.S; ++x) {
      double px = x + 0.5, py = y + 0.5;
      double v = 0.02;
      double body = sdf_ellipse(px, py, cx, cy, brx, bry, 0);
      double muscle = sdf_ellipse(px, py, cx, cy, brx - fat, bry - fat, 0);
      v += coverage(body) * (0.62 + 0.03 * fine.at(px, py) - v);  // subcutaneous fat
      v += coverage(muscle) * (0.45 + 0.04 * tex.at(px, py) - v);
      double ll = sdf_ellipse(px, py, cx - 0.2 * S, cy - 0.02 * S, lrx, lry, 0.1);
      double lr = sdf_ellipse(px, py, cx + 0.2 * S, cy - 0.02 * S, lrx, lry, -0.1);
      double lung = std::min(ll, lr);
      double f1, f2;
      vessels.f12(px, py, f1, f2);
      double lv = 0.08 + 0.03 * tex.at(px, py) + 0.25 * coverage(f1 - std::max(0.7, 1.2 * c.k));
      v += coverage(lung) * (lv - v);
      double heart = sdf_ellipse(px, py, cx + 0.03 * S, cy + 0.06 * S, 0.11 * S, 0.1 * S, 0.3);
      v += coverage(heart) * (0.52 + 0.02 * tex.at(px, py) - v);
      double spine = sdf_circle(px, py, cx, cy + 0.25 * S, 0.05 * S);
      double canal = sdf_circle(px, py, cx, cy + 0.25 * S, 0.018 * S);
      v += coverage(spine) * (0.9 - v);
      v += coverage(canal) * (0.35 - v);
      c.set(x, y, gray(v));
      c.fg(x, y, lung < -2);
    }
}

void render_cells(Ctx& c) {
  double cell = c.cls.uniform(13, 16) * c.k;
  Worley w(c.img, c.S, cell);
  Fbm bg(c.img, c.S, 32 * c.k, 3), nt(c.img, c.S, std::max(2.0, 3 * c.k), 2), shape(c.img, c.S, 10 * c.k, 2);
  for (int y = 0; y < c.S; ++y)
    for (int x = 0; x < c.S; ++x) {
      double px = x + 0.5, py = y + 0.5;
      double f1, f2;
      w.f12(px, py, f1, f2);
      double rn = cell * (0.3 + 0.05 * shape.at(px, py));
      double v = 0.82 + 0.05 * bg.at(px, py);
      v -= 0.12 * smoothstep(0.25, 0.0, (f2 - f1) / cell);  // faint membranes
      double nucleus = coverage(f1 - rn);
      v += nucleus * (0.3 + 0.08 * nt.at(px, py) - v);
      c.set(x, y, gray(v));
      c.fg(x, y, true);
    }
}

}  // namespace normal_impl

Canvas render_normal(const Category& cat, uint64_t seed, const std::string& key, int S,
                     const PartEdit& edit) {
  using namespace normal_impl;
  Canvas out;
  out.S = S;
  out.px.assign(size_t(S) * S * 3, 0.0);
  out.fg.assign(size_t(S) * S, 0);
  if (edit.mode != PartEdit::None) out.part.assign(size_t(S) * S, 0);
  Rng cls = make_rng(seed, "class|" + cat.name);
  Rng img = make_rng(seed, key + "|image");
  // Nuisances first, so every category draws them the same way.
  double bright = 1 + img.uniform(-0.08, 0.08);
  double gamp = img.uniform(0, 0.1), gdir = img.uniform(0, 2 * kPi);
  double sigma = (cat.kind == Kind::Medical ? img.uniform(2, 4) : img.uniform(1, 3)) / 255.0;
  Ctx c{cat, S, S / 256.0, cls, img, edit, out};
  const std::string& n = cat.name;
  if (n == "stripes") render_stripes(c);
  else if (n == "mesh") render_mesh(c);
  else if (n == "wood") render_wood(c);
  else if (n == "leather") render_leather(c);
  else if (n == "carpet") render_carpet(c);
  else if (n == "marble") render_marble(c);
  else if (n == "woven") render_woven(c);
  else if (n == "disc") render_disc(c);
  else if (n == "screw") render_screw(c);
  else if (n == "pill") render_pill(c);
  else if (n == "hexnut") render_hexnut(c);
  else if (n == "pcb") render_pcb(c);
  else if (n == "brain") render_brain(c);
  else if (n == "chest") render_chest(c);
  else if (n == "cells") render_cells(c);
  else TC_USAGE_ERROR("no renderer for category '{}'", n);
  if (cat.kind == Kind::Texture) std::fill(out.fg.begin(), out.fg.end(), uint8_t{1});
  // Illumination gradient, brightness, sensor noise (pixel-local, so edits stay local).
  Rng noise = make_rng(seed, key + "|noise");
  double gx = std::cos(gdir), gy = std::sin(gdir);
  for (int y = 0; y < S; ++y)
    for (int x = 0; x < S; ++x) {
      double illum = bright * (1 + gamp * ((x + 0.5) / S - 0.5) * gx * 2 + gamp * ((y + 0.5) / S - 0.5) * gy * 2);
      size_t i = (size_t(y) * S + x) * 3;
      if (cat.gray) {
        double v = clamp01(out.px[i] * illum + sigma * noise.normal());
        out.px[i] = out.px[i + 1] = out.px[i + 2] = v;
      } else {
        for (int ch = 0; ch < 3; ++ch) out.px[i + ch] = clamp01(out.px[i + ch] * illum + sigma * noise.normal());
      }
    }
  return out;
}

}  // namespace detail
}  // namespace tc::data::synth

#pragma GCC pop_options
