// Tokenising the two prompt strings with the project's tokenizer (header-only so that the
// method library does not need the tokenizer's object code unless a caller tokenises).
#pragma once

#include "clip/tokenizer.h"
#include "method/method_config.h"
#include "method/prompts.h"

namespace tc::method {

inline PromptTokens make_prompt_tokens(const clip::Tokenizer& tok, int prompt_length,
                                       int context = clip::kContextLength) {
  PromptTokens t;
  for (int v : tok.encode(normal_prompt_text(prompt_length), context)) t.normal.push_back(v);
  for (int v : tok.encode(abnormal_prompt_text(prompt_length), context)) t.abnormal.push_back(v);
  return t;
}

// The learned prompts' tokens and, for method.text = handwritten, the hand-written prompts'.
inline PromptTokens make_prompt_tokens(const clip::Tokenizer& tok, const MethodOptions& o,
                                       int context = clip::kContextLength) {
  PromptTokens t = make_prompt_tokens(tok, o.prompt_length, context);
  if (o.text != "handwritten") return t;
  auto ids = [&](const std::string& text) {
    std::vector<int64_t> v;
    for (int x : tok.encode(text, context)) v.push_back(x);
    return v;
  };
  for (const auto& s : o.handwritten_normal) t.handwritten_normal.push_back(ids(s));
  for (const auto& s : o.handwritten_abnormal) t.handwritten_abnormal.push_back(ids(s));
  return t;
}

}  // namespace tc::method
