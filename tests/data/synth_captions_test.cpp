// The captioned pretraining corpus: the plan covers every category with normal images and every
// defect type that applies; captions name what is there (a defect word of the image's type,
// or none for normal images; the location of the mask); colours and locations named by hand;
// no corpus image is an image of the evaluation sets (pixel hashes), and the categories come
// in other styles (class constants of other seeds); the file round trip and its refusals.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "data/dataset.h"
#include "data/synth.h"
#include "data/synth_captions.h"
#include "util/check.h"
#include "util/hash.h"

namespace {

namespace fs = std::filesystem;
namespace sy = tc::data::synth;

std::string tmp(const std::string& name) {
  auto d = fs::temp_directory_path() / ("tc_captions_test_" + std::to_string(getpid()));
  fs::create_directories(d);
  return (d / name).string();
}

bool contains_any(std::string s, const std::vector<std::string>& words) {
  // "unblemished" is a normal word that holds a defect word.
  for (size_t p = s.find("unblemished"); p != std::string::npos; p = s.find("unblemished")) s.erase(p, 11);
  for (const auto& w : words)
    if (s.find(w) != std::string::npos) return true;
  return false;
}

// Words that only a defective image's caption may hold (every defect noun and adjective).
const std::vector<std::string>& defect_words() {
  static const std::vector<std::string> w = {"damaged", "defective", "flawed", "faulty", "anomalous", "scratch",
                                             "stain", "crack", "hole", "fold", "thread", "missing", "misplaced",
                                             "lesion", "nodule", "cyst", "blotch", "patch", "scar", "blemish"};
  return w;
}

}  // namespace

TEST(SynthCaptions, PlanCoversEveryCategoryAndDefectType) {
  sy::CorpusOptions o;
  o.styles = 2;
  o.per_class = 30;
  auto p = sy::plan_corpus(o);
  EXPECT_EQ(p.classes.size(), sy::categories().size());
  EXPECT_EQ(p.items.size(), size_t(2 * 30 * sy::categories().size()));
  std::map<std::pair<int, std::string>, int> seen;
  for (const auto& it : p.items) ++seen[{it.class_id, it.defect}];
  for (size_t c = 0; c < p.classes.size(); ++c) {
    const auto& cat = sy::categories()[c];
    EXPECT_EQ((seen[{int(c), "good"}]), 2 * 12) << cat.name;  // 40 % of 30, per style
    for (const auto& d : {"draem", "scratch", "crack", "hole", "thread", "fold", "missing_part", "lesion"}) {
      bool applies = std::string(d) != "fold" || cat.kind == sy::Kind::Texture;
      if (std::string(d) == "missing_part") applies = cat.name == "disc" || cat.name == "screw" ||
                                                      cat.name == "hexnut" || cat.name == "pcb";
      if (cat.kind == sy::Kind::Medical) applies = std::string(d) == "lesion";
      else if (std::string(d) == "lesion") applies = false;
      EXPECT_EQ((seen.count({int(c), d}) > 0), applies) << cat.name << " / " << d;
    }
  }
  EXPECT_THROW(sy::plan_corpus([] { sy::CorpusOptions b; b.per_class = 1; return b; }()), tc::Error);
}

TEST(SynthCaptions, ColourAndLocationNames) {
  EXPECT_EQ(sy::colour_name(0.9, 0.1, 0.1), "red");
  EXPECT_EQ(sy::colour_name(0.1, 0.2, 0.9), "blue");
  EXPECT_EQ(sy::colour_name(0.1, 0.7, 0.2), "green");
  EXPECT_EQ(sy::colour_name(0.5, 0.3, 0.1), "brown");
  EXPECT_EQ(sy::colour_name(0.95, 0.95, 0.95), "white");
  EXPECT_EQ(sy::colour_name(0.55, 0.55, 0.55), "gray");
  EXPECT_EQ(sy::colour_name(0.05, 0.05, 0.05), "black");
  EXPECT_EQ(sy::colour_name(0.1, 0.1, 0.35), "dark blue");
  const int S = 30;
  std::vector<uint8_t> m(S * S, 0);
  EXPECT_EQ(sy::location_name(m, S), "");
  m[2 * S + 3] = 1;  // row 2, column 3
  EXPECT_EQ(sy::location_name(m, S), "top left");
  m.assign(S * S, 0);
  m[15 * S + 28] = 1;
  EXPECT_EQ(sy::location_name(m, S), "right");
  m[15 * S + 28] = 0;
  m[27 * S + 14] = m[28 * S + 15] = 1;
  EXPECT_EQ(sy::location_name(m, S), "bottom");
  m.assign(S * S, 0);
  m[14 * S + 14] = 1;
  EXPECT_EQ(sy::location_name(m, S), "centre");
}

TEST(SynthCaptions, CaptionsNameTheDefectAndItsPlace) {
  sy::CorpusOptions o;
  o.styles = 1;
  o.per_class = 12;
  o.size = 64;
  auto p = sy::plan_corpus(o);
  int with_location = 0, defective = 0;
  for (int64_t i = 0; i < int64_t(p.items.size()); ++i) {
    auto cs = sy::generate_captioned(p, i);
    const auto& c = cs.captions;
    ASSERT_FALSE(c.caption.empty());
    ASSERT_FALSE(c.normal.empty());
    ASSERT_FALSE(c.defect.empty());
    EXPECT_FALSE(contains_any(c.normal, defect_words())) << c.normal;
    EXPECT_TRUE(contains_any(c.defect, defect_words()) || contains_any(c.defect, {"irregular", "contamina", "tamper",
                                                                                "scuff", "scrape", "spot",
                                                                                "fracture", "puncture", "wrinkle",
                                                                                "fibre", "broken", "incomplete",
                                                                                "misaligned", "misassembled",
                                                                                "abnormal", "diseased", "discolour",
                                                                                "spotted", "soiled", "holed"}))
        << c.defect;
    if (cs.sample.defect == "good") {
      EXPECT_FALSE(contains_any(c.caption, defect_words())) << c.caption;
      EXPECT_EQ(cs.sample.label, 0);
      continue;
    }
    ++defective;
    EXPECT_EQ(cs.sample.label, 1);
    const std::string loc = sy::location_name(cs.sample.mask, o.size);
    ASSERT_FALSE(loc.empty());
    if (c.caption.find(loc) != std::string::npos) ++with_location;
    // Something in the caption says the image is not normal.
    EXPECT_FALSE(contains_any(c.caption, {"flawless", "perfect", "no defects", "without defects"})) << c.caption;
  }
  EXPECT_GT(defective, 100);
  EXPECT_GT(with_location, defective / 5);  // several templates say where the defect is
}

// The corpus never holds an image of the evaluation sets: its streams are keyed by its own
// name and its seeds are not the benchmark's (the categories' class constants differ too).
TEST(SynthCaptions, NoEvaluationImageInTheCorpus) {
  sy::Options bo;
  bo.size = 64;
  std::set<std::string> eval_hashes;
  for (const auto& plan : sy::plan_benchmark(bo))
    for (int64_t i = 0; i < int64_t(plan.items.size()); i += 2) {
      auto img = sy::generate_sample(plan, i).image;
      eval_hashes.insert(tc::sha256_hex(std::string(img.begin(), img.end())));
    }
  sy::CorpusOptions o;
  o.seed = 1000;
  o.styles = 1;
  o.per_class = 8;
  o.size = 64;
  auto p = sy::plan_corpus(o);
  for (int64_t i = 0; i < int64_t(p.items.size()); ++i) {
    auto img = sy::generate_captioned(p, i).sample.image;
    EXPECT_EQ(eval_hashes.count(tc::sha256_hex(std::string(img.begin(), img.end()))), 0u) << i;
  }
  // Even with the benchmark's own seed (0) the images differ: the stream keys name the corpus.
  o.seed = 0;
  auto p0 = sy::plan_corpus(o);
  for (int64_t i = 0; i < int64_t(p0.items.size()); i += 3) {
    auto img = sy::generate_captioned(p0, i).sample.image;
    EXPECT_EQ(eval_hashes.count(tc::sha256_hex(std::string(img.begin(), img.end()))), 0u) << i;
  }
}

TEST(SynthCaptions, FileRoundTripAndRefusals) {
  sy::CorpusOptions o;
  o.styles = 1;
  o.per_class = 4;
  o.size = 32;
  o.threads = 2;
  const std::string path = tmp("corpus.h5");
  auto meta = sy::write_corpus(o, path, false);
  EXPECT_EQ(meta.size, int64_t(4 * sy::categories().size()));
  tc::data::DatasetReader r(path);  // an ordinary dataset file as well
  EXPECT_EQ(r.meta().name, sy::kCaptionCorpusName);
  EXPECT_EQ(r.compute_content_hash(), meta.content_hash);
  auto cols = sy::read_caption_columns(path);
  ASSERT_EQ(cols.caption.size(), size_t(meta.size));
  EXPECT_EQ(cols.version, sy::kCaptionsVersion);
  auto p = sy::plan_corpus(o);
  for (int64_t i = 0; i < meta.size; ++i) {
    auto cs = sy::generate_captioned(p, i);
    EXPECT_EQ(cols.caption[size_t(i)], cs.captions.caption);
    EXPECT_EQ(cols.normal[size_t(i)], cs.captions.normal);
    EXPECT_EQ(cols.defect[size_t(i)], cs.captions.defect);
    EXPECT_EQ(r.read(i).image, cs.sample.image);
  }
  // A benchmark file has no captions: refused with the file and the attribute named.
  sy::Options bo;
  bo.size = 32;
  sy::write_benchmark(bo, tmp("bench"), false);
  try {
    sy::read_caption_columns(tmp("bench") + "/synth-medical.h5");
    FAIL() << "a file without captions was accepted";
  } catch (const tc::Error& e) {
    EXPECT_NE(e.message().find("captions_version"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("synth-medical.h5"), std::string::npos) << e.message();
  }
  fs::remove_all(fs::path(path).parent_path());
}
