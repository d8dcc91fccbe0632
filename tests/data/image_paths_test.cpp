// expand_image_paths / has_image_extension: which files a directory expands to, in which
// order, and the input errors (expected lists written out by hand).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "data/fixtures_support.h"
#include "data/image_paths.h"
#include "util/check.h"

namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string ip_input_error(const std::vector<std::string>& items, const std::string& what) {
  try {
    tc::data::expand_image_paths(items, what);
  } catch (const tc::Error& e) {
    EXPECT_EQ(e.kind(), tc::ErrorKind::Input) << e.message();
    return e.message();
  }
  ADD_FAILURE() << "no error for " << ::testing::PrintToString(items);
  return {};
}

TEST(ImageExtension, CaseInsensitiveAllowList) {
  using tc::data::has_image_extension;
  for (const char* yes : {"a.png", "a.PNG", "b.jpg", "b.JPG", "c.Jpeg", "d.bmp", "e.tif", "f.TIFF",
                          "dir/x.tif", "dir.d/y.png", "two.dots.png"})
    EXPECT_TRUE(has_image_extension(yes)) << yes;
  for (const char* no : {"a.gif", "a.png.txt", "a.webp", "png", ".png", "noext", "dir.png/x",
                         "a.pn", "a.tiff~"})
    EXPECT_FALSE(has_image_extension(no)) << no;
}

TEST(ExpandImagePaths, DirectoryGivesItsImagesAtAnyDepthSortedByPath) {
  tc::test::TempTree t("image_paths_dir");
  const fs::path d = t.path() / "imgs";
  for (const char* f : {"b.png", "a.JPG", "g.tif", "c.txt", "noext", ".png", "sub/e.jpeg", "sub/d.tiff",
                        "sub/notes.md", "sub/deeper/f.bmp", "dir.png/h.png", "empty_sub/readme"})
    tc::test::write_text(d / f, "x");  // contents do not matter: selection is by name
  fs::create_symlink(d / "a.JPG", d / "link.png");  // a symlinked file counts
  fs::create_directory_symlink(d / "sub", d / "sub_link");  // a symlinked directory is not followed
  const std::string s = d.string();
  EXPECT_THAT(tc::data::expand_image_paths({s}, "--images"),
              ElementsAre(s + "/a.JPG", s + "/b.png", s + "/dir.png/h.png", s + "/g.tif", s + "/link.png",
                          s + "/sub/d.tiff", s + "/sub/deeper/f.bmp", s + "/sub/e.jpeg"));
}

TEST(ExpandImagePaths, ItemsKeepTheirOrderAndNamedFilesAnyEnding) {
  tc::test::TempTree t("image_paths_items");
  const fs::path r = t.path();
  tc::test::write_text(r / "z.dat", "x");  // a named file is always tried, whatever its ending
  tc::test::write_text(r / "a.png", "x");
  tc::test::write_text(r / "d/2.png", "x");
  tc::test::write_text(r / "d/1.bmp", "x");
  const std::string z = (r / "z.dat").string(), a = (r / "a.png").string(), d = (r / "d").string();
  EXPECT_THAT(tc::data::expand_image_paths({z, d, a, z}, "input"),
              ElementsAre(z, d + "/1.bmp", d + "/2.png", a, z));
  EXPECT_TRUE(tc::data::expand_image_paths({}, "input").empty());
}

TEST(ExpandImagePaths, ErrorsNameTheFlagAndThePath) {
  tc::test::TempTree t("image_paths_errors");
  const std::string missing = (t.path() / "nope.png").string();
  EXPECT_THAT(ip_input_error({missing}, "--images"), HasSubstr("--images " + missing + ": no such file or directory"));
  tc::test::write_text(t.path() / "texts/a.txt", "x");
  tc::test::write_text(t.path() / "texts/deep/b.gif", "x");
  const std::string texts = (t.path() / "texts").string();
  EXPECT_THAT(ip_input_error({texts}, "input"),
              HasSubstr("input " + texts + ": the directory holds no image files (png, jpg, jpeg, bmp, tif, tiff)"));
  fs::create_directories(t.path() / "empty");
  const std::string empty = (t.path() / "empty").string();
  EXPECT_THAT(ip_input_error({empty}, "--normal"), HasSubstr("--normal " + empty + ": the directory holds no image files"));
  // The first bad item stops the expansion, whatever came before it.
  tc::test::write_text(t.path() / "ok.png", "x");
  EXPECT_THAT(ip_input_error({(t.path() / "ok.png").string(), missing}, "input"), HasSubstr(missing));
}

}  // namespace
