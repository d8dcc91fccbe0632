// Dataset layout scanners: one function per public folder layout, all built from a few
// helpers (sorted listings with an image-extension allow-list, a mask index keyed by the
// image stem, a warning sink). The per-layout rules are tabled in docs/DATASETS_LAYOUTS.md.
#include "data/layouts.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "data/image.h"
#include "data/image_paths.h"
#include "util/check.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/text.h"

namespace tc::data {

namespace detail_layouts {

namespace fs = std::filesystem;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool iequals(const std::string& a, const std::string& b) { return lower(a) == lower(b); }

bool ends_with_ci(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

bool is_hidden(const std::string& name) { return !name.empty() && name[0] == '.'; }

// Allow-list, case-insensitive (upper-case .JPG/.PNG/.BMP are common: VisA, DAGM).
bool is_image_name(const std::string& name) { return !is_hidden(name) && has_image_extension(name); }

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}
bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// Sorted entry names of one directory (files or sub-directories), hidden entries skipped.
std::vector<std::string> list_names(const fs::path& dir, bool dirs) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) TC_INPUT_ERROR("cannot list folder '{}': {}", dir.string(), ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) TC_INPUT_ERROR("cannot list folder '{}': {}", dir.string(), ec.message());
    const std::string name = it->path().filename().string();
    if (is_hidden(name)) continue;
    std::error_code ec2;
    const bool d = it->is_directory(ec2);
    if (dirs ? d : (!d && is_image_name(name))) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}
std::vector<std::string> list_dirs(const fs::path& dir) { return list_names(dir, true); }
std::vector<std::string> list_images(const fs::path& dir) { return list_names(dir, false); }

// Image files below `dir` at any depth, as paths relative to `dir`, sorted.
std::vector<std::string> list_images_recursive(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& name : list_images(dir)) out.push_back(name);
  for (const auto& sub : list_dirs(dir))
    for (const auto& rel : list_images_recursive(dir / sub)) out.push_back(sub + "/" + rel);
  std::sort(out.begin(), out.end());
  return out;
}

// Sub-directory of `dir` whose name equals `name` ignoring case (DAGM: Train/Test).
std::optional<fs::path> find_dir_ci(const fs::path& dir, const std::string& name) {
  if (is_dir(dir / name)) return dir / name;
  if (!is_dir(dir)) return std::nullopt;
  for (const auto& d : list_dirs(dir))
    if (iequals(d, name)) return dir / d;
  return std::nullopt;
}

std::string stem_of(const std::string& file_name) {
  const auto dot = file_name.rfind('.');
  return dot == std::string::npos ? file_name : file_name.substr(0, dot);
}

const std::vector<std::string>& known_mask_suffixes() {
  static const std::vector<std::string> k = {"_mask", "_label", "_GT", "_Segmentation"};
  return k;
}

// The pairing key of a mask file: its stem with one mask suffix stripped.
std::string mask_key(const std::string& file_name, const std::string& extra_suffix) {
  std::string stem = stem_of(file_name);
  if (!extra_suffix.empty() && ends_with_ci(stem, extra_suffix) && stem.size() > extra_suffix.size())
    return stem.substr(0, stem.size() - extra_suffix.size());
  for (const auto& s : known_mask_suffixes())
    if (ends_with_ci(stem, s) && stem.size() > s.size()) return stem.substr(0, stem.size() - s.size());
  return stem;
}
bool has_mask_suffix(const std::string& file_name, const std::string& suffix) {
  const std::string stem = stem_of(file_name);
  return ends_with_ci(stem, suffix) && stem.size() > suffix.size();
}

// Caps repeated warnings of one kind so that a broken download gives a readable report.
class Warnings {
 public:
  explicit Warnings(std::vector<std::string>* out) : out_(out) {}
  void add(const std::string& kind, const std::string& text) {
    const int n = ++count_[kind];
    if (n <= kCap) out_->push_back(text);
  }
  void flush() {
    for (const auto& [kind, n] : count_)
      if (n > kCap) out_->push_back(fmt::format("... and {} more: {}", n - kCap, kind));
    count_.clear();
  }

 private:
  static constexpr int kCap = 20;
  std::vector<std::string>* out_;
  std::map<std::string, int> count_;
};

// Masks of one folder keyed by stem (suffix stripped); remembers which were used so that
// masks matching no image can be reported.
class MaskIndex {
 public:
  MaskIndex() = default;
  explicit MaskIndex(const fs::path& dir) : dir_(dir) {}  // empty; filled with add()
  MaskIndex(const fs::path& dir, const std::string& extra_suffix, bool recursive, Warnings& warn)
      : dir_(dir) {
    if (!is_dir(dir)) return;
    exists_ = true;
    const auto files = recursive ? list_images_recursive(dir) : list_images(dir);
    for (const auto& rel : files) add(rel, extra_suffix, warn);
  }
  // `rel` is relative to the folder; keys keep the sub-folder so equal stems in different
  // sub-folders stay apart.
  void add(const std::string& rel, const std::string& extra_suffix, Warnings& warn) {
    exists_ = true;
    const auto slash = rel.rfind('/');
    const std::string sub = slash == std::string::npos ? "" : rel.substr(0, slash + 1);
    const std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
    const std::string key = sub + mask_key(name, extra_suffix);
    auto [it, inserted] = by_key_.emplace(key, rel);
    if (!inserted)
      warn.add("masks with the same stem",
               fmt::format("two masks match the image stem '{}' in '{}': '{}' and '{}'; using '{}'",
                           key, dir_.string(), it->second, rel, it->second));
  }
  bool exists() const { return exists_; }
  const fs::path& dir() const { return dir_; }
  // Relative mask path for an image key ("sub/stem"), or nullopt.
  std::optional<fs::path> find(const std::string& key) {
    auto it = by_key_.find(key);
    if (it == by_key_.end()) return std::nullopt;
    used_.insert(key);
    return dir_ / it->second;
  }
  void report_unused(Warnings& warn) const {
    for (const auto& [key, rel] : by_key_)
      if (!used_.count(key))
        warn.add("masks without an image",
                 fmt::format("mask '{}' matches no image (no image with stem '{}')",
                             (dir_ / rel).string(), key));
  }
  size_t size() const { return by_key_.size(); }

 private:
  fs::path dir_;
  bool exists_ = false;
  std::map<std::string, std::string> by_key_;
  std::set<std::string> used_;
};

// Shared state of one scan: the root, options, the output and the warning sink.
class Scan {
 public:
  Scan(const LayoutInfo& info, const fs::path& root, const ScanOptions& opt)
      : info_(info), root_(root), opt_(opt), warn_(&result_.warnings) {}

  const LayoutInfo& info() const { return info_; }
  const fs::path& root() const { return root_; }
  const ScanOptions& opt() const { return opt_; }
  Warnings& warn() { return warn_; }
  bool want(const std::string& split) const { return opt_.split == "all" || opt_.split == split; }

  std::string rel(const fs::path& p) const {
    return p.lexically_relative(root_).generic_string();
  }

  void add(const std::string& cls, const std::string& defect, const std::string& split,
           const fs::path& image, int label, const std::optional<fs::path>& mask, bool has_mask) {
    SourceItem it;
    it.image_path = image.string();
    it.rel_path = rel(image);
    it.mask_path = mask ? mask->string() : std::string();
    it.class_name = cls;
    it.defect = defect;
    it.label = label;
    it.has_mask = has_mask;
    it.split = split;
    result_.items.push_back(std::move(it));
  }
  size_t count() const { return result_.items.size(); }

  // has_mask (docs/FORMATS.md): normal images of a set with masks carry the implicit zero mask
  // (1); every image of an image-level set has none (0), so pixel metrics skip the set.
  // The image had no mask: recorded as image-level only (has_mask false) and reported.
  void missing_mask(const fs::path& image, const std::string& expected) {
    warn_.add("anomalous images without a mask",
              fmt::format("anomalous image '{}' has no mask (expected {}); kept with an image "
                          "label only (has_mask = false)",
                          image.string(), expected));
  }

  ScanResult finish() {
    warn_.flush();
    auto& v = result_.items;
    std::stable_sort(v.begin(), v.end(), [](const SourceItem& a, const SourceItem& b) {
      if (a.class_name != b.class_name) return a.class_name < b.class_name;
      return a.rel_path < b.rel_path;
    });
    return std::move(result_);
  }

  // Refuses a split the chosen variant does not have (raw KolektorSDD, original HeadCT).
  void require_no_train(const std::string& variant) const {
    TC_CHECK_INPUT(opt_.split != "train",
                   "layout '{}': {} under '{}' has no train split (the whole set is the test "
                   "split); use --split test or all",
                   info_.name, variant, root_.string());
  }

 private:
  const LayoutInfo& info_;
  fs::path root_;
  ScanOptions opt_;
  ScanResult result_;
  Warnings warn_;
};

std::vector<std::string> wanted_splits(const Scan& s) {
  std::vector<std::string> out;
  if (s.want("train")) out.push_back("train");
  if (s.want("test")) out.push_back("test");
  return out;
}

// ---------------------------------------------------------------- MVTec-like walker
// <cls>/{train,test}/<defect>/*.<img>, masks <cls>/ground_truth/<defect>/<stem>[_mask].<img>.
// Also accepts ROOT itself being one class folder (ROOT/test exists).
struct MvtecLike {
  std::vector<std::string> normal_names = {"good"};
  std::string single_class;  // non-empty: single-class dataset, class named so
  std::string expected;      // layout description for errors
};

bool is_normal_name(const std::string& d, const std::vector<std::string>& normal) {
  for (const auto& n : normal)
    if (iequals(d, n)) return true;
  return false;
}

bool looks_mvtec_like(const fs::path& root) {
  if (is_dir(root / "test") || is_dir(root / "train")) return true;
  for (const auto& d : list_dirs(root))
    if (is_dir(root / d / "test") || is_dir(root / d / "train")) return true;
  return false;
}

void scan_mvtec_like(Scan& s, const MvtecLike& m) {
  const fs::path& root = s.root();
  std::vector<std::pair<std::string, fs::path>> classes;
  if (is_dir(root / "test") || is_dir(root / "train")) {
    // ROOT is one class folder (e.g. --root mvtec/bottle, or HeadCT's test/{good,defect}).
    std::string name = root.filename().string();
    if (name.empty() || name == ".") name = fs::absolute(root).lexically_normal().filename().string();
    if (name.empty()) name = root.parent_path().filename().string();
    classes.emplace_back(m.single_class.empty() ? name : m.single_class, root);
  } else {
    for (const auto& d : list_dirs(root))
      if (is_dir(root / d / "test") || is_dir(root / d / "train"))
        classes.emplace_back(m.single_class.empty() ? d : m.single_class, root / d);
  }
  if (classes.empty())
    TC_INPUT_ERROR("layout '{}': no <cls>/test folders found under '{}'; expected {}", s.info().name,
                   root.string(), m.expected);
  if (!m.single_class.empty() && classes.size() > 1) {
    s.warn().add("extra class folders",
                 fmt::format("layout '{}' is single-class but '{}' holds {} class folders; all are "
                             "scanned as class '{}'",
                             s.info().name, root.string(), classes.size(), m.single_class));
  }
  // BTAD masks keep the image stem; the other MVTec-like sets add _mask.
  const std::string mask_suffix = s.info().name == "btad" ? "" : "_mask";
  for (const auto& [cls, dir] : classes) {
    const size_t before = s.count();
    std::map<std::string, MaskIndex> masks;  // per defect folder
    for (const auto& split : wanted_splits(s)) {
      const fs::path sdir = dir / split;
      if (!is_dir(sdir)) continue;
      if (const auto loose = list_images(sdir); !loose.empty())
        s.warn().add("images outside defect folders",
                     fmt::format("{} images directly in '{}' are ignored (expected {}/<defect>/*.png, "
                                 "e.g. {}/good/)",
                                 loose.size(), sdir.string(), split, split));
      for (const auto& defect : list_dirs(sdir)) {
        const bool normal = is_normal_name(defect, m.normal_names);
        const auto images = list_images(sdir / defect);
        if (normal) {
          for (const auto& f : images)
            s.add(cls, "good", split, sdir / defect / f, 0, std::nullopt, s.info().level != "image");
          continue;
        }
        if (s.info().level == "image") {  // HeadCT: image labels only, no masks to look for
          for (const auto& f : images) s.add(cls, defect, split, sdir / defect / f, 1, std::nullopt, false);
          continue;
        }
        auto mit = masks.find(defect);
        if (mit == masks.end())
          mit = masks.emplace(defect, MaskIndex(dir / "ground_truth" / defect, "", false, s.warn())).first;
        MaskIndex& idx = mit->second;
        if (!idx.exists() && !images.empty())
          s.warn().add("missing mask folders",
                       fmt::format("no mask folder '{}': the {} anomalous images of '{}' have no "
                                   "mask (has_mask = false)",
                                   idx.dir().string(), images.size(), (sdir / defect).string()));
        for (const auto& f : images) {
          auto mask = idx.exists() ? idx.find(stem_of(f)) : std::nullopt;
          if (!mask && idx.exists())
            s.missing_mask(sdir / defect / f,
                           fmt::format("'{}'", (idx.dir() / (stem_of(f) + mask_suffix + ".png")).string()));
          s.add(cls, defect, split, sdir / defect / f, 1, mask, mask.has_value());
        }
      }
    }
    TC_CHECK_INPUT(s.count() > before,
                   "layout '{}': class '{}' has no images for split '{}' under '{}' (expected "
                   "{}/<defect>/*.png); an empty class cannot be evaluated",
                   s.info().name, cls, s.opt().split, dir.string(),
                   s.opt().split == "all" ? "{train,test}" : s.opt().split);
    for (const auto& [d, idx] : masks) idx.report_unused(s.warn());
  }
}

// ---------------------------------------------------------------- small CSV reader
std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

// Cells are comma-separated; a cell may be double-quoted (VisA's image_anno.csv quotes labels
// such as "melt, scratch"), with "" standing for a quote inside it.
std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.push_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(trim(cur));
  return out;
}

struct CsvRow {
  int line = 0;
  std::vector<std::string> cells;
};

// Reads a comma-separated file (no quoting: the split files never need it); returns the
// header and the non-empty rows, each checked for the header's column count.
std::vector<CsvRow> read_csv(const fs::path& path, std::vector<std::string>* header) {
  std::ifstream in(path);
  TC_CHECK_INPUT(in.good(), "cannot open '{}'", path.string());
  std::vector<CsvRow> rows;
  std::string line;
  int n = 0;
  bool have_header = false;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (n == 1 && line.size() >= 3 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line = line.substr(3);
    if (trim(line).empty()) continue;
    auto cells = split_csv_line(line);
    if (!have_header) {
      *header = cells;
      have_header = true;
      continue;
    }
    TC_CHECK_INPUT(cells.size() == header->size(), "{}:{}: expected {} comma-separated columns, got {}",
                   path.string(), n, header->size(), cells.size());
    rows.push_back({n, std::move(cells)});
  }
  TC_CHECK_INPUT(have_header, "'{}' is empty; expected a header line", path.string());
  return rows;
}

int column(const std::vector<std::string>& header, const std::string& name, const fs::path& file,
           const std::string& expected) {
  for (size_t i = 0; i < header.size(); ++i)
    if (iequals(header[i], name)) return static_cast<int>(i);
  std::string got;
  for (const auto& h : header) got += (got.empty() ? "" : ",") + h;
  TC_INPUT_ERROR("{}:1: header has no column '{}'; expected the columns {} (got '{}')", file.string(),
                 name, expected, got);
}

// ---------------------------------------------------------------- VisA
// Defect descriptions of one VisA class from <cls>/image_anno.csv (columns image,label,mask;
// label "normal" or a description), keyed by the image's file name. Optional: without the
// file (or with an unexpected header, reported) anomalies get the defect "anomaly".
std::map<std::string, std::string> visa_defects(const fs::path& anno, Warnings& warn) {
  std::map<std::string, std::string> out;
  if (!is_file(anno)) return out;
  std::vector<std::string> header;
  const auto rows = read_csv(anno, &header);
  int ci = -1, cl = -1;
  for (size_t i = 0; i < header.size(); ++i) {
    if (iequals(header[i], "image")) ci = static_cast<int>(i);
    if (iequals(header[i], "label")) cl = static_cast<int>(i);
  }
  if (ci < 0 || cl < 0) {
    warn.add("unreadable image_anno.csv",
             fmt::format("'{}' has no 'image' and 'label' columns; defect types not read", anno.string()));
    return out;
  }
  for (const auto& r : rows)
    if (!iequals(r.cells[cl], "normal") && !r.cells[cl].empty())
      out[fs::path(r.cells[ci]).filename().string()] = r.cells[cl];
  return out;
}

void scan_visa(Scan& s) {
  const fs::path& root = s.root();
  std::vector<fs::path> candidates;
  if (!s.opt().visa_csv.empty()) {
    candidates.push_back(s.opt().visa_csv);
    TC_CHECK_INPUT(is_file(candidates[0]), "VisA split file '{}' does not exist", s.opt().visa_csv);
  } else {
    candidates = {root / "split_csv" / "1cls.csv", root / "1cls.csv"};
  }
  std::optional<fs::path> csv;
  for (const auto& c : candidates)
    if (is_file(c)) {
      csv = c;
      break;
    }
  if (!csv) {
    if (looks_mvtec_like(root)) {  // prepare_data.py's VisA_pytorch/1cls copy
      scan_mvtec_like(s, {{"good"}, "", "the prepared VisA 1cls layout <cls>/{train,test}/{good,bad}"});
      return;
    }
    TC_INPUT_ERROR(
        "layout 'visa': no split file under '{}' (looked for split_csv/1cls.csv and 1cls.csv); "
        "expected the raw VisA layout <cls>/Data/Images/{{Normal,Anomaly}}/*.JPG with the spot-diff "
        "split file split_csv/1cls.csv (columns object,split,label,image,mask; pass --visa-csv to "
        "name it elsewhere), or the prepared 1cls layout <cls>/{{train,test}}/{{good,bad}}",
        root.string());
  }
  const std::string cols = "object,split,label,image,mask";
  std::vector<std::string> header;
  const auto rows = read_csv(*csv, &header);
  const int c_obj = column(header, "object", *csv, cols), c_split = column(header, "split", *csv, cols),
            c_label = column(header, "label", *csv, cols), c_img = column(header, "image", *csv, cols),
            c_mask = column(header, "mask", *csv, cols);
  int missing = 0;
  std::string first_missing;
  std::map<std::string, std::map<std::string, std::string>> defects;  // class -> file -> defect
  for (const auto& r : rows) {
    const std::string& split = r.cells[c_split];
    const std::string& label = r.cells[c_label];
    TC_CHECK_INPUT(split == "train" || split == "test", "{}:{}: field 'split' is '{}'; expected train or test",
                   csv->string(), r.line, split);
    TC_CHECK_INPUT(label == "normal" || label == "anomaly",
                   "{}:{}: field 'label' is '{}'; expected normal or anomaly", csv->string(), r.line, label);
    TC_CHECK_INPUT(!r.cells[c_obj].empty() && !r.cells[c_img].empty(),
                   "{}:{}: fields 'object' and 'image' must not be empty", csv->string(), r.line);
    if (!s.want(split)) continue;
    const fs::path img = root / r.cells[c_img];
    if (!is_file(img)) {
      if (missing++ == 0) first_missing = fmt::format("line {}: '{}'", r.line, img.string());
      continue;
    }
    if (label == "normal") {
      s.add(r.cells[c_obj], "good", split, img, 0, std::nullopt, true);
      continue;
    }
    std::optional<fs::path> mask;
    if (!r.cells[c_mask].empty() && is_file(root / r.cells[c_mask])) mask = root / r.cells[c_mask];
    if (!mask)
      s.missing_mask(img, r.cells[c_mask].empty()
                              ? fmt::format("a mask in column 'mask' of {}:{}", csv->string(), r.line)
                              : fmt::format("'{}'", (root / r.cells[c_mask]).string()));
    auto dit = defects.find(r.cells[c_obj]);
    if (dit == defects.end())
      dit = defects.emplace(r.cells[c_obj], visa_defects(root / r.cells[c_obj] / "image_anno.csv", s.warn())).first;
    auto d = dit->second.find(img.filename().string());
    s.add(r.cells[c_obj], d == dit->second.end() ? "anomaly" : d->second, split, img, 1, mask, mask.has_value());
  }
  TC_CHECK_INPUT(missing == 0,
                 "layout 'visa': {} images listed in '{}' are missing under '{}' (first: {}); "
                 "expected the raw VisA_20220922 tree with paths as in the split file",
                 missing, csv->string(), root.string(), first_missing);
  TC_CHECK_INPUT(s.count() > 0, "layout 'visa': '{}' lists no images for split '{}'", csv->string(),
                 s.opt().split);
}

// ---------------------------------------------------------------- DAGM 2007
// Labels.txt (per Train/Test/Label): first line a count, then "<id> <0|1> <file> ...".
// Its exact format is unverified, so it only cross-checks: an image flagged defective whose
// label file is missing is reported; unparseable lines are ignored.
std::set<std::string> dagm_flagged(const fs::path& labels_txt) {
  std::set<std::string> out;
  std::ifstream in(labels_txt);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, flag, file;
    if (!(ls >> id >> flag >> file)) continue;
    if (flag == "1" && is_image_name(file)) out.insert(file);
  }
  return out;
}

void scan_dagm(Scan& s) {
  const fs::path& root = s.root();
  // A class folder has a Train or Test folder holding images directly (MVTec's test/ holds
  // only defect folders, so an MVTec tree is not mistaken for DAGM).
  auto is_class = [](const fs::path& d) {
    for (const char* split : {"Test", "Train"}) {
      auto sd = find_dir_ci(d, split);
      if (sd && !list_images(*sd).empty()) return true;
    }
    return false;
  };
  std::vector<std::pair<std::string, fs::path>> classes;
  for (const auto& d : list_dirs(root))
    if (is_class(root / d)) classes.emplace_back(d, root / d);
  if (classes.empty() && is_class(root)) classes.emplace_back(root.filename().string(), root);
  if (classes.empty())
    TC_INPUT_ERROR(
        "layout 'dagm': no ClassN/{{Train,Test}} folders found under '{}'; expected the DAGM 2007 "
        "layout ClassN/{{Train,Test}}/NNNN.PNG with defect labels in ClassN/{{Train,Test}}/Label/"
        "NNNN_label.PNG",
        root.string());
  for (const auto& [cls, dir] : classes) {
    const size_t before = s.count();
    for (const auto& split : wanted_splits(s)) {
      auto sdir = find_dir_ci(dir, split);
      if (!sdir) continue;
      auto ldir = find_dir_ci(*sdir, "Label");
      MaskIndex labels(ldir ? *ldir : *sdir / "Label", "_label", false, s.warn());
      std::set<std::string> flagged;
      if (ldir) {
        for (const auto& n : {"Labels.txt", "labels.txt"})
          if (is_file(*ldir / n)) {
            flagged = dagm_flagged(*ldir / n);
            break;
          }
      }
      for (const auto& f : list_images(*sdir)) {
        const fs::path img = *sdir / f;
        auto mask = labels.find(stem_of(f));
        if (mask) {
          s.add(cls, "defect", split, img, 1, mask, true);
        } else if (flagged.count(f)) {
          s.missing_mask(img, fmt::format("'{}' (flagged defective in Labels.txt)",
                                          (labels.dir() / (stem_of(f) + "_label.PNG")).string()));
          s.add(cls, "defect", split, img, 1, std::nullopt, false);
        } else {
          s.add(cls, "good", split, img, 0, std::nullopt, true);
        }
      }
      labels.report_unused(s.warn());
    }
    TC_CHECK_INPUT(s.count() > before,
                   "layout 'dagm': class '{}' has no images for split '{}' under '{}' (expected "
                   "{{Train,Test}}/NNNN.PNG); an empty class cannot be evaluated",
                   cls, s.opt().split, dir.string());
  }
}

// ---------------------------------------------------------------- KolektorSDD
bool any_nonzero(const fs::path& p) { return image_any_nonzero(p.string()); }

void scan_sdd(Scan& s) {
  const fs::path& root = s.root();
  // Raw KolektorSDD: kosNN folders holding PartN.jpg + PartN_label.bmp.
  std::vector<std::string> kos;
  for (const auto& d : list_dirs(root)) {
    for (const auto& f : list_images(root / d))
      if (has_mask_suffix(f, "_label")) {
        kos.push_back(d);
        break;
      }
  }
  if (kos.empty()) {
    if (looks_mvtec_like(root)) {
      scan_mvtec_like(s, {{"good"}, "sdd",
                          "the converted SDD layout SDD/{train,test}/{good,defect} with masks in "
                          "SDD/ground_truth/defect/*_mask.png"});
      return;
    }
    TC_INPUT_ERROR(
        "layout 'sdd': no kosNN folders with PartN_label.bmp files and no <cls>/test folders found "
        "under '{}'; expected the KolektorSDD layout kosNN/PartN.jpg + kosNN/PartN_label.bmp, or the "
        "converted SDD layout SDD/{{train,test}}/{{good,defect}} with SDD/ground_truth/defect/*_mask.png",
        root.string());
  }
  s.require_no_train("the raw KolektorSDD layout");
  struct Job {
    fs::path image, label;
  };
  std::vector<Job> jobs;
  Warnings& warn = s.warn();
  for (const auto& d : kos) {
    // Images and their labels share one folder: split the listing by the _label suffix.
    const auto files = list_images(root / d);
    MaskIndex labels(root / d);
    for (const auto& f : files)
      if (has_mask_suffix(f, "_label")) labels.add(f, "_label", warn);
    for (const auto& f : files) {
      if (has_mask_suffix(f, "_label")) continue;
      auto label = labels.find(stem_of(f));
      if (!label) {
        warn.add("images without a label file",
                 fmt::format("image '{}' has no label file '{}'; skipped (KolektorSDD labels decide "
                             "whether an image is defective)",
                             (root / d / f).string(), (root / d / (stem_of(f) + "_label.bmp")).string()));
        continue;
      }
      jobs.push_back({root / d / f, *label});
    }
    labels.report_unused(warn);
  }
  TC_CHECK_INPUT(!jobs.empty(), "layout 'sdd': no PartN images with labels under '{}'", root.string());
  // Decoding ~400 label bitmaps takes a few seconds on a slow disk: show progress.
  Progress progress("sdd labels", static_cast<int64_t>(jobs.size()), "img", tc::log::options().rank == 0);
  for (const auto& j : jobs) {
    const bool defective = any_nonzero(j.label);
    s.add("sdd", defective ? "defect" : "good", "test", j.image, defective ? 1 : 0, j.label, true);
    progress.update();
  }
  progress.finish();
}

// ---------------------------------------------------------------- HeadCT
void scan_headct(Scan& s) {
  const fs::path& root = s.root();
  std::optional<fs::path> csv;
  for (const auto& d : {root, root / "head_ct", root / "head_ct" / "head_ct"})
    if (is_file(d / "labels.csv")) {
      csv = d / "labels.csv";
      break;
    }
  if (!csv) {
    if (looks_mvtec_like(root)) {
      scan_mvtec_like(s, {{"good"}, "headct",
                          "the restructured HeadCT layout test/{good,<defect>} (or <cls>/test/...)"});
      return;
    }
    TC_INPUT_ERROR(
        "layout 'headct': no labels.csv and no test/ folder under '{}'; expected the original Kaggle "
        "layout labels.csv (columns id,hemorrhage) + head_ct/NNN.png, or the restructured layout "
        "test/{{good,<defect>}}/*.png",
        root.string());
  }
  s.require_no_train("the original HeadCT layout (labels.csv)");
  // Images: the folder of labels.csv or its head_ct/ (the Kaggle zip nests head_ct/head_ct).
  std::map<long, fs::path> by_id;
  std::optional<fs::path> img_dir;
  for (const auto& d : {csv->parent_path() / "head_ct", csv->parent_path() / "head_ct" / "head_ct",
                        csv->parent_path()}) {
    if (!is_dir(d)) continue;
    for (const auto& f : list_images(d)) {
      const std::string st = stem_of(f);
      if (st.empty() || !std::all_of(st.begin(), st.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
        continue;
      by_id.emplace(std::stol(st), d / f);
    }
    if (!by_id.empty()) {
      img_dir = d;
      break;
    }
  }
  TC_CHECK_INPUT(img_dir.has_value(),
                 "layout 'headct': '{}' found but no NNN.png images beside it or in head_ct/; "
                 "expected head_ct/000.png ... head_ct/199.png",
                 csv->string());
  std::vector<std::string> header;
  const auto rows = read_csv(*csv, &header);
  TC_CHECK_INPUT(header.size() == 2, "{}:1: expected 2 columns (id, hemorrhage), got {}", csv->string(),
                 header.size());
  std::set<long> listed;
  for (const auto& r : rows) {
    long id = -1, h = -1;
    try {
      size_t p1 = 0, p2 = 0;
      id = std::stol(r.cells[0], &p1);
      h = std::stol(r.cells[1], &p2);
      if (p1 != r.cells[0].size() || p2 != r.cells[1].size()) id = -1;
    } catch (const std::exception&) {
      id = -1;
    }
    TC_CHECK_INPUT(id >= 0 && (h == 0 || h == 1),
                   "{}:{}: expected '<id>,<0|1>' (fields id and hemorrhage), got '{},{}'", csv->string(),
                   r.line, r.cells[0], r.cells[1]);
    listed.insert(id);
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      s.warn().add("listed images that are missing",
                   fmt::format("{}:{}: image {:03d}.png is missing in '{}'; skipped", csv->string(),
                               r.line, id, img_dir->string()));
      continue;
    }
    s.add("headct", h ? "hemorrhage" : "good", "test", it->second, static_cast<int>(h), std::nullopt, false);
  }
  for (const auto& [id, p] : by_id)
    if (!listed.count(id))
      s.warn().add("images not in labels.csv",
                   fmt::format("image '{}' is not listed in '{}'; skipped (its label is unknown)",
                               p.string(), csv->string()));
  TC_CHECK_INPUT(s.count() > 0, "layout 'headct': no labelled images under '{}'", root.string());
}

// ---------------------------------------------------------------- {normal,anomalous} folders
// The folder that holds all `names` as sub-folders: ROOT or one of its sub-folders (archives
// often add a top folder: brain_tumor_dataset/).
std::optional<fs::path> find_holder(const fs::path& root, const std::vector<std::string>& names) {
  auto holds = [&](const fs::path& d) {
    for (const auto& n : names)
      if (!find_dir_ci(d, n)) return false;
    return true;
  };
  if (holds(root)) return root;
  const auto subs = list_dirs(root);
  for (const auto& d : subs)
    if (holds(root / d)) return root / d;
  return std::nullopt;
}

// BrainMRI / Br35H: {no,yes}. Only those two folders count (Br35H's unlabelled pred/ and any
// other folder are ignored and reported).
void scan_no_yes(Scan& s, const std::string& expected) {
  auto holder = find_holder(s.root(), {"no", "yes"});
  if (!holder)
    TC_INPUT_ERROR("layout '{}': no 'no' and 'yes' folders under '{}'; expected {}", s.info().name,
                   s.root().string(), expected);
  for (const auto& d : list_dirs(*holder)) {
    if (iequals(d, "no") || iequals(d, "yes")) continue;
    s.warn().add("ignored folders",
                 fmt::format("folder '{}' ignored: only no/ (normal) and yes/ (anomalous) are labelled{}",
                             (*holder / d).string(), iequals(d, "pred") ? " (Br35H's pred/ is unlabelled)" : ""));
  }
  for (const auto& [name, label] : {std::pair<std::string, int>{"no", 0}, {"yes", 1}}) {
    const fs::path dir = *find_dir_ci(*holder, name);
    const auto images = list_images(dir);
    if (images.empty())
      s.warn().add("empty folders", fmt::format("folder '{}' holds no images", dir.string()));
    for (const auto& f : images)
      s.add(s.info().name, label ? "yes" : "good", "test", dir / f, label, std::nullopt, false);
  }
  TC_CHECK_INPUT(s.count() > 0, "layout '{}': no images in '{}'/{{no,yes}}", s.info().name, holder->string());
}

// COVID-19 Radiography: {NORMAL,<others>}/ (or <cls>/images/ in later releases, whose masks/
// are lung masks, not anomaly masks, and are ignored).
void scan_covid(Scan& s) {
  const fs::path& root = s.root();
  std::optional<fs::path> holder;
  for (const auto& d : list_dirs(root))
    if (iequals(d, "normal")) holder = root;
  if (!holder)
    for (const auto& sub : list_dirs(root))
      for (const auto& d : list_dirs(root / sub))
        if (!holder && iequals(d, "normal")) holder = root / sub;
  if (!holder)
    TC_INPUT_ERROR(
        "layout 'covid': no NORMAL folder under '{}'; expected the COVID-19 Radiography layout "
        "{{NORMAL,COVID,<others>}}/*.png (or <folder>/images/*.png)",
        root.string());
  for (const auto& d : list_dirs(*holder)) {
    fs::path dir = *holder / d;
    if (auto images = find_dir_ci(dir, "images")) dir = *images;
    const bool normal = iequals(d, "normal");
    for (const auto& f : list_images(dir))
      s.add("covid", normal ? "good" : d, "test", dir / f, normal ? 0 : 1, std::nullopt, false);
  }
  TC_CHECK_INPUT(s.count() > 0, "layout 'covid': no images in the class folders of '{}'", holder->string());
}

// ---------------------------------------------------------------- pixel-level medical sets
void pair_folder(Scan& s, const std::string& cls, const std::string& defect, const std::string& split,
                 const fs::path& img_dir, MaskIndex& masks, const std::string& mask_hint) {
  for (const auto& rel : list_images_recursive(img_dir)) {
    const fs::path img = img_dir / rel;
    const auto slash = rel.rfind('/');
    const std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
    auto mask = masks.find(stem_of(name));
    if (!mask) s.missing_mask(img, fmt::format("'{}'", (masks.dir() / mask_hint).string()));
    s.add(cls, defect, split, img, 1, mask, mask.has_value());
  }
}

// ISIC: images and *_Segmentation masks anywhere below ROOT (ISBI2016_ISIC_Part1_Test_Data +
// _Test_GroundTruth, or AnomalyCLIP's skin/test/<specie> + the GroundTruth folder); a path
// with "train" in it belongs to the train split.
// A folder (not the file name) of `rel` names the training data: "train", "Training_Data",
// "..._train..." (and not, say, "constraint").
bool isic_is_train(const std::string& rel) {
  const fs::path dirs = fs::path(rel).parent_path();
  for (const auto& part : dirs) {
    const std::string c = lower(part.string());
    if (c.rfind("train", 0) == 0 || c.find("_train") != std::string::npos ||
        c.find("training") != std::string::npos)
      return true;
  }
  return false;
}

void scan_isic(Scan& s) {
  const fs::path& root = s.root();
  // Images and masks sit in different folders, so pairing is by stem alone, per split.
  std::map<std::string, std::map<std::string, fs::path>> masks;  // split -> stem -> mask
  std::vector<std::pair<std::string, std::string>> images;       // split, rel
  int superpixels = 0;
  for (const auto& rel : list_images_recursive(root)) {
    const std::string split = isic_is_train(rel) ? "train" : "test";
    const std::string name = fs::path(rel).filename().string();
    if (has_mask_suffix(name, "_Segmentation")) {
      const std::string key = mask_key(name, "_Segmentation");
      auto [it, inserted] = masks[split].emplace(key, root / rel);
      if (!inserted)
        s.warn().add("masks with the same stem",
                     fmt::format("two masks for '{}': '{}' and '{}'; using the first", key,
                                 it->second.string(), (root / rel).string()));
    } else if (ends_with_ci(stem_of(name), "_superpixels")) {
      ++superpixels;  // ISIC 2017+ ships superpixel maps beside the images
    } else {
      images.emplace_back(split, rel);
    }
  }
  if (superpixels)
    s.warn().add("superpixels", fmt::format("{} *_superpixels images ignored", superpixels));
  if (masks.empty())
    TC_INPUT_ERROR(
        "layout 'isic': no *_Segmentation.png masks found under '{}'; expected the ISIC 2016 layout "
        "ISBI2016_ISIC_Part1_Test_Data/ISIC_NNNNNNN.jpg + ISBI2016_ISIC_Part1_Test_GroundTruth/"
        "ISIC_NNNNNNN_Segmentation.png",
        root.string());
  std::map<std::string, std::set<std::string>> used;
  for (const auto& [split, rel] : images) {
    if (!s.want(split)) continue;
    const std::string stem = stem_of(fs::path(rel).filename().string());
    std::optional<fs::path> mask;
    auto it = masks[split].find(stem);
    if (it != masks[split].end()) {
      mask = it->second;
      used[split].insert(stem);
    } else {
      s.missing_mask(root / rel, fmt::format("'{}_Segmentation.png'", stem));
    }
    s.add("isic", "lesion", split, root / rel, 1, mask, mask.has_value());
  }
  for (const auto& [split, m] : masks) {
    if (!s.want(split)) continue;
    for (const auto& [stem, p] : m)
      if (!used[split].count(stem))
        s.warn().add("masks without an image", fmt::format("mask '{}' matches no image", p.string()));
  }
  TC_CHECK_INPUT(s.count() > 0, "layout 'isic': no images for split '{}' under '{}'", s.opt().split,
                 root.string());
}

// CVC-ClinicDB / CVC-ColonDB / Kvasir: images/ + masks/ with equal stems (PraNet layout;
// also the original ClinicDB names Original/ + Ground Truth/).
void scan_images_masks(Scan& s, const std::string& dataset) {
  const fs::path& root = s.root();
  static const std::pair<const char*, const char*> kPairs[] = {
      {"images", "masks"}, {"Original", "Ground Truth"}, {"Original", "GroundTruth"}};
  std::optional<std::pair<fs::path, fs::path>> dirs;
  auto try_at = [&](const fs::path& base) {
    for (const auto& [i, m] : kPairs) {
      auto di = find_dir_ci(base, i), dm = find_dir_ci(base, m);
      if (di && dm) {
        dirs = std::make_pair(*di, *dm);
        return;
      }
    }
  };
  try_at(root);
  if (!dirs) {
    const auto subs = list_dirs(root);
    if (subs.size() == 1) try_at(root / subs[0]);
  }
  if (!dirs)
    TC_INPUT_ERROR(
        "layout '{}': no images/ and masks/ folders under '{}'; expected the PraNet polyp layout "
        "images/*.png + masks/*.png with equal file names (or Original/ + Ground Truth/)",
        s.info().name, root.string());
  MaskIndex masks(dirs->second, "", false, s.warn());
  pair_folder(s, dataset, "polyp", "test", dirs->first, masks, "<stem>.png");
  masks.report_unused(s.warn());
  TC_CHECK_INPUT(s.count() > 0, "layout '{}': no images in '{}'", s.info().name, dirs->first.string());
}

// EndoTect 2020: every sub-folder except masks/ holds images (good/ = normal), masks/ the masks.
void scan_endo(Scan& s) {
  const fs::path& root = s.root();
  auto mdir = find_dir_ci(root, "masks");
  if (!mdir)
    TC_INPUT_ERROR(
        "layout 'endo': no masks/ folder under '{}'; expected the EndoTect 2020 segmentation test "
        "layout <folder>/*.jpg (every folder except masks/) with masks/<stem>.png",
        root.string());
  MaskIndex masks(*mdir, "", false, s.warn());
  for (const auto& d : list_dirs(root)) {
    if (root / d == *mdir) continue;
    if (iequals(d, "good")) {
      for (const auto& f : list_images(root / d)) s.add("endo", "good", "test", root / d / f, 0, std::nullopt, true);
      continue;
    }
    for (const auto& f : list_images(root / d)) {
      auto mask = masks.find(stem_of(f));
      if (!mask) s.missing_mask(root / d / f, fmt::format("'{}'", (*mdir / (stem_of(f) + ".png")).string()));
      s.add("endo", d, "test", root / d / f, 1, mask, mask.has_value());
    }
  }
  masks.report_unused(s.warn());
  TC_CHECK_INPUT(s.count() > 0, "layout 'endo': no images in the folders of '{}' (besides masks/)",
                 root.string());
}

// TN3K: test-image/ + test-mask/ (test), trainval-image/ + trainval-mask/ (train).
void scan_tn3k(Scan& s) {
  const fs::path& root = s.root();
  const bool have_test = is_dir(root / "test-image");
  const bool have_train = is_dir(root / "trainval-image");
  if (!have_test && !have_train)
    TC_INPUT_ERROR(
        "layout 'tn3k': no test-image/ and test-mask/ folders under '{}'; expected the TN3K layout "
        "test-image/NNNN.jpg + test-mask/NNNN.jpg (same names; trainval-image/ + trainval-mask/ for "
        "--split train)",
        root.string());
  for (const auto& [split, prefix] : {std::pair<std::string, std::string>{"train", "trainval"}, {"test", "test"}}) {
    if (!s.want(split)) continue;
    const fs::path idir = root / (prefix + "-image"), mdir = root / (prefix + "-mask");
    TC_CHECK_INPUT(is_dir(idir), "layout 'tn3k': split '{}' needs '{}', which does not exist", split,
                   idir.string());
    TC_CHECK_INPUT(is_dir(mdir), "layout 'tn3k': '{}' has no mask folder '{}'", idir.string(), mdir.string());
    MaskIndex masks(mdir, "", false, s.warn());
    pair_folder(s, "tn3k", "nodule", split, idir, masks, "<stem>.jpg");
    masks.report_unused(s.warn());
  }
  TC_CHECK_INPUT(s.count() > 0, "layout 'tn3k': no images for split '{}' under '{}'", s.opt().split,
                 root.string());
}

// ---------------------------------------------------------------- folder (user data)
// ROOT/<normal_dir>, ROOT/<anomalous_dir>[/<defect>], optional ROOT/<mask_dir> mirroring the
// anomalous folder with <stem><mask_suffix>.<ext> names. ROOT may instead hold one such
// folder per class.
void scan_folder(Scan& s) {
  const fs::path& root = s.root();
  const ScanOptions& o = s.opt();
  auto is_class = [&](const fs::path& d) { return is_dir(d / o.normal_dir) || is_dir(d / o.anomalous_dir); };
  std::vector<std::pair<std::string, fs::path>> classes;
  if (is_class(root)) {
    std::string name = fs::absolute(root).lexically_normal().filename().string();
    if (name.empty()) name = fs::absolute(root).lexically_normal().parent_path().filename().string();
    classes.emplace_back(name.empty() ? "folder" : name, root);
  } else {
    for (const auto& d : list_dirs(root))
      if (is_class(root / d)) classes.emplace_back(d, root / d);
  }
  if (classes.empty())
    TC_INPUT_ERROR(
        "layout 'folder': no '{}/' or '{}/' folder under '{}'; expected ROOT/{}/*.png (normal), "
        "ROOT/{}/[<defect>/]*.png (anomalous) and optionally ROOT/{}/[<defect>/]<stem>{}.png "
        "(masks), or one such folder per class (the names are set by --normal-dir, --anomalous-dir, "
        "--mask-dir, --mask-suffix)",
        o.normal_dir, o.anomalous_dir, root.string(), o.normal_dir, o.anomalous_dir, o.mask_dir,
        o.mask_suffix);
  for (const auto& [cls, dir] : classes) {
    const size_t before = s.count();
    // Without a mask folder the data is image-level: no image has a pixel ground truth.
    const bool with_masks = is_dir(dir / o.mask_dir);
    if (is_dir(dir / o.normal_dir))
      for (const auto& rel : list_images_recursive(dir / o.normal_dir))
        s.add(cls, "good", "test", dir / o.normal_dir / rel, 0, std::nullopt, with_masks);
    MaskIndex masks(dir / o.mask_dir, o.mask_suffix, true, s.warn());
    if (is_dir(dir / o.anomalous_dir)) {
      for (const auto& rel : list_images_recursive(dir / o.anomalous_dir)) {
        const auto slash = rel.find('/');
        const std::string defect = slash == std::string::npos ? o.anomalous_dir : rel.substr(0, slash);
        const auto last = rel.rfind('/');
        const std::string key = (last == std::string::npos ? "" : rel.substr(0, last + 1)) +
                                stem_of(last == std::string::npos ? rel : rel.substr(last + 1));
        std::optional<fs::path> mask = with_masks ? masks.find(key) : std::nullopt;
        if (with_masks && !mask)
          s.missing_mask(dir / o.anomalous_dir / rel,
                         fmt::format("'{}'", (dir / o.mask_dir / (key + o.mask_suffix + ".png")).string()));
        s.add(cls, defect, "test", dir / o.anomalous_dir / rel, 1, mask, mask.has_value());
      }
    }
    masks.report_unused(s.warn());
    TC_CHECK_INPUT(s.count() > before, "layout 'folder': class '{}' has no images in '{}/' or '{}/' under '{}'",
                   cls, o.normal_dir, o.anomalous_dir, dir.string());
  }
}

const std::vector<LayoutInfo>& table() {
  // name, domain, level, mask threshold, description, has_split
  static const std::vector<LayoutInfo> t = {
      {"mvtec", "industrial", "both", 0, "MVTec AD: <cls>/{train,test}/<defect>/*.png, <cls>/ground_truth/<defect>/*_mask.png", true},
      {"visa", "industrial", "both", 0, "VisA: split_csv/1cls.csv (object,split,label,image,mask); class-id masks", true},
      {"mpdd", "industrial", "both", 0, "MPDD: MVTec-like <cls>/{train,test}/<defect>, ground_truth/<defect>/*_mask.png", true},
      {"btad", "industrial", "both", 0, "BTAD: <01|02|03>/{train/ok,test/{ok,ko}}, ground_truth/ko/<stem>.png; bmp and png", true},
      {"sdd", "industrial", "both", 0, "KolektorSDD: kosNN/PartN.jpg + PartN_label.bmp (or the converted SDD/{train,test})", true},
      {"dagm", "industrial", "both", 0, "DAGM 2007: ClassN/{Train,Test}/NNNN.PNG + Label/NNNN_label.PNG (weak ellipse labels)", true},
      {"dtd", "industrial", "both", 0, "DTD-Synthetic: MVTec-like <cls>/{train,test}/<defect>, ground_truth/<defect>", true},
      {"headct", "medical", "image", 0, "HeadCT: head_ct/NNN.png + labels.csv (id,hemorrhage), or test/{good,<defect>}", true},
      {"brainmri", "medical", "image", 0, "Brain MRI (Kaggle): {no,yes}/* (no = normal)", false},
      {"br35h", "medical", "image", 0, "Br35H: {no,yes}/* (no = normal; the unlabelled pred/ is ignored)", false},
      {"covid", "medical", "image", 0, "COVID-19 Radiography: {NORMAL,<others>}/* (or <folder>/images/*)", false},
      {"isic", "medical", "pixel", 0, "ISIC 2016: ISIC_*.jpg + ISIC_*_Segmentation.png (Test/Training folders)", true},
      {"clinicdb", "medical", "pixel", 127, "CVC-ClinicDB: images/ + masks/ (same names)", false},
      {"colondb", "medical", "pixel", 127, "CVC-ColonDB: images/ + masks/ (same names)", false},
      {"kvasir", "medical", "pixel", 127, "Kvasir-SEG: images/ + masks/ (same names; JPEG masks)", false},
      {"endo", "medical", "pixel", 127, "EndoTect 2020: <folder>/* (every folder but masks/) + masks/<stem>.*", false},
      {"tn3k", "medical", "pixel", 127, "TN3K: test-image/ + test-mask/ (same names; trainval-* for train)", true},
      {"folder", "user", "both", 0, "your data: good/, anomalous/[<defect>/], optional masks/<stem>_mask.png", false},
  };
  return t;
}

}  // namespace detail_layouts

const std::vector<LayoutInfo>& layouts() { return detail_layouts::table(); }

const LayoutInfo& layout_info(const std::string& name) {
  for (const auto& l : layouts())
    if (l.name == name) return l;
  std::vector<std::string> names;
  std::string list;
  for (const auto& l : layouts()) {
    names.push_back(l.name);
    list += (list.empty() ? "" : ", ") + l.name;
  }
  const std::string near = closest(name, names);
  TC_USAGE_ERROR("unknown layout '{}'{}; known layouts: {}", name,
                 near.empty() ? std::string() : fmt::format(" (did you mean '{}'?)", near), list);
}

std::string describe_layouts() {
  std::string out = fmt::format("{:<9} {:<10} {:<5} {:<6} {:<10} {}\n", "layout", "domain", "level",
                                "masks", "splits", "folders");
  for (const auto& l : layouts()) {
    const std::string rule = l.level == "image" ? "none" : fmt::format("> {}", l.mask_threshold);
    out += fmt::format("{:<9} {:<10} {:<5} {:<6} {:<10} {}\n", l.name, l.domain, l.level, rule,
                       l.has_split ? "test/train" : "test", l.description);
  }
  return out;
}

ScanResult scan_layout(const std::string& layout, const std::string& root, const ScanOptions& opt) {
  namespace fs = std::filesystem;
  const LayoutInfo& info = layout_info(layout);
  TC_CHECK_USAGE(opt.split == "test" || opt.split == "train" || opt.split == "all",
                 "split '{}' is not allowed; expected one of: test, train, all", opt.split);
  TC_CHECK_USAGE(info.has_split || opt.split != "train",
                 "layout '{}' has no train split: the whole dataset is the test split (as in the "
                 "reference meta.json); use --split test (or all)",
                 layout);
  TC_CHECK_INPUT(!root.empty(), "no dataset root given for layout '{}'", layout);
  // "data/mvtec/" and "data/mvtec" scan alike (class names come from folder names).
  fs::path r = fs::path(root).lexically_normal();
  if (!r.has_filename() && r.has_relative_path()) r = r.parent_path();
  std::error_code ec;
  TC_CHECK_INPUT(fs::exists(r, ec), "dataset root '{}' does not exist", root);
  TC_CHECK_INPUT(fs::is_directory(r, ec), "dataset root '{}' is not a folder", root);
  if (layout == "folder") {
    TC_CHECK_USAGE(!opt.normal_dir.empty() && !opt.anomalous_dir.empty() && !opt.mask_dir.empty(),
                   "layout 'folder': the normal, anomalous and mask folder names must not be empty");
  }

  detail_layouts::Scan s(info, r, opt);
  using detail_layouts::MvtecLike;
  if (layout == "mvtec") {
    detail_layouts::scan_mvtec_like(
        s, {{"good"}, "", "the MVTec AD layout <cls>/{train,test}/<defect>/*.png with masks in <cls>/ground_truth/<defect>/*_mask.png"});
  } else if (layout == "mpdd") {
    detail_layouts::scan_mvtec_like(
        s, {{"good"}, "", "the MPDD layout <cls>/{train,test}/<defect>/*.png with masks in <cls>/ground_truth/<defect>/*_mask.png"});
  } else if (layout == "dtd") {
    detail_layouts::scan_mvtec_like(
        s, {{"good"}, "", "the DTD-Synthetic layout <cls>/{train,test}/<defect>/*.png with masks in <cls>/ground_truth/<defect>/*_mask.png"});
  } else if (layout == "btad") {
    detail_layouts::scan_mvtec_like(
        s, {{"ok", "good"}, "", "the BTAD layout <01|02|03>/{train/ok,test/{ok,ko}}/*.{bmp,png} with masks in <cls>/ground_truth/ko/<stem>.png"});
  } else if (layout == "visa") {
    detail_layouts::scan_visa(s);
  } else if (layout == "sdd") {
    detail_layouts::scan_sdd(s);
  } else if (layout == "dagm") {
    detail_layouts::scan_dagm(s);
  } else if (layout == "headct") {
    detail_layouts::scan_headct(s);
  } else if (layout == "brainmri") {
    detail_layouts::scan_no_yes(s, "the Kaggle Brain MRI layout {no,yes}/*.jpg (or brain_tumor_dataset/{no,yes})");
  } else if (layout == "br35h") {
    detail_layouts::scan_no_yes(s, "the Kaggle Br35H layout {no,yes}/*.jpg");
  } else if (layout == "covid") {
    detail_layouts::scan_covid(s);
  } else if (layout == "isic") {
    detail_layouts::scan_isic(s);
  } else if (layout == "clinicdb" || layout == "colondb" || layout == "kvasir") {
    detail_layouts::scan_images_masks(s, layout);
  } else if (layout == "endo") {
    detail_layouts::scan_endo(s);
  } else if (layout == "tn3k") {
    detail_layouts::scan_tn3k(s);
  } else {
    detail_layouts::scan_folder(s);
  }
  return s.finish();
}

}  // namespace tc::data
