#include "util/text.h"

#include <algorithm>

namespace tc {
namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::string::npos;
  auto name_of = [](const std::string& k) {
    auto p = k.find('.');
    return p == std::string::npos ? k : k.substr(p + 1);
  };
  for (const auto& c : candidates) {
    size_t d = std::min(edit_distance(word, c), edit_distance(name_of(word), name_of(c)) + 1);
    if (d < best_d) { best_d = d; best = c; }
  }
  size_t limit = std::max<size_t>(2, name_of(word).size() / 3);
  return best_d <= limit ? best : std::string();
}

}  // namespace tc
