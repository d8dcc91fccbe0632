// Text helpers for messages.
#pragma once

#include <string>
#include <vector>

namespace tc {

// The candidate closest to `word` by edit distance, for "did you mean" hints; dotted keys
// ("section.name") also match on their name alone. Empty when nothing is reasonably close.
std::string closest(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace tc
