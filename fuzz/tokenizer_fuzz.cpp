// libFuzzer target for the CLIP tokenizer's text path (torch-free): UTF-8 decoding, HTML
// unescaping, lowercasing, the pre-tokenisation pattern and BPE on a small fixed vocabulary.
// Any input must be refused with tc::Error (invalid UTF-8) or give ids inside the vocabulary,
// a 77-id row starting with SOT and holding EOT, and pre-tokens that rebuild the cleaned text
// once spaces are removed.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "clip/tokenizer.h"
#include "util/check.h"

namespace {
const tc::clip::Tokenizer& tokenizer() {
  // Merges chosen to exercise multi-step merging, byte symbols of multi-byte characters and </w>.
  static const tc::clip::Tokenizer t = [] {
    std::string path = "/tmp/tokenclip_fuzz_bpe.txt";
    FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("#version: fuzz\nl l\nh e\nhe ll\nhell o</w>\na a\naa a\nÃ ©\nÃ© </w>\nt h\nth e</w>\n"
               "Î ±\nÐ ¸\n' s</w>\n", f);
    std::fclose(f);
    return tc::clip::Tokenizer::from_openai_bpe(path);
  }();
  return t;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto& tok = tokenizer();
  try {
    auto ids = tok.encode_text(text);
    for (int id : ids)
      if (id < 0 || id >= tok.vocab_size()) std::abort();
    auto row = tok.encode(text, 77, true);
    if (row.size() != 77 || row[0] != tok.sot()) std::abort();
    bool has_eot = false;
    for (int id : row) has_eot |= id == tok.eot();
    if (!has_eot) std::abort();
    const std::string cleaned = tc::clip::clean_text(text);
    std::string joined, squeezed;
    for (const auto& p : tc::clip::pre_tokenize(cleaned)) joined += p;
    for (char c : cleaned)
      if (c != ' ') squeezed += c;
    // Only White_Space characters may be dropped by the pattern; after cleanup that is ' '
    // and the other White_Space characters that survive (none: they were collapsed).
    if (joined != squeezed) std::abort();
    (void)tok.decode(ids);
  } catch (const tc::Error&) {
  }
  return 0;
}
