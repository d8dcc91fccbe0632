// Layout scanners: each layout's miniature tree (tests/data/fixtures_support.cpp) is scanned
// and the full item list (order, class, split, defect, label, has_mask, image and mask paths)
// is compared with a list written out by hand from the tree's description; then warnings and
// every refusal (kind and message).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "data/fixtures_support.h"
#include "data/layouts.h"
#include "util/check.h"

namespace {

namespace fs = std::filesystem;
using tc::data::scan_layout;
using tc::data::ScanOptions;
using tc::data::ScanResult;
using tc::test::TempTree;

// One line per item: "class split defect label has_mask image [mask]" (paths relative to root).
std::vector<std::string> lay_lines(const ScanResult& r, const fs::path& root) {
  std::vector<std::string> out;
  for (const auto& it : r.items) {
    std::string s = it.class_name + " " + it.split + " " + it.defect + " " + std::to_string(it.label) +
                    " " + (it.has_mask ? "m" : "-") + " " + it.rel_path;
    EXPECT_EQ(fs::path(it.image_path), root / it.rel_path) << it.rel_path;
    EXPECT_TRUE(fs::is_regular_file(it.image_path)) << it.image_path;
    if (!it.mask_path.empty()) {
      EXPECT_TRUE(fs::is_regular_file(it.mask_path)) << it.mask_path;
      s += " " + fs::path(it.mask_path).lexically_relative(root).generic_string();
    }
    // Invariant of the record: an anomalous image has a mask path iff has_mask.
    if (it.label == 1) EXPECT_EQ(it.has_mask, !it.mask_path.empty()) << s;
    out.push_back(s);
  }
  return out;
}

ScanResult lay_scan(const std::string& layout, const fs::path& root, const std::string& split = "test",
                    ScanOptions opt = {}) {
  opt.split = split;
  return scan_layout(layout, root.string(), opt);
}

bool lay_warned(const ScanResult& r, const std::string& needle) {
  return std::any_of(r.warnings.begin(), r.warnings.end(),
                     [&](const std::string& w) { return w.find(needle) != std::string::npos; });
}

std::string lay_all_warnings(const ScanResult& r) {
  std::string s;
  for (const auto& w : r.warnings) s += w + "\n";
  return s;
}

// Runs `f`, expects a tc::Error of `kind` whose message contains every needle.
template <typename F>
void lay_expect_error(F f, tc::ErrorKind kind, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const tc::Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.message();
    for (const auto& n : needles) EXPECT_NE(e.message().find(n), std::string::npos) << "'" << n << "' not in: " << e.message();
  }
}

using Lines = std::vector<std::string>;

TEST(Layouts, TableListsTheProtocolDatasets) {
  std::set<std::string> names;
  int industrial = 0, image_level = 0, pixel_level = 0;
  for (const auto& l : tc::data::layouts()) {
    names.insert(l.name);
    EXPECT_FALSE(l.description.empty()) << l.name;
    EXPECT_TRUE(l.mask_threshold == 0 || l.mask_threshold == 127) << l.name;
    industrial += l.domain == "industrial";
    image_level += l.level == "image";
    pixel_level += l.level == "pixel";
  }
  EXPECT_EQ(names, (std::set<std::string>{"mvtec", "visa", "mpdd", "btad", "sdd", "dagm", "dtd", "headct",
                                          "brainmri", "br35h", "covid", "isic", "clinicdb", "colondb",
                                          "kvasir", "endo", "tn3k", "folder"}));
  EXPECT_EQ(industrial, 7);
  EXPECT_EQ(image_level, 4);   // headct, brainmri, br35h, covid
  EXPECT_EQ(pixel_level, 6);   // isic, clinicdb, colondb, kvasir, endo, tn3k
  EXPECT_EQ(tc::data::layout_info("kvasir").mask_threshold, 127);  // JPEG masks
  EXPECT_EQ(tc::data::layout_info("visa").mask_threshold, 0);      // class-id masks
  EXPECT_EQ(tc::data::layout_info("brainmri").level, "image");
}

TEST(Layouts, DescribeListsEveryLayoutOnItsOwnLine) {
  const std::string d = tc::data::describe_layouts();
  EXPECT_EQ(std::count(d.begin(), d.end(), '\n'), 19);  // header + 18 layouts
  EXPECT_NE(d.find("\nkvasir    medical    pixel > 127  test       Kvasir-SEG"), std::string::npos) << d;
  EXPECT_NE(d.find("\nbrainmri  medical    image none   test       "), std::string::npos) << d;
  EXPECT_NE(d.find("\nmvtec     industrial both  > 0    test/train MVTec AD"), std::string::npos) << d;
}

TEST(Layouts, UnknownLayoutIsAUsageErrorWithASuggestion) {
  lay_expect_error([] { tc::data::layout_info("mvtex"); }, tc::ErrorKind::Usage,
                   {"unknown layout 'mvtex'", "did you mean 'mvtec'?", "brainmri"});
  TempTree t("unknown");
  lay_expect_error([&] { lay_scan("brainmr", t.path()); }, tc::ErrorKind::Usage, {"did you mean 'brainmri'?"});
}

TEST(Layouts, MissingRootAndBadSplit) {
  TempTree t("root");
  lay_expect_error([&] { lay_scan("mvtec", t.path() / "nope"); }, tc::ErrorKind::Input,
                   {"dataset root", "nope", "does not exist"});
  tc::test::write_text(t.path() / "file.txt", "x");
  lay_expect_error([&] { lay_scan("mvtec", t.path() / "file.txt"); }, tc::ErrorKind::Input, {"is not a folder"});
  lay_expect_error([&] { lay_scan("mvtec", t.path(), "val"); }, tc::ErrorKind::Usage,
                   {"split 'val'", "test, train, all"});
  lay_expect_error([&] { lay_scan("brainmri", t.path(), "train"); }, tc::ErrorKind::Usage,
                   {"layout 'brainmri' has no train split", "--split test"});
}

TEST(Layouts, Mvtec) {
  TempTree t("mvtec");
  tc::test::make_mvtec(t.path());
  auto r = lay_scan("mvtec", t.path());
  // 001 keeps no mask although a sorted-index pairing would hand it 002's; the orphan 005 is
  // reported; stray .DS_Store / meta.json / license.txt are not images.
  EXPECT_EQ(lay_lines(r, t.path()),
            (Lines{"bottle test broken_large 1 m bottle/test/broken_large/000.png bottle/ground_truth/broken_large/000_mask.png",
                   "bottle test broken_large 1 - bottle/test/broken_large/001.png",
                   "bottle test broken_large 1 m bottle/test/broken_large/002.png bottle/ground_truth/broken_large/002_mask.png",
                   "bottle test good 0 m bottle/test/good/000.png",
                   "grid test bent 1 m grid/test/bent/000.png grid/ground_truth/bent/000_mask.png",
                   "grid test good 0 m grid/test/good/000.png"}));
  EXPECT_TRUE(lay_warned(r, "bottle/test/broken_large/001.png' has no mask (expected '" +
                             (t.path() / "bottle/ground_truth/broken_large/001_mask.png").string() + "')"))
      << lay_all_warnings(r);
  EXPECT_TRUE(lay_warned(r, "005_mask.png' matches no image")) << lay_all_warnings(r);
  EXPECT_EQ(r.warnings.size(), 2u) << lay_all_warnings(r);

  auto tr = lay_scan("mvtec", t.path(), "train");
  EXPECT_EQ(lay_lines(tr, t.path()), (Lines{"bottle train good 0 m bottle/train/good/000.png",
                                           "bottle train good 0 m bottle/train/good/001.png",
                                           "grid train good 0 m grid/train/good/000.png"}));
  EXPECT_TRUE(tr.warnings.empty()) << lay_all_warnings(tr);
  EXPECT_EQ(lay_scan("mvtec", t.path(), "all").items.size(), 9u);

  // One class folder given as the root: the class is named after the folder.
  auto one = lay_scan("mvtec", t.path() / "grid");
  EXPECT_EQ(lay_lines(one, t.path() / "grid"),
            (Lines{"grid test bent 1 m test/bent/000.png ground_truth/bent/000_mask.png",
                   "grid test good 0 m test/good/000.png"}));
  // A trailing slash changes nothing.
  auto slash = scan_layout("mvtec", (t.path() / "grid").string() + "/", {});
  EXPECT_EQ(lay_lines(slash, t.path() / "grid"), lay_lines(one, t.path() / "grid"));
}

TEST(Layouts, MvtecRefusals) {
  TempTree t("mvtec_bad");
  tc::test::make_br35h(t.path());  // a different layout
  lay_expect_error([&] { lay_scan("mvtec", t.path()); }, tc::ErrorKind::Input,
                   {"no <cls>/test folders found under '" + t.path().string() + "'", "expected the MVTec AD layout",
                    "ground_truth/<defect>/*_mask.png"});
  TempTree e("mvtec_empty");
  tc::test::make_mvtec(e.path());
  fs::create_directories(e.path() / "cable/test/good");  // an empty class
  lay_expect_error([&] { lay_scan("mvtec", e.path()); }, tc::ErrorKind::Input,
                   {"class 'cable' has no images for split 'test'", (e.path() / "cable").string()});
}

TEST(Layouts, Visa) {
  TempTree t("visa");
  tc::test::make_visa(t.path());
  auto r = lay_scan("visa", t.path());
  EXPECT_EQ(lay_lines(r, t.path()),
            (Lines{"candle test chunk of wax missing, damaged corner 1 m candle/Data/Images/Anomaly/000.JPG candle/Data/Masks/Anomaly/000.png",
                   "candle test anomaly 1 - candle/Data/Images/Anomaly/001.JPG",
                   "candle test good 0 m candle/Data/Images/Normal/0900.JPG",
                   "pcb1 test anomaly 1 - pcb1/Data/Images/Anomaly/000.JPG",
                   "pcb1 test good 0 m pcb1/Data/Images/Normal/0001.JPG"}));
  EXPECT_TRUE(lay_warned(r, "Anomaly/001.JPG' has no mask (expected a mask in column 'mask' of")) << lay_all_warnings(r);
  EXPECT_TRUE(lay_warned(r, "pcb1/Data/Masks/Anomaly/000.png'")) << lay_all_warnings(r);
  auto tr = lay_scan("visa", t.path(), "train");
  EXPECT_EQ(lay_lines(tr, t.path()), (Lines{"candle train good 0 m candle/Data/Images/Normal/0836.JPG"}));
  EXPECT_EQ(lay_scan("visa", t.path(), "all").items.size(), 6u);

  // The split file given explicitly.
  ScanOptions o;
  o.visa_csv = (t.path() / "split_csv/1cls.csv").string();
  fs::rename(t.path() / "split_csv", t.path() / "elsewhere");
  lay_expect_error([&] { lay_scan("visa", t.path()); }, tc::ErrorKind::Input,
                   {"no split file under", "split_csv/1cls.csv", "columns object,split,label,image,mask"});
  o.visa_csv = (t.path() / "elsewhere/1cls.csv").string();
  EXPECT_EQ(lay_scan("visa", t.path(), "test", o).items.size(), 5u);
}

TEST(Layouts, VisaRefusals) {
  TempTree t("visa_bad");
  tc::test::make_visa(t.path());
  const fs::path csv = t.path() / "split_csv/1cls.csv";
  tc::test::write_text(csv, "object,split,kind,image,mask\ncandle,test,normal,candle/Data/Images/Normal/0900.JPG,\n");
  lay_expect_error([&] { lay_scan("visa", t.path()); }, tc::ErrorKind::Input,
                   {csv.string() + ":1: header has no column 'label'", "object,split,label,image,mask"});
  tc::test::write_text(csv, "object,split,label,image,mask\ncandle,test,bad,candle/Data/Images/Normal/0900.JPG,\n");
  lay_expect_error([&] { lay_scan("visa", t.path()); }, tc::ErrorKind::Input,
                   {csv.string() + ":2: field 'label' is 'bad'; expected normal or anomaly"});
  tc::test::write_text(csv, "object,split,label,image,mask\ncandle,test,normal\n");
  lay_expect_error([&] { lay_scan("visa", t.path()); }, tc::ErrorKind::Input,
                   {csv.string() + ":2: expected 5 comma-separated columns, got 3"});
  tc::test::write_text(csv, "object,split,label,image,mask\ncandle,test,normal,candle/Data/Images/Normal/9999.JPG,\n");
  lay_expect_error([&] { lay_scan("visa", t.path()); }, tc::ErrorKind::Input,
                   {"1 images listed in", "line 2", "9999.JPG"});
}

TEST(Layouts, Mpdd) {
  TempTree t("mpdd");
  tc::test::make_mpdd(t.path());
  auto r = lay_scan("mpdd", t.path());
  EXPECT_EQ(lay_lines(r, t.path()),
            (Lines{"connector test good 0 m connector/test/good/000.png",
                   "connector test parallel_behind 1 m connector/test/parallel_behind/000.png connector/ground_truth/parallel_behind/000_mask.png",
                   "connector test parallel_behind 1 m connector/test/parallel_behind/001.png connector/ground_truth/parallel_behind/001_mask.png"}));
  EXPECT_TRUE(r.warnings.empty()) << lay_all_warnings(r);
}

TEST(Layouts, Btad) {
  TempTree t("btad");
  tc::test::make_btad(t.path());
  auto r = lay_scan("btad", t.path());
  EXPECT_EQ(lay_lines(r, t.path()),
            (Lines{"01 test ko 1 m 01/test/ko/0002.bmp 01/ground_truth/ko/0002.png",
                   "01 test ko 1 m 01/test/ko/0003.bmp 01/ground_truth/ko/0003.png",
                   "01 test good 0 m 01/test/ok/0001.bmp",
                   "03 test ko 1 m 03/test/ko/0001.png 03/ground_truth/ko/0001.png",
                   "03 test good 0 m 03/test/ok/0000.png"}));
  EXPECT_TRUE(r.warnings.empty()) << lay_all_warnings(r);
  EXPECT_EQ(lay_scan("btad", t.path(), "all").items.size(), 7u);
}

TEST(Layouts, BtadMissingMaskNamesTheSameStemFile) {
  TempTree t("btad_missing");
  tc::test::make_btad(t.path());
  fs::remove(t.path() / "01/ground_truth/ko/0003.png");
  auto r = lay_scan("btad", t.path());
  EXPECT_TRUE(lay_warned(r, "01/test/ko/0003.bmp' has no mask (expected '" +
                                (t.path() / "01/ground_truth/ko/0003.png").string() + "')"))
      << lay_all_warnings(r);
  EXPECT_EQ(r.items[1].rel_path, "01/test/ko/0003.bmp");
  EXPECT_FALSE(r.items[1].has_mask);
}

// The order comes from sorting, not from the file system: two trees with the same files
// created in opposite orders scan identically.
TEST(Layouts, OrderDoesNotDependOnCreationOrder) {
  TempTree a("order_a"), b("order_b");
  std::vector<std::string> names;
  for (int i = 0; i < 40; ++i) names.push_back(std::to_string((i * 37) % 101) + (i % 3 ? ".png" : ".PNG"));
  for (const auto& n : names) tc::test::write_image(a.path() / "images" / n, 2, 2);
  for (auto it = names.rbegin(); it != names.rend(); ++it) tc::test::write_image(b.path() / "images" / *it, 2, 2);
  tc::test::write_mask(a.path() / "masks/0.png", 255, 2, 2);
  tc::test::write_mask(b.path() / "masks/0.png", 255, 2, 2);
  auto ra = lay_scan("colondb", a.path()), rb = lay_scan("colondb", b.path());
  ASSERT_EQ(ra.items.size(), 40u);
  EXPECT_EQ(lay_lines(ra, a.path()), lay_lines(rb, b.path()));
  for (size_t i = 1; i < ra.items.size(); ++i) EXPECT_LT(ra.items[i - 1].rel_path, ra.items[i].rel_path);
  std::vector<std::string> sorted = names;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(ra.items.front().rel_path, "images/" + sorted.front());
}

TEST(Layouts, SddRaw) {
  TempTree t("sdd");
  tc::test::make_sdd_raw(t.path());
  auto r = lay_scan("sdd", t.path());
  // Labels decide: kos01/Part0's label is all zero (normal), kos02/Part0's holds 1s.
  EXPECT_EQ(lay_lines(r, t.path()), (Lines{"sdd test good 0 m kos01/Part0.jpg kos01/Part0_label.bmp",
                                          "sdd test defect 1 m kos01/Part1.jpg kos01/Part1_label.bmp",
                                          "sdd test defect 1 m kos02/Part0.jpg kos02/Part0_label.bmp"}));
  EXPECT_TRUE(lay_warned(r, "kos02/Part1.jpg' has no label file")) << lay_all_warnings(r);
  EXPECT_TRUE(lay_warned(r, "kos02/Part5_label.bmp' matches no image")) << lay_all_warnings(r);
  lay_expect_error([&] { lay_scan("sdd", t.path(), "train"); }, tc::ErrorKind::Input,
                   {"raw KolektorSDD layout", "has no train split"});
  // A corrupt label is refused, naming the file.
  tc::test::write_text(t.path() / "kos01/Part1_label.bmp", "not a bitmap");
  lay_expect_error([&] { lay_scan("sdd", t.path()); }, tc::ErrorKind::Input, {"kos01/Part1_label.bmp"});
}

TEST(Layouts, SddConverted) {
  TempTree t("sddc");
  tc::test::make_sdd_converted(t.path());
  auto r = lay_scan("sdd", t.path(), "all");
  EXPECT_EQ(lay_lines(r, t.path()),
            (Lines{"sdd test defect 1 m electrical_commutators/test/defect/kos01_Part1_2.png electrical_commutators/ground_truth/defect/kos01_Part1_2_mask.png",
                   "sdd test good 0 m electrical_commutators/test/good/kos01_Part0_0.png",
                   "sdd train good 0 m electrical_commutators/train/good/kos03_Part0_1.png"}));
  TempTree e("sdd_bad");
  tc::test::make_endo(e.path());
  lay_expect_error([&] { lay_scan("sdd", e.path()); }, tc::ErrorKind::Input,
                   {"no kosNN folders", "kosNN/PartN.jpg + kosNN/PartN_label.bmp"});
}

TEST(Layouts, Dagm) {
  TempTree t("dagm");
  tc::test::make_dagm(t.path());
  auto r = lay_scan("dagm", t.path());
  EXPECT_EQ(lay_lines(r, t.path()), (Lines{"Class1 test good 0 m Class1/Test/0003.PNG",
                                          "Class1 test defect 1 m Class1/Test/0004.PNG Class1/Test/Label/0004_label.PNG",
                                          "Class1 test defect 1 - Class1/Test/0005.PNG",
                                          "Class2 test good 0 m Class2/Test/0001.PNG"}));
  EXPECT_TRUE(lay_warned(r, "0005.PNG' has no mask")) << lay_all_warnings(r);
}

TEST(Layouts, DagmTrainAndRefusals) {
  TempTree t("dagm_train");
  tc::test::make_dagm(t.path());
  fs::remove_all(t.path() / "Class2");
  auto tr = lay_scan("dagm", t.path(), "train");
  EXPECT_EQ(lay_lines(tr, t.path()), (Lines{"Class1 train good 0 m Class1/Train/0001.PNG",
                                           "Class1 train defect 1 m Class1/Train/0002.PNG Class1/Train/Label/0002_label.PNG"}));
  TempTree e("dagm_bad");
  tc::test::make_mvtec(e.path());
  lay_expect_error([&] { lay_scan("dagm", e.path()); }, tc::ErrorKind::Input,
                   {"no ClassN/{Train,Test} folders found under", "NNNN_label.PNG"});
}

TEST(Layouts, DagmEmptyClassIsRefused) {
  TempTree t("dagm_empty");
  tc::test::make_dagm(t.path());
  lay_expect_error([&] { lay_scan("dagm", t.path(), "train"); }, tc::ErrorKind::Input,
                   {"class 'Class2' has no images for split 'train'"});
}

TEST(Layouts, Dtd) {
  TempTree t("dtd");
  tc::test::make_dtd(t.path());
  auto r = lay_scan("dtd", t.path());
  EXPECT_EQ(lay_lines(r, t.path()),
            (Lines{"Blotchy_099 test bad 1 m Blotchy_099/test/bad/000.png Blotchy_099/ground_truth/bad/000_mask.png",
                   "Blotchy_099 test good 0 m Blotchy_099/test/good/000.png",
                   "Woven_001 test bad 1 m Woven_001/test/bad/000.png Woven_001/ground_truth/bad/000_mask.png",
                   "Woven_001 test bad 1 m Woven_001/test/bad/001.png Woven_001/ground_truth/bad/001_mask.png",
                   "Woven_001 test good 0 m Woven_001/test/good/000.png"}));
  // Blotchy_099 has no train folder: --split train leaves it empty, which is refused.
  lay_expect_error([&] { lay_scan("dtd", t.path(), "train"); }, tc::ErrorKind::Input,
                   {"class 'Blotchy_099' has no images for split 'train'"});
}

TEST(Layouts, HeadctOriginal) {
  TempTree t("headct");
  tc::test::make_headct_raw(t.path());
  auto r = lay_scan("headct", t.path());
  // An image-level set: no image has a pixel ground truth (has_mask 0, docs/FORMATS.md).
  EXPECT_EQ(lay_lines(r, t.path()), (Lines{"headct test hemorrhage 1 - head_ct/head_ct/000.png",
                                          "headct test hemorrhage 1 - head_ct/head_ct/001.png",
                                          "headct test good 0 - head_ct/head_ct/002.png",
                                          "headct test good 0 - head_ct/head_ct/003.png"}));
  EXPECT_TRUE(lay_warned(r, "labels.csv:6: image 004.png is missing")) << lay_all_warnings(r);
  EXPECT_TRUE(lay_warned(r, "007.png' is not listed")) << lay_all_warnings(r);
  EXPECT_EQ(lay_scan("headct", t.path(), "all").items.size(), 4u);
  lay_expect_error([&] { lay_scan("headct", t.path(), "train"); }, tc::ErrorKind::Input,
                   {"original HeadCT layout", "has no train split"});
  tc::test::write_text(t.path() / "labels.csv", "id, hemorrhage\n0, 1\n1, yes\n");
  lay_expect_error([&] { lay_scan("headct", t.path()); }, tc::ErrorKind::Input,
                   {"labels.csv:3: expected '<id>,<0|1>'", "got '1,yes'"});
}

TEST(Layouts, HeadctRestructured) {
  TempTree t("headct2");
  tc::test::make_headct_restructured(t.path());
  auto r = lay_scan("headct", t.path());
  EXPECT_EQ(lay_lines(r, t.path()), (Lines{"headct test defect 1 - headct/test/defect/002.png",
                                          "headct test good 0 - headct/test/good/000.png",
                                          "headct test good 0 - headct/test/good/001.png"}));
  // An image-level set: no masks are expected, so none are reported missing.
  EXPECT_TRUE(r.warnings.empty()) << lay_all_warnings(r);
  // train/good is empty (headct-pre.py leaves it so): refused as an empty class.
  lay_expect_error([&] { lay_scan("headct", t.path(), "train"); }, tc::ErrorKind::Input,
                   {"class 'headct' has no images for split 'train'"});
  TempTree e("headct_bad");
  tc::test::make_tn3k(e.path());
  lay_expect_error([&] { lay_scan("headct", e.path()); }, tc::ErrorKind::Input,
                   {"no labels.csv and no test/ folder", "head_ct/NNN.png"});
}

TEST(Layouts, BrainMri) {
  TempTree t("brainmri");
  tc::test::make_brainmri(t.path());
  auto r = lay_scan("brainmri", t.path());
  EXPECT_EQ(lay_lines(r, t.path()), (Lines{"brainmri test good 0 - brain_tumor_dataset/no/1 no.jpeg",
                                          "brainmri test good 0 - brain_tumor_dataset/no/N2.JPG",
                                          "brainmri test yes 1 - brain_tumor_dataset/yes/Y1.jpg",
                                          "brainmri test yes 1 - brain_tumor_dataset/yes/Y2.png"}));
  EXPECT_TRUE(r.warnings.empty()) << lay_all_warnings(r);
  EXPECT_EQ(lay_scan("brainmri", t.path() / "brain_tumor_dataset", "all").items.size(), 4u);
  TempTree e("brainmri_bad");
  tc::test::make_mvtec(e.path());
  lay_expect_error([&] { lay_scan("brainmri", e.path()); }, tc::ErrorKind::Input,
                   {"no 'no' and 'yes' folders under", "{no,yes}"});
}

TEST(Layouts, Br35hIgnoresPred) {
  TempTree t("br35h");
  tc::test::make_br35h(t.path());
  auto r = lay_scan("br35h", t.path());
  EXPECT_EQ(lay_lines(r, t.path()), (Lines{"br35h test good 0 - no/no0.jpg", "br35h test good 0 - no/no1.jpg",
                                          "br35h test yes 1 - yes/y0.jpg", "br35h test yes 1 - yes/y1.jpg",
                                          "br35h test yes 1 - yes/y2.jpg"}));
  EXPECT_TRUE(lay_warned(r, "pred' ignored")) << lay_all_warnings(r);
}

TEST(Layouts, Covid) {
  TempTree t("covid");
  tc::test::make_covid(t.path());
  auto r = lay_scan("covid", t.path());
  const std::string d = "COVID-19_Radiography_Dataset/";
  EXPECT_EQ(lay_lines(r, t.path()),
            (Lines{"covid test COVID 1 - " + d + "COVID/COVID-1.png", "covid test good 0 - " + d + "NORMAL/Normal-1.png",
                   "covid test good 0 - " + d + "NORMAL/Normal-2.png",
                   "covid test Viral Pneumonia 1 - " + d + "Viral Pneumonia/images/Viral Pneumonia-1.png"}));
  TempTree e("covid_bad");
  tc::test::make_br35h(e.path());
  lay_expect_error([&] { lay_scan("covid", e.path()); }, tc::ErrorKind::Input, {"no NORMAL folder under"});
}

TEST(Layouts, Isic) {
  TempTree t("isic");
  tc::test::make_isic(t.path());
  auto r = lay_scan("isic", t.path());
  const std::string td = "ISBI2016_ISIC_Part1_Test_Data/", tg = "ISBI2016_ISIC_Part1_Test_GroundTruth/";
  EXPECT_EQ(lay_lines(r, t.path()),
            (Lines{"isic test lesion 1 m " + td + "ISIC_0000003.jpg " + tg + "ISIC_0000003_Segmentation.png",
                   "isic test lesion 1 m " + td + "ISIC_0000012.jpg " + tg + "ISIC_0000012_Segmentation.png",
                   "isic test lesion 1 - " + td + "ISIC_0000013.jpg"}));
  EXPECT_TRUE(lay_warned(r, "ISIC_0000013.jpg' has no mask")) << lay_all_warnings(r);
  auto tr = lay_scan("isic", t.path(), "train");
  EXPECT_EQ(lay_lines(tr, t.path()),
            (Lines{"isic train lesion 1 m ISBI2016_ISIC_Part1_Training_Data/ISIC_0000000.jpg "
                   "ISBI2016_ISIC_Part1_Training_GroundTruth/ISIC_0000000_Segmentation.png"}));
  EXPECT_EQ(lay_scan("isic", t.path(), "all").items.size(), 4u);
  // Only folder names decide the split ("constraint" contains "train" but is no train folder).
  tc::test::write_image(t.path() / "constraint/ISIC_0000099.jpg");
  tc::test::write_mask(t.path() / "constraint/ISIC_0000099_Segmentation.png");
  EXPECT_EQ(lay_scan("isic", t.path()).items.size(), 4u);
  EXPECT_EQ(lay_scan("isic", t.path(), "train").items.size(), 1u);
  TempTree e("isic_bad");
  tc::test::make_br35h(e.path());
  lay_expect_error([&] { lay_scan("isic", e.path()); }, tc::ErrorKind::Input, {"no *_Segmentation.png masks found"});
}

TEST(Layouts, PolypSets) {
  for (const std::string layout : {"clinicdb", "colondb", "kvasir"}) {
    SCOPED_TRACE(layout);
    const bool jpeg = layout == "kvasir";
    const std::string x = jpeg ? ".jpg" : ".png";
    TempTree t(layout);
    tc::test::make_polyp(t.path(), jpeg);
    auto r = lay_scan(layout, t.path());
    EXPECT_EQ(lay_lines(r, t.path()), (Lines{layout + " test polyp 1 m images/1" + x + " masks/1" + x,
                                            layout + " test polyp 1 - images/10" + x,
                                            layout + " test polyp 1 m images/2" + x + " masks/2" + x}));
    EXPECT_TRUE(lay_warned(r, "images/10" + x + "' has no mask")) << lay_all_warnings(r);
    EXPECT_TRUE(lay_warned(r, "masks/99" + x + "' matches no image")) << lay_all_warnings(r);
    lay_expect_error([&] { lay_scan(layout, t.path(), "train"); }, tc::ErrorKind::Usage, {"has no train split"});
    // One extra top folder (as in PraNet's TestDataset/<set>/) is looked through.
    TempTree nested(layout + "_nested");
    tc::test::make_polyp(nested.path() / "CVC", jpeg);
    EXPECT_EQ(lay_scan(layout, nested.path()).items.size(), 3u);
  }
  TempTree e("polyp_bad");
  tc::test::make_tn3k(e.path());
  lay_expect_error([&] { lay_scan("kvasir", e.path()); }, tc::ErrorKind::Input,
                   {"no images/ and masks/ folders under", "equal file names"});
}

TEST(Layouts, Endo) {
  TempTree t("endo");
  tc::test::make_endo(t.path());
  auto r = lay_scan("endo", t.path());
  EXPECT_EQ(lay_lines(r, t.path()), (Lines{"endo test images 1 m images/a.jpg masks/a.png",
                                          "endo test images 1 m images/b.jpg masks/b.png"}));
  EXPECT_TRUE(r.warnings.empty()) << lay_all_warnings(r);
  fs::remove_all(t.path() / "masks");
  lay_expect_error([&] { lay_scan("endo", t.path()); }, tc::ErrorKind::Input, {"no masks/ folder under"});
}

TEST(Layouts, Tn3k) {
  TempTree t("tn3k");
  tc::test::make_tn3k(t.path());
  auto r = lay_scan("tn3k", t.path());
  EXPECT_EQ(lay_lines(r, t.path()), (Lines{"tn3k test nodule 1 m test-image/0.jpg test-mask/0.jpg",
                                          "tn3k test nodule 1 m test-image/1.jpg test-mask/1.jpg",
                                          "tn3k test nodule 1 m test-image/2.jpg test-mask/2.jpg"}));
  EXPECT_EQ(lay_lines(lay_scan("tn3k", t.path(), "train"), t.path()),
            (Lines{"tn3k train nodule 1 m trainval-image/5.jpg trainval-mask/5.jpg"}));
  EXPECT_EQ(lay_scan("tn3k", t.path(), "all").items.size(), 4u);
  fs::remove_all(t.path() / "trainval-image");
  lay_expect_error([&] { lay_scan("tn3k", t.path(), "train"); }, tc::ErrorKind::Input,
                   {"split 'train' needs", "trainval-image"});
}

TEST(Layouts, Folder) {
  TempTree t("folder");
  tc::test::make_folder(t.path() / "widgets");
  auto r = lay_scan("folder", t.path() / "widgets");
  EXPECT_EQ(lay_lines(r, t.path() / "widgets"),
            (Lines{"widgets test crack 1 m anomalous/crack/c0.png masks/crack/c0_mask.png",
                   "widgets test crack 1 - anomalous/crack/c1.png",
                   "widgets test anomalous 1 m anomalous/x0.png masks/x0_mask.png",
                   "widgets test good 0 m good/g0.png", "widgets test good 0 m good/g1.png"}));
  EXPECT_TRUE(lay_warned(r, "crack/c1.png' has no mask")) << lay_all_warnings(r);
  // The parent holds one folder per class.
  EXPECT_EQ(lay_scan("folder", t.path()).items.size(), 5u);
  EXPECT_EQ(lay_scan("folder", t.path()).items[0].class_name, "widgets");

  // Own folder names and mask suffix; no mask folder = image-level only.
  TempTree u("folder_custom");
  tc::test::write_image(u.path() / "ok/a.png");
  tc::test::write_image(u.path() / "ng/b.png");
  tc::test::write_mask(u.path() / "gt/b_gt.png");
  ScanOptions o;
  o.normal_dir = "ok";
  o.anomalous_dir = "ng";
  o.mask_dir = "gt";
  o.mask_suffix = "_gt";
  auto c = lay_scan("folder", u.path(), "test", o);
  const std::string cls = u.path().filename().string();
  EXPECT_EQ(lay_lines(c, u.path()), (Lines{cls + " test ng 1 m ng/b.png gt/b_gt.png", cls + " test good 0 m ok/a.png"}));
  fs::remove_all(u.path() / "gt");
  c = lay_scan("folder", u.path(), "test", o);
  EXPECT_EQ(lay_lines(c, u.path()), (Lines{cls + " test ng 1 - ng/b.png", cls + " test good 0 - ok/a.png"}));
  EXPECT_TRUE(c.warnings.empty()) << lay_all_warnings(c);

  lay_expect_error([&] { lay_scan("folder", u.path()); }, tc::ErrorKind::Input,
                   {"no 'good/' or 'anomalous/' folder under", "--normal-dir"});
}

TEST(Layouts, WarningsAreCapped) {
  TempTree t("cap");
  for (int i = 0; i < 30; ++i) tc::test::write_image(t.path() / "images" / (std::to_string(100 + i) + ".png"));
  tc::test::write_mask(t.path() / "masks/100.png");
  auto r = lay_scan("colondb", t.path());
  EXPECT_EQ(r.items.size(), 30u);
  EXPECT_EQ(r.warnings.size(), 21u) << lay_all_warnings(r);
  EXPECT_TRUE(lay_warned(r, "... and 9 more: anomalous images without a mask")) << lay_all_warnings(r);
}

}  // namespace
