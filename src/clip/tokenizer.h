// CLIP's byte-level BPE tokenizer (OpenAI `simple_tokenizer.py` semantics), torch-free.
//
// Pipeline of encode(): ftfy's character fixes (curly quotes, ligatures, full-width forms,
// C1/control characters; not its mojibake repair) -> HTML unescape twice -> strip -> collapse
// whitespace runs to one space
// -> Unicode lowercase (Python str.lower(), incl. final sigma) -> split with CLIP's pattern
// `<|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
// -> UTF-8 bytes mapped through bytes_to_unicode -> BPE by merge rank with `</w>` on the last
// symbol -> ids. See docs/TOKENIZER.md for what of ftfy.fix_text is not reproduced.
// Ids equal OpenAI's for well-formed text; character tables are generated from Python's
// unicodedata (tools/gen_unicode_tables.py).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tc::clip {

inline constexpr int kContextLength = 77;

class Tokenizer {
 public:
  // OpenAI's `bpe_simple_vocab_16e6.txt.gz` (gzip or plain text): vocab = 256 byte symbols,
  // the same with `</w>`, the first 48894 merges after the header line, SOT, EOT
  // (ids 49406 / 49407 for the real file).
  static Tokenizer from_openai_bpe(const std::string& path);
  // Hugging Face `vocab.json` (token -> id) + `merges.txt` (a `#version` header line, then
  // "a b" per line, in rank order).
  static Tokenizer from_hf(const std::string& vocab_json, const std::string& merges_txt);
  // Picks the format from `path`: a directory holding vocab.json + merges.txt, a vocab.json
  // (merges.txt next to it), or else an OpenAI bpe file.
  static Tokenizer load(const std::string& path);
  // No vocabulary file (only for the `tiny` model): the same pipeline with no merges, so
  // every UTF-8 byte is one token (id = index in bytes_to_unicode order, +256 on the last
  // byte of a word), SOT = vocab_size - 2, EOT = vocab_size - 1 (49406 / 49407 by default).
  static Tokenizer byte_fallback(int vocab_size = 49408);

  // BPE ids of `text` without SOT/EOT. Input error when `text` is not valid UTF-8.
  std::vector<int> encode_text(const std::string& text) const;
  // OpenAI's clip.tokenize for one text: [SOT] + ids + [EOT], zero-padded to `context`.
  // Too long: Input error, or with `truncate` cut to `context` with the last id set to EOT.
  std::vector<int> encode(const std::string& text, int context = kContextLength,
                          bool truncate = false) const;
  std::vector<std::vector<int>> tokenize(const std::vector<std::string>& texts,
                                         int context = kContextLength, bool truncate = false) const;
  // Inverse of encode_text (bytes joined, `</w>` -> space); SOT/EOT/padding zeros dropped.
  std::string decode(const std::vector<int>& ids) const;

  int sot() const;
  int eot() const;
  int vocab_size() const;           // largest id + 1
  const std::string& kind() const;  // "openai-bpe" | "hf" | "byte-fallback"
  const std::string& source() const;  // file(s) read, "" for the fallback
  // Token string -> id (-1 when absent), for tests and diagnostics.
  int token_id(const std::string& token) const;
  // BPE symbols of one pre-token (already byte-encoded), e.g. "hello" -> {"hel", "lo</w>"}.
  std::vector<std::string> bpe(const std::string& word) const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

// The text steps, exposed for tests and for the python parity test (UTF-8 in and out).
std::string html_unescape(const std::string& text);  // Python html.unescape, all HTML5 entities
std::string unicode_lower(const std::string& text);  // Python str.lower()
std::string clean_text(const std::string& text);     // ftfy chars, unescape x2, whitespace, lower
std::vector<std::string> pre_tokenize(const std::string& cleaned);  // CLIP's regex findall
std::string bytes_to_unicode(const std::string& utf8_bytes);        // byte -> symbol mapping

}  // namespace tc::clip
