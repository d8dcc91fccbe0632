// Image files named on a command line (`encode --images`, `infer`, `calibrate --normal`):
// files as given, directories expanded to the image files below them.
#pragma once

#include <string>
#include <vector>

namespace tc::data {

// The image file endings the decoders here read: .png .jpg .jpeg .bmp .tif .tiff.
const std::vector<std::string>& image_extensions();
// Whether the file name (last path component) ends in one of them, ignoring case (.PNG and
// .JPG are common); a name that is only the ending (".png") does not count.
bool has_image_extension(const std::string& path);

// Expands each item in order: a directory to the image files at any depth below it (by
// ending, symlinked files included, directory symlinks not followed), sorted by path; any
// other item must be an existing regular file and is kept as given, whatever its ending (a
// named file is always tried). Input errors start with `what` and the item ("--images d: ..."):
// no such file or directory, a directory without image files, a directory that cannot be listed.
std::vector<std::string> expand_image_paths(const std::vector<std::string>& items, const std::string& what);

}  // namespace tc::data
