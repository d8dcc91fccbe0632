// CLIP BPE tokenizer. Follows OpenAI's simple_tokenizer.py step by step (see tokenizer.h);
// the character tables are generated from Python (tools/gen_unicode_tables.py).
#include "clip/tokenizer.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "util/check.h"
#include "util/fs.h"

namespace tc::clip {
namespace detail_tokenizer {

struct CpRange {
  char32_t lo, hi;
};
struct LiteralFold {
  char32_t cp;
  char ascii;
};
struct LowerEntry {
  char32_t cp;
  char32_t to[3];
};
struct Entity {
  const char* name;
  const char* value;
};
struct CharRef {
  uint32_t num;
  char32_t to;
};

#include "clip/tokenizer_tables.inc"

// OpenAI keeps the first 49152 - 256 - 2 lines after the header: vocab 49408 in all.
constexpr size_t kMaxMerges = 49152 - 256 - 2;
const char* const kSot = "<|startoftext|>";
const char* const kEot = "<|endoftext|>";

template <size_t N>
bool in_ranges(const CpRange (&t)[N], char32_t c) {
  auto it = std::upper_bound(std::begin(t), std::end(t), c,
                             [](char32_t v, const CpRange& r) { return v < r.lo; });
  if (it == std::begin(t)) return false;
  --it;
  return c >= it->lo && c <= it->hi;
}

// `\s` of the `regex` module = the Unicode White_Space property.
bool is_regex_space(char32_t c) {
  return (c >= 0x9 && c <= 0xD) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}
bool is_py_space(char32_t c) { return in_ranges(kPySpace, c); }  // str.isspace / strip
bool is_letter(char32_t c) { return in_ranges(kLetter, c) || in_ranges(kLetterIgnoreCaseExtra, c); }
bool is_number(char32_t c) { return in_ranges(kNumber, c) || in_ranges(kNumberIgnoreCaseExtra, c); }

std::u32string decode_utf8(const std::string& s, const char* what) {
  std::u32string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  auto bad = [&](size_t at) {
    TC_INPUT_ERROR("{} is not valid UTF-8 (byte {} of {}): '{}'", what, at, n,
                   s.substr(0, std::min<size_t>(n, 60)));
  };
  while (i < n) {
    unsigned char b = p[i];
    char32_t c = 0;
    int len = 1;
    if (b < 0x80) { c = b; len = 1; }
    else if ((b & 0xE0) == 0xC0) { c = b & 0x1F; len = 2; }
    else if ((b & 0xF0) == 0xE0) { c = b & 0x0F; len = 3; }
    else if ((b & 0xF8) == 0xF0) { c = b & 0x07; len = 4; }
    else bad(i);
    if (i + len > n) bad(i);
    for (int k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) bad(i + k);
      c = (c << 6) | (p[i + k] & 0x3F);
    }
    static const char32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < kMin[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) bad(i);
    out.push_back(c);
    i += len;
  }
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

std::string to_utf8(const std::u32string& s) {
  std::string out;
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

// ------------------------------------------------------------------ html.unescape
const char* find_entity(const std::string& name) {
  auto it = std::lower_bound(std::begin(kEntities), std::end(kEntities), name,
                             [](const Entity& e, const std::string& n) {
                               return std::strcmp(e.name, n.c_str()) < 0;
                             });
  if (it != std::end(kEntities) && name == it->name) return it->value;
  return nullptr;
}

void append_charref(std::u32string& out, uint32_t num) {
  for (const auto& r : kInvalidCharRefs)
    if (r.num == num) {
      out += r.to;
      return;
    }
  if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
    out += U'\uFFFD';
    return;
  }
  if (std::binary_search(std::begin(kInvalidCodepoints), std::end(kInvalidCodepoints), num)) return;
  out += static_cast<char32_t>(num);
}

bool is_ascii_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool is_ascii_hex(char32_t c) {
  return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Python's html.unescape: `&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)`, each match
// replaced once (the result is not rescanned).
std::u32string unescape(const std::u32string& s) {
  if (s.find(U'&') == std::u32string::npos) return s;
  std::u32string out;
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    if (s[i] != U'&') {
      out += s[i++];
      continue;
    }
    if (i + 1 < n && s[i + 1] == U'#') {
      bool hex = i + 2 < n && (s[i + 2] == U'x' || s[i + 2] == U'X');
      size_t j = i + (hex ? 3 : 2);
      size_t k = j;
      uint32_t num = 0;
      while (k < n && (hex ? is_ascii_hex(s[k]) : is_ascii_digit(s[k]))) {
        uint32_t d = is_ascii_digit(s[k]) ? s[k] - U'0' : (s[k] | 0x20) - U'a' + 10;
        num = std::min<uint32_t>(num * (hex ? 16 : 10) + d, 0x110000);  // saturate: > max is FFFD
        ++k;
      }
      if (k == j) {  // "&#" not followed by digits: no match here ('#' ends a name)
        out += s[i++];
        continue;
      }
      if (k < n && s[k] == U';') ++k;
      append_charref(out, num);
      i = k;
      continue;
    }
    size_t j = i + 1;
    auto name_char = [](char32_t c) {
      return c != U'\t' && c != U'\n' && c != U'\f' && c != U' ' && c != U'<' && c != U'&' &&
             c != U'#' && c != U';';
    };
    while (j < n && j - (i + 1) < 32 && name_char(s[j])) ++j;
    if (j == i + 1) {
      out += s[i++];
      continue;
    }
    if (j < n && s[j] == U';') ++j;
    std::u32string name = s.substr(i + 1, j - i - 1);
    i = j;
    if (const char* v = find_entity(to_utf8(name))) {
      out += decode_utf8(v, "entity table");
      continue;
    }
    bool done = false;
    for (size_t x = name.size() - 1; x >= 2 && x < name.size(); --x) {  // longest prefix
      if (const char* v = find_entity(to_utf8(name.substr(0, x)))) {
        out += decode_utf8(v, "entity table");
        out += name.substr(x);
        done = true;
        break;
      }
    }
    if (!done) {
      out += U'&';
      out += name;
    }
  }
  return out;
}

// The character-level part of ftfy.fix_text (see tools/gen_unicode_tables.py).
std::u32string ftfy_chars(const std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  for (char32_t c : s) {
    auto it = std::lower_bound(std::begin(kFtfyMap), std::end(kFtfyMap), c,
                               [](const LowerEntry& e, char32_t v) { return e.cp < v; });
    if (it != std::end(kFtfyMap) && it->cp == c) {
      for (char32_t t : it->to)
        if (t) out += t;
    } else {
      out += c;
    }
  }
  return out;
}

std::u32string py_strip(const std::u32string& s) {
  size_t b = 0, e = s.size();
  while (b < e && is_py_space(s[b])) ++b;
  while (e > b && is_py_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// whitespace_clean: re.sub(r'\s+', ' ', text).strip()
std::u32string collapse_space(const std::u32string& s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    if (is_regex_space(s[i])) {
      out += U' ';
      while (i < s.size() && is_regex_space(s[i])) ++i;
    } else {
      out += s[i++];
    }
  }
  return py_strip(out);
}

// Python str.lower(): full lowercase mapping, capital sigma -> final sigma by context.
std::u32string lower(const std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  const size_t n = s.size();
  for (size_t i = 0; i < n; ++i) {
    char32_t c = s[i];
    if (c < 0x80) {
      out += (c >= U'A' && c <= U'Z') ? c + 32 : c;
      continue;
    }
    if (c == 0x3A3) {
      size_t j = i;
      while (j > 0 && in_ranges(kCaseIgnorable, s[j - 1])) --j;
      bool final_sigma = j > 0 && in_ranges(kCased, s[j - 1]);
      if (final_sigma && i + 1 < n) {
        size_t k = i + 1;
        while (k < n && in_ranges(kCaseIgnorable, s[k])) ++k;
        final_sigma = k == n || !in_ranges(kCased, s[k]);
      }
      out += final_sigma ? char32_t{0x3C2} : char32_t{0x3C3};
      continue;
    }
    auto it = std::lower_bound(std::begin(kLower), std::end(kLower), c,
                               [](const LowerEntry& e, char32_t v) { return e.cp < v; });
    if (it != std::end(kLower) && it->cp == c) {
      for (char32_t t : it->to)
        if (t) out += t;
    } else {
      out += c;
    }
  }
  return out;
}

// Does `lit` (ASCII, lowercase) occur at s[i..]? Under the pattern's IGNORECASE a character
// that folds to the literal's letter matches too (U+017F long s for 's').
bool literal_at(const std::u32string& s, size_t i, const char* lit) {
  for (size_t k = 0; lit[k]; ++k, ++i) {
    if (i >= s.size()) return false;
    char32_t c = s[i];
    if (c == static_cast<unsigned char>(lit[k])) continue;
    bool folded = false;
    for (const auto& f : kLiteralFold)
      if (f.cp == c && f.ascii == lit[k]) folded = true;
    if (!folded) return false;
  }
  return true;
}

// re.findall(<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|
//            [^\s\p{L}\p{N}]+, text, IGNORECASE): alternatives tried in order at each position.
std::vector<std::u32string> findall(const std::u32string& s) {
  std::vector<std::u32string> out;
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    size_t len = 0;
    if (literal_at(s, i, kSot)) {
      len = std::strlen(kSot);
    } else if (literal_at(s, i, kEot)) {
      len = std::strlen(kEot);
    } else if (s[i] == U'\'') {
      for (const char* c : {"s", "t", "re", "ve", "m", "ll", "d"})
        if (literal_at(s, i + 1, c)) {
          len = 1 + std::strlen(c);
          break;
        }
    }
    if (len == 0) {
      char32_t c = s[i];
      if (is_letter(c)) {
        size_t j = i;
        while (j < n && is_letter(s[j])) ++j;
        len = j - i;
      } else if (is_number(c)) {
        len = 1;
      } else if (!is_regex_space(c)) {
        size_t j = i;
        while (j < n && !is_regex_space(s[j]) && !is_letter(s[j]) && !is_number(s[j])) ++j;
        len = j - i;
      } else {
        ++i;
        continue;
      }
    }
    out.push_back(s.substr(i, len));
    i += len;
  }
  return out;
}

// bytes_to_unicode(): printable bytes map to themselves, the other 68 to 256, 257, ...
struct ByteTable {
  char32_t sym[256];
  std::vector<int> order;  // vocab order: bytes in the order OpenAI's dict lists them
  ByteTable() {
    auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    for (int b = 0; b < 256; ++b)
      if (printable(b)) {
        sym[b] = static_cast<char32_t>(b);
        order.push_back(b);
      }
    int next = 0;
    for (int b = 0; b < 256; ++b)
      if (!printable(b)) {
        sym[b] = static_cast<char32_t>(256 + next++);
        order.push_back(b);
      }
  }
};
const ByteTable& byte_table() {
  static const ByteTable t;
  return t;
}

std::string byte_encode(const std::string& utf8) {
  std::string out;
  for (unsigned char b : utf8) append_utf8(out, byte_table().sym[b]);
  return out;
}

// Python str.split(): runs of whitespace separate, ends ignored.
std::vector<std::string> py_split(const std::string& line) {
  std::vector<std::string> parts;
  std::u32string u = decode_utf8(line, "vocabulary line");
  std::u32string cur;
  for (char32_t c : u) {
    if (is_py_space(c)) {
      if (!cur.empty()) parts.push_back(to_utf8(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(to_utf8(cur));
  return parts;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (;;) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      lines.push_back(text.substr(start));
      return lines;
    }
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
}

std::string read_gz_or_plain(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) TC_INPUT_ERROR("cannot open the BPE vocabulary '{}'", path);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    int got = gzread(f, buf, sizeof(buf));
    if (got < 0) {
      int err = 0;
      std::string msg = gzerror(f, &err);
      gzclose(f);
      TC_INPUT_ERROR("BPE vocabulary '{}': cannot decompress: {}", path, msg);
    }
    if (got == 0) break;
    out.append(buf, static_cast<size_t>(got));
  }
  gzclose(f);
  return out;
}

}  // namespace detail_tokenizer

namespace tokd = detail_tokenizer;

struct Tokenizer::Impl {
  std::string kind, source;
  std::unordered_map<std::string, int> encoder;
  std::unordered_map<int, std::string> decoder;
  std::unordered_map<std::string, int> ranks;  // "a b" -> rank
  int sot = 0, eot = 0, vocab_size = 0;
  mutable std::mutex mu;
  mutable std::unordered_map<std::string, std::vector<std::string>> cache;

  void add(const std::string& tok, int id) {
    encoder[tok] = id;  // a later duplicate wins, as dict(zip(vocab, range)) does
    decoder[id] = tok;
    vocab_size = std::max(vocab_size, id + 1);
  }
  void finish() {
    sot = encoder.at(tokd::kSot);
    eot = encoder.at(tokd::kEot);
  }
  std::vector<std::string> bpe(const std::string& token) const;
};

namespace detail_tokenizer {

// OpenAI's layout: 256 byte symbols, the same with </w>, one token per merge line, SOT, EOT.
std::shared_ptr<Tokenizer::Impl> openai_layout(const std::vector<std::string>& merge_lines,
                                               std::string kind, std::string source) {
  auto im = std::make_shared<Tokenizer::Impl>();
  im->kind = std::move(kind);
  im->source = std::move(source);
  std::vector<std::string> vocab;
  for (int b : byte_table().order) vocab.push_back(byte_encode(std::string(1, static_cast<char>(b))));
  for (int k = 0; k < 256; ++k) vocab.push_back(vocab[k] + "</w>");
  for (size_t r = 0; r < merge_lines.size(); ++r) {
    auto parts = py_split(merge_lines[r]);
    std::string joined;
    for (const auto& p : parts) joined += p;
    vocab.push_back(joined);
    if (parts.size() == 2) im->ranks[parts[0] + " " + parts[1]] = static_cast<int>(r);
  }
  vocab.push_back(kSot);
  vocab.push_back(kEot);
  for (size_t i = 0; i < vocab.size(); ++i) im->add(vocab[i], static_cast<int>(i));
  im->finish();
  return im;
}

}  // namespace detail_tokenizer

std::vector<std::string> Tokenizer::Impl::bpe(const std::string& token) const {
  if (token == tokd::kSot || token == tokd::kEot) return {token};
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(token);
    if (it != cache.end()) return it->second;
  }
  // Split into symbols (code points of the byte-encoded token); </w> on the last one.
  std::vector<std::string> word;
  for (char32_t c : tokd::decode_utf8(token, "token")) {
    word.emplace_back();
    tokd::append_utf8(word.back(), c);
  }
  if (word.empty()) return {};
  word.back() += "</w>";
  while (word.size() > 1) {
    int best = -1;
    size_t best_i = 0;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      auto it = ranks.find(word[i] + " " + word[i + 1]);
      if (it != ranks.end() && (best < 0 || it->second < best)) {
        best = it->second;
        best_i = i;
      }
    }
    if (best < 0) break;
    const std::string first = word[best_i], second = word[best_i + 1];
    std::vector<std::string> merged;
    for (size_t i = 0; i < word.size();) {  // every occurrence, left to right
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(word[i++]);
      }
    }
    word.swap(merged);
  }
  std::lock_guard<std::mutex> lock(mu);
  if (cache.size() < 100000) cache.emplace(token, word);
  return word;
}

// ------------------------------------------------------------------ factories
Tokenizer Tokenizer::from_openai_bpe(const std::string& path) {
  std::string text = tokd::read_gz_or_plain(path);
  tokd::decode_utf8(text, ("BPE vocabulary '" + path + "'").c_str());
  auto lines = tokd::split_lines(text);
  // merges[1:49152-256-2+1]
  std::vector<std::string> merges;
  for (size_t i = 1; i < lines.size() && i <= tokd::kMaxMerges; ++i) merges.push_back(lines[i]);
  size_t pairs = 0;
  for (const auto& m : merges) pairs += tokd::py_split(m).size() == 2;
  TC_CHECK_INPUT(pairs > 0, "BPE vocabulary '{}': no merge lines ('a b') after the header line; "
                 "expected OpenAI's bpe_simple_vocab_16e6.txt.gz", path);
  Tokenizer t;
  t.impl_ = tokd::openai_layout(merges, "openai-bpe", path);
  return t;
}

Tokenizer Tokenizer::from_hf(const std::string& vocab_json, const std::string& merges_txt) {
  auto im = std::make_shared<Impl>();
  im->kind = "hf";
  im->source = vocab_json + " + " + merges_txt;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(vocab_json));
  } catch (const nlohmann::json::exception& e) {
    TC_INPUT_ERROR("vocabulary '{}' is not valid JSON: {}", vocab_json, e.what());
  }
  TC_CHECK_INPUT(j.is_object(), "vocabulary '{}': expected a JSON object token -> id", vocab_json);
  for (auto it = j.begin(); it != j.end(); ++it) {
    TC_CHECK_INPUT(it.value().is_number_integer() && it.value().get<int64_t>() >= 0 &&
                       it.value().get<int64_t>() < (1 << 30),
                   "vocabulary '{}': token '{}': expected a non-negative integer id, got {}",
                   vocab_json, it.key(), it.value().dump());
    tokd::decode_utf8(it.key(), "vocabulary token");
    im->add(it.key(), it.value().get<int>());
  }
  for (const char* special : {tokd::kSot, tokd::kEot})
    TC_CHECK_INPUT(im->encoder.count(special), "vocabulary '{}': missing the token '{}'",
                   vocab_json, special);
  im->finish();
  // Hugging Face: read().strip().split("\n")[1:49152-256-2+1]
  std::string text = read_file(merges_txt);
  std::u32string u = tokd::decode_utf8(text, ("merges file '" + merges_txt + "'").c_str());
  auto lines = tokd::split_lines(tokd::to_utf8(tokd::py_strip(u)));
  TC_CHECK_INPUT(!lines.empty() && lines[0].rfind("#version", 0) == 0,
                 "merges file '{}': expected a '#version' header line, got '{}'", merges_txt,
                 lines.empty() ? "" : lines[0].substr(0, 40));
  for (size_t i = 1; i < lines.size() && i <= tokd::kMaxMerges; ++i) {
    auto parts = tokd::py_split(lines[i]);
    if (parts.size() == 2) im->ranks[parts[0] + " " + parts[1]] = static_cast<int>(i - 1);
  }
  Tokenizer t;
  t.impl_ = std::move(im);
  return t;
}

Tokenizer Tokenizer::load(const std::string& path) {
  namespace fs = std::filesystem;
  TC_CHECK_INPUT(!path.empty(), "no BPE vocabulary given (bpe_simple_vocab_16e6.txt.gz, or a "
                 "directory with vocab.json + merges.txt)");
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    auto v = (fs::path(path) / "vocab.json").string(), m = (fs::path(path) / "merges.txt").string();
    TC_CHECK_INPUT(file_exists(v) && file_exists(m), "vocabulary directory '{}': expected "
                   "vocab.json and merges.txt in it", path);
    return from_hf(v, m);
  }
  TC_CHECK_INPUT(file_exists(path), "BPE vocabulary '{}' does not exist", path);
  if (fs::path(path).extension() == ".json") {
    auto m = (fs::path(path).parent_path() / "merges.txt").string();
    TC_CHECK_INPUT(file_exists(m), "vocabulary '{}': expected merges.txt next to it ('{}')", path, m);
    return from_hf(path, m);
  }
  return from_openai_bpe(path);
}

Tokenizer Tokenizer::byte_fallback(int vocab_size) {
  TC_CHECK_USAGE(vocab_size >= 514, "byte-level tokenizer: vocab size {} < 514 (512 byte tokens "
                 "+ SOT + EOT)", vocab_size);
  auto im = tokd::openai_layout({}, "byte-fallback", "");
  // Move SOT/EOT from 512/513 to the top of the model's vocabulary.
  im->encoder.erase(tokd::kSot);
  im->encoder.erase(tokd::kEot);
  im->decoder.erase(512);
  im->decoder.erase(513);
  im->vocab_size = 0;
  for (const auto& kv : im->decoder) im->vocab_size = std::max(im->vocab_size, kv.first + 1);
  im->add(tokd::kSot, vocab_size - 2);
  im->add(tokd::kEot, vocab_size - 1);
  im->finish();
  Tokenizer t;
  t.impl_ = std::move(im);
  return t;
}

// ------------------------------------------------------------------ encoding
std::vector<int> Tokenizer::encode_text(const std::string& text) const {
  std::vector<int> ids;
  for (const auto& tok : pre_tokenize(clean_text(text))) {
    for (const auto& sym : impl_->bpe(bytes_to_unicode(tok))) {
      auto it = impl_->encoder.find(sym);
      TC_CHECK_INPUT(it != impl_->encoder.end(), "tokenizer ({}): BPE symbol '{}' of '{}' is not "
                     "in the vocabulary", impl_->source.empty() ? impl_->kind : impl_->source, sym,
                     tok);
      ids.push_back(it->second);
    }
  }
  return ids;
}

std::vector<int> Tokenizer::encode(const std::string& text, int context, bool truncate) const {
  TC_CHECK_USAGE(context >= 1, "context length {} < 1", context);
  std::vector<int> ids{impl_->sot};
  auto body = encode_text(text);
  ids.insert(ids.end(), body.begin(), body.end());
  ids.push_back(impl_->eot);
  if (static_cast<int>(ids.size()) > context) {
    TC_CHECK_INPUT(truncate, "text is too long for context length {} ({} tokens with SOT/EOT): "
                   "'{}'", context, ids.size(), text.substr(0, 80));
    ids.resize(context);
    ids.back() = impl_->eot;
  }
  ids.resize(context, 0);
  return ids;
}

std::vector<std::vector<int>> Tokenizer::tokenize(const std::vector<std::string>& texts,
                                                  int context, bool truncate) const {
  std::vector<std::vector<int>> out;
  out.reserve(texts.size());
  for (const auto& t : texts) out.push_back(encode(t, context, truncate));
  return out;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  static const auto inverse = [] {
    std::unordered_map<char32_t, unsigned char> m;
    for (int b = 0; b < 256; ++b) m[tokd::byte_table().sym[b]] = static_cast<unsigned char>(b);
    return m;
  }();
  std::string symbols;
  for (int id : ids) {
    if (id == impl_->sot) continue;
    if (id == impl_->eot) break;
    auto it = impl_->decoder.find(id);
    TC_CHECK_INPUT(it != impl_->decoder.end(), "decode: id {} is not in the vocabulary", id);
    symbols += it->second;
  }
  std::string out;
  std::u32string u = tokd::decode_utf8(symbols, "token text");
  for (size_t i = 0; i < u.size(); ++i) {
    if (u.compare(i, 4, U"</w>") == 0) {
      out += ' ';
      i += 3;
      continue;
    }
    auto it = inverse.find(u[i]);
    if (it != inverse.end()) out += static_cast<char>(it->second);
    else tokd::append_utf8(out, u[i]);  // SOT/EOT text or a foreign vocabulary symbol
  }
  return out;
}

int Tokenizer::sot() const { return impl_->sot; }
int Tokenizer::eot() const { return impl_->eot; }
int Tokenizer::vocab_size() const { return impl_->vocab_size; }
const std::string& Tokenizer::kind() const { return impl_->kind; }
const std::string& Tokenizer::source() const { return impl_->source; }

int Tokenizer::token_id(const std::string& token) const {
  auto it = impl_->encoder.find(token);
  return it == impl_->encoder.end() ? -1 : it->second;
}

std::vector<std::string> Tokenizer::bpe(const std::string& word) const { return impl_->bpe(word); }

// ------------------------------------------------------------------ free functions
std::string html_unescape(const std::string& text) {
  return tokd::to_utf8(tokd::unescape(tokd::decode_utf8(text, "text")));
}

std::string unicode_lower(const std::string& text) {
  return tokd::to_utf8(tokd::lower(tokd::decode_utf8(text, "text")));
}

std::string clean_text(const std::string& text) {
  std::u32string u = tokd::decode_utf8(text, "text");
  // basic_clean: ftfy's character fixes (not its mojibake repair), html.unescape twice, strip
  u = tokd::py_strip(tokd::unescape(tokd::unescape(tokd::ftfy_chars(u))));
  return tokd::to_utf8(tokd::lower(tokd::collapse_space(u)));
}

std::vector<std::string> pre_tokenize(const std::string& cleaned) {
  std::vector<std::string> out;
  for (const auto& t : tokd::findall(tokd::decode_utf8(cleaned, "text"))) out.push_back(tokd::to_utf8(t));
  return out;
}

std::string bytes_to_unicode(const std::string& utf8_bytes) { return tokd::byte_encode(utf8_bytes); }

}  // namespace tc::clip
