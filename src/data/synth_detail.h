// Building blocks of the synthetic benchmark (internal; exposed for the tests): noise fields,
// rasterisation helpers, Poisson blending, the category renderers and the defect operators.
// All arithmetic is in double and every 8-bit value is produced by one explicit rounding rule
// (to_u8), so outputs depend only on IEEE double arithmetic and glibc's libm.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "data/synth.h"
#include "util/rng.h"

namespace tc::data::synth::detail {

// Stream id for a key such as "synth-industrial-a|stripes|12|normal": the first 8 bytes of its
// SHA-256, big-endian. Keys (not counters) name streams, so adding a class or a defect type
// never shifts the random numbers of another one.
uint64_t stream_id(const std::string& key);
inline Rng make_rng(uint64_t seed, const std::string& key) { return Rng(seed, stream_id(key)); }

// Gamma(k, theta) for integer shape k: theta * (sum of k standard exponentials).
double gamma_int(Rng& r, int k, double theta);

// 8-bit value of an intensity in [0, 1]: floor(v * 255 + 0.5), clamped.
uint8_t to_u8(double v);
inline double clamp01(double v) { return v < 0 ? 0 : (v > 1 ? 1 : v); }
inline double smoothstep(double e0, double e1, double x) {
  double t = clamp01((x - e0) / (e1 - e0));
  return t * t * (3 - 2 * t);
}

// Perlin gradient noise as in DRAEM's rand_perlin_2d: unit gradients with angles U[0, 2pi) on
// an (nx+1) x (ny+1) lattice; eval(u, v) in lattice units (u along rows), quintic fade,
// scaled by sqrt(2). Coordinates outside [0, nx] x [0, ny] are clamped to the lattice.
class Perlin {
 public:
  Perlin() = default;
  Perlin(Rng& r, int nx, int ny);
  double eval(double u, double v) const;
  int nx() const { return nx_; }
  int ny() const { return ny_; }
  // Lattice gradient (for tests).
  double gx(int a, int b) const { return g_[2 * (size_t(a) * (ny_ + 1) + b)]; }
  double gy(int a, int b) const { return g_[2 * (size_t(a) * (ny_ + 1) + b) + 1]; }

 private:
  int nx_ = 0, ny_ = 0;
  std::vector<double> g_;
};

// DRAEM's perlin(H, W, (rx, ry)): value at pixel row i, column j is eval(i*rx/H, j*ry/W).
std::vector<double> perlin_field(Rng& r, int H, int W, int rx, int ry);

// Fractal Brownian motion over an S x S image (pixel coordinates, with a margin of S/2 on each
// side for domain warping): sum over octaves o of p^o * perlin(x * 2^o / period).
class Fbm {
 public:
  Fbm() = default;
  Fbm(Rng& r, int S, double period, int octaves, double persistence = 0.5);
  double at(double x, double y) const;

 private:
  std::vector<Perlin> oct_;
  double period_ = 1, persistence_ = 0.5, margin_ = 0;
};

// Worley (cellular) noise: one jittered feature point per square cell of `cell` pixels;
// f1/f2 are the distances (pixels) to the nearest and second-nearest point.
class Worley {
 public:
  Worley() = default;
  Worley(Rng& r, int S, double cell);
  void f12(double x, double y, double& f1, double& f2) const;

 private:
  int n_ = 0;
  double cell_ = 1;
  std::vector<double> pts_;  // per cell (row-major), x and y in pixels
};

// Distance from point p to segment ab.
double dist_segment(double px, double py, double ax, double ay, double bx, double by);
// Signed distances (negative inside).
double sdf_circle(double px, double py, double cx, double cy, double r);
double sdf_ellipse(double px, double py, double cx, double cy, double rx, double ry, double angle);
double sdf_box(double px, double py, double cx, double cy, double hx, double hy, double angle);
double sdf_stadium(double px, double py, double ax, double ay, double bx, double by, double r);
double sdf_hexagon(double px, double py, double cx, double cy, double r_in, double angle);
// Anti-aliased coverage of a pixel whose centre is at signed distance d (1-px ramp).
inline double coverage(double d) { return clamp01(0.5 - d); }

// 3x3 binary morphology; pixels outside the image count as 0 for dilation and 1 for erosion.
std::vector<uint8_t> dilate3(const std::vector<uint8_t>& m, int W, int H);
std::vector<uint8_t> erode3(const std::vector<uint8_t>& m, int W, int H);

void rgb_to_hsv(double r, double g, double b, double& h, double& s, double& v);  // h in [0,1)
void hsv_to_rgb(double h, double s, double v, double& r, double& g, double& b);

// Poisson image editing (Perez et al.) on the pixels of `region` (W x H, C channels,
// interleaved): unknowns are the region's interior (region pixels whose 4 neighbours are all in
// the region); the region's border keeps `dst` (Dirichlet). Guidance v_pq = src_p - src_q
// (normal clone) or, when mixed, the larger in magnitude of that and dst_p - dst_q. Solved by
// SOR (fixed sweep count, raster order: deterministic). Returns dst with the interior replaced.
// `region` must not touch the image border.
std::vector<double> poisson_blend(const std::vector<double>& dst, const std::vector<double>& src,
                                  const std::vector<uint8_t>& region, int W, int H, int C,
                                  bool mixed, int sweeps = 600, double omega = 1.9);

// A rendered image in [0, 1], RGB interleaved, with the foreground (object / organ) mask.
struct Canvas {
  int S = 0;
  std::vector<double> px;     // S*S*3
  std::vector<uint8_t> fg;    // S*S: 1 where the object (or, for textures, everything) is
  std::vector<uint8_t> part;  // S*S: footprint of the edited part (missing/misplaced), else empty
};

// A part edit for missing/misplaced-part defects; parameters are drawn by the defect's stream.
struct PartEdit {
  enum Mode { None, Missing, Moved } mode = None;
  int which = 0;                    // part index (category specific)
  double dx = 0, dy = 0, dtheta = 0;  // displacement (px) and rotation (rad) when moved
};

// Renders the normal image `key` (a stream key) of a category at size S; the class constants
// come from (seed, category) alone. With an edit, the same image with one part missing/moved.
Canvas render_normal(const Category& cat, uint64_t seed, const std::string& key, int S,
                     const PartEdit& edit = {});
// The 8-bit image of a canvas.
std::vector<uint8_t> quantize(const Canvas& c);

// Which defect types exist, and which apply to which kind of category.
bool defect_applies(const std::string& defect, const Category& cat);
const std::vector<std::string>& all_defects();

struct DefectResult {
  std::vector<uint8_t> image;  // S*S*3
  std::vector<uint8_t> mask;   // S*S, 0/1
  int attempts = 0;
};
// Applies a defect to the normal image of (cat, key): retries with fresh streams until the
// mask has at least 16 pixels (fewer below S = 128) and at most 25 % of the image (objects and
// organs: of the foreground; no upper bound for part edits, whose footprint is fixed by
// construction). Outside the mask the image equals `normal` exactly.
DefectResult apply_defect(const std::string& defect, const Category& cat, uint64_t seed,
                          const std::string& key, const Canvas& normal_canvas,
                          const std::vector<uint8_t>& normal);

// Makes items [0, n) with `threads` threads, in blocks of 4 * threads (item i = make(i)), and
// hands them to `take` in index order: items are pure functions of their index, so the output
// never depends on the thread count. The first error of a block is rethrown.
template <typename Make, typename Take>
void generate_in_order(int64_t n, int threads, Make make, Take take) {
  const int T = std::max(1, threads);
  for (int64_t b0 = 0; b0 < n; b0 += 4 * T) {
    const int64_t b1 = std::min(n, b0 + 4 * T);
    std::vector<decltype(make(int64_t{0}))> block(size_t(b1 - b0));
    std::vector<std::exception_ptr> errs(size_t(T), nullptr);
    auto work = [&](int t) {
      try {
        for (int64_t i = b0 + t; i < b1; i += T) block[size_t(i - b0)] = make(i);
      } catch (...) {
        errs[size_t(t)] = std::current_exception();
      }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < T; ++t) pool.emplace_back(work, t);
    work(0);
    for (auto& th : pool) th.join();
    for (auto& e : errs)
      if (e) std::rethrow_exception(e);
    for (auto& item : block) take(item);
  }
}

}  // namespace tc::data::synth::detail
