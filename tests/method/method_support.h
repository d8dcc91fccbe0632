// Shared helpers of the method tests: a tiny random backbone, prompt ids, presets.
#pragma once

#include <string>

#include "method/detector.h"
#include "method/method_config.h"

namespace tc::method::testing {

// Prompt ids shaped like the real ones (SOT, 12 context slots, words, EOT, zero padding);
// values in the tiny vocabulary.
PromptTokens fake_prompt_tokens(int prompt_length = 12);
// Random `tiny` CLIP (deterministic from `seed`).
clip::ClipModel tiny_clip(uint64_t seed = 5);
// MethodOptions from a preset file in configs/ plus "key=value" overrides (command-line style).
MethodOptions preset_options(const std::string& preset_file,
                             const std::vector<std::pair<std::string, std::string>>& overrides = {});
std::string source_dir();

}  // namespace tc::method::testing
