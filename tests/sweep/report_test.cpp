// Reports from fixture metrics: table layout, mean +- std over seeds (hand-worked values),
// best per row, missing cells, AUPRO variant, Markdown/CSV/HTML renderings, no manifest.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "sweep/report.h"
#include "sweep/state.h"
#include "sweep/sweep.h"
#include "sweep/sweep_support.h"
#include "util/check.h"
#include "util/fs.h"

namespace tc::sweep {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;
using testing::metrics_doc;
using testing::read_text;
using testing::TempDir;
using testing::write_text;

const std::string kFixtures = std::filesystem::path(__FILE__).parent_path().string() + "/fixtures";

// Points: train mvtec -> {visa, headct, isic}; train visa -> {mvtec}; methods assign=ot and
// assign=greedy, seeds 1 and 2 (index = 4 * train + 2 * method + seed - 1).
struct Fixture {
  TempDir d;
  std::string out;
  Manifest m;
  Fixture() {
    out = d.path + "/sweep";
    Sweep s = load_sweep_text(
        "[sweep]\nname = fixture\n[grid]\nmethod.assign = ot, greedy\ntrain.seed = 1, 2\n"
        "[protocol]\nmvtec = visa, headct, isic\nvisa = mvtec\n"
        "[data]\nmvtec = m.h5\nvisa = v.h5\nheadct = h.h5\nisic = i.h5\n",
        "fixture.ini", d.path);
    plan(s, out);
    m = read_manifest(out);
  }
  void put(int index, const std::string& ds, const std::string& doc) {
    write_text(metrics_path(out, m.points[index].id, ds), doc);
  }
};

void fill(Fixture& f) {
  // visa (trained on mvtec): ot seed 1 is the hand-written fixture file in the eval schema.
  f.put(0, "visa", read_text(kFixtures + "/metrics_visa_ot_seed1.json"));
  f.put(1, "visa", metrics_doc("visa", {{"c1", {0.92, 0.95, 0.96, 0.80, 0.70}}, {"c2", {0.94, 0.97, 0.94, 0.84, 0.74}}}));
  f.put(2, "visa", metrics_doc("visa", {{"c1", {0.85, 0.90, 0.97, 0.85, 0.75}}, {"c2", {0.87, 0.92, 0.95, 0.87, 0.77}}}));
  // greedy seed 2 on visa: missing.
  // headct: image level only.
  f.put(0, "headct", metrics_doc("headct", {{"c", {0.80, 0.85, -2, 0, 0}}}));
  f.put(1, "headct", metrics_doc("headct", {{"c", {0.82, 0.85, -2, 0, 0}}}));
  f.put(2, "headct", metrics_doc("headct", {{"c", {0.90, 0.91, -2, 0, 0}}}));
  f.put(3, "headct", metrics_doc("headct", {{"c", {0.88, 0.91, -2, 0, 0}}}));
  // isic: pixel level only.
  for (int i : {0, 1}) f.put(i, "isic", metrics_doc("isic", {{"c", {-1, -1, 0.90, 0.70, 0.60}}}));
  for (int i : {2, 3}) f.put(i, "isic", metrics_doc("isic", {{"c", {-1, -1, 0.88, 0.72, 0.62}}}));
  // mvtec (trained on visa): only ot; greedy entirely missing.
  f.put(4, "mvtec", metrics_doc("mvtec", {{"a", {0.70, 0.80, 0.90, 0.60, 0.50}}}));
  f.put(5, "mvtec", metrics_doc("mvtec", {{"a", {0.74, 0.84, 0.90, 0.60, 0.50}}}));
}

const json& table(const json& rep, const std::string& id) {
  for (const auto& t : rep["tables"])
    if (t["id"] == id) return t;
  static json none;
  ADD_FAILURE() << "no table " << id;
  return none;
}

TEST(SweepReport, PaperTablesWithSeedStatisticsBestAndMissingCells) {
  Fixture f;
  fill(f);
  json rep = build_report(f.out);
  EXPECT_EQ(rep["metrics_found"], 3 + 4 + 4 + 2);
  EXPECT_EQ(rep["columns"], json({"assign=ot", "assign=greedy"}));

  const json& ii = table(rep, "industrial_image");
  ASSERT_EQ(ii["rows"].size(), 2u);
  EXPECT_EQ(ii["rows"][0]["dataset"], "visa");
  EXPECT_EQ(ii["rows"][0]["train"], "mvtec");
  EXPECT_EQ(ii["rows"][1]["dataset"], "mvtec");
  EXPECT_EQ(ii["rows"][1]["train"], "visa");
  const json& ot = ii["rows"][0]["cells"][0]["image_auroc"];
  EXPECT_NEAR(ot["mean"].get<double>(), 92.0, 1e-9);          // seeds 91 and 93
  EXPECT_NEAR(ot["std"].get<double>(), std::sqrt(2.0), 1e-9);  // sample std: sqrt((1 + 1) / 1)
  EXPECT_EQ(ot["n"], 2);
  EXPECT_EQ(ot["status"], "ok");
  const json& gr = ii["rows"][0]["cells"][1]["image_auroc"];
  EXPECT_NEAR(gr["mean"].get<double>(), 86.0, 1e-9);
  EXPECT_TRUE(gr["std"].is_null());
  EXPECT_EQ(gr["status"], "partial");
  EXPECT_EQ(gr["expected"], 2);
  EXPECT_EQ(ii["rows"][1]["cells"][1]["image_auroc"]["status"], "missing");
  EXPECT_EQ(ii["rows"][0]["best"]["image_auroc"], json({0}));
  // Mean row: ot over visa (92) and mvtec (72); greedy only over visa (partial).
  EXPECT_NEAR(ii["mean_row"]["cells"][0]["image_auroc"]["mean"].get<double>(), 82.0, 1e-9);
  EXPECT_EQ(ii["mean_row"]["cells"][1]["image_auroc"]["status"], "partial");
  EXPECT_THAT(ii["caption"].get<std::string>(), HasSubstr("prompts trained on mvtec (rows: visa)"));
  EXPECT_THAT(ii["caption"].get<std::string>(), HasSubstr("prompts trained on visa (rows: mvtec)"));

  const json& ip = table(rep, "industrial_pixel");
  EXPECT_NEAR(ip["rows"][0]["cells"][0]["pixel_aupro"]["mean"].get<double>(), 82.0, 1e-9);  // anomalyclip variant
  EXPECT_EQ(ip["rows"][0]["best"]["pixel_auroc"], json({1}));  // greedy 96.0 > ot 95.0
  EXPECT_THAT(ip["caption"].get<std::string>(), HasSubstr("AUPRO: anomalyclip variant"));

  const json& mi = table(rep, "medical_image");
  ASSERT_EQ(mi["rows"].size(), 1u);  // isic has no image-level metrics
  EXPECT_EQ(mi["rows"][0]["dataset"], "headct");
  EXPECT_NEAR(mi["rows"][0]["cells"][1]["image_auroc"]["mean"].get<double>(), 89.0, 1e-9);
  const json& mp = table(rep, "medical_pixel");
  ASSERT_EQ(mp["rows"].size(), 1u);
  EXPECT_EQ(mp["rows"][0]["dataset"], "isic");
  EXPECT_EQ(mp["rows"][0]["best"]["pixel_auroc"], json({0}));
  EXPECT_EQ(mp["rows"][0]["best"]["pixel_aupro"], json({1}));

  // Per class: visa c1, ot = mean of 90 and 92.
  bool seen = false;
  for (const auto& t : rep["per_class"])
    if (t["dataset"] == "visa") {
      seen = true;
      EXPECT_EQ(t["rows"][0]["label"], "c1");
      EXPECT_NEAR(t["rows"][0]["cells"][0]["image_auroc"]["mean"].get<double>(), 91.0, 1e-9);
    }
  EXPECT_TRUE(seen);
  EXPECT_EQ(rep["missing"].size(), 3u);  // greedy seed 2 on visa; greedy (2 seeds) on mvtec
}

TEST(SweepReport, MvtecAuproVariantOnRequest) {
  Fixture f;
  fill(f);
  ReportOptions o;
  o.aupro = "mvtec";
  json rep = build_report(f.out, o);
  const json& ip = table(rep, "industrial_pixel");
  EXPECT_NEAR(ip["rows"][0]["cells"][0]["pixel_aupro"]["mean"].get<double>(), 72.0, 1e-9);
  EXPECT_THAT(ip["caption"].get<std::string>(), HasSubstr("AUPRO: mvtec variant"));
}

TEST(SweepReport, RenderingsAndFiles) {
  Fixture f;
  fill(f);
  // A training log and a heatmap picture for the HTML page.
  write_text(train_dir(f.out, f.m.points[0].id) + "/log.jsonl", read_text(kFixtures + "/log.jsonl"));
  std::vector<uchar> png;
  cv::imencode(".png", cv::Mat(8, 8, CV_8UC3, cv::Scalar(0, 0, 255)), png);
  write_text(eval_dir(f.out, f.m.points[0].id, "visa") + "/pictures/000.png", std::string(png.begin(), png.end()));

  // A wide picture (random noise, hard to compress) is embedded scaled down, not as is.
  cv::Mat noise(500, 1000, CV_8UC3);
  cv::randu(noise, cv::Scalar::all(0), cv::Scalar::all(255));
  std::vector<uchar> big;
  cv::imencode(".png", noise, big);
  write_text(eval_dir(f.out, f.m.points[2].id, "visa") + "/pictures/wide.png", std::string(big.begin(), big.end()));

  std::string rdir = f.d.path + "/report";
  ReportFiles files = write_report(f.out, rdir);
  EXPECT_EQ(files.written.size(), 4u);
  for (const auto& e : std::filesystem::directory_iterator(rdir))
    EXPECT_THAT(e.path().string(), Not(HasSubstr(".tmp"))) << "left-over temporary";

  std::string md = read_text(rdir + "/report.md");
  EXPECT_THAT(md, HasSubstr("### Industrial, image level (AUROC / AP)"));
  EXPECT_THAT(md, HasSubstr("| dataset | trained on | assign=ot | assign=greedy |"));
  EXPECT_THAT(md, HasSubstr("| visa | mvtec | **92.0±1.4** / **96.0±0.0** | 86.0* / 91.0* |"));
  EXPECT_THAT(md, HasSubstr("| mvtec | visa | **72.0±2.8** / **82.0±2.8** | missing / missing |"));
  EXPECT_THAT(md, HasSubstr("| **mean** | | **82.0** / **89.0** | 86.0* / 91.0* |"));
  EXPECT_THAT(md, HasSubstr("| headct | mvtec | 81.0±1.4 / 85.0±0.0 | **89.0±1.4** / **91.0±0.0** |"));

  std::string csv = read_text(rdir + "/report.csv");
  EXPECT_THAT(csv, HasSubstr("industrial_image,visa,visa,mvtec,assign=ot,image_auroc,92.0000,1.4142,2,2,ok,anomalyclip\n"));
  EXPECT_THAT(csv, HasSubstr("industrial_image,mvtec,mvtec,visa,assign=greedy,image_ap,,,0,2,missing,anomalyclip\n"));

  json j = json::parse(read_text(rdir + "/report.json"));
  EXPECT_EQ(j["format"], "tokenclip-report");

  std::string html = read_text(rdir + "/index.html");
  EXPECT_THAT(html, HasSubstr("<b>92.0±1.4</b>"));
  EXPECT_THAT(html, HasSubstr("<polyline"));
  EXPECT_THAT(html, HasSubstr("data:image/png;base64," + base64_encode(std::string(png.begin(), png.end()))));
  EXPECT_THAT(html, HasSubstr("alt=\"wide.png\""));
  EXPECT_LT(html.size(), big.size());  // the 1000 x 500 picture went in at 320 x 160
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("src=\"http")));
  EXPECT_THAT(html, Not(HasSubstr("<link")));
  // Training curve from the fixture log: 4 step lines (the bad line and epoch lines skipped).
  size_t poly = html.find("<polyline");
  std::string pts = html.substr(html.find("points=\"", poly) + 8);
  pts = pts.substr(0, pts.find('"'));
  EXPECT_EQ(std::count(pts.begin(), pts.end(), ','), 4);
}

// The four files of a fixed sweep, byte for byte (the temporary folder written as @TMP@), so
// that a rewrite of the report code cannot change what users get unnoticed. After an intended
// change of the output, regenerate them with
//   TC_UPDATE_GOLDEN=1 build/tests/test_sweep --gtest_filter=SweepReport.GoldenFiles
// and review the diff of tests/sweep/fixtures/golden/.
TEST(SweepReport, GoldenFiles) {
  Fixture f;
  fill(f);
  for (int i : {0, 1, 4})  // two curves on the mvtec chart, one on the visa chart
    write_text(train_dir(f.out, f.m.points[i].id) + "/log.jsonl", read_text(kFixtures + "/log.jsonl"));
  for (int i : {0, 2})
    for (const char* name : {"000.png", "001.png", "002.png"})
      write_text(eval_dir(f.out, f.m.points[i].id, "visa") + "/pictures/" + name,
                 read_text(kFixtures + "/heatmap.png"));
  ReportOptions o;
  o.max_curve_points = 3;  // the fixture log has 4 steps: subsampled
  std::string rdir = f.d.path + "/report";
  write_report(f.out, rdir, o);
  const bool update = std::getenv("TC_UPDATE_GOLDEN") != nullptr;
  for (const char* name : {"report.json", "report.md", "report.csv", "index.html"}) {
    std::string got = read_text(rdir + "/" + name);
    for (size_t p = got.find(f.d.path); p != std::string::npos; p = got.find(f.d.path, p))
      got.replace(p, f.d.path.size(), "@TMP@");
    const std::string golden = kFixtures + "/golden/" + name;
    if (update) write_text(golden, got);
    EXPECT_EQ(got, read_text(golden)) << name << " differs from " << golden;
  }
}

TEST(SweepReport, FolderWithoutManifest) {
  TempDir d;
  write_text(d.path + "/runA/eval/visa/metrics.json", read_text(kFixtures + "/metrics_visa_ot_seed1.json"));
  write_text(d.path + "/runB/eval/visa/metrics.json",
             metrics_doc("visa", {{"c1", {0.5, 0.5, 0.5, 0.5, 0.5}}}));
  json rep = build_report(d.path);
  EXPECT_EQ(rep["columns"], json({"runA", "runB"}));
  const json& ii = table(rep, "industrial_image");
  EXPECT_NEAR(ii["rows"][0]["cells"][0]["image_auroc"]["mean"].get<double>(), 91.0, 1e-9);
  EXPECT_NEAR(ii["rows"][0]["cells"][1]["image_auroc"]["mean"].get<double>(), 50.0, 1e-9);
}

TEST(SweepReport, RefusesAFolderWithoutMetrics) {
  TempDir d;
  std::string rdir = d.path + "/report";
  try {
    write_report(d.path, rdir);
    ADD_FAILURE() << "wrote a report of an empty folder";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Input);
    EXPECT_NE(e.message().find("no metrics.json under '" + d.path + "'"), std::string::npos) << e.message();
  }
  EXPECT_FALSE(std::filesystem::exists(rdir)) << "the refused report left its folder";
}

TEST(SweepReport, Base64KnownAnswers) {  // RFC 4648 section 10
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

}  // namespace
}  // namespace tc::sweep
