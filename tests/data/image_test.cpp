// Image decoding and Pillow-exact resizing. Hand-worked cases here; the parity with Pillow
// itself over many sizes is tests/python/test_resize_pillow.py, which drives the
// `ImageTool.RunManifest` case below (skipped unless TC_IMAGE_TOOL_MANIFEST is set).
#include <gtest/gtest.h>
#include <unistd.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "data/image.h"
#include "util/check.h"

namespace {

namespace fs = std::filesystem;
using tc::data::Filter;
using tc::data::Image;

std::string img_temp_dir() {
  static std::string dir = [] {
    auto d = fs::temp_directory_path() / ("tc_image_test_" + std::to_string(getpid()));
    fs::create_directories(d);
    return d.string();
  }();
  return dir;
}

Image make_image(int w, int h, int ch, std::vector<uint8_t> px) {
  Image im;
  im.width = w;
  im.height = h;
  im.channels = ch;
  im.pixels = std::move(px);
  return im;
}

// ------------------------------------------------------------------------------ decoding

TEST(ImageDecode, GrayIsReplicated) {
  std::string p = img_temp_dir() + "/gray.png";
  cv::Mat m(2, 3, CV_8UC1);
  for (int i = 0; i < 6; ++i) m.data[i] = uint8_t(i * 40);
  ASSERT_TRUE(cv::imwrite(p, m));
  Image im = tc::data::load_rgb(p);
  ASSERT_EQ(im.width, 3);
  ASSERT_EQ(im.height, 2);
  ASSERT_EQ(im.channels, 3);
  for (int i = 0; i < 6; ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(im.pixels[i * 3 + c], i * 40);
}

TEST(ImageDecode, RgbaDropsAlphaAndIsRgbOrdered) {
  std::string p = img_temp_dir() + "/rgba.png";
  cv::Mat m(1, 2, CV_8UC4);
  // OpenCV stores BGRA: pixel 0 = R 10, G 20, B 30, A 0 (transparent: colour must survive).
  uint8_t bgra[8] = {30, 20, 10, 0, 3, 2, 1, 255};
  std::memcpy(m.data, bgra, 8);
  ASSERT_TRUE(cv::imwrite(p, m));
  Image im = tc::data::load_rgb(p);
  EXPECT_EQ(im.pixels, (std::vector<uint8_t>{10, 20, 30, 1, 2, 3}));
}

TEST(ImageDecode, SixteenBitScaledBy257Rounded) {
  std::string p = img_temp_dir() + "/g16.png";
  std::vector<uint16_t> v = {0, 128, 129, 257, 385, 386, 65535, 32896};
  cv::Mat m(1, int(v.size()), CV_16UC1, v.data());
  ASSERT_TRUE(cv::imwrite(p, m));
  Image im = tc::data::load_rgb(p);
  // round(v / 257): 128/257 = 0.498 -> 0, 129/257 = 0.502 -> 1, 385/257 = 1.498 -> 1, ...
  std::vector<uint8_t> want = {0, 0, 1, 1, 1, 2, 255, 128};
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(im.pixels[i * 3], want[i]) << v[i];
  Image g = tc::data::load_gray(p);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(g.pixels[i], want[i]) << v[i];

  std::string q = img_temp_dir() + "/rgb16.png";
  cv::Mat c(1, 1, CV_16UC3);
  c.at<cv::Vec3w>(0, 0) = cv::Vec3w(65535, 257 * 7, 129);  // B, G, R
  ASSERT_TRUE(cv::imwrite(q, c));
  EXPECT_EQ(tc::data::load_rgb(q).pixels, (std::vector<uint8_t>{1, 7, 255}));
}

TEST(ImageDecode, JpegAndBmp) {
  cv::Mat m(8, 8, CV_8UC3, cv::Scalar(40, 120, 200));  // flat colour: JPEG keeps it (+-1)
  std::string j = img_temp_dir() + "/flat.jpg", b = img_temp_dir() + "/flat.bmp";
  ASSERT_TRUE(cv::imwrite(j, m));
  ASSERT_TRUE(cv::imwrite(b, m));
  Image bj = tc::data::load_rgb(j), bb = tc::data::load_rgb(b);
  ASSERT_EQ(bj.width, 8);
  for (size_t i = 0; i < bb.pixels.size(); i += 3) {
    EXPECT_EQ(bb.pixels[i], 200);
    EXPECT_EQ(bb.pixels[i + 1], 120);
    EXPECT_EQ(bb.pixels[i + 2], 40);
    EXPECT_NEAR(bj.pixels[i], 200, 1);
    EXPECT_NEAR(bj.pixels[i + 1], 120, 1);
    EXPECT_NEAR(bj.pixels[i + 2], 40, 1);
  }
}

TEST(ImageDecode, ColourMaskTakesMaxOverChannels) {
  std::string p = img_temp_dir() + "/cmask.png";
  cv::Mat m(1, 3, CV_8UC3, cv::Scalar(0, 0, 0));
  m.at<cv::Vec3b>(0, 1) = cv::Vec3b(0, 0, 1);  // only red, value 1 (e.g. a class-index map)
  m.at<cv::Vec3b>(0, 2) = cv::Vec3b(9, 3, 0);
  ASSERT_TRUE(cv::imwrite(p, m));
  EXPECT_EQ(tc::data::load_gray(p).pixels, (std::vector<uint8_t>{0, 1, 9}));
}

TEST(ImageDecode, RefusesMissingAndCorruptFiles) {
  std::string missing = img_temp_dir() + "/none.png";
  try {
    tc::data::load_rgb(missing);
    ADD_FAILURE();
  } catch (const tc::Error& e) {
    EXPECT_EQ(e.kind(), tc::ErrorKind::Input);
    EXPECT_NE(e.message().find(missing), std::string::npos);
  }
  std::string bad = img_temp_dir() + "/bad.png";
  std::ofstream(bad) << "\x89PNG not really";
  try {
    tc::data::load_gray(bad);
    ADD_FAILURE();
  } catch (const tc::Error& e) {
    EXPECT_EQ(e.kind(), tc::ErrorKind::Input);
    EXPECT_NE(e.message().find(bad), std::string::npos);
    EXPECT_NE(e.message().find("cannot decode"), std::string::npos);
  }
}

// Every decode path (our PNG codec, OpenCV for JPEG/BMP/TIFF, masks) refuses empty, truncated
// and wrong-signature files with a message that names the file and the defect in our words: no
// OpenCV assertion text, and nothing printed behind our back (OpenCV writes some decoder errors
// to std::cerr itself).
TEST(ImageDecode, BadFilesAreRefusedInOurWords) {
  const std::string d = img_temp_dir();
  cv::Mat m(24, 32, CV_8UC3);
  cv::randu(m, 0, 255);
  std::vector<uchar> jpg, bmp, tif, png;
  ASSERT_TRUE(cv::imencode(".jpg", m, jpg));
  ASSERT_TRUE(cv::imencode(".bmp", m, bmp));
  ASSERT_TRUE(cv::imencode(".tif", m, tif));
  ASSERT_TRUE(cv::imencode(".png", m, png));
  auto write = [&](const std::string& name, const std::vector<uchar>& bytes, size_t n) {
    const std::string p = d + "/" + name;
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(std::min(n, bytes.size())));
    return p;
  };
  const std::string text = "hello, not an image\n";
  const std::vector<uchar> text_bytes(text.begin(), text.end());
  struct Case {
    std::string path, expect;
    bool mask;
  };
  const std::vector<Case> cases = {
      {write("empty.png", png, 0), "the file is empty (0 bytes)", false},
      {write("empty.jpg", jpg, 0), "the file is empty (0 bytes)", true},
      {write("text.png", text_bytes, text.size()),
       "not a PNG, JPEG, BMP or TIFF file (it starts with 68 65 6c 6c 6f 2c 20 6e ('hello, n'); 20 bytes)", false},
      {write("short.png", png, 5), "not a PNG, JPEG, BMP or TIFF file (it starts with 89 50 4e 47 0d; 5 bytes)", true},
      {write("half.png", png, png.size() / 2), "truncated PNG", false},
      {write("half.jpg", jpg, jpg.size() / 2), "truncated JPEG: the file ends inside the image data", false},
      {write("head.jpg", jpg, 20), "corrupt JPEG: no image data (no start-of-scan marker)", true},
      {write("half.bmp", bmp, bmp.size() / 2), "corrupt, truncated or unsupported BMP file", false},
      {write("head.bmp", bmp, 20), "corrupt, truncated or unsupported BMP file (20 bytes)", true},
      {write("half.tif", tif, tif.size() / 2), "corrupt, truncated or unsupported TIFF file", false},
  };
  std::ostringstream captured;
  std::streambuf* old = std::cerr.rdbuf(captured.rdbuf());
  for (const auto& c : cases) {
    try {
      if (c.mask) tc::data::load_gray(c.path);
      else tc::data::load_rgb(c.path);
      ADD_FAILURE() << c.path << " was accepted";
    } catch (const tc::Error& e) {
      const std::string msg = e.message();
      EXPECT_EQ(e.kind(), tc::ErrorKind::Input) << msg;
      EXPECT_NE(msg.find(std::string("cannot decode ") + (c.mask ? "mask '" : "image '") + c.path + "'"),
                std::string::npos)
          << msg;
      EXPECT_NE(msg.find(c.expect), std::string::npos) << msg;
      EXPECT_EQ(msg.find("OpenCV"), std::string::npos) << msg;
      EXPECT_EQ(msg.find(".cpp"), std::string::npos) << msg;
    }
  }
  std::cerr.rdbuf(old);
  EXPECT_EQ(captured.str(), "");
  // A complete JPEG named .png decodes (the signature decides, not the name).
  const std::string renamed = write("photo_named.png", jpg, jpg.size());
  EXPECT_EQ(tc::data::load_rgb(renamed).width, 32);
}

// ------------------------------------------------------------------------------ resizing

TEST(ImageResize, IdentityIsACopy) {
  std::vector<uint8_t> px(5 * 4 * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 37);
  Image im = make_image(5, 4, 3, px);
  EXPECT_EQ(tc::data::resize_pillow(im, 5, 4, Filter::Bicubic).pixels, px);
}

TEST(ImageResize, ConstantStaysConstant) {
  for (Filter f : {Filter::Bicubic, Filter::Bilinear})
    for (auto [w, h, ow, oh] : {std::array<int, 4>{7, 5, 518, 518}, {1000, 700, 518, 518},
                                 {3, 9, 2, 11}, {64, 64, 13, 97}}) {
      Image im = make_image(w, h, 3, std::vector<uint8_t>(size_t(w) * h * 3, 173));
      Image r = tc::data::resize_pillow(im, ow, oh, f);
      ASSERT_EQ(r.pixels.size(), size_t(ow) * oh * 3);
      for (auto v : r.pixels) ASSERT_EQ(v, 173) << w << "x" << h << "->" << ow << "x" << oh;
    }
}

TEST(ImageResize, BilinearTwoTimesDownscaleByHand) {
  // 4 -> 2 pixels: scale 2 widens the triangle to support 2. Output 0 is centred on input
  // position 1.0 and sees inputs 0..2 at distances 0.5, 0.5, 1.5 (in output units 0.25, 0.25,
  // 0.75): weights 0.75, 0.75, 0.25 -> 3/7, 3/7, 1/7. Output 1 mirrors it on inputs 1..3.
  // Row [0, 70, 140, 210]: (0*3 + 70*3 + 140) / 7 = 50, (70 + 140*3 + 210*3) / 7 = 160.
  Image im = make_image(4, 1, 1, {0, 70, 140, 210});
  EXPECT_EQ(tc::data::resize_pillow(im, 2, 1, Filter::Bilinear).pixels,
            (std::vector<uint8_t>{50, 160}));
  // The same along the vertical axis.
  Image col = make_image(1, 4, 1, {0, 70, 140, 210});
  EXPECT_EQ(tc::data::resize_pillow(col, 1, 2, Filter::Bilinear).pixels,
            (std::vector<uint8_t>{50, 160}));
}

TEST(ImageResize, BicubicUpscaleByHandAndPillowValues) {
  // 2 -> 4: output 0 is centred on 0.25; taps at distances 0.25 and 1.25:
  // k(0.25) = (1.5*0.25 - 2.5)*0.0625 + 1 = 0.8671875, k(1.25) = -0.0703125; normalised by
  // their sum 0.796875 -> 1.0882, -0.0882; 100*1.0882 - 200*0.0882 = 91.18 -> 91.
  // The other three values are what Pillow 9.4 returns for Image.resize((4, 1), BICUBIC).
  Image im = make_image(2, 1, 1, {100, 200});
  EXPECT_EQ(tc::data::resize_pillow(im, 4, 1, Filter::Bicubic).pixels,
            (std::vector<uint8_t>{91, 121, 179, 209}));
  // Overshoot is clipped to 0 (Pillow: [10, 200, 30] -> 5 rows = 0 84 200 98 17).
  Image col = make_image(1, 3, 1, {10, 200, 30});
  EXPECT_EQ(tc::data::resize_pillow(col, 1, 5, Filter::Bicubic).pixels,
            (std::vector<uint8_t>{0, 84, 200, 98, 17}));
}

TEST(ImageResize, MaskPreparation) {
  // 4x4 mask with a 2x2 block of value 3 in the corner; threshold 0 keeps it, 127 drops it.
  std::vector<uint8_t> px(16, 0);
  px[0] = px[1] = px[4] = px[5] = 3;
  Image g = make_image(4, 4, 1, px);
  // 2x downscale (weights 3/7, 3/7, 1/7 per axis): the top-left output gets (6/7)^2 * 255 = 188,
  // the others at most 6/7 * 1/7 * 255 = 31.
  auto m = tc::data::prepare_mask(g, 2, 0);
  EXPECT_EQ(m, (std::vector<uint8_t>{1, 0, 0, 0}));
  EXPECT_EQ(tc::data::prepare_mask(g, 2, 127), (std::vector<uint8_t>(4, 0)));
  auto up = tc::data::prepare_mask(g, 8, 0);  // upscale: the block maps to the top-left 4x4
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) EXPECT_EQ(up[y * 8 + x], (x < 4 && y < 4) ? 1 : 0) << x << "," << y;
}

TEST(ImageSave, PngRoundTripIsAtomic) {
  std::string p = img_temp_dir() + "/out.png";
  std::vector<uint8_t> px(6 * 5 * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 11);
  tc::data::save_png(p, make_image(6, 5, 3, px));
  EXPECT_EQ(tc::data::load_rgb(p).pixels, px);
  for (auto& e : fs::directory_iterator(img_temp_dir()))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
}

// ------------------------------------------------------------------------------ tool mode

// Drives image.h from a manifest for tests/python/test_resize_pillow.py. One operation a line:
//   resize IN OUT W H bicubic|bilinear   (IN gray or RGB PNG; OUT same channels)
//   mask IN OUT S THRESHOLD              (prepare_mask; OUT holds 0/1)
//   rgb IN OUT | gray IN OUT             (decode only)
TEST(ImageTool, RunManifest) {
  const char* manifest = std::getenv("TC_IMAGE_TOOL_MANIFEST");
  if (!manifest) GTEST_SKIP() << "TC_IMAGE_TOOL_MANIFEST not set";
  std::ifstream in(manifest);
  ASSERT_TRUE(in.good()) << manifest;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string op, src, dst;
    if (!(ss >> op >> src >> dst)) continue;
    if (op == "resize") {
      int w = 0, h = 0;
      std::string f;
      ss >> w >> h >> f;
      cv::Mat probe = cv::imread(src, cv::IMREAD_UNCHANGED);
      Image im = probe.channels() == 1 ? tc::data::load_gray(src) : tc::data::load_rgb(src);
      tc::data::save_png(dst, tc::data::resize_pillow(im, w, h, f == "bilinear" ? Filter::Bilinear
                                                                                : Filter::Bicubic));
    } else if (op == "mask") {
      int s = 0, t = 0;
      ss >> s >> t;
      tc::data::save_png(dst, make_image(s, s, 1, tc::data::prepare_mask(tc::data::load_gray(src), s, t)));
    } else if (op == "rgb") {
      tc::data::save_png(dst, tc::data::load_rgb(src));
    } else if (op == "gray") {
      tc::data::save_png(dst, tc::data::load_gray(src));
    } else {
      FAIL() << "unknown op " << op;
    }
    ++n;
  }
  std::printf("ran %d operations\n", n);
}

}  // namespace
