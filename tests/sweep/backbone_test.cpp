// Named backbones in a sweep ([backbone.NAME] sections, the grid or [set] key `backbone`):
// points get the backbone as an override (so it is part of their id and label), its flags
// reach the manifest with weight and vocabulary paths resolved against the root, an empty
// value declares a backbone without that flag (the random one), and unknown names, reserved
// flags and a backbone without a section are refused with the file and line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sweep/sweep.h"
#include "util/check.h"

namespace tc::sweep {
namespace {

using ::testing::HasSubstr;

const char* kTail = R"(
[protocol]
a = b
[data]
a = a.h5
b = b.h5
)";

std::string bb_value_of(const Point& p, const std::string& key) {
  for (const auto& kv : p.overrides)
    if (kv.key == key) return kv.value;
  return "";
}

std::string bb_error_of(const std::string& text) {
  try {
    load_sweep_text(text, "s.ini", "/tmp");
  } catch (const Error& e) {
    return e.message();
  }
  return "(no error)";
}

TEST(SweepBackbones, GridKeyMakesPointsWithTheBackboneFlags) {
  Sweep s = load_sweep_text(std::string(R"(
[backbone.demo]
weights = models/demo/weights.h5
bpe = {root}/models/demo/vocab.txt
[backbone.random]
weights =
[grid]
backbone = demo, random
method.subspaces = 2, 4
)") + kTail, "s.ini", "/tmp/sw");
  ASSERT_EQ(s.points.size(), 4u);
  EXPECT_EQ(bb_value_of(s.points[0], "backbone"), "demo");
  EXPECT_EQ(bb_value_of(s.points[0], "method.subspaces"), "2");
  EXPECT_EQ(bb_value_of(s.points[3], "backbone"), "random");
  EXPECT_EQ(s.points[0].method, "backbone=demo subspaces=2");
  EXPECT_EQ(s.points[3].method, "backbone=random subspaces=4");
  // The backbone is part of the id: same other keys, another backbone, another point.
  EXPECT_NE(s.points[0].id, s.points[2].id);
  EXPECT_EQ(s.points[0].id, point_id("", {{"backbone", "demo", ""}, {"method.subspaces", "2", ""}}, "a"));
  ASSERT_EQ(s.backbones.at("demo").size(), 2u);
  EXPECT_EQ(s.backbones.at("demo")[0], (std::pair<std::string, std::string>{"weights", "/tmp/sw/models/demo/weights.h5"}));
  EXPECT_EQ(s.backbones.at("demo")[1], (std::pair<std::string, std::string>{"bpe", "/tmp/sw/models/demo/vocab.txt"}));
  EXPECT_TRUE(s.backbones.at("random").empty());
  auto m = manifest_json(s);
  EXPECT_EQ(m["backbones"]["demo"][0][1], "/tmp/sw/models/demo/weights.h5");
  EXPECT_TRUE(m["backbones"]["random"].empty());
}

TEST(SweepBackbones, SetKeyAppliesToEveryPoint) {
  Sweep s = load_sweep_text(std::string("[backbone.demo]\nweights = w.h5\n[set]\nbackbone = demo\n"
                                        "[grid]\nmethod.subspaces = 2, 4\n") + kTail, "s.ini", "/tmp");
  ASSERT_EQ(s.points.size(), 2u);
  for (const auto& p : s.points) EXPECT_EQ(bb_value_of(p, "backbone"), "demo");
  EXPECT_EQ(s.points[0].method, "subspaces=2");  // does not vary: not in the label
}

TEST(SweepBackbones, Refusals) {
  EXPECT_THAT(bb_error_of(std::string("[backbone.demo]\nweights = w.h5\n[grid]\nbackbone = demo, demx\n") + kTail),
              HasSubstr("s.ini:4: backbone 'demx' is not defined by a [backbone.demx] section (did you mean 'demo'?)"));
  EXPECT_THAT(bb_error_of(std::string("[set]\nbackbone = x\n") + kTail),
              HasSubstr("s.ini:2: [set] backbone 'x' is not defined"));
  EXPECT_THAT(bb_error_of(std::string("[backbone.demo]\nout = o\n") + kTail),
              HasSubstr("s.ini:2: [backbone.demo] out: this flag is set by the sweep runner itself"));
  EXPECT_THAT(bb_error_of(std::string("[backbone.demo]\nweights = w.h5\n[grid]\nbackbone = demo, demo\n") + kTail),
              HasSubstr("value 'demo' is listed twice"));
}

}  // namespace
}  // namespace tc::sweep
