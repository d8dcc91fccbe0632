// Sweep planning: grid product, constraints, presets, labels, stable ids, protocol guard,
// refusals, and the manifest (idempotent plan, refusal to renumber).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "sweep/sweep.h"
#include "sweep/sweep_support.h"
#include "util/check.h"
#include "util/hash.h"

namespace tc::sweep {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;
using testing::write_text;

const char* kData = R"(
[data]
a = a.h5
b = b.h5
c = c.h5
)";

Sweep from_text(const std::string& text, const std::string& dir = "/tmp") {
  return load_sweep_text(text, "s.ini", dir);
}

std::string error_of(const std::string& text, const std::string& dir = "/tmp") {
  try {
    from_text(text, dir);
  } catch (const Error& e) {
    return e.message();
  }
  return "(no error)";
}

std::string value_of(const Point& p, const std::string& key) {
  for (const auto& kv : p.overrides)
    if (kv.key == key) return kv.value;
  return "";
}

TEST(SweepGrid, ProductTimesProtocolInDocumentedOrder) {
  Sweep s = from_text(std::string("[grid]\nmethod.subspaces = 2, 4, 8\nmethod.topk = 1, 2\n"
                                  "[protocol]\na = b, c\nb = a\n") + kData);
  ASSERT_EQ(s.points.size(), 3u * 2u * 2u);
  // Brute force: train outermost, then the grid keys in file order, last key fastest.
  int i = 0;
  std::set<std::string> ids;
  for (std::string train : {"a", "b"})
    for (std::string q : {"2", "4", "8"})
      for (std::string k : {"1", "2"}) {
        const Point& p = s.points[i];
        EXPECT_EQ(p.index, i);
        EXPECT_EQ(p.train, train);
        EXPECT_EQ(value_of(p, "method.subspaces"), q);
        EXPECT_EQ(value_of(p, "method.topk"), k);
        EXPECT_EQ(p.method, "subspaces=" + q + " topk=" + k);
        EXPECT_EQ(p.evals, train == "a" ? std::vector<std::string>({"b", "c"}) : std::vector<std::string>({"a"}));
        ids.insert(p.id);
        ++i;
      }
  EXPECT_EQ(ids.size(), s.points.size());
  EXPECT_EQ(s.data.at("a").path, "/tmp/a.h5");  // relative to the sweep file's folder
}

TEST(SweepGrid, IdIsShortHashOfCanonicalOverridesAndTrainSet) {
  Sweep s = from_text(std::string("[grid]\nmethod.topk = 2\nmethod.ot_eps = 0.05\n[protocol]\na = b\n") + kData);
  ASSERT_EQ(s.points.size(), 1u);
  // The documented canonical text, hashed independently here.
  std::string canon = "preset=\nmethod.ot_eps=0.05\nmethod.topk=2\ntrain=a\n";
  EXPECT_EQ(s.points[0].id, "p-" + sha256_hex(canon).substr(0, 8));
  // Key order in the file does not matter; the training set does.
  Sweep t = from_text(std::string("[grid]\nmethod.ot_eps = 0.05\nmethod.topk = 2\n[protocol]\na = b\nb = c\n") + kData);
  EXPECT_EQ(t.points[0].id, s.points[0].id);
  EXPECT_NE(t.points[1].id, s.points[0].id);
}

TEST(SweepGrid, ConstraintsDropInvalidCombinations) {
  Sweep s = from_text(std::string("[grid]\nmethod.subspaces = 1, 2, 4\nmethod.topk = 1, 2, 4\n"
                                  "[constraints]\nk_le_q = method.topk <= method.subspaces\n"
                                  "[protocol]\na = b\n") + kData);
  std::set<std::pair<int, int>> got;
  for (const auto& p : s.points) got.insert({std::stoi(value_of(p, "method.subspaces")), std::stoi(value_of(p, "method.topk"))});
  std::set<std::pair<int, int>> want;
  for (int q : {1, 2, 4})
    for (int k : {1, 2, 4})
      if (k <= q) want.insert({q, k});
  EXPECT_EQ(got, want);
  EXPECT_EQ(s.dropped.size(), 3u);
  EXPECT_THAT(s.dropped[0], HasSubstr("k_le_q"));
}

TEST(SweepGrid, PresetsGridBlocksSetAndSeedLabels) {
  TempDir d;
  write_text(d.path + "/configs/base.ini", "[train]\nepochs = 2\n");
  write_text(d.path + "/configs/ac.ini", "[method]\nsubspaces = 1\ntopk = 1\n");
  write_text(d.path + "/configs/tc.ini", "[method]\nsubspaces = 4\ntopk = 2\n");
  write_text(d.path + "/sweeps/s.ini",
             "[sweep]\nname = t\nroot = ..\nbase = configs/base.ini\n"
             "[presets]\nanomalyclip = configs/ac.ini\ntokenclip = configs/tc.ini\n"
             "[set]\ntrain.epochs = 3\n"
             "[grid.base]\npreset = anomalyclip\ntrain.seed = 1, 2\n"
             "[grid.ours]\npreset = tokenclip\nmethod.subspaces = 2, 4\ntrain.seed = 1, 2\n"
             "[constraints]\nk = method.topk <= method.subspaces\n"
             "[protocol]\na = b\n[data]\na = data/a.h5\nb = data/b.h5\n");
  Sweep s = load_sweep(d.path + "/sweeps/s.ini");
  EXPECT_EQ(s.name, "t");
  EXPECT_EQ(s.root, d.path);
  ASSERT_EQ(s.points.size(), 2u + 4u);
  EXPECT_EQ(s.points[0].preset, "anomalyclip");
  EXPECT_EQ(s.points[0].method, "anomalyclip");
  EXPECT_EQ(s.points[0].label, "anomalyclip seed=1");
  EXPECT_EQ(s.points[0].seed, "1");
  EXPECT_EQ(value_of(s.points[0], "train.epochs"), "3");  // [set] applies to every point
  EXPECT_EQ(s.points[0].config_files,
            std::vector<std::string>({d.path + "/configs/base.ini", d.path + "/configs/ac.ini"}));
  EXPECT_EQ(s.points[2].method, "tokenclip subspaces=2");
  EXPECT_EQ(s.points[5].label, "tokenclip subspaces=4 seed=2");
  EXPECT_EQ(s.data.at("a").path, d.path + "/data/a.h5");
}

TEST(SweepGrid, ProtocolGuardRefusesSelfEvaluation) {
  EXPECT_THAT(error_of(std::string("[protocol]\na = b, a\n") + kData),
              HasSubstr("'a' would evaluate the prompts it was trained on"));
  EXPECT_THAT(error_of("[protocol]\na = b\n[data]\na = x.h5\nb = ./x.h5\n"),
              HasSubstr("both names point at the same data file"));
  EXPECT_THAT(error_of(std::string("[protocol]\na = b, d\n") + kData),
              HasSubstr("s.ini:2: [protocol] dataset 'd' has no entry in [data]"));
}

TEST(SweepGrid, RefusalsNameFileLineAndExpectation) {
  EXPECT_THAT(error_of(std::string("[grid]\nmethod.subspace = 2\n[protocol]\na = b\n") + kData),
              HasSubstr("s.ini:2: [grid] unknown config key 'method.subspace' (did you mean 'method.subspaces'?)"));
  EXPECT_THAT(error_of(std::string("[grid]\nmethod.topk = 1, two\n[protocol]\na = b\n") + kData),
              HasSubstr("'two' is not an integer"));
  EXPECT_THAT(error_of(std::string("[grdi]\nx = 1\n[protocol]\na = b\n") + kData), HasSubstr("did you mean [grid]"));
  EXPECT_THAT(error_of(std::string("[grid]\npreset = nope\n[protocol]\na = b\n") + kData),
              HasSubstr("preset 'nope' is not defined in [presets]"));
  EXPECT_THAT(error_of(std::string("[grid]\nmethod.topk = 1, 1\n[protocol]\na = b\n") + kData),
              HasSubstr("value '1' is listed twice"));
  EXPECT_THAT(error_of(kData), HasSubstr("no [protocol] section"));
  EXPECT_THAT(error_of(std::string("[sweep]\nbase = missing.ini\n[protocol]\na = b\n") + kData),
              HasSubstr("does not exist"));
  EXPECT_THAT(error_of(std::string("[constraints]\nx = method.topk ~ 3\n[protocol]\na = b\n") + kData),
              HasSubstr("expected 'KEY OP KEY-or-NUMBER'"));
}

TEST(SweepGrid, PlaceholdersAndCommandFlags) {
  setenv("TC_SWEEP_TEST_DATA", "/data/x", 1);
  unsetenv("TC_SWEEP_TEST_UNSET");
  Sweep s = from_text("[sweep]\nroot = /r\n[protocol]\na = b\n[data]\na = {env:TC_SWEEP_TEST_DATA|/no}/a.h5\n"
                      "b = {env:TC_SWEEP_TEST_UNSET|def}/b.h5\nc = {env:TC_SWEEP_TEST_UNSET|{root}/d}/c.h5\n[train_flags]\nweights = {root}/w.pt\n"
                      "[eval_flags]\nvisualize = 3\n");
  EXPECT_EQ(s.data.at("a").path, "/data/x/a.h5");
  EXPECT_EQ(s.data.at("b").path, "/r/def/b.h5");  // relative after expansion: against the root
  EXPECT_EQ(s.data.at("c").path, "/r/d/c.h5");    // a default holding a placeholder
  ASSERT_EQ(s.train_flags.size(), 1u);
  EXPECT_EQ(s.train_flags[0], std::make_pair(std::string("weights"), std::string("/r/w.pt")));
  EXPECT_EQ(s.eval_flags[0].second, "3");
  EXPECT_THAT(error_of(std::string("[protocol]\na = b\n[train_flags]\nout = x\n") + kData),
              HasSubstr("set by the sweep runner itself"));
}

TEST(SweepManifest, PlanIsIdempotentAndRefusesToRenumber) {
  TempDir d;
  std::string out = d.path + "/out";
  Sweep s = from_text(std::string("[grid]\nmethod.topk = 1, 2\n[protocol]\na = b\n") + kData);
  PlanResult r1 = plan(s, out);
  EXPECT_TRUE(r1.written);
  EXPECT_EQ(r1.points, 2);
  std::string first = testing::read_text(manifest_path(out));
  PlanResult r2 = plan(s, out);
  EXPECT_FALSE(r2.written);
  EXPECT_EQ(testing::read_text(manifest_path(out)), first);

  Manifest m = read_manifest(out);
  ASSERT_EQ(m.points.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(m.points[i].id, s.points[i].id);
    EXPECT_EQ(m.points[i].evals, s.points[i].evals);
    EXPECT_EQ(m.points[i].overrides.size(), s.points[i].overrides.size());
  }
  EXPECT_EQ(m.data.at("b").path, "/tmp/b.h5");

  Sweep changed = from_text(std::string("[grid]\nmethod.topk = 2, 1\n[protocol]\na = b\n") + kData);
  try {
    plan(changed, out);
    FAIL() << "renumbering was not refused";
  } catch (const Error& e) {
    EXPECT_THAT(e.message(), HasSubstr("refusing to renumber"));
    EXPECT_THAT(e.message(), HasSubstr("first difference at index 0"));
  }
  EXPECT_EQ(testing::read_text(manifest_path(out)), first);
  EXPECT_TRUE(plan(changed, out, true).written);
  EXPECT_EQ(read_manifest(out).points[0].id, changed.points[0].id);
}

TEST(SweepManifest, BadManifestIsAnInputError) {
  TempDir d;
  write_text(d.path + "/manifest.json", "{\"format\": \"something-else\"}");
  try {
    read_manifest(d.path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Input);
    EXPECT_THAT(e.message(), HasSubstr("manifest.json: field 'format'"));
  }
}

}  // namespace
}  // namespace tc::sweep
