// method.text = handwritten: nothing learnable; each state's text feature is the normalised
// mean of its prompts' normalised CLIP text embeddings (recomputed here from the text tower by
// hand); every subspace equals the base space, so TokenCLIP's map is the base map whatever Q
// is; the options refuse empty prompt lists.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "clip/tokenizer.h"
#include "method/detector.h"
#include "method/method_support.h"
#include "method/prompt_tokens.h"
#include "method/scores.h"
#include "util/check.h"

namespace {

using namespace tc::method;
using tc::method::testing::preset_options;
using tc::method::testing::tiny_clip;

MethodOptions handwritten(const std::string& preset, int Q) {
  MethodOptions o = preset_options(preset, {{"text", "handwritten"}});
  if (preset.find("tokenclip") != std::string::npos) {
    o.subspaces = Q;
    o.topk = std::min(o.topk, Q);
  }
  o.handwritten_normal = {"a photo of a flawless object", "a photo of a perfect object"};
  o.handwritten_abnormal = {"a photo of a damaged object", "a photo of a broken object", "a photo of a bad object"};
  return o;
}

}  // namespace

TEST(Handwritten, TextFeaturesAreTheNormalisedMeanOfThePrompts) {
  auto clip = tiny_clip();
  auto tok = tc::clip::Tokenizer::byte_fallback(clip->config.text.vocab);
  MethodOptions o = handwritten("anomalyclip.ini", 1);
  Detector d(clip, o, make_prompt_tokens(tok, o), 111);
  EXPECT_TRUE(d->learnable_parameters().empty());
  TextFeatures tf = d->encode_text();

  auto state = [&](const std::vector<std::string>& prompts) {
    at::Tensor sum = at::zeros({clip->config.embed_dim}, at::kDouble);
    for (const auto& p : prompts) {
      auto v = tok.encode(p);
      at::Tensor ids = at::tensor(std::vector<int64_t>(v.begin(), v.end()), at::kLong).reshape({1, 77});
      at::Tensor e = clip->text->encode(ids)[0].to(at::kDouble);
      sum += e / e.norm();
    }
    return sum / sum.norm();
  };
  at::Tensor n = state(o.handwritten_normal), a = state(o.handwritten_abnormal);
  EXPECT_LT((tf.base[0].to(at::kDouble) - n).abs().max().item<double>(), 1e-6);
  EXPECT_LT((tf.base[1].to(at::kDouble) - a).abs().max().item<double>(), 1e-6);
  EXPECT_TRUE(at::equal(tf.global, tf.base));
}

TEST(Handwritten, TokenClipMapEqualsTheBaseMap) {
  auto clip = tiny_clip();
  auto tok = tc::clip::Tokenizer::byte_fallback(clip->config.text.vocab);
  torch::manual_seed(3);
  auto images = torch::randn({2, 3, 128, 128});
  MethodOptions base = handwritten("anomalyclip.ini", 1);
  Detector db(clip, base, make_prompt_tokens(tok, base), 111);
  at::Tensor ref;
  {
    torch::NoGradGuard ng;
    ref = db->forward(images).map;
  }
  for (int Q : {2, 4}) {
    MethodOptions o = handwritten("tokenclip.ini", Q);
    Detector d(clip, o, make_prompt_tokens(tok, o), 111);
    EXPECT_TRUE(d->learnable_parameters().empty());
    torch::NoGradGuard ng;
    DetectorOutput out = d->forward(images);
    EXPECT_LT((out.map - ref).abs().max().item<float>(), 1e-5) << "Q = " << Q;
    EXPECT_TRUE(at::allclose(out.global_prob, db->forward(images).global_prob));
  }
}

TEST(Handwritten, EmptyPromptListsAreRefused) {
  MethodOptions o = MethodOptions::anomalyclip();
  o.text = "handwritten";
  o.handwritten_normal = {"a photo of a flawless object"};
  o.handwritten_abnormal.clear();
  try {
    o.validate();
    FAIL() << "an empty abnormal list was accepted";
  } catch (const tc::Error& e) {
    EXPECT_NE(e.message().find("method.handwritten_abnormal"), std::string::npos) << e.message();
  }
  o.text = "written";
  EXPECT_THROW(o.validate(), tc::Error);
}
