// Weight loaders: HDF5 round trip, a TorchScript archive built here with OpenAI's names, HF
// safetensors (q/k/v split) and open_clip safetensors give identical outputs; activation
// rules; every missing / unexpected / wrongly shaped tensor named; architecture inference.
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "clip/clip.h"
#include "clip/clip_ref_support.h"
#include "clip/safetensors.h"
#include "clip/weights.h"
#include "util/check.h"
#include "util/hash.h"

namespace tc::clip::wtest {

struct Outs {
  std::vector<torch::Tensor> all;
};

Outs run_model(ClipModel& m) {
  torch::NoGradGuard ng;
  torch::manual_seed(42);
  auto x = torch::randn({2, 3, m->config.image_size, m->config.image_size});
  auto ids = torch::zeros({2, 77}, torch::kLong);
  for (int r = 0; r < 2; ++r) {
    ids[r][0] = 49406;
    for (int j = 1; j < 6 + r; ++j) ids[r][j] = 100 * j + r;
    ids[r][6 + r] = 49407;
  }
  auto v = m->visual->forward(x);
  Outs o;
  o.all = {v.global, v.embed, m->text->encode(ids)};
  for (auto& t : v.tokens) o.all.push_back(t);
  return o;
}

// Exact on purpose: the same model code, bit-equal weights and the same input batch in one
// process; a difference means a weight was read differently.
void expect_same(const Outs& a, const Outs& b, const char* what) {
  ASSERT_EQ(a.all.size(), b.all.size()) << what;
  for (size_t i = 0; i < a.all.size(); ++i) EXPECT_TRUE(torch::equal(a.all[i], b.all[i])) << what << " output " << i;
}

std::string tmpdir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("tc_wtest_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d.string();
}

ClipModel perturbed_tiny(Activation act = Activation::QuickGELU) {
  ClipConfig c = preset_config("tiny");
  c.activation = act;
  ClipModel m(c);
  testref::perturb(m, 99);
  m->freeze();
  return m;
}

NamedTensors named(ClipModel& m) {
  NamedTensors t;
  for (auto& [n, p] : m->openai_named_parameters()) t[n] = p.detach().clone();
  return t;
}

std::string error_text(const std::function<void()>& f) {
  try {
    f();
  } catch (const tc::Error& e) {
    return e.message();
  }
  return "(no error)";
}

TEST(ClipWeights, Hdf5RoundTripIdenticalOutputs) {
  auto m = perturbed_tiny(Activation::GELU);
  auto dir = tmpdir("h5");
  H5WeightsInfo info;
  info.preset = "tiny";
  info.activation = "gelu";
  info.vision_heads = 4;
  info.text_heads = 2;
  info.source_format = "test";
  save_weights_h5(dir + "/w.h5", m, info);
  EXPECT_EQ(detect_weight_format(dir + "/w.h5"), "tokenclip-hdf5");
  auto l = load_clip(dir + "/w.h5", {});
  EXPECT_EQ(l.format, "tokenclip-hdf5");
  EXPECT_EQ(l.model->config.preset, "tiny");
  EXPECT_EQ(l.model->config.activation, Activation::GELU);  // carried by the file
  EXPECT_EQ(l.fingerprint, sha256_file_hex(dir + "/w.h5"));
  EXPECT_FALSE(l.random);
  expect_same(run_model(l.model), run_model(m), "hdf5");
  for (auto& p : l.model->parameters()) EXPECT_FALSE(p.requires_grad());

  // Random weights keep their provenance through the file.
  auto r = random_clip("tiny", 3, {});
  info.activation = "quickgelu";
  info.random = true;
  info.init_seed = 3;
  info.source_fingerprint = r.fingerprint;
  save_weights_h5(dir + "/r.h5", r.model, info);
  auto lr = load_clip(dir + "/r.h5", {});
  EXPECT_TRUE(lr.random);
  EXPECT_EQ(lr.fingerprint, "random-tiny-seed-3");
  expect_same(run_model(lr.model), run_model(r.model), "random hdf5");
  std::filesystem::remove_all(dir);
}

// An archive shaped like OpenAI's: nested submodules named as in model.py, fp16 storage.
void add_param(torch::jit::Module& root, const std::string& dotted, const torch::Tensor& t, int& counter) {
  torch::jit::Module cur = root;
  size_t start = 0;
  for (size_t dot = dotted.find('.'); dot != std::string::npos; dot = dotted.find('.', start)) {
    std::string part = dotted.substr(start, dot - start);
    if (!cur.hasattr(part)) {
      torch::jit::Module child("__torch__.M" + std::to_string(counter++));
      cur.register_module(part, child);
    }
    cur = cur.attr(part).toModule();
    start = dot + 1;
  }
  cur.register_parameter(dotted.substr(start), t, false);
}

TEST(ClipWeights, TorchScriptArchiveWithOpenAINames) {
  auto m = perturbed_tiny();
  auto dir = tmpdir("ts");
  torch::jit::Module root("__torch__.CLIP");
  int counter = 0;
  NamedTensors half;
  for (auto& [n, p] : m->openai_named_parameters()) {
    half[n] = p.detach().to(torch::kHalf);
    add_param(root, n, half[n].clone(), counter);
  }
  root.register_buffer("input_resolution", torch::tensor(128));
  root.save(dir + "/ViT-tiny.pt");
  EXPECT_EQ(detect_weight_format(dir + "/ViT-tiny.pt"), "openai-torchscript");
  auto l = load_clip(dir + "/ViT-tiny.pt", {});
  EXPECT_EQ(l.format, "openai-torchscript");
  EXPECT_EQ(l.model->config.preset, "tiny");
  EXPECT_EQ(l.model->config.activation, Activation::QuickGELU);
  // The same fp16-rounded weights given directly in OpenAI naming.
  auto direct = model_from_tensors(half, l.model->config, "direct");
  expect_same(run_model(l.model), run_model(direct), "torchscript");
  std::filesystem::remove_all(dir);
}

TEST(ClipWeights, HfAndOpenClipSafetensorsMatchOpenAINaming) {
  auto m = perturbed_tiny();
  auto dir = tmpdir("st");
  auto oa = named(m);
  auto hf = openai_to_hf(oa);
  EXPECT_TRUE(hf.count("vision_model.encoder.layers.0.self_attn.q_proj.weight"));
  EXPECT_TRUE(hf.count("text_model.final_layer_norm.bias"));
  EXPECT_EQ(hf.at("visual_projection.weight").sizes(), (std::vector<int64_t>{64, 128}));
  hf["text_model.embeddings.position_ids"] = torch::arange(77).view({1, 77});  // HF buffer, ignored
  std::filesystem::create_directories(dir + "/hf");
  write_safetensors(dir + "/hf/model.safetensors", hf);
  EXPECT_EQ(detect_weight_format(dir + "/hf/model.safetensors"), "hf-safetensors");
  // No config.json: the activation is unknown unless given.
  auto err = error_text([&] { load_clip(dir + "/hf/model.safetensors", {}); });
  EXPECT_NE(err.find("config.json"), std::string::npos) << err;
  std::ofstream(dir + "/hf/config.json")
      << R"({"text_config": {"hidden_act": "quick_gelu", "num_attention_heads": 2},
            "vision_config": {"hidden_act": "quick_gelu", "num_attention_heads": 4}})";
  auto l = load_clip(dir + "/hf/model.safetensors", {});
  EXPECT_EQ(l.format, "hf-safetensors");
  EXPECT_EQ(l.model->config.activation, Activation::QuickGELU);
  auto ref = run_model(m);
  expect_same(run_model(l.model), ref, "hf safetensors");

  // open_clip naming = OpenAI naming; the activation must be explicit.
  write_safetensors(dir + "/oc.safetensors", oa);
  EXPECT_EQ(detect_weight_format(dir + "/oc.safetensors"), "openclip-safetensors");
  err = error_text([&] { load_clip(dir + "/oc.safetensors", {}); });
  EXPECT_NE(err.find("model.activation"), std::string::npos) << err;
  LoadOptions o;
  o.activation = "quickgelu";
  auto lo = load_clip(dir + "/oc.safetensors", o);
  EXPECT_EQ(lo.format, "openclip-safetensors");
  expect_same(run_model(lo.model), ref, "open_clip safetensors");
  o.activation = "gelu";
  auto lg = load_clip(dir + "/oc.safetensors", o);
  EXPECT_EQ(lg.model->config.activation, Activation::GELU);
  auto gm = perturbed_tiny(Activation::GELU);
  expect_same(run_model(lg.model), run_model(gm), "open_clip gelu");
  std::filesystem::remove_all(dir);
}

TEST(ClipWeights, MissingUnexpectedAndWrongShapesAreNamed) {
  auto m = perturbed_tiny();
  auto cfg = m->config;
  auto t = named(m);
  t.erase("visual.transformer.resblocks.3.mlp.c_fc.bias");
  t.erase("ln_final.bias");
  t["visual.transformer.resblocks.2.attn.out_proj.weight"] = torch::zeros({128, 64});
  t["visual.extra_thing"] = torch::zeros({3});
  auto err = error_text([&] { model_from_tensors(t, cfg, "w.safetensors"); });
  EXPECT_NE(err.find("w.safetensors"), std::string::npos) << err;
  EXPECT_NE(err.find("missing tensors: "), std::string::npos) << err;
  EXPECT_NE(err.find("ln_final.bias"), std::string::npos) << err;
  EXPECT_NE(err.find("visual.transformer.resblocks.3.mlp.c_fc.bias"), std::string::npos) << err;
  EXPECT_NE(err.find("visual.transformer.resblocks.2.attn.out_proj.weight is [128,64], expected [128,128]"),
            std::string::npos) << err;
  EXPECT_NE(err.find("unexpected tensors: visual.extra_thing"), std::string::npos) << err;
  // HF names that map nowhere, and an incomplete q/k/v.
  auto hf = openai_to_hf(named(m));
  hf.erase("text_model.encoder.layers.1.self_attn.k_proj.weight");
  hf["vision_model.weird.weight"] = torch::zeros({1});
  err = error_text([&] { hf_to_openai(hf, "hf.safetensors"); });
  EXPECT_NE(err.find("vision_model.weird.weight"), std::string::npos) << err;
  hf.erase("vision_model.weird.weight");
  err = error_text([&] { hf_to_openai(hf, "hf.safetensors"); });
  EXPECT_NE(err.find("transformer.resblocks.1.attn.in_proj_weight (q/k/v incomplete)"), std::string::npos) << err;
  // Unknown content.
  auto dir = tmpdir("bad");
  std::ofstream(dir + "/x.bin") << "not weights at all";
  err = error_text([&] { load_clip(dir + "/x.bin", {}); });
  EXPECT_NE(err.find("unknown format"), std::string::npos) << err;
  err = error_text([&] { load_clip(dir + "/none.pt", {}); });
  EXPECT_NE(err.find("none.pt"), std::string::npos) << err;
  std::filesystem::remove_all(dir);
}

// Shapes only (expanded scalars, no memory): the presets are recognised, a mismatch refused.
NamedTensors fake(const ClipConfig& c) {
  NamedTensors t;
  ClipConfig small = c;  // build the name list from a real (tiny-sized) module, then fake shapes
  auto z = [](std::vector<int64_t> s) { return torch::zeros({1}).expand(s); };
  const int64_t W = c.vision.width, Wt = c.text.width, D = c.embed_dim, g = c.vision.native_size / c.vision.patch;
  t["visual.conv1.weight"] = z({W, 3, c.vision.patch, c.vision.patch});
  t["visual.positional_embedding"] = z({1 + g * g, W});
  t["visual.proj"] = z({W, D});
  t["ln_final.weight"] = z({Wt});
  t["positional_embedding"] = z({77, Wt});
  t["token_embedding.weight"] = z({49408, Wt});
  for (int i = 0; i < c.vision.layers; ++i) t["visual.transformer.resblocks." + std::to_string(i) + ".ln_1.weight"] = z({W});
  for (int i = 0; i < c.text.layers; ++i) t["transformer.resblocks." + std::to_string(i) + ".ln_1.weight"] = z({Wt});
  (void)small;
  return t;
}

TEST(ClipWeights, ArchitectureInferredFromShapes) {
  for (const auto& p : preset_names()) {
    auto c = infer_config(fake(preset_config(p)), "f");
    EXPECT_EQ(c.preset, p);
    EXPECT_EQ(c.vision.heads, preset_config(p).vision.heads);
    EXPECT_EQ(c.image_size, preset_config(p).image_size);
  }
  auto l336 = preset_config("ViT-L-14-336");
  l336.vision.native_size = 448;  // not a preset: custom, OpenAI's head rule, METHOD defaults
  auto c = infer_config(fake(l336), "f");
  EXPECT_EQ(c.preset, "custom");
  EXPECT_EQ(c.vision.heads, 16);
  EXPECT_EQ(c.image_size, 518);
  EXPECT_EQ(c.vv_from, 6);
  EXPECT_EQ(c.layers, std::vector<int>{24});
  // A requested preset that the weights are not.
  auto m = perturbed_tiny();
  auto dir = tmpdir("mm");
  H5WeightsInfo info;
  info.preset = "tiny";
  info.activation = "quickgelu";
  save_weights_h5(dir + "/t.h5", m, info);
  LoadOptions o;
  o.preset = "ViT-B-16";
  auto err = error_text([&] { load_clip(dir + "/t.h5", o); });
  EXPECT_NE(err.find("the weights are tiny"), std::string::npos) << err;
  EXPECT_NE(err.find("preset ViT-B-16 was requested"), std::string::npos) << err;
  o.preset = "tiny";
  o.image_size = 160;
  o.vv_from = -1;
  o.layers = {3, 6};
  auto l = load_clip(dir + "/t.h5", o);
  EXPECT_EQ(l.model->config.image_size, 160);
  EXPECT_FALSE(l.model->config.vv_on());
  EXPECT_EQ(l.model->visual->pos_embed_used.size(0), 101);
  std::filesystem::remove_all(dir);
}

}  // namespace tc::clip::wtest
