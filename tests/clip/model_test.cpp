// CLIP towers against the independent reference in clip_ref_support.cpp, presets, the V-V
// path, causal mask, deep prompts, position-embedding interpolation and random init.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "clip/clip.h"
#include "clip/clip_ref_support.h"
#include "util/check.h"

namespace tc::clip {
namespace {

ClipModel make_tiny(int vv_from, std::vector<int> layers, int image_size = 128,
                    Activation act = Activation::QuickGELU) {
  ClipConfig c = preset_config("tiny");
  c.vv_from = vv_from;
  c.layers = std::move(layers);
  c.image_size = image_size;
  c.activation = act;
  ClipModel m(c);
  testref::perturb(m, 7);
  m->freeze();
  return m;
}

torch::Tensor images(int B, int S, uint64_t seed = 3) {
  torch::manual_seed(seed);
  return torch::randn({B, 3, S, S});
}

TEST(ClipPresets, MethodTableDefaults) {
  auto l336 = preset_config("ViT-L/14@336px");
  EXPECT_EQ(l336.preset, "ViT-L-14-336");
  EXPECT_EQ(l336.vision.layers, 24);
  EXPECT_EQ(l336.vision.width, 1024);
  EXPECT_EQ(l336.vision.heads, 16);
  EXPECT_EQ(l336.vision.native_size, 336);
  EXPECT_EQ(l336.text.width, 768);
  EXPECT_EQ(l336.embed_dim, 768);
  EXPECT_EQ(l336.image_size, 518);  // 37 * 14, the smallest multiple of 14 >= 512
  EXPECT_EQ(l336.vv_from, 6);
  EXPECT_EQ(l336.layers, std::vector<int>{24});
  auto l14 = preset_config("ViT-L-14");
  EXPECT_EQ(l14.vision.native_size, 224);
  EXPECT_EQ(l14.image_size, 518);
  auto b16 = preset_config("ViT-B/16");
  EXPECT_EQ(b16.image_size, 512);
  EXPECT_EQ(b16.vision.layers, 12);
  EXPECT_EQ(b16.text.width, 512);
  EXPECT_EQ(b16.vv_from, 6);
  EXPECT_EQ(b16.layers, std::vector<int>{12});
  auto b32 = preset_config("ViT-B-32");
  EXPECT_EQ(b32.image_size, 512);
  EXPECT_EQ(b32.vision.patch, 32);
  auto t = preset_config("tiny");
  EXPECT_EQ(t.vision.layers, 6);
  EXPECT_EQ(t.vision.width, 128);
  EXPECT_EQ(t.vision.heads, 4);
  EXPECT_EQ(t.image_size, 128);
  EXPECT_EQ(t.text.layers, 12);
  EXPECT_EQ(t.text.width, 64);
  EXPECT_EQ(t.text.heads, 2);
  EXPECT_EQ(t.embed_dim, 64);
  EXPECT_EQ(t.vv_from, 2);
  EXPECT_EQ(t.layers, std::vector<int>{6});
  EXPECT_THROW(preset_config("ViT-H-14"), tc::Error);
  LoadOptions o;
  o.image_size = 130;  // not a multiple of 16
  EXPECT_THROW(apply_options(t, o), tc::Error);
  o.image_size = 0;
  o.layers = {7};
  EXPECT_THROW(apply_options(t, o), tc::Error);
  o.layers = {};
  o.vv_from = -1;
  EXPECT_EQ(apply_options(t, o).vv_from, 0);
}

TEST(ClipVisual, ShapesAndVvOffEqualsPlainClip) {
  auto m = make_tiny(0, {2, 6});
  auto x = images(2, 128);
  torch::NoGradGuard ng;
  auto out = m->visual->forward(x);
  EXPECT_EQ(out.global.sizes(), (std::vector<int64_t>{2, 64}));
  EXPECT_EQ(out.embed.sizes(), (std::vector<int64_t>{2, 64}));
  ASSERT_EQ(out.tokens.size(), 2u);
  EXPECT_EQ(out.tokens[1].sizes(), (std::vector<int64_t>{2, 65, 64}));
  auto P = testref::params_of(m);
  auto ref = testref::ref_visual(P, m->config, x, m->visual->positional_embedding);
  EXPECT_LT(testref::max_rel_diff(out.global, ref.global), 1e-5);
  EXPECT_LT(testref::max_rel_diff(out.embed, ref.embed), 1e-5);
  EXPECT_LT(testref::max_rel_diff(out.tokens[0], ref.tokens[0]), 1e-5);
  EXPECT_LT(testref::max_rel_diff(out.tokens[1], ref.tokens[1]), 1e-5);
  // Plain CLIP's image embedding is ln_post(CLS) @ proj: token 0 of the last layer's tokens.
  EXPECT_LT(testref::max_rel_diff(out.tokens[1].select(1, 0), out.embed), 1e-6);
}

TEST(ClipVisual, VvPathMatchesMethodAndLeavesOriginalStream) {
  auto on = make_tiny(2, {1, 2, 4, 6});
  auto off = make_tiny(0, {1, 2, 4, 6});
  auto x = images(2, 128, 11);
  torch::NoGradGuard ng;
  auto a = on->visual->forward(x), b = off->visual->forward(x);
  auto ref = testref::ref_visual(testref::params_of(on), on->config, x, on->visual->positional_embedding);
  for (size_t i = 0; i < 4; ++i)
    EXPECT_LT(testref::max_rel_diff(a.tokens[i], ref.tokens[i]), 1e-5) << "layer " << on->config.layers[i];
  // Block 1 is before the V-V path: identical (same weights, same input, same ops in one
  // process); from block 2 on the tokens come from z.
  EXPECT_TRUE(torch::equal(a.tokens[0], b.tokens[0]));
  EXPECT_GT(testref::max_rel_diff(a.tokens[1], b.tokens[1]), 1e-2);
  // The original stream (global and embed) does not see the V-V path.
  EXPECT_TRUE(torch::allclose(a.global, b.global, 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(a.embed, b.embed, 1e-6, 1e-6));
  EXPECT_LT(testref::max_rel_diff(a.global, ref.global), 1e-5);
}

TEST(ClipVisual, GeluActivationAndOtherSizes) {
  auto m = make_tiny(3, {3, 5}, 96, Activation::GELU);
  auto x = images(1, 96, 5);
  torch::NoGradGuard ng;
  auto out = m->visual->forward(x);
  EXPECT_EQ(out.tokens[0].sizes(), (std::vector<int64_t>{1, 1 + 36, 64}));
  auto ref = testref::ref_visual(testref::params_of(m), m->config, x, m->visual->pos_embed_used);
  EXPECT_LT(testref::max_rel_diff(out.tokens[1], ref.tokens[1]), 1e-5);
  EXPECT_LT(testref::max_rel_diff(out.embed, ref.embed), 1e-5);
  EXPECT_THROW(m->visual->forward(images(1, 128)), tc::Error);
}

TEST(ClipVisual, PositionEmbeddingBilinearCLSKept) {
  auto m = make_tiny(0, {6}, 160);  // native grid 8 -> 10
  const auto& pe = m->visual->positional_embedding;
  const auto& used = m->visual->pos_embed_used;
  ASSERT_EQ(used.sizes(), (std::vector<int64_t>{1 + 100, 128}));
  EXPECT_TRUE(torch::equal(used[0], pe[0]));
  // Hand-worked bilinear, align_corners false: src = (dst + 0.5) * 8/10 - 0.5, clamped at 0.
  auto grid = pe.narrow(0, 1, 64).view({8, 8, 128}).to(torch::kDouble);
  auto src = [](int d) { return std::max(0.0, (d + 0.5) * 0.8 - 0.5); };
  for (int oy : {0, 3, 9})
    for (int ox : {0, 4, 9}) {
      double sy = src(oy), sx = src(ox);
      int y0 = int(sy), x0 = int(sx), y1 = std::min(y0 + 1, 7), x1 = std::min(x0 + 1, 7);
      double wy = sy - y0, wx = sx - x0;
      auto v = (1 - wy) * ((1 - wx) * grid[y0][x0] + wx * grid[y0][x1]) +
               wy * ((1 - wx) * grid[y1][x0] + wx * grid[y1][x1]);
      EXPECT_LT(testref::max_rel_diff(used[1 + oy * 10 + ox], v), 1e-6) << oy << "," << ox;
    }
  m->visual->set_image_size(128);  // native size: the stored embedding unchanged
  EXPECT_TRUE(torch::equal(m->visual->pos_embed_used, pe));
}

TEST(ClipText, MatchesReferenceCausalMaskAndDeepPrompts) {
  auto m = make_tiny(2, {6});
  torch::manual_seed(1);
  auto ids = torch::zeros({3, 77}, torch::kLong);
  for (int r = 0; r < 3; ++r) {
    int len = 5 + 7 * r;
    ids[r][0] = 49406;
    for (int j = 1; j < len; ++j) ids[r][j] = (r * 131 + j * 17) % 49000 + 1;
    ids[r][len] = 49407;
  }
  auto eot = ids.argmax(-1);
  auto P = testref::params_of(m);
  torch::NoGradGuard ng;
  auto y = m->text->encode(ids);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{3, 64}));
  auto ref = testref::ref_text(P, m->config, m->text->embed_tokens(ids), eot, {});
  EXPECT_LT(testref::max_rel_diff(y, ref), 1e-5);
  // Causal mask: tokens after EOT cannot change the EOT feature; a token before it does.
  auto ids2 = ids.clone();
  ids2[0][60] = 1234;
  EXPECT_TRUE(torch::allclose(m->text->encode(ids2), y, 0, 0));
  ids2[0][2] = 4321;
  EXPECT_GT(testref::max_rel_diff(m->text->encode(ids2)[0], y[0]), 1e-3);
  // Deep prompts overwrite positions 1..n before blocks 2..depth (depth 9 -> 8 tensors).
  std::vector<torch::Tensor> deep;
  for (int i = 0; i < 8; ++i) deep.push_back(torch::randn({4, 64}));
  auto yd = m->text->forward_embeddings(m->text->embed_tokens(ids), eot, deep);
  auto refd = testref::ref_text(P, m->config, m->text->embed_tokens(ids), eot, deep);
  EXPECT_LT(testref::max_rel_diff(yd, refd), 1e-5);
  EXPECT_GT(testref::max_rel_diff(yd, y), 1e-3);
  std::vector<torch::Tensor> too_many(12, torch::zeros({4, 64}));
  EXPECT_THROW(m->text->forward_embeddings(m->text->embed_tokens(ids), eot, too_many), tc::Error);
}

TEST(ClipText, GradientsReachPromptsNotWeights) {
  auto m = make_tiny(2, {6});
  auto ids = torch::zeros({2, 77}, torch::kLong);
  ids.select(1, 0).fill_(49406);
  ids.select(1, 14).fill_(49407);
  auto x = m->text->embed_tokens(ids).detach().requires_grad_(true);
  auto d = torch::randn({4, 64}).requires_grad_(true);
  auto y = m->text->forward_embeddings(x, ids.argmax(-1), {d, d * 2});
  y.pow(2).sum().backward();
  ASSERT_TRUE(d.grad().defined());
  EXPECT_GT(d.grad().abs().sum().item<double>(), 0);
  EXPECT_GT(x.grad().abs().sum().item<double>(), 0);
  // Positions 1..4 are overwritten before block 2, so their input embeddings get only the
  // gradient of block 1.
  for (auto& p : m->parameters()) EXPECT_FALSE(p.requires_grad());
}

TEST(ClipRandom, DeterministicFromSeed) {
  auto a = random_clip("tiny", 5, {}), b = random_clip("tiny", 5, {}), c = random_clip("tiny", 6, {});
  EXPECT_EQ(a.fingerprint, "random-tiny-seed-5");
  EXPECT_TRUE(a.random);
  auto pa = a.model->openai_named_parameters(), pb = b.model->openai_named_parameters(),
       pc = c.model->openai_named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  bool any_diff = false;
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(torch::equal(pa[i].second, pb[i].second)) << pa[i].first;
    if (!torch::equal(pa[i].second, pc[i].second)) any_diff = true;
    EXPECT_FALSE(pa[i].second.requires_grad());
  }
  EXPECT_TRUE(any_diff);
  // OpenAI-style scales: token embedding std 0.02, first element pinned to the Philox stream.
  auto te = a.model->text->token_embedding;
  EXPECT_NEAR(te.std().item<double>(), 0.02, 0.0005);
  EXPECT_NEAR(a.model->logit_scale.item<double>(), std::log(1 / 0.07), 1e-6);
}

}  // namespace
}  // namespace tc::clip
