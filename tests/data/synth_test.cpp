// Synthetic benchmark: building blocks against independent computations (Perlin by its
// formula, Poisson against a dense direct solve and a harmonic identity, SHA-256 stream ids
// against the FIPS test vector, gamma moments), the sample invariants (exact masks, outside
// the mask nothing changed, masks non-empty exactly for anomalous images, protocol split),
// determinism (order independence, a pinned hash of the decoded arrays) and the files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "data/dataset.h"
#include "data/image.h"
#include "data/synth.h"
#include "data/synth_detail.h"
#include "util/check.h"
#include "util/hash.h"

namespace {

namespace fs = std::filesystem;
namespace sy = tc::data::synth;
namespace sd = tc::data::synth::detail;

std::string synth_tmp() {
  static std::string dir = [] {
    auto d = fs::temp_directory_path() / ("tc_synth_test_" + std::to_string(getpid()));
    fs::create_directories(d);
    return d.string();
  }();
  return dir;
}

// ------------------------------------------------------------------ building blocks
TEST(SynthBlocks, StreamIdIsSha256Prefix) {
  // FIPS 180-2 test vector: SHA-256("abc") = ba7816bf 8f01cfea ...
  EXPECT_EQ(sd::stream_id("abc"), 0xba7816bf8f01cfeaULL);
}

TEST(SynthBlocks, PerlinMatchesFormula) {
  tc::Rng r(7, 1);
  sd::Perlin p(r, 4, 3);
  // At lattice points every corner term vanishes.
  for (int a = 0; a <= 4; ++a)
    for (int b = 0; b <= 3; ++b) EXPECT_NEAR(p.eval(a, b), 0.0, 1e-12);
  // Gradients are unit vectors.
  for (int a = 0; a <= 4; ++a)
    for (int b = 0; b <= 3; ++b) EXPECT_NEAR(std::hypot(p.gx(a, b), p.gy(a, b)), 1.0, 1e-12);
  // DRAEM's formula written out independently: corners, quintic fade, sqrt(2) scale.
  tc::Rng q(9, 2);
  for (int t = 0; t < 500; ++t) {
    double u = q.uniform(0, 4), v = q.uniform(0, 3);
    int a = int(u), b = int(v);
    double fx = u - a, fy = v - b;
    auto fade = [](double x) { return 6 * std::pow(x, 5) - 15 * std::pow(x, 4) + 10 * std::pow(x, 3); };
    double n00 = p.gx(a, b) * fx + p.gy(a, b) * fy;
    double n10 = p.gx(a + 1, b) * (fx - 1) + p.gy(a + 1, b) * fy;
    double n01 = p.gx(a, b + 1) * fx + p.gy(a, b + 1) * (fy - 1);
    double n11 = p.gx(a + 1, b + 1) * (fx - 1) + p.gy(a + 1, b + 1) * (fy - 1);
    double tx = fade(fx), ty = fade(fy);
    double top = n00 * (1 - tx) + n10 * tx, bot = n01 * (1 - tx) + n11 * tx;
    EXPECT_NEAR(p.eval(u, v), std::sqrt(2.0) * (top * (1 - ty) + bot * ty), 1e-12);
  }
}

TEST(SynthBlocks, PerlinFieldGridAndRange) {
  tc::Rng r(3, 4);
  auto f = sd::perlin_field(r, 32, 32, 4, 8);
  ASSERT_EQ(f.size(), 32u * 32u);
  // Pixel (i, j) with i*4/32 and j*8/32 integral lies on the lattice.
  EXPECT_NEAR(f[8 * 32 + 4], 0.0, 1e-12);
  EXPECT_NEAR(f[0], 0.0, 1e-12);
  double mx = 0;
  for (double v : f) mx = std::max(mx, std::fabs(v));
  EXPECT_LE(mx, 1.0 + 1e-9);  // |noise| <= sqrt(2) * (sqrt(2)/2)
  EXPECT_GT(mx, 0.2);
}

TEST(SynthBlocks, GammaMoments) {
  tc::Rng r(11, 0);
  const int n = 200000;
  double s = 0, s2 = 0;
  for (int i = 0; i < n; ++i) {
    double g = sd::gamma_int(r, 2, 0.05);
    s += g;
    s2 += g * g;
  }
  double mean = s / n, var = s2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.1, 0.001);     // k * theta
  EXPECT_NEAR(var, 0.005, 0.0002);   // k * theta^2
}

TEST(SynthBlocks, RoundingRule) {
  EXPECT_EQ(sd::to_u8(0.0), 0);
  EXPECT_EQ(sd::to_u8(1.0), 255);
  EXPECT_EQ(sd::to_u8(-0.3), 0);
  EXPECT_EQ(sd::to_u8(7.0), 255);
  EXPECT_EQ(sd::to_u8(0.5 / 255), 1);          // ties round up
  EXPECT_EQ(sd::to_u8(127.49 / 255), 127);
  EXPECT_EQ(sd::to_u8(std::nan("")), 0);
}

TEST(SynthBlocks, HsvRoundTrip) {
  tc::Rng r(5, 5);
  for (int i = 0; i < 1000; ++i) {
    double c[3] = {r.uniform(), r.uniform(), r.uniform()}, h, s, v, o[3];
    sd::rgb_to_hsv(c[0], c[1], c[2], h, s, v);
    sd::hsv_to_rgb(h, s, v, o[0], o[1], o[2]);
    for (int k = 0; k < 3; ++k) EXPECT_NEAR(o[k], c[k], 1e-12);
  }
  double rr, gg, bb;
  sd::hsv_to_rgb(1.0 / 3, 1, 1, rr, gg, bb);  // pure green
  EXPECT_NEAR(rr, 0, 1e-12);
  EXPECT_NEAR(gg, 1, 1e-12);
  EXPECT_NEAR(bb, 0, 1e-12);
}

TEST(SynthBlocks, MorphologyByHand) {
  // 5x5 with a single pixel and a hole: dilation grows a 3x3 block, erosion of that returns it.
  std::vector<uint8_t> m(25, 0);
  m[12] = 1;
  auto d = sd::dilate3(m, 5, 5);
  int n = 0;
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 5; ++x) {
      bool in = x >= 1 && x <= 3 && y >= 1 && y <= 3;
      EXPECT_EQ(d[size_t(y) * 5 + x], in ? 1 : 0);
      n += d[size_t(y) * 5 + x];
    }
  EXPECT_EQ(n, 9);
  auto e = sd::erode3(d, 5, 5);
  EXPECT_EQ(std::vector<uint8_t>(e), m);
}

// Dense Gaussian elimination of the same discrete Poisson system, for comparison.
std::vector<double> poisson_dense(const std::vector<double>& dst, const std::vector<double>& src,
                                  const std::vector<uint8_t>& region, int W, int H, bool mixed) {
  std::vector<int> id(size_t(W) * H, -1), px;
  auto in = [&](int x, int y) { return region[size_t(y) * W + x] != 0; };
  for (int y = 1; y < H - 1; ++y)
    for (int x = 1; x < W - 1; ++x)
      if (in(x, y) && in(x - 1, y) && in(x + 1, y) && in(x, y - 1) && in(x, y + 1)) {
        id[size_t(y) * W + x] = int(px.size());
        px.push_back(y * W + x);
      }
  size_t n = px.size();
  std::vector<double> A(n * n, 0.0), b(n, 0.0), out = dst;
  for (size_t k = 0; k < n; ++k) {
    int p = px[k];
    A[k * n + k] = 4;
    for (int q : {p - 1, p + 1, p - W, p + W}) {
      double gs = src[size_t(p)] - src[size_t(q)], gd = dst[size_t(p)] - dst[size_t(q)];
      b[k] += (mixed && std::fabs(gd) > std::fabs(gs)) ? gd : gs;
      if (id[size_t(q)] >= 0) A[k * n + size_t(id[size_t(q)])] -= 1;
      else b[k] += dst[size_t(q)];
    }
  }
  for (size_t c = 0; c < n; ++c) {  // no pivoting needed: diagonally dominant
    for (size_t r = c + 1; r < n; ++r) {
      double f = A[r * n + c] / A[c * n + c];
      if (f == 0) continue;
      for (size_t j = c; j < n; ++j) A[r * n + j] -= f * A[c * n + j];
      b[r] -= f * b[c];
    }
  }
  std::vector<double> x(n);
  for (size_t i = n; i-- > 0;) {
    double s = b[i];
    for (size_t j = i + 1; j < n; ++j) s -= A[i * n + j] * x[j];
    x[i] = s / A[i * n + i];
  }
  for (size_t k = 0; k < n; ++k) out[size_t(px[k])] = x[k];
  return out;
}

TEST(SynthBlocks, PoissonMatchesDirectSolve) {
  const int W = 14, H = 12;
  tc::Rng r(21, 0);
  std::vector<double> dst(W * H), src(W * H);
  for (auto& v : dst) v = r.uniform();
  for (auto& v : src) v = r.uniform();
  std::vector<uint8_t> region(W * H, 0);
  // An irregular region: a disc-ish blob plus a spur, away from the border.
  for (int y = 1; y < H - 1; ++y)
    for (int x = 1; x < W - 1; ++x)
      if ((x - 6) * (x - 6) + (y - 6) * (y - 6) <= 20 || (y == 3 && x >= 9 && x <= 12)) region[y * W + x] = 1;
  for (bool mixed : {false, true}) {
    auto ref = poisson_dense(dst, src, region, W, H, mixed);
    auto got = sd::poisson_blend(dst, src, region, W, H, 1, mixed, 2000, 1.5);
    for (int i = 0; i < W * H; ++i) EXPECT_NEAR(got[size_t(i)], ref[size_t(i)], 1e-9) << i << " mixed " << mixed;
  }
}

TEST(SynthBlocks, PoissonReproducesHarmonicOffset) {
  // dst = src + (a x + b y + c): the difference is harmonic, so the normal-clone solution with
  // dst's boundary is dst itself, on every channel.
  const int W = 40, H = 30, C = 3;
  tc::Rng r(22, 0);
  std::vector<double> src(size_t(W) * H * C), dst(src.size());
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < C; ++c) {
        size_t i = (size_t(y) * W + x) * C + c;
        src[i] = r.uniform();
        dst[i] = src[i] + 0.01 * x - 0.02 * y + 0.1 * c;
      }
  std::vector<uint8_t> region(size_t(W) * H, 0);
  for (int y = 3; y < 27; ++y)
    for (int x = 5; x < 33; ++x) region[size_t(y) * W + x] = 1;
  auto got = sd::poisson_blend(dst, src, region, W, H, C, false, 400, 2.0 / (1 + std::sin(3.14159 / 28)));
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], dst[i], 1e-7);
}

// ------------------------------------------------------------------ categories and plan
TEST(SynthPlan, CategoriesAndSplit) {
  int industrial = 0, medical = 0;
  for (const auto& c : sy::categories()) (c.kind == sy::Kind::Medical ? medical : industrial)++;
  EXPECT_GE(industrial, 8);
  EXPECT_GE(medical, 3);
  auto plans = sy::plan_benchmark({"quickstart", 0, 0});
  ASSERT_EQ(plans.size(), 3u);
  EXPECT_EQ(plans[0].name, "synth-industrial-a");
  EXPECT_EQ(plans[1].name, "synth-industrial-b");
  EXPECT_EQ(plans[2].name, "synth-medical");
  std::set<std::string> a_cls(plans[0].classes.begin(), plans[0].classes.end());
  std::set<std::string> a_def;
  for (const auto& d : plans[0].defects) a_def.insert(d.begin(), d.end());
  for (const auto& c : plans[1].classes) EXPECT_EQ(a_cls.count(c), 0u) << c << " occurs in A and B";
  for (const auto& ds : plans[1].defects)
    for (const auto& d : ds) EXPECT_EQ(a_def.count(d), 0u) << d << " defect type in A and B";
  for (const auto& c : plans[2].classes) EXPECT_EQ(sy::find_category(c).kind, sy::Kind::Medical);
  // Every class has normal and anomalous images; quickstart size 128, a few dozen per class.
  for (const auto& p : plans) {
    EXPECT_EQ(p.size, 128);
    std::map<int, std::pair<int, int>> per;
    for (const auto& it : p.items) (it.defect == "good" ? per[it.class_id].first : per[it.class_id].second)++;
    ASSERT_EQ(per.size(), p.classes.size());
    for (const auto& kv : per) {
      EXPECT_GE(kv.second.first, 8);
      EXPECT_GE(kv.second.second, 8);
      EXPECT_LE(kv.second.first + kv.second.second, 60);
    }
  }
  auto full = sy::plan_benchmark({"full", 0, 0});
  EXPECT_EQ(full[0].size, 256);
  EXPECT_GE(full[0].items.size() / full[0].classes.size(), 200u);
  EXPECT_EQ(sy::plan_benchmark({"full", 0, 96})[1].size, 96);
  EXPECT_THROW(sy::plan_benchmark({"huge", 0, 0}), tc::Error);
}

// ------------------------------------------------------------------ sample invariants
struct InvariantStats {
  int64_t mask_px = 0, mask_px_changed = 0;
};

void check_sample(const sy::DatasetPlan& plan, int64_t i, InvariantStats& st) {
  auto g = sy::generate(plan, i);
  const auto& s = g.sample;
  const size_t N = size_t(plan.size) * plan.size;
  ASSERT_EQ(s.image.size(), N * 3);
  ASSERT_EQ(s.mask.size(), N);
  ASSERT_EQ(g.normal_source.size(), N * 3);
  EXPECT_EQ(s.has_mask, 1);
  size_t area = 0;
  for (size_t p = 0; p < N; ++p) {
    ASSERT_LE(s.mask[p], 1);
    area += s.mask[p];
    bool differs = false, big = false;
    for (int c = 0; c < 3; ++c) {
      int d = std::abs(int(s.image[p * 3 + c]) - int(g.normal_source[p * 3 + c]));
      differs |= d > 0;
      big |= d > 2;
    }
    if (!s.mask[p]) {
      ASSERT_FALSE(differs) << plan.name << " item " << i << " (" << s.defect << ") pixel " << p
                            << " outside the mask differs from the normal source";
    } else {
      st.mask_px++;
      st.mask_px_changed += big;
    }
  }
  EXPECT_EQ(area > 0, s.label == 1) << plan.name << " item " << i << " " << s.defect;
  EXPECT_EQ(s.label == 1, s.defect != "good");
  if (s.label == 1) EXPECT_LE(double(area), 0.25 * double(N));
  if (sy::find_category(plan.classes[size_t(s.class_id)]).gray)
    for (size_t p = 0; p < N; ++p)
      ASSERT_TRUE(s.image[p * 3] == s.image[p * 3 + 1] && s.image[p * 3] == s.image[p * 3 + 2]);
}

TEST(SynthSamples, MasksExactAndOutsideUnchanged) {
  // Every (class, defect type) pair of all three datasets, two images each, at S = 64 and 128.
  for (int S : {64, 128}) {
    auto plans = sy::plan_benchmark({"quickstart", 5, S});
    std::map<std::string, InvariantStats> per_defect;
    for (const auto& p : plans) {
      std::map<std::pair<int, std::string>, int> seen;
      for (int64_t i = 0; i < int64_t(p.items.size()); ++i) {
        const auto& it = p.items[size_t(i)];
        if (seen[{it.class_id, it.defect}]++ >= 2) continue;
        check_sample(p, i, per_defect[it.defect]);
      }
    }
    // The stated fraction: at least 90 % of the mask pixels of every defect type differ from
    // the normal image by more than 2 levels (the rest are gaps closed by the 3x3 closing).
    for (const auto& kv : per_defect) {
      if (kv.first == "good") continue;
      ASSERT_GT(kv.second.mask_px, 0) << kv.first;
      double frac = double(kv.second.mask_px_changed) / double(kv.second.mask_px);
      EXPECT_GE(frac, 0.9) << kv.first << " at S=" << S;
      std::printf("S=%d %-13s mask px %7lld, changed by > 2 levels: %.4f\n", S, kv.first.c_str(),
                  static_cast<long long>(kv.second.mask_px), frac);
    }
  }
}

TEST(SynthSamples, EveryApplicableCategoryDefectPair) {
  // Including pairs no dataset uses (e.g. pcb chip missing/misplaced, disc logo): the operator
  // contract holds for all of them.
  for (int S : {48, 96}) {
  int pairs = 0;
  for (const auto& c : sy::categories())
    for (const auto& d : sd::all_defects()) {
      if (!sd::defect_applies(d, c)) continue;
      ++pairs;
      std::string key = "pairs|" + c.name + "|" + d;
      auto canvas = sd::render_normal(c, uint64_t(S), key, S);
      auto normal = sd::quantize(canvas);
      auto r = sd::apply_defect(d, c, uint64_t(S), key, canvas, normal);
      size_t area = 0;
      for (size_t p = 0; p < size_t(S) * S; ++p) {
        area += r.mask[p];
        if (!r.mask[p])
          for (int ch = 0; ch < 3; ++ch)
            ASSERT_EQ(r.image[p * 3 + ch], normal[p * 3 + ch]) << c.name << " " << d << " pixel " << p;
      }
      EXPECT_GE(area, 4u) << c.name << " " << d;
    }
  EXPECT_GE(pairs, 100);
  }
}

// Robustness sweep (minutes; run by hand with --gtest_also_run_disabled_tests): every pair at
// S = 128 and 256 for 10 seeds must find a mask within the area rule (else generation throws).
TEST(SynthSamples, DISABLED_StressAllPairsManySeeds) {
  for (int S : {128, 256})
    for (uint64_t seed = 100; seed < 110; ++seed)
      for (const auto& c : sy::categories())
        for (const auto& d : sd::all_defects()) {
          if (!sd::defect_applies(d, c)) continue;
          std::string key = "stress|" + c.name + "|" + d;
          auto canvas = sd::render_normal(c, seed, key, S);
          auto normal = sd::quantize(canvas);
          auto r = sd::apply_defect(d, c, seed, key, canvas, normal);
          EXPECT_LE(r.attempts, 50) << c.name << " " << d << " seed " << seed << " S " << S;
        }
}

// ------------------------------------------------------------------ determinism
TEST(SynthDeterminism, OrderIndependentAndSeedSensitive) {
  auto plan = sy::plan_benchmark({"quickstart", 3, 48})[0];
  std::vector<int64_t> idx = {0, 13, 14, 20, 40, 150};
  std::vector<tc::data::Sample> fwd, bwd;
  for (auto i : idx) fwd.push_back(sy::generate_sample(plan, i));
  for (auto it = idx.rbegin(); it != idx.rend(); ++it) bwd.insert(bwd.begin(), sy::generate_sample(plan, *it));
  EXPECT_EQ(sy::arrays_hash(fwd), sy::arrays_hash(bwd));
  auto other = sy::plan_benchmark({"quickstart", 4, 48})[0];
  EXPECT_NE(sy::generate_sample(plan, 0).image, sy::generate_sample(other, 0).image);
  EXPECT_NE(sy::generate_sample(plan, 0).image, sy::generate_sample(plan, 1).image);
}

TEST(SynthDeterminism, PinnedArraysHash) {
  // One good and one anomalous image of every (class, defect type) of all three datasets at
  // S = 64, seed 1. A change here means the generator's output changed: bump kGeneratorVersion
  // in synth.cpp, note it in docs/SYNTH.md, and re-pin. A pinned hash is safe across machines
  // here: the generator is scalar double code (no BLAS, no threads inside a sample, built
  // without -march, so no FMA contraction) rounded to uint8, and glibc's libm gives the same
  // results on Intel and AMD x86-64 (both take its FMA variants); passes on Xeon and EPYC.
  std::vector<tc::data::Sample> all;
  for (const auto& p : sy::plan_benchmark({"quickstart", 1, 64})) {
    std::set<std::pair<int, std::string>> seen;
    for (int64_t i = 0; i < int64_t(p.items.size()); ++i) {
      const auto& it = p.items[size_t(i)];
      if (!seen.insert({it.class_id, it.defect}).second) continue;
      all.push_back(sy::generate_sample(p, i));
    }
  }
  EXPECT_EQ(sy::arrays_hash(all), "bc795a85b92b210d0cb6fd2572afa2eb30b25021d0921074c2e90640fb2d7446");
}

// ------------------------------------------------------------------ files
TEST(SynthFiles, WrittenFilesReadBack) {
  sy::Options o{"quickstart", 2, 32, 3};  // 3 threads: the file must not depend on them
  std::string d1 = synth_tmp() + "/run1";
  auto metas = sy::write_benchmark(o, d1, false);
  auto plans = sy::plan_benchmark(o);
  ASSERT_EQ(metas.size(), 3u);
  for (size_t k = 0; k < plans.size(); ++k) {
    std::string f1 = d1 + "/" + plans[k].name + ".h5";
    tc::data::DatasetReader rd(f1);
    EXPECT_EQ(rd.meta().name, plans[k].name);
    EXPECT_EQ(rd.meta().domain, "synthetic");
    EXPECT_EQ(rd.meta().image_size, 32);
    EXPECT_EQ(rd.meta().class_names, plans[k].classes);
    EXPECT_EQ(rd.meta().content_hash, metas[k].content_hash);
    ASSERT_EQ(rd.size(), int64_t(plans[k].items.size()));
    std::vector<tc::data::Sample> from_file, generated;
    for (int64_t i = 0; i < rd.size(); ++i) {
      from_file.push_back(rd.read(i));
      generated.push_back(sy::generate_sample(plans[k], i));
      EXPECT_EQ(from_file.back().source_path, generated.back().source_path);
    }
    EXPECT_EQ(sy::arrays_hash(from_file), sy::arrays_hash(generated));
  }
  fs::remove_all(d1);
}

// Byte-identical files: the writer switches off HDF5's object timestamps
// (H5Pset_obj_track_times in src/data/dataset.cpp), the only field that differed between runs.
TEST(SynthFiles, ByteIdenticalFiles) {
  sy::Options o{"quickstart", 2, 32};
  std::string d1 = synth_tmp() + "/same1", d2 = synth_tmp() + "/same2";
  sy::write_benchmark(o, d1, false);
  sleep(2);  // timestamps have one-second resolution
  sy::write_benchmark(o, d2, false);
  for (const auto& p : sy::plan_benchmark(o))
    EXPECT_EQ(tc::sha256_file_hex(d1 + "/" + p.name + ".h5"), tc::sha256_file_hex(d2 + "/" + p.name + ".h5"))
        << p.name;
  fs::remove_all(d1);
  fs::remove_all(d2);
}

// ------------------------------------------------------------------ pictures (manual check)
// TC_SYNTH_PNG_DIR=dir ./test_data --gtest_filter=SynthPictures.*: one contact sheet per
// dataset; per class one row: a normal image, then each defect type with its mask outlined.
TEST(SynthPictures, ContactSheets) {
  const char* dir = std::getenv("TC_SYNTH_PNG_DIR");
  if (!dir) GTEST_SKIP() << "set TC_SYNTH_PNG_DIR to write contact sheets";
  const char* sz = std::getenv("TC_SYNTH_PNG_SIZE");
  int S = sz ? std::atoi(sz) : 128;
  fs::create_directories(dir);
  for (const auto& p : sy::plan_benchmark({"quickstart", 0, S})) {
    int cols = 0;
    for (const auto& d : p.defects) cols = std::max(cols, int(d.size()) + 1);
    int rows = int(p.classes.size());
    tc::data::Image sheet;
    sheet.width = cols * (S + 4);
    sheet.height = rows * (S + 4);
    sheet.channels = 3;
    sheet.pixels.assign(size_t(sheet.width) * sheet.height * 3, 255);
    tc::data::Image plain = sheet;
    std::set<std::pair<int, std::string>> seen;
    std::map<int, int> col_of_class;
    for (int64_t i = 0; i < int64_t(p.items.size()); ++i) {
      const auto& it = p.items[size_t(i)];
      if (!seen.insert({it.class_id, it.defect}).second) continue;
      auto s = sy::generate_sample(p, i);
      int col = col_of_class[it.class_id]++;
      int ox = col * (S + 4), oy = it.class_id * (S + 4);
      for (int y = 0; y < S; ++y)
        for (int x = 0; x < S; ++x) {
          size_t q = size_t(y) * S + x;
          bool edge = false;
          if (s.mask[q])
            for (int d = 0; d < 4 && !edge; ++d) {
              int xx = x + (d == 0) - (d == 1), yy = y + (d == 2) - (d == 3);
              edge = xx < 0 || yy < 0 || xx >= S || yy >= S || !s.mask[size_t(yy) * S + xx];
            }
          for (int c = 0; c < 3; ++c) {
            uint8_t v = s.image[q * 3 + c];
            plain.pixels[(size_t(oy + y) * sheet.width + ox + x) * 3 + c] = v;
            if (edge) v = c == 0 ? 255 : 0;
            sheet.pixels[(size_t(oy + y) * sheet.width + ox + x) * 3 + c] = v;
          }
        }
    }
    tc::data::save_png(std::string(dir) + "/" + p.name + ".png", plain);
    tc::data::save_png(std::string(dir) + "/" + p.name + "_masks.png", sheet);
  }
}

}  // namespace
