// Public dataset folder layouts -> a list of source items (paths, labels, classes, masks).
// Scanning knows nothing of HDF5 or resizing; `tokenclip prep` decodes, resizes and writes.
#pragma once

#include <string>
#include <vector>

namespace tc::data {

struct SourceItem {
  std::string image_path;  // absolute or relative to the root
  std::string mask_path;   // empty when there is none for this image
  std::string class_name;  // e.g. "bottle"; single-class datasets use the dataset name
  std::string defect;      // "good" for normal images
  int label = 0;           // 0 normal, 1 anomalous
  bool has_mask = false;   // a pixel-level ground truth exists (normal images: all-zero mask)
  std::string split;       // "test" or "train": the split this image belongs to
  std::string rel_path;    // image path relative to the root (generic separators)
};

struct LayoutInfo {
  std::string name;         // "mvtec", "visa", ... as given to `tokenclip prep`
  std::string domain;       // industrial | medical | user
  std::string level;        // "both", "image" (no masks), "pixel" (every image anomalous)
  int mask_threshold = 0;   // masks are binarised with value > mask_threshold
  std::string description;  // one line for --help
  bool has_split = true;    // false: the whole set is the test split (`--split train` refused)
};

const std::vector<LayoutInfo>& layouts();
const LayoutInfo& layout_info(const std::string& name);  // Usage error with suggestion
// One line per layout (name, domain, level, mask rule, split, description), for --help.
std::string describe_layouts();

struct ScanOptions {
  std::string split = "test";  // test | train | all
  // `folder` layout: sub-folder names and the mask naming pattern.
  std::string normal_dir = "good", anomalous_dir = "anomalous", mask_dir = "masks";
  std::string mask_suffix = "_mask";
  // `visa`: the spot-diff split file; empty = ROOT/split_csv/1cls.csv, then ROOT/1cls.csv.
  std::string visa_csv;
};

struct ScanResult {
  std::vector<SourceItem> items;          // in a deterministic order (sorted by class, path)
  std::vector<std::string> warnings;      // e.g. an anomalous image left without its mask
};

// Input errors (exit 3) for a missing root, a root that does not look like the layout, empty
// classes; each names the path and what was expected.
ScanResult scan_layout(const std::string& layout, const std::string& root, const ScanOptions& opt);

}  // namespace tc::data
