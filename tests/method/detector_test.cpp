// The Detector on a tiny random backbone: parameter naming/init, the reduction to the base
// (METHOD.md section 4, item 11), images vs features, gradients against finite differences,
// and the config switches.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <cmath>
#include <map>

#include "config/config.h"
#include "method/detector.h"
#include "method/losses.h"
#include "method/method_support.h"
#include "method/scores.h"
#include "util/check.h"

namespace {

using namespace tc::method;
using tc::method::testing::fake_prompt_tokens;
using tc::method::testing::preset_options;
using tc::method::testing::tiny_clip;

struct Batch {
  torch::Tensor images;
  Targets targets;
};

Batch tiny_batch(int64_t B, uint64_t seed) {
  torch::manual_seed(seed);
  Batch b;
  b.images = torch::randn({B, 3, 128, 128});
  b.targets.masks = (torch::rand({B, 128, 128}) > 0.7).to(torch::kFloat);
  b.targets.labels = torch::arange(B) % 2;
  b.targets.masks[0].zero_();
  return b;
}

std::map<std::string, torch::Tensor> grads_of(const Detector& d, const torch::Tensor& loss) {
  std::vector<torch::Tensor> ps;
  for (const auto& kv : d->learnable_parameters()) ps.push_back(kv.second);
  auto g = torch::autograd::grad({loss}, ps, {}, false, false, /*allow_unused=*/true);
  std::map<std::string, torch::Tensor> out;
  for (size_t i = 0; i < ps.size(); ++i) out[d->learnable_parameters()[i].first] = g[i];
  return out;
}

TEST(Detector, LearnableNamesShapesAndSeededInit) {
  auto clip = tiny_clip();
  Detector d(clip, MethodOptions{}, fake_prompt_tokens(), 111);
  std::vector<std::string> names;
  for (const auto& kv : d->learnable_parameters()) names.push_back(kv.first);
  std::vector<std::string> want = {"base.ctx_normal", "base.ctx_abnormal"};
  for (int i = 0; i < 8; ++i) want.push_back("base.deep." + std::to_string(i));
  want.push_back("global.ctx_normal");
  want.push_back("global.ctx_abnormal");
  for (int i = 0; i < 8; ++i) want.push_back("global.deep." + std::to_string(i));
  want.push_back("subspace.weight");
  want.push_back("subspace.bias");
  EXPECT_EQ(names, want);
  EXPECT_EQ(d->learnable("base.ctx_normal").sizes(), (std::vector<int64_t>{12, 64}));
  EXPECT_EQ(d->learnable("base.deep.7").sizes(), (std::vector<int64_t>{4, 64}));
  EXPECT_EQ(d->learnable("subspace.weight").sizes(), (std::vector<int64_t>{4 * 64, 64}));
  EXPECT_EQ(d->learnable("subspace.bias").abs().max().item<float>(), 0.0f);
  double sd = d->learnable("subspace.weight").std().item<double>();
  EXPECT_NEAR(sd, 0.02, 0.001);
  EXPECT_NEAR(d->learnable("subspace.weight").mean().item<double>(), 0.0, 0.0005);
  // Base tensors do not depend on which heads exist; they do depend on the seed.
  Detector base(clip, MethodOptions::anomalyclip(), fake_prompt_tokens(), 111);
  EXPECT_EQ(base->learnable_parameters().size(), 12u);  // 2 contexts + 8 deep + W + b
  for (size_t i = 0; i < 10; ++i)
    EXPECT_TRUE(torch::equal(base->learnable_parameters()[i].second, d->learnable_parameters()[i].second));
  Detector other(clip, MethodOptions{}, fake_prompt_tokens(), 112);
  EXPECT_FALSE(torch::equal(other->learnable("base.ctx_normal"), d->learnable("base.ctx_normal")));
  // Prompts mode and the learned marginal add their own tensors at the end.
  auto po = preset_options("tokenclip.ini", {{"subspace_mode", "prompts"}, {"ot_subspace_marginal", "learned"}});
  Detector p(clip, po, fake_prompt_tokens(), 111);
  EXPECT_EQ(p->learnable("subspace.ctx_normal").sizes(), (std::vector<int64_t>{4, 12, 64}));
  EXPECT_EQ(p->learnable_parameters().back().first, "ot.nu_logits");
}

// Exact on purpose (never across batch sizes, threads or processors): both detectors run in one
// process on the same batch, and the reduction executes the same operations on the same numbers
// in the same order, so any difference is a real departure from the base.
void expect_bit_identical(const DetectorOutput& a, const DetectorOutput& b) {
  ASSERT_EQ(a.base_maps.size(), b.base_maps.size());
  EXPECT_TRUE(torch::equal(a.map, b.map));
  EXPECT_TRUE(torch::equal(a.image_score, b.image_score));
  EXPECT_TRUE(torch::equal(a.global_logits, b.global_logits));
  for (size_t l = 0; l < a.base_maps.size(); ++l) EXPECT_TRUE(torch::equal(a.base_maps[l], b.base_maps[l]));
  EXPECT_TRUE(torch::equal(a.loss.total, b.loss.total));
  EXPECT_TRUE(torch::equal(a.loss.global, b.loss.global));
  EXPECT_TRUE(torch::equal(a.loss.base_local, b.loss.base_local));
}

TEST(Detector, ReducesBitExactlyToTheAnomalyClipPreset) {
  auto clip = tiny_clip();
  Batch batch = tiny_batch(2, 3);
  MethodOptions ref_opt = preset_options("anomalyclip.ini");
  ASSERT_TRUE(ref_opt.is_base_reduction());
  Detector ref(clip, ref_opt, fake_prompt_tokens(), 111);
  DetectorOutput r = ref->forward(batch.images, &batch.targets);
  auto rg = grads_of(ref, r.loss.total);
  for (const char* q : {"1", "4"}) {
    auto o = preset_options("tokenclip.ini", {{"decouple_prompts", "false"}, {"dyn_loss", "false"},
                                              {"lambda_reg", "0"}, {"map_source", "base"},
                                              {"subspaces", q}, {"topk", "1"}});
    ASSERT_TRUE(o.is_base_reduction());
    Detector d(clip, o, fake_prompt_tokens(), 111);
    DetectorOutput out = d->forward(batch.images, &batch.targets);
    SCOPED_TRACE(std::string("Q = ") + q);
    expect_bit_identical(out, r);
    auto g = grads_of(d, out.loss.total);
    for (const auto& kv : rg) {
      if (kv.first.rfind("subspace.", 0) == 0) continue;
      ASSERT_TRUE(g[kv.first].defined()) << kv.first;
      EXPECT_TRUE(torch::equal(g[kv.first], kv.second)) << kv.first;
    }
    // The subspace head is outside the loss in the reduction.
    EXPECT_FALSE(g["subspace.weight"].defined());
  }
  // The base is not trivially reached: with the TokenCLIP defaults the loss differs.
  Detector full(clip, MethodOptions{}, fake_prompt_tokens(), 111);
  EXPECT_FALSE(torch::equal(full->forward(batch.images, &batch.targets).loss.total, r.loss.total));
}

TEST(Detector, ImagesAndFeaturesGiveTheSameOutputs) {
  auto clip = tiny_clip();
  Batch batch = tiny_batch(2, 4);
  Detector d(clip, MethodOptions{}, fake_prompt_tokens(), 111);
  DetectorOutput a = d->forward(batch.images, &batch.targets);
  FeatureBatch fb = d->extract_features(batch.images);
  EXPECT_FALSE(fb.global.requires_grad());
  TextFeatures tf = d->encode_text();
  DetectorOutput b = d->forward_features(fb, &batch.targets, &tf);
  // Exact: the same batch through the same operations (the features are the same tensors).
  EXPECT_TRUE(torch::equal(a.map, b.map));
  EXPECT_TRUE(torch::equal(a.loss.total, b.loss.total));
  EXPECT_TRUE(torch::equal(a.assignment[0], b.assignment[0]));
}

TEST(Detector, OutputsHaveTheDocumentedMeaning) {
  auto clip = tiny_clip();
  Batch batch = tiny_batch(2, 5);
  auto o = preset_options("tokenclip.ini", {{"beta", "0.5"}, {"gamma", "0.3"}});
  Detector d(clip, o, fake_prompt_tokens(), 111);
  DetectorOutput out = d->forward(batch.images, &batch.targets);
  const int64_t N = 64, S = 128;
  ASSERT_EQ(out.assignment[0].sizes(), (std::vector<int64_t>{2, N, 4}));
  EXPECT_LT((out.assignment[0].sum(-1) - 1).abs().max().item<double>(), 1e-5);
  EXPECT_TRUE(((out.assignment[0] > 0).sum(-1) == 2).all().item<bool>());
  EXPECT_EQ(out.base_maps[0].sizes(), (std::vector<int64_t>{2, 2, S, S}));
  // map = P^dyn_a + beta P^base_a (one layer); image score = 0.7 global + 0.3 max(map).
  torch::Tensor want = out.dyn_maps[0].select(1, 1) + 0.5 * out.base_maps[0].select(1, 1);
  EXPECT_TRUE(torch::allclose(out.map, want, 0, 1e-7));
  torch::Tensor sc = 0.7 * out.global_prob + 0.3 * std::get<0>(out.map.flatten(1).max(1));
  EXPECT_TRUE(torch::allclose(out.image_score, sc, 0, 1e-6));
  // Loss composition.
  auto& L = out.loss;
  double total = L.global.item<double>() + 4.0 * (L.base_local.item<double>() + L.dyn_local.item<double>()) +
                 1.0 * L.reg.item<double>();
  EXPECT_NEAR(L.total.item<double>(), total, 1e-4);
  // Diagnostics: mass per subspace sums to 1; with uniform nu the OT columns are 1/Q.
  double msum = 0;
  for (double m : out.ot.mass[0]) msum += m;
  EXPECT_NEAR(msum, 1.0, 1e-5);
  EXPECT_GT(out.ot.max_iterations[0], 0);
  EXPECT_LT(out.ot.max_violation[0], 1e-4);
  EXPECT_GT(out.ot.entropy[0], 0.0);
  EXPECT_LE(out.ot.entropy[0], std::log(2.0) + 1e-6);
  EXPECT_EQ(out.ot.gram.sizes(), (std::vector<int64_t>{2, 4, 4}));
  EXPECT_NEAR(out.ot.gram[0][2][2].item<double>(), 1.0, 1e-5);
  // Decoupled: the global space has its own text features.
  EXPECT_FALSE(torch::equal(out.text.global, out.text.base));
  // Without targets: no loss.
  EXPECT_FALSE(d->forward(batch.images).has_loss);
}

TEST(Detector, EveryModeRunsAndTrainsWhatItShould) {
  auto clip = tiny_clip();
  Batch batch = tiny_batch(2, 6);
  struct Case { std::vector<std::pair<std::string, std::string>> ov; std::vector<std::string> trained; };
  std::vector<Case> cases = {
      {{}, {"base.ctx_normal", "global.ctx_abnormal", "subspace.weight", "subspace.bias"}},
      {{{"assign", "greedy"}}, {"subspace.weight"}},
      {{{"subspace_mode", "prompts"}}, {"subspace.ctx_normal", "base.deep.3"}},
      {{{"ot_cost", "centre"}, {"subspace_residual", "false"}}, {"subspace.weight"}},
      {{{"ot_subspace_marginal", "learned"}, {"ot_backprop", "true"}}, {"ot.nu_logits"}},
      {{{"subspaces", "3"}, {"topk", "3"}, {"map_source", "base"}}, {"subspace.weight"}},
  };
  for (const auto& c : cases) {
    Detector d(clip, preset_options("tokenclip.ini", c.ov), fake_prompt_tokens(), 111);
    DetectorOutput out = d->forward(batch.images, &batch.targets);
    ASSERT_TRUE(torch::isfinite(out.loss.total).item<bool>());
    auto g = grads_of(d, out.loss.total);
    for (const auto& name : c.trained) {
      ASSERT_TRUE(g[name].defined()) << name;
      EXPECT_GT(g[name].abs().max().item<double>(), 0.0) << name;
    }
  }
  // Deep prompts rounded through fp16: a change below half an fp16 step changes nothing.
  Detector d(clip, MethodOptions{}, fake_prompt_tokens(), 111);
  TextFeatures t0 = d->encode_text();
  {
    torch::NoGradGuard ng;
    torch::Tensor deep = d->learnable("base.deep.0");
    deep.copy_(deep.to(torch::kHalf).to(torch::kFloat));
    t0 = d->encode_text();
    deep.add_(deep.abs() * 1e-4);  // fp16 has 11 significant bits: 2^-11 = 4.9e-4
  }
  EXPECT_TRUE(torch::equal(d->encode_text().base, t0.base));
  auto o = MethodOptions{};
  o.deep_prompt_fp16_round = false;
  Detector d2(clip, o, fake_prompt_tokens(), 111);
  TextFeatures u0 = d2->encode_text();
  {
    torch::NoGradGuard ng;
    d2->learnable("base.deep.0").add_(0.05);
  }
  EXPECT_FALSE(torch::equal(d2->encode_text().base, u0.base));
}

// Full loss against central finite differences in double precision, on cached features (the
// frozen tower is not differentiated anyway). The plan is unrolled (ot_backprop) so that the
// loss is a smooth function of every learnable; fp16 rounding is off for the same reason.
TEST(Detector, FullLossGradientMatchesFiniteDifferences) {
  for (const char* mode : {"projection", "prompts"}) {
    auto clip = tiny_clip();
    auto o = preset_options("tokenclip.ini", {{"ot_backprop", "true"}, {"ot_tol", "1e-13"},
                                              {"ot_max_iters", "5000"}, {"deep_prompt_fp16_round", "false"},
                                              {"ot_subspace_marginal", "learned"}, {"subspace_mode", mode},
                                              {"prompt_depth", "3"}, {"beta", "0.5"}});
    Detector d(clip, o, fake_prompt_tokens(), 111);
    Batch batch = tiny_batch(2, 7);
    FeatureBatch fb = d->extract_features(batch.images);
    d->to(torch::kDouble);
    fb.global = fb.global.to(torch::kDouble);
    for (auto& t : fb.tokens) t = t.to(torch::kDouble);
    {
      torch::NoGradGuard ng;  // a non-uniform learned marginal and a non-trivial head
      if (std::string(mode) == "projection") d->learnable("subspace.bias").normal_(0, 0.05);
      d->learnable("ot.nu_logits").copy_(torch::tensor({0.3, -0.2, 0.1, 0.0}, torch::kDouble));
    }
    auto loss_of = [&]() { return d->forward_features(fb, &batch.targets).loss.total; };
    torch::Tensor L = loss_of();
    auto g = grads_of(d, L);
    torch::manual_seed(1);
    int checked = 0;
    for (const auto& kv : d->learnable_parameters()) {
      torch::Tensor p = kv.second;
      torch::Tensor flat = p.view({-1});
      for (int rep = 0; rep < 2; ++rep) {
        int64_t idx = torch::randint(flat.numel(), {1}).item<int64_t>();
        const double h = 1e-5;
        double orig;
        double fp, fm;
        {
          torch::NoGradGuard ng;
          orig = flat[idx].item<double>();
          flat[idx] = orig + h;
          fp = loss_of().item<double>();
          flat[idx] = orig - h;
          fm = loss_of().item<double>();
          flat[idx] = orig;
        }
        double fd = (fp - fm) / (2 * h);
        ASSERT_TRUE(g[kv.first].defined()) << kv.first;
        double an = g[kv.first].reshape({-1})[idx].item<double>();
        EXPECT_NEAR(an, fd, 1e-6 + 1e-5 * std::abs(fd)) << mode << " " << kv.first << "[" << idx << "]";
        ++checked;
      }
    }
    EXPECT_GT(checked, 10);
  }
}

TEST(MethodConfig, PresetsMatchTheSpecTable) {
  auto a = preset_options("anomalyclip.ini");
  auto ref = MethodOptions::anomalyclip();
  EXPECT_EQ(a.to_ini(), ref.to_ini());
  EXPECT_TRUE(a.is_base_reduction());
  EXPECT_EQ(preset_options("tokenclip.ini").to_ini(), MethodOptions{}.to_ini());
  EXPECT_EQ(preset_options("").to_ini(), MethodOptions{}.to_ini());  // schema defaults = tokenclip
  auto g = preset_options("tokenclip-greedy.ini");
  MethodOptions gw;
  gw.assign = "greedy";
  EXPECT_EQ(g.to_ini(), gw.to_ini());
  // Every [method] key of the schema is written out in each preset.
  for (const char* f : {"anomalyclip.ini", "tokenclip.ini", "tokenclip-greedy.ini"}) {
    auto entries = tc::config::parse_ini(tc::method::testing::source_dir() + "/configs/" + f);
    std::set<std::string> keys;
    for (const auto& e : entries) keys.insert(e.section + "." + e.key);
    for (const auto& sp : tc::config::schema())
      if (sp.section() == "method") EXPECT_TRUE(keys.count(sp.key)) << f << " lacks " << sp.key;
  }
}

TEST(MethodConfig, EverySwitchReachableAndBadCombinationsRefused) {
  auto o = preset_options("tokenclip.ini",
                          {{"prompt_length", "8"}, {"prompt_depth", "5"}, {"deep_prompt_length", "3"},
                           {"deep_prompt_fp16_round", "false"}, {"decouple_prompts", "false"},
                           {"subspaces", "6"}, {"subspace_mode", "prompts"}, {"subspace_residual", "false"},
                           {"topk", "3"}, {"assign", "greedy"}, {"ot_eps", "0.05"}, {"ot_tol", "1e-6"},
                           {"ot_max_iters", "300"}, {"ot_subspace_marginal", "learned"},
                           {"ot_backprop", "true"}, {"ot_cost", "centre"}, {"dyn_loss", "false"},
                           {"map_source", "base"}, {"lambda_loc", "2"}, {"lambda_reg", "0.5"},
                           {"beta", "0.25"}, {"gamma", "0.75"}, {"temperature", "0.05"}});
  EXPECT_EQ(o.prompt_length, 8);
  EXPECT_EQ(o.prompt_depth, 5);
  EXPECT_EQ(o.deep_prompt_length, 3);
  EXPECT_FALSE(o.deep_prompt_fp16_round);
  EXPECT_FALSE(o.decouple_prompts);
  EXPECT_EQ(o.subspaces, 6);
  EXPECT_EQ(o.subspace_mode, "prompts");
  EXPECT_FALSE(o.subspace_residual);
  EXPECT_EQ(o.topk, 3);
  EXPECT_EQ(o.assign, "greedy");
  EXPECT_EQ(o.ot_eps, 0.05);
  EXPECT_EQ(o.ot_tol, 1e-6);
  EXPECT_EQ(o.ot_max_iters, 300);
  EXPECT_EQ(o.ot_subspace_marginal, "learned");
  EXPECT_TRUE(o.ot_backprop);
  EXPECT_EQ(o.ot_cost, "centre");
  EXPECT_FALSE(o.dyn_loss);
  EXPECT_EQ(o.map_source, "base");
  EXPECT_EQ(o.lambda_loc, 2.0);
  EXPECT_EQ(o.lambda_reg, 0.5);
  EXPECT_EQ(o.beta, 0.25);
  EXPECT_EQ(o.gamma, 0.75);
  EXPECT_EQ(o.temperature, 0.05);
  auto refused = [](std::vector<std::pair<std::string, std::string>> ov, const std::string& needle) {
    try {
      preset_options("tokenclip.ini", ov);
      ADD_FAILURE() << "accepted: " << needle;
    } catch (const tc::Error& e) {
      EXPECT_EQ(e.kind(), tc::ErrorKind::Usage);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  refused({{"topk", "5"}}, "method.topk");
  refused({{"subspaces", "1"}}, "method.subspaces");  // topk 2 from the preset > Q 1
  refused({{"ot_eps", "0"}}, "ot_eps");
  refused({{"ot_eps", "-0.1"}}, "ot_eps");
  refused({{"subspace_mode", "heads"}}, "subspace_mode");
  refused({{"assign", "hungarian"}}, "assign");
  refused({{"deep_prompt_length", "13"}}, "deep_prompt_length");
  refused({{"gamma", "1.5"}}, "gamma");
  // INI text with a bad combination names the file and line of each value.
  tc::config::Config c = tc::config::Config::for_sections({"method"});
  c.apply(tc::config::parse_ini_text("[method]\nsubspaces = 2\ntopk = 3\n", "bad.ini"));
  try {
    MethodOptions::from_config(c);
    ADD_FAILURE();
  } catch (const tc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.ini:3"), std::string::npos) << e.what();
  }
  // prompt_depth beyond the text tower is refused when the detector is built.
  MethodOptions deep;
  deep.prompt_depth = 13;
  EXPECT_THROW(Detector(tiny_clip(), deep, fake_prompt_tokens(), 1), tc::Error);
}

}  // namespace
