// What pretraining needs from src/clip: the prefix text encoding (equal to the full one), the
// live position embedding when it is trained, half-precision weight files, and a BPE
// vocabulary learned from texts (hand-worked merges; read back by the tokenizer).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "clip/bpe_build.h"
#include "clip/clip.h"
#include "clip/tokenizer.h"
#include "clip/weights.h"
#include "util/fs.h"
#include "util/hash.h"

using namespace tc::clip;

namespace {

std::string hooks_tmpdir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("tc_pretrain_hooks_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d.string();
}

}  // namespace

TEST(ClipPretrainHooks, PrefixTextEncodingEqualsTheFullContext) {
  auto r = random_clip("tiny", 4, {});
  auto tok = Tokenizer::byte_fallback(r.model->config.text.vocab);
  auto ids = torch::tensor(std::vector<int64_t>{}, torch::kLong);
  std::vector<int64_t> flat;
  for (const char* t : {"a scratch", "a photo of a flawless wooden surface, top left", "x"}) {
    auto v = tok.encode(t);
    flat.insert(flat.end(), v.begin(), v.end());
  }
  ids = torch::tensor(flat, torch::kLong).reshape({3, 77});
  torch::NoGradGuard ng;
  auto full = r.model->text->encode(ids), prefix = r.model->text->encode_prefix(ids);
  // Different matrix shapes sum in another order: equal to rounding, not bit for bit.
  EXPECT_LT((full - prefix).abs().max().item<float>(), 1e-5 * full.abs().max().item<float>());
}

TEST(ClipPretrainHooks, TrainedPositionEmbeddingGetsGradients) {
  auto r = random_clip("tiny", 4, {});
  auto& vis = *r.model->visual;
  torch::manual_seed(0);
  auto x = torch::randn({1, 3, 128, 128});
  // Frozen: the embedding resized at load is used (no gradient anywhere).
  EXPECT_FALSE(vis.positional_embedding.requires_grad());
  vis.positional_embedding.set_requires_grad(true);
  vis.forward(x).embed.sum().backward();
  ASSERT_TRUE(vis.positional_embedding.grad().defined());
  EXPECT_GT(vis.positional_embedding.grad().abs().sum().item<float>(), 0.0f);
  // At another S the live embedding is resized too: the same outputs as after set_image_size.
  ClipConfig c = r.model->config;
  c.image_size = 64;
  ClipModel a(c);
  init_random(a, 4);
  a->freeze();
  ClipModel b(c);
  init_random(b, 4);
  b->visual->positional_embedding.set_requires_grad(true);
  auto y = torch::randn({1, 3, 64, 64});
  torch::Tensor ea = a->visual->forward(y).embed, eb = b->visual->forward(y).embed;
  EXPECT_TRUE(torch::allclose(ea, eb.detach(), 1e-6, 1e-6));
}

TEST(ClipPretrainHooks, HalfPrecisionWeightFileRoundTrip) {
  auto r = random_clip("tiny", 6, {});
  auto dir = hooks_tmpdir("fp16");
  H5WeightsInfo info;
  info.preset = "tiny";
  info.activation = "quickgelu";
  info.vision_heads = 4;
  info.text_heads = 2;
  info.source_format = "test";
  info.fp16 = true;
  info.recipe = "made by a test";
  save_weights_h5(dir + "/w16.h5", r.model, info);
  info.fp16 = false;
  save_weights_h5(dir + "/w32.h5", r.model, info);
  // Half the bytes (plus the same metadata).
  auto s16 = std::filesystem::file_size(dir + "/w16.h5"), s32 = std::filesystem::file_size(dir + "/w32.h5");
  EXPECT_LT(double(s16), 0.55 * double(s32));
  H5WeightsInfo back;
  auto t = read_weights_h5(dir + "/w16.h5", &back);
  EXPECT_TRUE(back.fp16);
  EXPECT_EQ(back.recipe, "made by a test");
  for (auto& [name, p] : r.model->openai_named_parameters()) {
    ASSERT_TRUE(t.count(name)) << name;
    // Exactly the values torch rounds to half, widened back to float32.
    EXPECT_TRUE(torch::equal(t[name], p.detach().to(torch::kHalf).to(torch::kFloat))) << name;
  }
  H5WeightsInfo b32;
  read_weights_h5(dir + "/w32.h5", &b32);
  EXPECT_FALSE(b32.fp16);
  auto l = load_clip(dir + "/w16.h5", {});
  EXPECT_EQ(l.model->config.preset, "tiny");
  EXPECT_EQ(l.fingerprint, tc::sha256_file_hex(dir + "/w16.h5"));
  std::filesystem::remove_all(dir);
}

// Words "low" x5, "lower" x2, "newest" x6, "widest" x3 (Sennrich et al.'s example): the first
// merges by frequency are e s (9; tied with s t</w>, the smaller pair wins), es t</w> (9),
// l o (7), e w (6; tied with n e and w est</w>), and every word ends as one token once
// merging runs to the end.
TEST(BpeLearn, HandWorkedMerges) {
  std::vector<std::string> texts;
  for (int i = 0; i < 5; ++i) texts.push_back("low");
  for (int i = 0; i < 2; ++i) texts.push_back("lower");
  for (int i = 0; i < 6; ++i) texts.push_back("newest");
  for (int i = 0; i < 3; ++i) texts.push_back("widest");
  auto bpe = learn_bpe(texts);
  ASSERT_GE(bpe.merges.size(), 4u);
  EXPECT_EQ(bpe.merges[0], "e s");
  EXPECT_EQ(bpe.merges[1], "es t</w>");
  EXPECT_EQ(bpe.merges[2], "l o");
  EXPECT_EQ(bpe.merges[3], "e w");
  EXPECT_EQ(bpe.words, 4);
  EXPECT_EQ(bpe.single_token_words, 4);
  EXPECT_EQ(bpe.vocab_size(), 514 + int(bpe.merges.size()));

  // The tokenizer reads the file back: learned words are one token, others still tokenise.
  auto dir = hooks_tmpdir("bpe");
  tc::write_file_atomic(dir + "/vocab.txt", bpe.file_text());
  auto tok = Tokenizer::load(dir + "/vocab.txt");
  EXPECT_EQ(tok.vocab_size(), bpe.vocab_size());
  EXPECT_EQ(tok.eot(), bpe.vocab_size() - 1);
  for (const char* w : {"low", "lower", "newest", "widest"}) EXPECT_EQ(tok.encode_text(w).size(), 1u) << w;
  EXPECT_EQ(tok.decode(tok.encode("newest low")), "newest low ");
  EXPECT_EQ(tok.encode_text("zebra").size(), 5u);  // unseen: byte by byte
  // A cap on the merges stops early.
  BpeLearnOptions o;
  o.max_merges = 2;
  EXPECT_EQ(learn_bpe(texts, o).merges.size(), 2u);
  std::filesystem::remove_all(dir);
}
