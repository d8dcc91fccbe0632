#include "clip/bpe_build.h"

#include <map>
#include <utility>

#include "clip/tokenizer.h"
#include "util/check.h"

namespace tc::clip {
namespace detail_bpe_build {

// Code points of a byte-encoded token as UTF-8 strings (bytes_to_unicode maps a byte to one
// code point of 1 or 2 UTF-8 bytes); the last one carries </w>.
std::vector<std::string> symbols(const std::string& encoded) {
  std::vector<std::string> out;
  for (size_t i = 0; i < encoded.size();) {
    const unsigned char c = static_cast<unsigned char>(encoded[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : 4;
    out.push_back(encoded.substr(i, n));
    i += n;
  }
  if (!out.empty()) out.back() += "</w>";
  return out;
}

}  // namespace detail_bpe_build

std::string LearnedBpe::file_text() const {
  std::string s = "#version: 0.2 (learned by tokenclip pretrain)";
  for (const auto& m : merges) s += "\n" + m;
  return s;
}

LearnedBpe learn_bpe(const std::vector<std::string>& texts, const BpeLearnOptions& o) {
  TC_CHECK_USAGE(o.max_merges >= 1 && o.max_merges <= 48894, "BPE: max merges {} (expected 1..48894)", o.max_merges);
  std::map<std::string, long long> counts;
  for (const auto& t : texts)
    for (const auto& tok : pre_tokenize(clean_text(t))) ++counts[bytes_to_unicode(tok)];
  std::vector<std::pair<std::vector<std::string>, long long>> words;
  for (const auto& [w, n] : counts) words.emplace_back(detail_bpe_build::symbols(w), n);

  LearnedBpe out;
  out.words = static_cast<int>(words.size());
  while (static_cast<int>(out.merges.size()) < o.max_merges) {
    std::map<std::pair<std::string, std::string>, long long> pairs;
    for (const auto& [sym, n] : words)
      for (size_t i = 0; i + 1 < sym.size(); ++i) pairs[{sym[i], sym[i + 1]}] += n;
    // Most frequent; std::map order makes the first of equal counts the smallest pair.
    const std::pair<std::string, std::string>* best = nullptr;
    long long best_n = 0;
    for (const auto& [p, n] : pairs)
      if (n > best_n) {
        best = &p;
        best_n = n;
      }
    if (!best || best_n < o.min_count) break;
    const auto [a, b] = *best;
    out.merges.push_back(a + " " + b);
    // Merge every occurrence, left to right, as the tokenizer applies a merge.
    for (auto& [sym, n] : words) {
      std::vector<std::string> merged;
      for (size_t i = 0; i < sym.size();) {
        if (i + 1 < sym.size() && sym[i] == a && sym[i + 1] == b) {
          merged.push_back(a + b);
          i += 2;
        } else {
          merged.push_back(sym[i++]);
        }
      }
      sym.swap(merged);
    }
  }
  for (const auto& [sym, n] : words) out.single_token_words += sym.size() == 1;
  return out;
}

}  // namespace tc::clip
