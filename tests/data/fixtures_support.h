// Miniature copies of every supported dataset layout, written at test time (a few tiny images
// each, with the edge cases of docs/DATASETS_LAYOUTS.md: missing and orphan masks, upper-case
// extensions, spaces in names, stray files, unlabelled folders). The expected scan results
// are written out by hand in the tests, not derived from these builders.
#pragma once

#include <filesystem>
#include <string>

namespace tc::test {

// A fresh temporary folder, removed with everything in it on destruction.
class TempTree {
 public:
  explicit TempTree(const std::string& tag);
  ~TempTree();
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Writes a small image (format from the extension: png, jpg, bmp, tif), creating folders.
// `channels` 1 or 3; pixel values are a fixed gradient so that files are valid pictures.
void write_image(const std::filesystem::path& p, int w = 8, int h = 6, int channels = 3);
// Writes a one-channel mask: zeros with a `value` block in the upper-left corner (value 0 =
// all-zero mask).
void write_mask(const std::filesystem::path& p, int value = 255, int w = 8, int h = 6);
void write_text(const std::filesystem::path& p, const std::string& text);

// Each builder writes one layout under `root` (created). Comments in fixtures_support.cpp
// list exactly what each tree holds.
void make_mvtec(const std::filesystem::path& root);
void make_visa(const std::filesystem::path& root);
void make_mpdd(const std::filesystem::path& root);
void make_btad(const std::filesystem::path& root);
void make_sdd_raw(const std::filesystem::path& root);
void make_sdd_converted(const std::filesystem::path& root);
void make_dagm(const std::filesystem::path& root);
void make_dtd(const std::filesystem::path& root);
void make_headct_raw(const std::filesystem::path& root);
void make_headct_restructured(const std::filesystem::path& root);
void make_brainmri(const std::filesystem::path& root);
void make_br35h(const std::filesystem::path& root);
void make_covid(const std::filesystem::path& root);
void make_isic(const std::filesystem::path& root);
void make_polyp(const std::filesystem::path& root, bool jpeg_masks);  // clinicdb/colondb/kvasir
void make_endo(const std::filesystem::path& root);
void make_tn3k(const std::filesystem::path& root);
void make_folder(const std::filesystem::path& root);

}  // namespace tc::test
