// Prompt strings and their tokenisation (byte-level fallback tokenizer of the tiny model).
#include <gtest/gtest.h>

#include <algorithm>

#include "clip/tokenizer.h"
#include "method/prompt_tokens.h"
#include "method/prompts.h"

namespace {

TEST(Prompts, StringsAreTheReferenceOnes) {
  EXPECT_EQ(tc::method::normal_prompt_text(12), "X X X X X X X X X X X X object.");
  EXPECT_EQ(tc::method::abnormal_prompt_text(3), "X X X damaged object.");
}

TEST(Prompts, TokenisedPromptsPutTheContextSlotsAtOneToN) {
  auto tok = tc::clip::Tokenizer::byte_fallback();
  auto t = tc::method::make_prompt_tokens(tok, 12);
  for (const auto* ids : {&t.normal, &t.abnormal}) {
    ASSERT_EQ(ids->size(), 77u);
    EXPECT_EQ((*ids)[0], tok.sot());
    for (int i = 1; i <= 12; ++i) EXPECT_EQ((*ids)[size_t(i)], (*ids)[1]) << i;  // one token per X
    EXPECT_NE((*ids)[13], (*ids)[1]);
    // "." is its own pre-token, so decode gives "object . ". EOT is the largest id, so argmax finds it (the reference's rule).
    auto eot = std::max_element(ids->begin(), ids->end()) - ids->begin();
    EXPECT_EQ((*ids)[size_t(eot)], tok.eot());
  }
  auto text = [&](const std::vector<int64_t>& v) { return tok.decode(std::vector<int>(v.begin(), v.end())); };
  EXPECT_NE(text(t.abnormal).find("damaged object ."), std::string::npos) << text(t.abnormal);
  EXPECT_NE(text(t.normal).find("x x x x x x x x x x x x object ."), std::string::npos) << text(t.normal);
}

}  // namespace
