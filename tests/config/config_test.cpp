#include "config/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "util/check.h"

using tc::config::Config;

namespace {

std::string write_tmp(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

// Runs f and returns the Error it throws (fails the test if none).
template <typename F>
tc::Error expect_error(F f) {
  try {
    f();
  } catch (const tc::Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected a tc::Error";
  return tc::Error(tc::ErrorKind::Runtime, "none");
}

Config method_cfg() { return Config::for_sections({"method", "train"}); }

}  // namespace

TEST(Config, DefaultsFollowTheMethodSpec) {
  Config c = method_cfg();
  EXPECT_EQ(c.get_int("method.subspaces"), 4);
  EXPECT_EQ(c.get_int("method.topk"), 2);
  EXPECT_DOUBLE_EQ(c.get_float("method.ot_eps"), 0.1);
  EXPECT_DOUBLE_EQ(c.get_float("method.temperature"), 0.07);
  EXPECT_EQ(c.get_string("method.map_source"), "dyn");
  EXPECT_TRUE(c.get_bool("method.decouple_prompts"));
  EXPECT_EQ(c.get_int("train.global_batch"), 8);
  EXPECT_EQ(c.get_int("train.seed"), 111);
  EXPECT_DOUBLE_EQ(c.get_float("train.beta1"), 0.5);
  EXPECT_TRUE(c.is_default("method.subspaces"));
}

TEST(Config, LaterFilesWinAndFlagsWinOverFiles) {
  auto a = write_tmp("a.ini", "[method]\nsubspaces = 8\ntopk = 3\n");
  auto b = write_tmp("b.ini", "# comment\n[method]\n topk = 1  ; inline comment\n");
  Config c = method_cfg();
  c.load_ini(a);
  c.load_ini(b);
  EXPECT_EQ(c.get_int("method.subspaces"), 8);
  EXPECT_EQ(c.get_int("method.topk"), 1);
  EXPECT_EQ(c.source("method.topk"), b + ":3");
  c.set("method.subspaces", "2", "command line");
  EXPECT_EQ(c.get_int("method.subspaces"), 2);
  EXPECT_EQ(c.source("method.subspaces"), "command line");
}

TEST(Config, UnknownKeyNamesFileLineAndClosestKey) {
  auto p = write_tmp("typo.ini", "[method]\n\nsubspace = 8\n");
  Config c = method_cfg();
  auto e = expect_error([&] { c.load_ini(p); });
  EXPECT_EQ(e.kind(), tc::ErrorKind::Usage);
  EXPECT_NE(e.message().find(p + ":3"), std::string::npos) << e.message();
  EXPECT_NE(e.message().find("'method.subspace'"), std::string::npos) << e.message();
  EXPECT_NE(e.message().find("did you mean 'method.subspaces'"), std::string::npos) << e.message();
}

TEST(Config, KeyInTheWrongSectionSuggestsTheRightOne) {
  Config c = method_cfg();
  auto e = expect_error([&] { c.set("train.subspaces", "3", "x.ini:4"); });
  EXPECT_NE(e.message().find("method.subspaces"), std::string::npos) << e.message();
}

TEST(Config, MalformedAndOutOfRangeValuesAreRefused) {
  Config c = method_cfg();
  auto e1 = expect_error([&] { c.set("method.subspaces", "four", "f.ini:2"); });
  EXPECT_NE(e1.message().find("f.ini:2"), std::string::npos);
  EXPECT_NE(e1.message().find("not an integer"), std::string::npos) << e1.message();
  auto e2 = expect_error([&] { c.set("method.ot_eps", "0", "command line"); });
  EXPECT_NE(e2.message().find("out of range"), std::string::npos) << e2.message();
  EXPECT_NE(e2.message().find("> 0"), std::string::npos) << e2.message();
  auto e3 = expect_error([&] { c.set("method.gamma", "1.5", "command line"); });
  EXPECT_NE(e3.message().find("[0, 1]"), std::string::npos) << e3.message();
  auto e4 = expect_error([&] { c.set("method.assign", "gredy", "command line"); });
  EXPECT_NE(e4.message().find("did you mean 'greedy'"), std::string::npos) << e4.message();
  auto e5 = expect_error([&] { c.set("method.dyn_loss", "maybe", "command line"); });
  EXPECT_NE(e5.message().find("boolean"), std::string::npos) << e5.message();
  // The refused values left the config unchanged.
  EXPECT_EQ(c.get_int("method.subspaces"), 4);
}

TEST(Config, SyntaxErrorsNameTheLine) {
  auto e = expect_error([] { tc::config::parse_ini_text("[method]\nsubspaces 8\n", "s.ini"); });
  EXPECT_NE(e.message().find("s.ini:2"), std::string::npos) << e.message();
  auto e2 = expect_error([] { tc::config::parse_ini_text("[method\n", "t.ini"); });
  EXPECT_NE(e2.message().find("t.ini:1"), std::string::npos) << e2.message();
  auto e3 = expect_error([] {
    Config c = Config::for_sections({"method"});
    c.apply(tc::config::parse_ini_text("subspaces = 3\n", "u.ini"));
  });
  EXPECT_NE(e3.message().find("outside any [section]"), std::string::npos) << e3.message();
}

TEST(Config, ListsAndBooleans) {
  Config c = Config::for_sections({"model", "train"});
  c.set("model.layers", "6, 12,18,24", "cli");
  EXPECT_EQ(c.get_int_list("model.layers"), (std::vector<int64_t>{6, 12, 18, 24}));
  EXPECT_EQ(c.text("model.layers"), "6,12,18,24");
  EXPECT_THROW(c.set("model.layers", "6,x", "cli"), tc::Error);
  EXPECT_THROW(c.set("model.layers", "0", "cli"), tc::Error);
  for (const char* t : {"true", "1", "yes", "on", "TRUE"}) {
    c.set("train.shuffle", t, "cli");
    EXPECT_TRUE(c.get_bool("train.shuffle")) << t;
  }
  c.set("train.shuffle", "off", "cli");
  EXPECT_FALSE(c.get_bool("train.shuffle"));
}

TEST(Config, EffectiveConfigRoundTripsAndHashTracksValues) {
  Config a = method_cfg();
  a.set("method.subspaces", "6", "cli");
  a.set("train.lr", "0.002", "cli");
  std::string ini = a.to_ini(true);
  EXPECT_NE(ini.find("subspaces = 6  # from cli"), std::string::npos) << ini;
  Config b = method_cfg();
  b.apply(tc::config::parse_ini_text(ini, "eff.ini"));
  EXPECT_EQ(a.hash(), b.hash());
  EXPECT_EQ(b.get_int("method.subspaces"), 6);
  b.set("method.topk", "3", "cli");
  EXPECT_NE(a.hash(), b.hash());
  // runtime settings do not change the hash
  Config r1 = Config::for_sections({"method", "runtime"}), r2 = r1;
  r2.set("runtime.threads", "7", "cli");
  EXPECT_EQ(r1.hash(), r2.hash());
}

TEST(Config, EverySchemaDefaultIsValid) {
  // Constructing the whole table normalises every default through the validators.
  Config c = Config::for_sections(tc::config::schema_sections());
  EXPECT_GT(c.keys().size(), 30u);
}

// ---------------------------------------------------------------- issue 12, section 5

namespace {
tc::config::Spec multi_spec(const char* key) {
  tc::config::Spec s;
  s.key = key;
  s.type = tc::config::Type::String;
  s.multi = true;
  return s;
}
tc::config::Spec int_or_words(const char* key, const char* def) {
  tc::config::Spec s;
  s.key = key;
  s.type = tc::config::Type::Int;
  s.default_value = def;
  s.min = 0;
  s.choices = {"none", "anomalous", "all"};
  return s;
}
}  // namespace

TEST(Config, RepeatableOptionNeverSplitsItsValues) {
  Config c({multi_spec("text")});
  c.append("text", "a flawless bottle, seen from above", "command line");
  c.append("text", "normal", "command line");
  EXPECT_EQ(c.get_string_list("text"),
            (std::vector<std::string>{"a flawless bottle, seen from above", "normal"}));
  c.check_required();
  // set() replaces every value by one
  c.set("text", "x, y", "sweep");
  EXPECT_EQ(c.get_string_list("text"), (std::vector<std::string>{"x, y"}));
  // a list meant as a list is its own type and splits
  Config m = Config::for_sections({"model"});
  m.set("model.layers", "6,12", "command line");
  EXPECT_EQ(m.get_int_list("model.layers"), (std::vector<int64_t>{6, 12}));
}

TEST(Config, NumericFlagsAreCheckedAtParseTimeWithTheirWords) {
  Config c({int_or_words("visualize", "none")});
  EXPECT_EQ(c.word("visualize"), "none");
  auto e1 = expect_error([&] { c.set("visualize", "foo", "command line"); });
  EXPECT_EQ(e1.kind(), tc::ErrorKind::Usage);
  EXPECT_NE(e1.message().find("option '--visualize': value 'foo' is not an integer"), std::string::npos) << e1.message();
  EXPECT_NE(e1.message().find("or one of: none, anomalous, all"), std::string::npos) << e1.message();
  auto e2 = expect_error([&] { c.set("visualize", "-3", "command line"); });
  EXPECT_NE(e2.message().find("'-3' is out of range; expected an integer >= 0"), std::string::npos) << e2.message();
  c.set("visualize", "all", "command line");
  EXPECT_EQ(c.word("visualize"), "all");
  c.set("visualize", "7", "command line");
  EXPECT_EQ(c.word("visualize"), "");
  EXPECT_EQ(c.get_int("visualize"), 7);
}

TEST(Config, DuplicateKeyInOneFileIsRefusedNamingBothLines) {
  auto p = write_tmp("dup.ini", "[method]\nsubspaces = 8\ntopk = 1\n\n[train]\nlr = 0.1\n[method]\nsubspaces = 2\n");
  Config c = method_cfg();
  auto e = expect_error([&] { c.load_ini(p); });
  EXPECT_EQ(e.kind(), tc::ErrorKind::Usage);
  EXPECT_NE(e.message().find(p + ":8: key 'subspaces' of [method] is given twice (first at " + p + ":2)"),
            std::string::npos)
      << e.message();
  // The same key in two sections is two keys; across files later-wins stays the precedence.
  auto q = write_tmp("nodup.ini", "[method]\nbeta = 1\n[train]\nbeta1 = 0.4\n");
  EXPECT_NO_THROW(c.load_ini(q));
}

TEST(Config, HugeNumbersAreOutOfRangeAndLongValuesAreCut) {
  Config c = method_cfg();
  auto e1 = expect_error([&] { c.set("method.subspaces", std::string(100000, '9'), "command line"); });
  EXPECT_NE(e1.message().find("is out of range"), std::string::npos) << e1.message().substr(0, 300);
  EXPECT_EQ(e1.message().find("not an integer"), std::string::npos) << e1.message().substr(0, 300);
  // Beyond 32 bits an integer would wrap where it is read into an int: refused, not wrapped.
  auto e6 = expect_error([&] { c.set("train.epochs", "4294967297", "command line"); });
  EXPECT_NE(e6.message().find("'4294967297' is out of range (integers are at most 2147483647)"), std::string::npos)
      << e6.message();
  EXPECT_NO_THROW(c.set("train.epochs", "2147483647", "command line"));
  auto e2 = expect_error([&] { c.set("method.ot_eps", "1e999", "command line"); });
  EXPECT_NE(e2.message().find("is out of range"), std::string::npos) << e2.message();
  auto e3 = expect_error([&] { c.set("method.assign", std::string(1 << 20, 'x'), "command line"); });
  EXPECT_LT(e3.message().size(), 400u);
  EXPECT_NE(e3.message().find("...' (1048576 characters)"), std::string::npos) << e3.message();
  auto e4 = expect_error([&] { c.set("method.subspaces", std::string(100000, '9'), "command line"); });
  EXPECT_LT(e4.message().size(), 400u);
  // Short values are quoted whole.
  auto e5 = expect_error([&] { c.set("method.topk", "two", "command line"); });
  EXPECT_NE(e5.message().find("value 'two' is not an integer"), std::string::npos) << e5.message();
}

TEST(Config, OneIniServesEveryCommand) {
  // A command that reads [model] only (e.g. `cache build`) takes the file of a training run.
  auto p = write_tmp("run.ini", "[model]\nimage_size = 64\n[method]\nsubspaces = 2\n[train]\nepochs = 3\n");
  Config c = Config::for_sections({"model", "runtime"});
  c.load_ini(p);
  EXPECT_EQ(c.get_int("model.image_size"), 64);
  EXPECT_FALSE(c.has_key("method.subspaces"));
  EXPECT_EQ(c.unused_from_files(),
            (std::vector<std::string>{"method.subspaces (" + p + ":4)", "train.epochs (" + p + ":6)"}));
  // Flags stay strict.
  auto e1 = expect_error([&] { c.set("method.subspaces", "2", "command line"); });
  EXPECT_NE(e1.message().find("is not used by this command"), std::string::npos) << e1.message();
  // Unknown keys, unknown sections and bad values of skipped keys stay errors.
  auto e2 = expect_error([&] { c.load_ini(write_tmp("k.ini", "[method]\nsubspacs = 2\n")); });
  EXPECT_NE(e2.message().find("unknown key 'method.subspacs' (did you mean 'method.subspaces'?)"), std::string::npos)
      << e2.message();
  auto e3 = expect_error([&] { c.load_ini(write_tmp("s.ini", "[methd]\nsubspaces = 2\n")); });
  EXPECT_NE(e3.message().find("unknown section [methd] (did you mean [method]?)"), std::string::npos) << e3.message();
  auto e4 = expect_error([&] { c.load_ini(write_tmp("v.ini", "[method]\nsubspaces = 0\n")); });
  EXPECT_NE(e4.message().find("'0' is out of range"), std::string::npos) << e4.message();
}
