// Pictures: layout, colour scale, contours, legend colours, atomic writes, file-name sanitising.
// Set TC_RENDER_SAMPLES_DIR to keep sample PNGs for a visual check.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "eval/render.h"
#include "util/fs.h"

namespace tc::eval::test_render {

cv::Mat decode(const std::string& png) {
  std::vector<uint8_t> buf(png.begin(), png.end());
  return cv::imdecode(buf, cv::IMREAD_COLOR);  // BGR
}

struct Sample {
  int s = 64;
  std::vector<uint8_t> rgb, mask;
  std::vector<float> map;
  Sample() {
    rgb.resize(size_t(s) * s * 3);
    mask.assign(size_t(s) * s, 0);
    map.resize(size_t(s) * s);
    for (int y = 0; y < s; ++y)
      for (int x = 0; x < s; ++x) {
        uint8_t* p = &rgb[(size_t(y) * s + x) * 3];
        p[0] = uint8_t(100 + x);  // a brownish gradient "product"
        p[1] = uint8_t(80 + y);
        p[2] = 60;
        double d = std::hypot(y - 40.0, x - 22.0);
        mask[size_t(y) * s + x] = d < 9 ? 255 : 0;
        map[size_t(y) * s + x] = float(0.1 + 0.8 * std::exp(-d * d / 120.0));
      }
  }
  HeatmapFigure figure() const {
    HeatmapFigure f;
    f.title = "bottle/test/broken_large/000.png";
    f.image_rgb = rgb.data();
    f.img_h = f.img_w = s;
    f.map = map.data();
    f.map_h = f.map_w = s;
    f.mask = mask.data();
    f.score = 0.873;
    f.threshold = 0.5;
    f.label = 1;
    return f;
  }
};

void maybe_keep(const std::string& name, const std::string& png) {
  if (const char* d = std::getenv("TC_RENDER_SAMPLES_DIR")) write_file_atomic(std::string(d) + "/" + name, png);
}

TEST(Render, HeatmapLayoutScaleAndContour) {
  Sample s;
  RenderOptions o;
  o.scale = {0.0f, 1.0f};
  std::string png = render_heatmap_png(s.figure(), o);
  maybe_keep("heatmap.png", png);
  cv::Mat img = decode(png);
  const int P = 256;
  ASSERT_EQ(img.cols, 8 + P + 8 + P + 8 + 18 + 64);
  ASSERT_EQ(img.rows, 44 + 18 + P + 8);
  const int top = 62, bx = 24 + 2 * P;
  // Colour bar: top = vmax = jet's dark red, bottom = vmin = jet's dark blue (BGR).
  cv::Vec3b hi = img.at<cv::Vec3b>(top + 2, bx + 9), lo = img.at<cv::Vec3b>(top + P - 3, bx + 9);
  EXPECT_GT(hi[2], 100);
  EXPECT_LT(hi[0], 30);
  EXPECT_GT(lo[0], 100);
  EXPECT_LT(lo[2], 30);
  // Ground-truth contour: pure white pixels (the input has none) around the blob (y~40/64, x~22/64).
  int green = 0;
  for (int y = top; y < top + P; ++y)
    for (int x = 8; x < 8 + P; ++x) {
      cv::Vec3b c = img.at<cv::Vec3b>(y, x);
      if (c[0] == 255 && c[1] == 255 && c[2] == 255) {
        ++green;
        EXPECT_NEAR(std::hypot((y - top) * 64.0 / P - 40, (x - 8) * 64.0 / P - 22), 9, 2.5);
      }
    }
  EXPECT_GT(green, 100);
  // Without a mask: no contour.
  HeatmapFigure f = s.figure();
  f.mask = nullptr;
  cv::Mat nm = decode(render_heatmap_png(f, o));
  int g2 = 0;
  for (int y = top; y < top + P; ++y)
    for (int x = 8; x < 8 + P; ++x) {
      cv::Vec3b c = nm.at<cv::Vec3b>(y, x);
      g2 += c[0] == 255 && c[1] == 255 && c[2] == 255;
    }
  EXPECT_EQ(g2, 0);
}

TEST(Render, SameValueSameColourAcrossPicturesOfARun) {
  Sample a, b;
  for (auto& v : b.map) v = 0.3f + 0.0f * v;  // flat map
  for (auto& v : a.map) v = 0.3f;
  a.map[0] = 0.95f;  // differs elsewhere: must not rescale the rest
  RenderOptions o;
  o.scale = {0.0f, 1.0f};
  o.alpha = 1.0;  // pure heat colours
  HeatmapFigure fa = a.figure(), fb = b.figure();
  fa.mask = fb.mask = nullptr;
  cv::Mat ia = decode(render_heatmap_png(fa, o)), ib = decode(render_heatmap_png(fb, o));
  const int top = 62, x0 = 16 + 256;
  EXPECT_EQ(ia.at<cv::Vec3b>(top + 200, x0 + 200), ib.at<cv::Vec3b>(top + 200, x0 + 200));
  // And the colour is the one the colour bar shows at 0.3.
  cv::Vec3b bar = ia.at<cv::Vec3b>(top + int(std::lround(255 * 0.7)), 24 + 512 + 9);
  cv::Vec3b px = ia.at<cv::Vec3b>(top + 200, x0 + 200);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(px[c], bar[c], 6);
}

TEST(Render, AssignmentColoursAndLegend) {
  const int gh = 4, gw = 4, Q = 3;
  std::vector<float> w(size_t(gh * gw * Q), 0.f);
  for (int t = 0; t < gh * gw; ++t) w[size_t(t * Q + ((t % gw) < 2 ? 0 : 1))] = 1.f;
  w[size_t(15 * Q + 1)] = 0.f;
  w[size_t(15 * Q + 2)] = 0.9f;  // bottom-right token -> subspace 3
  AssignmentFigure f;
  f.title = "bottle/000";
  f.weights = w.data();
  f.grid_h = gh;
  f.grid_w = gw;
  f.subspaces = Q;
  std::string png = render_assignment_png(f);
  maybe_keep("assignment.png", png);
  cv::Mat img = decode(png);
  const int P = 256, top = 26;
  uint8_t c0[3], c1[3], c2[3];
  subspace_color(0, c0);
  subspace_color(1, c1);
  subspace_color(2, c2);
  auto eq = [](cv::Vec3b bgr, const uint8_t* rgb) { return bgr[2] == rgb[0] && bgr[1] == rgb[1] && bgr[0] == rgb[2]; };
  EXPECT_TRUE(eq(img.at<cv::Vec3b>(top + 10, 8 + 10), c0));
  EXPECT_TRUE(eq(img.at<cv::Vec3b>(top + 10, 8 + P - 10), c1));
  EXPECT_TRUE(eq(img.at<cv::Vec3b>(top + P - 10, 8 + P - 10), c2));
  // Legend squares in the palette colours.
  for (int q = 0; q < Q; ++q) {
    uint8_t c[3];
    subspace_color(q, c);
    EXPECT_TRUE(eq(img.at<cv::Vec3b>(top + 2 + q * 20 + 7, 16 + P + 7), c)) << q;
  }
}

TEST(Render, WritesAtomically) {
  auto dir = std::filesystem::temp_directory_path() / "tc_render_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  Sample s;
  write_heatmap_png((dir / "a.png").string(), s.figure());
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) {
    ++files;
    EXPECT_EQ(e.path().filename(), "a.png");
  }
  EXPECT_EQ(files, 1);
  cv::Mat back = cv::imread((dir / "a.png").string());
  EXPECT_FALSE(back.empty());
  std::filesystem::remove_all(dir);
}

TEST(Render, PickFigureImages) {
  //                          0     1     2     3     4     5     6
  std::vector<float> s{0.9f, 0.2f, 0.8f, 0.7f, 0.1f, 0.5f, 0.8f};
  std::vector<uint8_t> y{1, 1, 0, 1, 0, 0, 1};
  // anomalous by score: 0 (0.9), 6 (0.8), 3 (0.7), 1 (0.2); normal: 2 (0.8), 5 (0.5), 4 (0.1)
  EXPECT_EQ(pick_figure_images(s, y, 1), (std::vector<size_t>{0, 1, 2, 4}));
  EXPECT_EQ(pick_figure_images(s, y, 2), (std::vector<size_t>{0, 6, 1, 3, 2, 5, 4}));
  EXPECT_TRUE(pick_figure_images({}, {}, 2).empty());
}

TEST(Render, LargeNonSquareInputAndAssignmentOverImage) {
  // A 300 x 420 photo with a 518 x 518 map: display resize only; scale from the maps.
  std::vector<uint8_t> rgb(size_t(300) * 420 * 3);
  for (int y = 0; y < 300; ++y)
    for (int x = 0; x < 420; ++x) {
      uint8_t* p = &rgb[(size_t(y) * 420 + x) * 3];
      p[0] = uint8_t((x / 20 + y / 20) % 2 ? 200 : 60);
      p[1] = uint8_t(120);
      p[2] = uint8_t(x * 255 / 420);
    }
  std::vector<float> map(size_t(518) * 518);
  std::vector<uint8_t> mask(map.size(), 0);
  for (int y = 0; y < 518; ++y)
    for (int x = 0; x < 518; ++x) {
      map[size_t(y) * 518 + x] = float(2.0 + 3.0 * std::exp(-((y - 300.0) * (y - 300.0) + (x - 150.0) * (x - 150.0)) / 2000.0));
      mask[size_t(y) * 518 + x] = std::hypot(y - 300.0, x - 150.0) < 40 || std::hypot(y - 100.0, x - 400.0) < 15;
    }
  HeatmapFigure f;
  f.title = "a/very/long/dataset/entry/name/that/does/not/fit/into/the/header/line/at/all/000123.png";
  f.image_rgb = rgb.data();
  f.img_h = 300;
  f.img_w = 420;
  f.map = map.data();
  f.map_h = f.map_w = 518;
  f.mask = mask.data();
  f.score = 0.42;
  RenderOptions o;
  o.scale = heatmap_scale_from({map.data()}, map.size());
  EXPECT_FLOAT_EQ(o.scale.vmin, *std::min_element(map.begin(), map.end()));
  EXPECT_FLOAT_EQ(o.scale.vmax, *std::max_element(map.begin(), map.end()));
  std::string png = render_heatmap_png(f, o);
  maybe_keep("heatmap_large.png", png);
  EXPECT_FALSE(decode(png).empty());

  const int gh = 37, gw = 37, Q = 4;
  std::vector<float> w(size_t(gh * gw * Q));
  for (int t = 0; t < gh * gw; ++t)
    for (int q = 0; q < Q; ++q) w[size_t(t * Q + q)] = float(std::sin(0.3 * (t / gw) * (q + 1) + 0.2 * (t % gw)));
  AssignmentFigure a;
  a.title = "bottle/000";
  a.weights = w.data();
  a.grid_h = gh;
  a.grid_w = gw;
  a.subspaces = Q;
  a.image_rgb = rgb.data();
  a.img_h = 300;
  a.img_w = 420;
  std::string apng = render_assignment_png(a);
  maybe_keep("assignment_over_image.png", apng);
  EXPECT_FALSE(decode(apng).empty());
}

TEST(Render, SanitizeFilename) {
  EXPECT_EQ(sanitize_filename("bottle/test/broken_large/000.png"), "bottle_test_broken_large_000.png");
  EXPECT_EQ(sanitize_filename("../../etc/passwd"), "etc_passwd");
  EXPECT_EQ(sanitize_filename("a\\b:c*d?e\"f<g>h|i j"), "a_b_c_d_e_f_g_h_i_j");
  EXPECT_EQ(sanitize_filename(""), "unnamed");
  EXPECT_EQ(sanitize_filename("..."), "unnamed");
  EXPECT_EQ(sanitize_filename(".hidden"), "hidden");
  EXPECT_EQ(sanitize_filename("caf\xc3\xa9.png"), "caf_.png");
  std::string l1(300, 'x'), l2 = l1;
  l2.back() = 'y';
  auto s1 = sanitize_filename(l1), s2 = sanitize_filename(l2);
  EXPECT_LE(s1.size(), 100u);
  EXPECT_NE(s1, s2);
}

}  // namespace tc::eval::test_render
