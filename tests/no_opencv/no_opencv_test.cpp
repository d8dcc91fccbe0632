// What a build without OpenCV does (TOKENCLIP_OPENCV=OFF): PNG still decodes through our own
// codec (checked against hand-written pixels), other formats and pictures are refused with a
// message that names the file and says how to get them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "data/image.h"
#include "data/png.h"
#include "eval/render.h"
#include "util/check.h"

namespace {

namespace fs = std::filesystem;

std::string noocv_dir() {
  static const std::string d = [] {
    auto p = fs::temp_directory_path() / ("tc_no_opencv_" + std::to_string(getpid()));
    fs::create_directories(p);
    return p.string();
  }();
  return d;
}

TEST(NoOpenCv, PngImagesAndMasksStillLoad) {
  // 2x2 RGB: red, green / blue, white.
  const uint8_t px[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
  const std::string p = noocv_dir() + "/rgb.png";
  tc::data::save_png(p, tc::data::Image{2, 2, 3, std::vector<uint8_t>(px, px + 12)});
  const tc::data::Image im = tc::data::load_rgb(p);
  ASSERT_EQ(im.width, 2);
  ASSERT_EQ(im.height, 2);
  EXPECT_EQ(im.pixels, std::vector<uint8_t>(px, px + 12));
  // As a mask: max over the colour channels, so every pixel is foreground.
  const tc::data::Image m = tc::data::load_gray(p);
  EXPECT_EQ(m.pixels, (std::vector<uint8_t>{255, 255, 255, 255}));
  EXPECT_TRUE(tc::data::image_any_nonzero(p));
}

TEST(NoOpenCv, OtherFormatsAreRefusedWithTheReason) {
  const std::string p = noocv_dir() + "/photo.jpg";
  std::ofstream(p, std::ios::binary) << std::string("\xff\xd8\xff\xe0\x00\x10JFIF\x00", 11);
  try {
    tc::data::load_rgb(p);
    FAIL() << "a JPEG must be refused by a build without OpenCV";
  } catch (const tc::Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.kind(), tc::ErrorKind::Input);
    EXPECT_NE(msg.find(p), std::string::npos) << msg;
    EXPECT_NE(msg.find("TOKENCLIP_OPENCV=OFF"), std::string::npos) << msg;
    EXPECT_NE(msg.find("convert the file to PNG"), std::string::npos) << msg;
  }
}

TEST(NoOpenCv, EmptyAndNonImageFilesAreNamedAsSuch) {
  const std::string empty = noocv_dir() + "/empty.png", text = noocv_dir() + "/notes.png";
  std::ofstream(empty, std::ios::binary).flush();
  std::ofstream(text, std::ios::binary) << "hello, not an image";
  for (const auto& [p, want] : {std::pair<std::string, std::string>{empty, "the file is empty (0 bytes)"},
                                {text, "not a PNG, JPEG, BMP or TIFF file"}}) {
    try {
      tc::data::load_rgb(p);
      ADD_FAILURE() << p << " was accepted";
    } catch (const tc::Error& e) {
      EXPECT_EQ(e.kind(), tc::ErrorKind::Input);
      EXPECT_NE(e.message().find("'" + p + "': " + want), std::string::npos) << e.message();
    }
  }
}

TEST(NoOpenCv, PicturesAreUnsupportedAndRefused) {
  EXPECT_FALSE(tc::eval::pictures_supported());
  const float map[4] = {0.f, 0.5f, 1.f, 0.25f};
  tc::eval::HeatmapFigure f;
  f.title = "bottle/000.png";
  f.map = map;
  f.map_h = f.map_w = 2;
  const std::string out = noocv_dir() + "/fig.png";
  try {
    tc::eval::write_heatmap_png(out, f);
    FAIL() << "expected a refusal";
  } catch (const tc::Error& e) {
    EXPECT_EQ(e.kind(), tc::ErrorKind::Usage);
    EXPECT_NE(std::string(e.what()).find("bottle/000.png"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(out));  // nothing half-written
}

}  // namespace
