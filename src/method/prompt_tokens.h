// Tokenising the two prompt strings with the project's tokenizer (header-only so that the
// method library does not need the tokenizer's object code unless a caller tokenises).
#pragma once

#include "clip/tokenizer.h"
#include "method/prompts.h"

namespace tc::method {

inline PromptTokens make_prompt_tokens(const clip::Tokenizer& tok, int prompt_length,
                                       int context = clip::kContextLength) {
  PromptTokens t;
  for (int v : tok.encode(normal_prompt_text(prompt_length), context)) t.normal.push_back(v);
  for (int v : tok.encode(abnormal_prompt_text(prompt_length), context)) t.abnormal.push_back(v);
  return t;
}

}  // namespace tc::method
