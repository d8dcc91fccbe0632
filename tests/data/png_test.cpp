// The PNG codec against independent references: OpenCV/libpng (decoding what libpng wrote, and
// libpng decoding what we wrote), PNG files assembled here by a writer of the test's own
// (interlacing, sub-byte depths, palettes, every filter type), and hand-worked sample values.
#include <gtest/gtest.h>
#include <zlib.h>

#if TOKENCLIP_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#endif

#include <cstring>
#include <string>
#include <vector>

#include "data/png.h"
#include "util/check.h"
#include "util/rng.h"

namespace {

using tc::data::png_decode;
using tc::data::png_encode;

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed, int modulo = 256) {
  tc::Rng rng(seed, 0);
  std::vector<uint8_t> v(n);
  // Smooth-ish content (a ramp plus noise) so that every filter type wins somewhere.
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<uint8_t>((i / 3 + static_cast<int>(rng.uniform() * 24)) % modulo);
  return v;
}

// ------------------------------------------------------- a PNG writer of the test's own
// Written independently of src/data/png.cpp: rows are given as packed bytes per pass; the
// filter type of each row is chosen by the caller; interlacing splits the image by hand.
void put32(std::string& s, uint32_t v) {
  for (int k = 3; k >= 0; --k) s.push_back(static_cast<char>((v >> (8 * k)) & 255));
}
void add_chunk(std::string& out, const std::string& type, const std::string& data) {
  put32(out, static_cast<uint32_t>(data.size()));
  std::string td = type + data;
  out += td;
  put32(out, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(td.data()),
                                         static_cast<uInt>(td.size()))));
}
int test_paeth(int a, int b, int c) {
  // Straight from the definition: the neighbour closest to a + b - c, ties a, b, c.
  const int p = a + b - c;
  const int da = p > a ? p - a : a - p, db = p > b ? p - b : b - p, dc = p > c ? p - c : c - p;
  return (da <= db && da <= dc) ? a : (db <= dc ? b : c);
}
// Filters packed rows (each `rowbytes` long) with the given types (cycled), returns the stream.
std::string filter_rows(const std::vector<std::vector<uint8_t>>& rows, int bpp, const std::vector<int>& types) {
  std::string s;
  for (size_t y = 0; y < rows.size(); ++y) {
    const int t = types[y % types.size()];
    s.push_back(static_cast<char>(t));
    const auto& r = rows[y];
    for (size_t i = 0; i < r.size(); ++i) {
      const int a = i >= size_t(bpp) ? r[i - bpp] : 0;
      const int b = y ? rows[y - 1][i] : 0;
      const int c = (y && i >= size_t(bpp)) ? rows[y - 1][i - bpp] : 0;
      int pred = 0;
      if (t == 1) pred = a;
      if (t == 2) pred = b;
      if (t == 3) pred = (a + b) / 2;
      if (t == 4) pred = test_paeth(a, b, c);
      s.push_back(static_cast<char>(uint8_t(r[i] - pred)));
    }
  }
  return s;
}
// Packs one row of samples (each < 2^depth; 16-bit big-endian).
std::vector<uint8_t> pack_row(const std::vector<int>& samples, int depth) {
  std::vector<uint8_t> r;
  if (depth == 16) {
    for (int v : samples) r.push_back(uint8_t(v >> 8)), r.push_back(uint8_t(v & 255));
  } else if (depth == 8) {
    for (int v : samples) r.push_back(uint8_t(v));
  } else {
    r.assign((samples.size() * depth + 7) / 8, 0);
    for (size_t i = 0; i < samples.size(); ++i)
      r[i * depth / 8] |= uint8_t(samples[i] << (8 - depth - (i * depth) % 8));
  }
  return r;
}
struct TestPng {
  int w, h, depth, color, channels;   // channels in the stream
  std::vector<int> samples;           // h * w * channels
  bool interlace = false;
  std::vector<int> filters{0};
  std::string plte, trns;
};
std::string build_png(const TestPng& t) {
  std::string out("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  put32(ihdr, uint32_t(t.w));
  put32(ihdr, uint32_t(t.h));
  ihdr += std::string{char(t.depth), char(t.color), 0, 0, char(t.interlace ? 1 : 0)};
  add_chunk(out, "IHDR", ihdr);
  if (!t.plte.empty()) add_chunk(out, "PLTE", t.plte);
  if (!t.trns.empty()) add_chunk(out, "tRNS", t.trns);
  add_chunk(out, "tEXt", std::string("Comment\0made by png_test", 24));  // ancillary: skipped
  const int bpp = std::max(1, t.channels * t.depth / 8);
  std::string stream;
  struct P { int x0, y0, dx, dy; };
  const std::vector<P> passes = t.interlace
      ? std::vector<P>{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}
      : std::vector<P>{{0, 0, 1, 1}};
  for (const P& p : passes) {
    std::vector<std::vector<uint8_t>> rows;
    for (int y = p.y0; y < t.h; y += p.dy) {
      std::vector<int> s;
      for (int x = p.x0; x < t.w; x += p.dx)
        for (int c = 0; c < t.channels; ++c) s.push_back(t.samples[(size_t(y) * t.w + x) * t.channels + c]);
      if (s.empty()) break;  // an empty pass has no rows at all
      rows.push_back(pack_row(s, t.depth));
    }
    stream += filter_rows(rows, bpp, t.filters);
  }
  uLongf zl = compressBound(static_cast<uLong>(stream.size()));
  std::string z(zl, '\0');
  EXPECT_EQ(compress2(reinterpret_cast<Bytef*>(z.data()), &zl, reinterpret_cast<const Bytef*>(stream.data()),
                      static_cast<uLong>(stream.size()), 9), Z_OK);
  z.resize(zl);
  // Split the data over two IDAT chunks: decoders must concatenate them.
  add_chunk(out, "IDAT", z.substr(0, z.size() / 2));
  add_chunk(out, "IDAT", z.substr(z.size() / 2));
  add_chunk(out, "IEND", "");
  return out;
}

TestPng random_png(int w, int h, int depth, int color, int channels, uint64_t seed) {
  TestPng t{w, h, depth, color, channels, {}};
  tc::Rng rng(seed, 1);
  t.samples.resize(size_t(w) * h * channels);
  for (auto& v : t.samples) v = static_cast<int>(rng.uniform() * (1 << depth)) & ((1 << depth) - 1);
  return t;
}

// ------------------------------------------------------------------------------- decoding

TEST(PngDecode, EveryDepthAndColourTypeInterlacedOrNotWithEveryFilter) {
  struct Case { int depth, color, channels; };
  const Case cases[] = {{1, 0, 1}, {2, 0, 1}, {4, 0, 1}, {8, 0, 1}, {16, 0, 1}, {8, 2, 3}, {16, 2, 3},
                        {8, 4, 2}, {16, 4, 2}, {8, 6, 4}, {16, 6, 4}};
  int k = 0;
  for (const Case& c : cases)
    for (bool interlace : {false, true})
      for (auto size : {std::pair{1, 1}, std::pair{5, 3}, std::pair{13, 11}, std::pair{33, 9}}) {
        TestPng t = random_png(size.first, size.second, c.depth, c.color, c.channels, uint64_t(++k));
        t.interlace = interlace;
        t.filters = {0, 1, 2, 3, 4, 4, 2};
        SCOPED_TRACE(::testing::Message() << "depth " << c.depth << " colour " << c.color << " interlace "
                                          << interlace << " " << size.first << "x" << size.second);
        auto img = png_decode(build_png(t), "case");
        ASSERT_EQ(img.width, t.w);
        ASSERT_EQ(img.height, t.h);
        ASSERT_EQ(img.channels, c.channels);
        ASSERT_EQ(img.depth, c.depth == 16 ? 16 : 8);
        const int maxv = (1 << c.depth) - 1;
        for (size_t i = 0; i < t.samples.size(); ++i) {
          if (c.depth == 16) {
            ASSERT_EQ(img.s16[i], t.samples[i]) << "sample " << i;
          } else {
            // Sub-byte gray is scaled to the full 8-bit range.
            ASSERT_EQ(img.s8[i], t.samples[i] * 255 / maxv) << "sample " << i;
          }
        }
      }
}

TEST(PngDecode, SubByteGrayScalingHandWorked) {
  // 2-bit gray 0..3 -> 0, 85, 170, 255; 4-bit 1 -> 17, 15 -> 255; 1-bit 1 -> 255.
  TestPng t2{4, 1, 2, 0, 1, {0, 1, 2, 3}};
  auto a = png_decode(build_png(t2), "2bit");
  EXPECT_EQ(a.s8, (std::vector<uint8_t>{0, 85, 170, 255}));
  TestPng t4{3, 1, 4, 0, 1, {0, 1, 15}};
  EXPECT_EQ(png_decode(build_png(t4), "4bit").s8, (std::vector<uint8_t>{0, 17, 255}));
  TestPng t1{9, 1, 1, 0, 1, {1, 0, 1, 1, 0, 0, 0, 0, 1}};  // 9 pixels: the row spans two bytes
  EXPECT_EQ(png_decode(build_png(t1), "1bit").s8, (std::vector<uint8_t>{255, 0, 255, 255, 0, 0, 0, 0, 255}));
}

TEST(PngDecode, PalettesExpandToRgbAndTransparencyAddsAlpha) {
  const std::string plte("\x0a\x14\x1e\xff\x00\x80\x01\x02\x03", 9);  // 3 entries
  for (int depth : {1, 2, 4, 8}) {
    TestPng t{5, 2, depth, 3, 1, {0, 1, 1, 0, 1, 1, 0, 0, 1, 0}};
    if (depth >= 2) t.samples = {0, 1, 2, 2, 1, 0, 0, 2, 1, 0};
    t.plte = plte;
    t.interlace = depth == 4;
    auto img = png_decode(build_png(t), "pal");
    ASSERT_EQ(img.channels, 3);
    for (size_t i = 0; i < t.samples.size(); ++i)
      for (int c = 0; c < 3; ++c)
        ASSERT_EQ(img.s8[i * 3 + c], uint8_t(plte[size_t(t.samples[i]) * 3 + c])) << "depth " << depth;
    t.trns = std::string("\x00\x7f", 2);  // entry 2 keeps the implicit 255
    auto rgba = png_decode(build_png(t), "pal+trns");
    ASSERT_EQ(rgba.channels, 4);
    const uint8_t alpha[3] = {0, 127, 255};
    for (size_t i = 0; i < t.samples.size(); ++i) ASSERT_EQ(rgba.s8[i * 4 + 3], alpha[t.samples[i]]);
  }
}

TEST(PngDecode, DefectsAreNamed) {
  TestPng t = random_png(6, 4, 8, 2, 3, 7);
  const std::string good = build_png(t);
  auto expect_error = [](const std::string& bytes, const std::string& needle) {
    try {
      png_decode(bytes, "defect.png");
      ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
    } catch (const tc::Error& e) {
      EXPECT_NE(std::string(e.what()).find("defect.png"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_EQ(e.kind(), tc::ErrorKind::Input);
    }
  };
  expect_error("GIF89a....", "signature");
  std::string crc = good;
  crc[20] ^= 1;  // inside IHDR's data
  expect_error(crc, "CRC mismatch in chunk 'IHDR'");
  expect_error(good.substr(0, good.size() - 30), "truncated");
  // A filter type of 7 on the first row.
  TestPng bad = t;
  bad.filters = {0};
  std::string s = build_png(bad);
  {
    // Rebuild with a corrupted filter byte by hand.
    std::string stream;
    for (int y = 0; y < t.h; ++y) {
      stream.push_back(y == 0 ? 7 : 0);
      for (int x = 0; x < t.w * 3; ++x) stream.push_back(char(t.samples[size_t(y) * t.w * 3 + x]));
    }
    uLongf zl = compressBound(static_cast<uLong>(stream.size()));
    std::string z(zl, '\0');
    compress2(reinterpret_cast<Bytef*>(z.data()), &zl, reinterpret_cast<const Bytef*>(stream.data()),
              static_cast<uLong>(stream.size()), 6);
    z.resize(zl);
    std::string out("\x89PNG\r\n\x1a\n", 8);
    add_chunk(out, "IHDR", s.substr(16, 13));
    add_chunk(out, "IDAT", z);
    add_chunk(out, "IEND", "");
    expect_error(out, "filter type 7");
    std::string crit("\x89PNG\r\n\x1a\n", 8);
    add_chunk(crit, "IHDR", s.substr(16, 13));
    add_chunk(crit, "ZZZZ", "x");
    add_chunk(crit, "IDAT", z);
    add_chunk(crit, "IEND", "");
    expect_error(crit, "unknown critical chunk 'ZZZZ'");
  }
  {
    // A header claiming 10000x10000 RGB over a few compressed bytes: refused before a 300 MB
    // buffer is allocated.
    std::string ihdr;
    put32(ihdr, 10000);
    put32(ihdr, 10000);
    ihdr += std::string{8, 2, 0, 0, 0};
    const std::string tiny("\x78\x9c\x63\x00\x00\x00\x01\x00\x01", 9);  // zlib of one zero byte
    std::string big("\x89PNG\r\n\x1a\n", 8);
    add_chunk(big, "IHDR", ihdr);
    add_chunk(big, "IDAT", tiny);
    add_chunk(big, "IEND", "");
    expect_error(big, "9 compressed bytes cannot hold the 300010000 bytes a 10000x10000 image needs");
  }
  std::string ihdr_bad = good;
  ihdr_bad[24] = 3;  // bit depth 3
  // Fix the CRC so that the depth check, not the CRC check, fires.
  std::string td = ihdr_bad.substr(12, 17);
  uint32_t c = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(td.data()), 17));
  for (int k = 0; k < 4; ++k) ihdr_bad[29 + k] = char((c >> (24 - 8 * k)) & 255);
  expect_error(ihdr_bad, "bit depth 3");
}

// ------------------------------------------------------------------------------- encoding

TEST(PngEncode, RoundTripsEveryChannelCount) {
  for (int ch = 1; ch <= 4; ++ch)
    for (auto size : {std::pair{1, 1}, std::pair{17, 5}, std::pair{64, 48}}) {
      auto px = random_bytes(size_t(size.first) * size.second * ch, uint64_t(ch * 100 + size.first));
      std::string png = png_encode(px.data(), size.first, size.second, ch);
      auto img = png_decode(png, "roundtrip");
      ASSERT_EQ(img.channels, ch);
      ASSERT_EQ(img.depth, 8);
      ASSERT_EQ(img.s8, px);
    }
}

#if TOKENCLIP_HAVE_OPENCV
// libpng (through OpenCV) as the independent decoder of what we write, and as the writer of
// what we decode.
cv::Mat to_bgr(const std::vector<uint8_t>& rgb, int w, int h, int ch) {
  cv::Mat m(h, w, CV_8UC(ch));
  for (int i = 0; i < w * h; ++i)
    for (int c = 0; c < ch; ++c) m.data[i * ch + c] = rgb[size_t(i) * ch + (ch >= 3 && c < 3 ? 2 - c : c)];
  return m;
}

TEST(PngEncode, LibpngReadsWhatWeWrite) {
  for (int ch : {1, 3, 4}) {
    const int w = 37, h = 23;
    auto px = random_bytes(size_t(w) * h * ch, uint64_t(ch));
    std::string png = png_encode(px.data(), w, h, ch);
    std::vector<uchar> buf(png.begin(), png.end());
    cv::Mat m = cv::imdecode(buf, cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(m.empty());
    ASSERT_EQ(m.channels(), ch);
    cv::Mat expect = to_bgr(px, w, h, ch);
    cv::Mat diff = m != expect;
    EXPECT_EQ(cv::countNonZero(diff.reshape(1)), 0) << ch << " channels";
  }
}

TEST(PngDecode, MatchesLibpngOnWhatLibpngWrites) {
  const int w = 41, h = 29;
  for (int ch : {1, 3, 4})
    for (int depth : {8, 16})
      for (int level : {0, 1, 9}) {
        cv::Mat m(h, w, depth == 8 ? CV_8UC(ch) : CV_16UC(ch));
        tc::Rng rng(uint64_t(ch * 10 + depth + level), 2);
        for (int y = 0; y < h; ++y)
          for (int x = 0; x < w * ch; ++x) {
            const double v = (x + y * 3) % 200 + 40 * rng.uniform();
            if (depth == 8) m.ptr<uint8_t>(y)[x] = uint8_t(v);
            else m.ptr<uint16_t>(y)[x] = uint16_t(v * 251);
          }
        std::vector<uchar> buf;
        ASSERT_TRUE(cv::imencode(".png", m, buf, {cv::IMWRITE_PNG_COMPRESSION, level}));
        auto img = png_decode(std::string(buf.begin(), buf.end()), "libpng");
        ASSERT_EQ(img.channels, ch);
        ASSERT_EQ(img.depth, depth);
        for (int y = 0; y < h; ++y)
          for (int x = 0; x < w; ++x)
            for (int c = 0; c < ch; ++c) {
              const int cc = ch >= 3 && c < 3 ? 2 - c : c;  // BGR(A) -> RGB(A)
              const size_t i = (size_t(y) * w + x) * ch + c;
              if (depth == 8) ASSERT_EQ(img.s8[i], m.ptr<uint8_t>(y)[x * ch + cc]);
              else ASSERT_EQ(img.s16[i], m.ptr<uint16_t>(y)[x * ch + cc]);
            }
      }
  // libpng's 1-bit writer (bilevel).
  cv::Mat bw(7, 19, CV_8UC1);
  for (int i = 0; i < 7 * 19; ++i) bw.data[i] = (i * 7 % 5) < 2 ? 255 : 0;
  std::vector<uchar> buf;
  ASSERT_TRUE(cv::imencode(".png", bw, buf, {cv::IMWRITE_PNG_BILEVEL, 1}));
  auto img = png_decode(std::string(buf.begin(), buf.end()), "bilevel");
  ASSERT_EQ(img.channels, 1);
  for (int i = 0; i < 7 * 19; ++i) ASSERT_EQ(img.s8[size_t(i)], bw.data[i]) << i;
}
#endif

}  // namespace
