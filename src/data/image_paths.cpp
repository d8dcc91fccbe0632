#include "data/image_paths.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "util/check.h"

namespace tc::data {

const std::vector<std::string>& image_extensions() {
  static const std::vector<std::string> k = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"};
  return k;
}

bool has_image_extension(const std::string& path) {
  const std::string name = std::filesystem::path(path).filename().string();
  for (const auto& e : image_extensions()) {
    if (name.size() <= e.size()) continue;
    if (std::equal(e.begin(), e.end(), name.end() - static_cast<std::ptrdiff_t>(e.size()),
                   [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); }))
      return true;
  }
  return false;
}

namespace detail_image_paths {

std::string extension_list() {
  std::string s;
  for (const auto& e : image_extensions()) s += (s.empty() ? "" : ", ") + e.substr(1);
  return s;
}

std::vector<std::string> images_below(const std::string& dir, const std::string& what) {
  namespace fs = std::filesystem;
  std::vector<std::string> found;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code ec2;
    if (it->is_regular_file(ec2) && has_image_extension(it->path().string())) found.push_back(it->path().string());
  }
  TC_CHECK_INPUT(!ec, "{} {}: cannot list the directory: {}", what, dir, ec.message());
  std::sort(found.begin(), found.end());
  TC_CHECK_INPUT(!found.empty(), "{} {}: the directory holds no image files ({})", what, dir, extension_list());
  return found;
}

}  // namespace detail_image_paths

std::vector<std::string> expand_image_paths(const std::vector<std::string>& items, const std::string& what) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  for (const auto& item : items) {
    std::error_code ec;
    if (fs::is_directory(item, ec)) {
      auto found = detail_image_paths::images_below(item, what);
      out.insert(out.end(), found.begin(), found.end());
    } else {
      TC_CHECK_INPUT(fs::is_regular_file(item, ec), "{} {}: no such file or directory", what, item);
      out.push_back(item);
    }
  }
  return out;
}

}  // namespace tc::data
