// CLIP tokenizer: hand-worked merges on a vocabulary written by the test (gzip OpenAI format
// and the Hugging Face pair), known facts of OpenAI's byte table and text cleanup, the
// pattern's splits, Python str.lower / html.unescape cases worked out by hand.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "clip/tokenizer.h"
#include "util/check.h"

namespace {

using tc::clip::Tokenizer;
using ::testing::ElementsAre;
namespace fs = std::filesystem;

// Merge ranks 0..4 -> ids 512..516, SOT 517, EOT 518. No final newline: like OpenAI's code we
// keep every line of the slice, so a final empty line would become a vocabulary entry.
const char* kMerges = "#version: 0.2 test\nl l\nh e\nhe ll\nhell o</w>\na a";

fs::path test_dir() {
  auto d = fs::temp_directory_path() / ("tc_tok_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

std::string write_gz(const std::string& text) {
  auto p = (test_dir() / "bpe.txt.gz").string();
  gzFile f = gzopen(p.c_str(), "wb");
  gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
  gzclose(f);
  return p;
}

// Byte ids in OpenAI's order: '!'..'~' are 0..93, so a printable ASCII byte b has id b - 33.
int byte_id(char c) { return c - 33; }
int end_id(char c) { return c - 33 + 256; }

TEST(Tokenizer, ByteTableFacts) {
  EXPECT_EQ(tc::clip::bytes_to_unicode("a!~"), "a!~");
  EXPECT_EQ(tc::clip::bytes_to_unicode(" "), "\xc4\xa0");       // U+0120 'Ġ'
  EXPECT_EQ(tc::clip::bytes_to_unicode("\n"), "\xc4\x8a");      // U+010A
  EXPECT_EQ(tc::clip::bytes_to_unicode(std::string(1, '\0')), "\xc4\x80");  // U+0100
  EXPECT_EQ(tc::clip::bytes_to_unicode("\xad"), "\xc5\x83");    // U+0143, the last of 68
  EXPECT_EQ(tc::clip::bytes_to_unicode("\xe9"), "\xc3\xa9");    // printable Latin-1 stays
}

TEST(Tokenizer, HandWorkedMergesOpenAIFormat) {
  Tokenizer t = Tokenizer::from_openai_bpe(write_gz(kMerges));
  EXPECT_EQ(t.kind(), "openai-bpe");
  EXPECT_EQ(t.sot(), 517);
  EXPECT_EQ(t.eot(), 518);
  EXPECT_EQ(t.vocab_size(), 519);
  EXPECT_EQ(t.token_id("a</w>"), 320);  // as in the real vocabulary
  EXPECT_EQ(t.token_id("hello</w>"), 515);
  // hello: h e l l o</w> -> (l,l) r0 -> (h,e) r1 -> (he,ll) r2 -> (hell,o</w>) r3.
  EXPECT_THAT(t.bpe("hello"), ElementsAre("hello</w>"));
  EXPECT_THAT(t.encode_text("Hello hello"), ElementsAre(515, 515));
  // help: only (h,e) applies.
  EXPECT_THAT(t.encode_text("help"), ElementsAre(513, byte_id('l'), end_id('p')));
  // Every occurrence left to right, without overlap: a a a a</w> -> aa a a</w>.
  EXPECT_THAT(t.encode_text("aaaa"), ElementsAre(516, byte_id('a'), end_id('a')));
  EXPECT_THAT(t.encode_text("aaa"), ElementsAre(516, end_id('a')));
  // A one-symbol word is the symbol with </w>; digits are split one by one.
  EXPECT_THAT(t.encode_text("x 42"), ElementsAre(end_id('x'), end_id('4'), end_id('2')));
  // Special tokens written in the text map to their ids.
  EXPECT_THAT(t.encode_text("<|startoftext|>hello<|endoftext|>"), ElementsAre(517, 515, 518));
  // Bytes beyond ASCII: é = C3 A9 -> two byte symbols, the last with </w>.
  EXPECT_EQ(t.encode_text("\xc3\xa9").size(), 2u);
  EXPECT_EQ(t.encode_text("\xc3\xa9")[1], t.token_id("\xc2\xa9</w>"));
  EXPECT_EQ(t.decode(t.encode_text("hello help!")), "hello help ! ");  // "!" is its own word
  // merges[1:48895] of split('\n') keeps a trailing empty line: it takes id 517 ('' token).
  Tokenizer nl = Tokenizer::from_openai_bpe(write_gz(std::string(kMerges) + "\n"));
  EXPECT_EQ(nl.sot(), 518);
  EXPECT_EQ(nl.eot(), 519);
  EXPECT_EQ(nl.token_id(""), 517);
}

TEST(Tokenizer, ContextPaddingAndTruncation) {
  Tokenizer t = Tokenizer::from_openai_bpe(write_gz(kMerges));
  auto ids = t.encode("hello");
  ASSERT_EQ(ids.size(), 77u);
  EXPECT_EQ(ids[0], 517);
  EXPECT_EQ(ids[1], 515);
  EXPECT_EQ(ids[2], 518);
  for (size_t i = 3; i < 77; ++i) EXPECT_EQ(ids[i], 0);
  std::string long_text;
  for (int i = 0; i < 80; ++i) long_text += "hello ";  // 80 tokens + SOT + EOT = 82
  EXPECT_THROW(t.encode(long_text), tc::Error);
  auto cut = t.encode(long_text, 77, true);
  ASSERT_EQ(cut.size(), 77u);
  EXPECT_EQ(cut[0], 517);
  EXPECT_EQ(cut[75], 515);
  EXPECT_EQ(cut[76], 518);
  // Exactly 77 with SOT/EOT fits without truncation.
  std::string fit;
  for (int i = 0; i < 75; ++i) fit += "hello ";
  auto f = t.encode(fit);
  EXPECT_EQ(f[76], 518);
  EXPECT_EQ(t.tokenize({"hello", "help"}, 8)[1], (std::vector<int>{517, 513, 75, 335, 518, 0, 0, 0}));
}

TEST(Tokenizer, HuggingFaceFormatUsesItsIds) {
  auto dir = test_dir() / "hf";
  fs::create_directories(dir);
  // Ids deliberately different from OpenAI's layout: they must come from vocab.json.
  std::ofstream(dir / "vocab.json") << R"({"<|startoftext|>": 1000, "<|endoftext|>": 1001,)"
                                    << R"("he": 7, "ll": 8, "hell": 9, "hello</w>": 10,)"
                                    << R"("l": 11, "p</w>": 12, "x</w>": 13})";
  std::ofstream(dir / "merges.txt") << "#version: 0.2\nl l\nh e\nhe ll\nhell o</w>\n";
  Tokenizer t = Tokenizer::load(dir.string());
  EXPECT_EQ(t.kind(), "hf");
  EXPECT_EQ(t.sot(), 1000);
  EXPECT_EQ(t.eot(), 1001);
  EXPECT_THAT(t.encode_text("hello help x"), ElementsAre(10, 7, 11, 12, 13));
  EXPECT_THROW(t.encode_text("zebra"), tc::Error);  // symbols missing from vocab.json
  std::ofstream(dir / "merges.txt") << "l l\n";
  EXPECT_THROW(Tokenizer::load(dir.string()), tc::Error);  // no #version header
}

TEST(Tokenizer, PlainTextVocabularyAndErrors) {
  auto p = (test_dir() / "plain.txt").string();
  std::ofstream(p) << kMerges;
  EXPECT_EQ(Tokenizer::from_openai_bpe(p).encode_text("hello")[0], 515);
  EXPECT_THROW(Tokenizer::load("/nonexistent/bpe.txt.gz"), tc::Error);
  EXPECT_THROW(Tokenizer::load(""), tc::Error);
  auto empty = (test_dir() / "empty.txt").string();
  std::ofstream(empty) << "#version\n";
  EXPECT_THROW(Tokenizer::from_openai_bpe(empty), tc::Error);
  Tokenizer t = Tokenizer::from_openai_bpe(p);
  try {
    t.encode_text("bad \xff utf8");
    FAIL();
  } catch (const tc::Error& e) {
    EXPECT_EQ(e.kind(), tc::ErrorKind::Input);
    EXPECT_THAT(e.message(), ::testing::HasSubstr("not valid UTF-8"));
  }
}

TEST(Tokenizer, ByteFallback) {
  Tokenizer t = Tokenizer::byte_fallback();
  EXPECT_EQ(t.kind(), "byte-fallback");
  EXPECT_EQ(t.sot(), 49406);
  EXPECT_EQ(t.eot(), 49407);
  auto ids = t.encode("Hi!");
  EXPECT_THAT(std::vector<int>(ids.begin(), ids.begin() + 6),
              ElementsAre(49406, byte_id('h'), end_id('i'), end_id('!'), 49407, 0));
  Tokenizer small = Tokenizer::byte_fallback(1000);
  EXPECT_EQ(small.eot(), 999);
  EXPECT_THROW(Tokenizer::byte_fallback(100), tc::Error);
}

TEST(TextCleanup, HtmlUnescapeLikePython) {
  using tc::clip::html_unescape;
  EXPECT_EQ(html_unescape("a &amp; b"), "a & b");
  EXPECT_EQ(html_unescape("&amp;lt;"), "&lt;");  // one pass
  EXPECT_EQ(html_unescape("&#39;&#x27;&#X27"), "'''");
  EXPECT_EQ(html_unescape("&#128;"), "\xe2\x82\xac");           // cp1252 fix-up: euro sign
  EXPECT_EQ(html_unescape("&#0;"), "\xef\xbf\xbd");             // U+FFFD
  EXPECT_EQ(html_unescape("&#xD800;"), "\xef\xbf\xbd");
  EXPECT_EQ(html_unescape("&#99999999999999999999;"), "\xef\xbf\xbd");
  EXPECT_EQ(html_unescape("a&#1;b"), "ab");                     // dropped code point
  EXPECT_EQ(html_unescape("&notit;"), "\xc2\xac" "it;");        // longest prefix "not"
  EXPECT_EQ(html_unescape("&ampfoo"), "&foo");                  // legacy name without ';'
  EXPECT_EQ(html_unescape("&zzzz; & &# &#x;"), "&zzzz; & &# &#x;");
  EXPECT_EQ(html_unescape("&NotNestedGreaterGreater;"), "\xe2\xaa\xa2\xcc\xb8");  // 2 code points
  EXPECT_EQ(html_unescape("&eacute;t&eacute;"), "\xc3\xa9t\xc3\xa9");
  EXPECT_EQ(tc::clip::clean_text("  &amp;lt;B&gt;\t\n  X\xc2\xa0Y  "), "<b> x y");
}

TEST(TextCleanup, FtfyCharacterFixes) {
  using tc::clip::clean_text;
  // Curly quotes straightened, ligatures expanded, full-width folded, BOM/controls removed,
  // C1 0x92 read as Windows-1252 (a right quote, then straightened). ŉ -> ʼn -> 'n.
  EXPECT_EQ(clean_text("It\xe2\x80\x99s \xe2\x80\x9cok\xe2\x80\x9d"), "it's \"ok\"");
  EXPECT_EQ(clean_text("\xef\xac\x81ne \xef\xbc\xa1\xef\xbc\xa2\xef\xbc\x91"), "fine ab1");
  EXPECT_EQ(clean_text("a\xef\xbb\xbf" "b\x01" "c\xc2\x92" "d"), "abc'd");
  EXPECT_EQ(clean_text("\xc5\x89"), "'n");
  EXPECT_EQ(clean_text("x\xe3\x80\x80y"), "x y");  // ideographic space -> space
}

TEST(TextCleanup, LowercaseLikePython) {
  using tc::clip::unicode_lower;
  EXPECT_EQ(unicode_lower("ABC \xc3\x80\xc3\x89\xc3\x8e"), "abc \xc3\xa0\xc3\xa9\xc3\xae");  // ÀÉÎ
  EXPECT_EQ(unicode_lower("\xc4\xb0"), "i\xcc\x87");  // İ -> i + combining dot (full mapping)
  EXPECT_EQ(unicode_lower("\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2"),
            "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");  // ПРИВЕТ -> привет
  // Capital sigma: final form at the end of a word, medial otherwise, alone stays medial.
  EXPECT_EQ(unicode_lower("\xce\x9f\xce\x94\xce\x9f\xce\xa3"), "\xce\xbf\xce\xb4\xce\xbf\xcf\x82");
  EXPECT_EQ(unicode_lower("\xce\xa3\xce\x91"), "\xcf\x83\xce\xb1");
  EXPECT_EQ(unicode_lower("\xce\xa3"), "\xcf\x83");
  EXPECT_EQ(unicode_lower("A'\xce\xa3"), "a'\xcf\x82");  // apostrophe is case-ignorable
  EXPECT_EQ(unicode_lower("\xe2\x85\xa0 \xe2\x92\xb6"), "\xe2\x85\xb0 \xe2\x93\x90");  // Ⅰ Ⓐ
}

TEST(TextCleanup, PreTokenizePattern) {
  using tc::clip::pre_tokenize;
  EXPECT_THAT(pre_tokenize("don't stop!! i'll"), ElementsAre("don", "'t", "stop", "!!", "i", "'ll"));
  EXPECT_THAT(pre_tokenize("abc123"), ElementsAre("abc", "1", "2", "3"));
  EXPECT_THAT(pre_tokenize("<|startoftext|>hi"), ElementsAre("<|startoftext|>", "hi"));
  // A punctuation run is greedy: the special token is not found inside it.
  EXPECT_THAT(pre_tokenize("a.<|endoftext|>"), ElementsAre("a", ".<|", "endoftext", "|>"));
  EXPECT_THAT(pre_tokenize("!!'s"), ElementsAre("!!'", "s"));
  EXPECT_THAT(pre_tokenize("'re've'm'd'x"), ElementsAre("'re", "'ve", "'m", "'d", "'", "x"));
  // IGNORECASE: long s (U+017F) matches the 's' of 's.
  EXPECT_THAT(pre_tokenize("it'\xc5\xbf"), ElementsAre("it", "'\xc5\xbf"));
  // Unicode letters and numbers: Greek word, CJK, superscript two (No), Roman numeral (Nl).
  EXPECT_THAT(pre_tokenize("\xce\xb1\xce\xb2 \xe4\xb8\xad\xe6\x96\x87 x\xc2\xb2\xe2\x85\xa0"),
              ElementsAre("\xce\xb1\xce\xb2", "\xe4\xb8\xad\xe6\x96\x87", "x", "\xc2\xb2",
                          "\xe2\x85\xa0"));
  // Emoji are neither letters nor numbers: one punctuation-like run.
  EXPECT_THAT(pre_tokenize("\xf0\x9f\x98\x80\xf0\x9f\x98\x81!"),
              ElementsAre("\xf0\x9f\x98\x80\xf0\x9f\x98\x81!"));
  // U+0345 counts as a letter under IGNORECASE (its upper case is iota).
  EXPECT_THAT(pre_tokenize("a\xcd\x85" "b"), ElementsAre("a\xcd\x85" "b"));
}

}  // namespace
