#include "data/png.h"

#include <zlib.h>

#include <array>
#include <cstdlib>
#include <cstring>

#include "util/check.h"

namespace tc::data {
namespace detail_png {

constexpr uint8_t kSignature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
// Upper bound on decoded pixels: a corrupt or hostile header must not make us allocate
// gigabytes. 2^28 pixels is far above any benchmark image (the largest are ~24 Mpixel).
constexpr uint64_t kMaxPixels = uint64_t(1) << 28;

inline uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

inline void put_be32(std::string& s, uint32_t v) {
  s.push_back(static_cast<char>(v >> 24));
  s.push_back(static_cast<char>(v >> 16));
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v));
}

inline int paeth(int a, int b, int c) {
  const int p = a + b - c;
  const int pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

// Undoes one row's filter in place; `prev` is the previous reconstructed row of the same pass
// (nullptr for the first row: the specification treats it as zeros).
void unfilter(int type, uint8_t* row, const uint8_t* prev, size_t len, size_t bpp,
              const std::string& what, int pass, int y) {
  switch (type) {
    case 0:
      return;
    case 1:
      for (size_t i = bpp; i < len; ++i) row[i] = uint8_t(row[i] + row[i - bpp]);
      return;
    case 2:
      if (prev)
        for (size_t i = 0; i < len; ++i) row[i] = uint8_t(row[i] + prev[i]);
      return;
    case 3:
      for (size_t i = 0; i < len; ++i) {
        const int a = i >= bpp ? row[i - bpp] : 0, b = prev ? prev[i] : 0;
        row[i] = uint8_t(row[i] + ((a + b) >> 1));
      }
      return;
    case 4:
      for (size_t i = 0; i < len; ++i) {
        const int a = i >= bpp ? row[i - bpp] : 0, b = prev ? prev[i] : 0;
        const int c = (prev && i >= bpp) ? prev[i - bpp] : 0;
        row[i] = uint8_t(row[i] + paeth(a, b, c));
      }
      return;
    default:
      TC_INPUT_ERROR("{}: corrupt PNG: row {} of pass {} has filter type {} (expected 0 to 4)",
                     what, y, pass, type);
  }
}

struct Header {
  uint32_t width = 0, height = 0;
  int depth = 0, color = 0, interlace = 0;
  int src_channels() const {
    switch (color) {
      case 0: return 1;
      case 2: return 3;
      case 3: return 1;
      case 4: return 2;
      default: return 4;
    }
  }
};

Header parse_ihdr(const uint8_t* d, uint32_t len, const std::string& what) {
  TC_CHECK_INPUT(len == 13, "{}: corrupt PNG: IHDR has {} bytes (expected 13)", what, len);
  Header h;
  h.width = be32(d);
  h.height = be32(d + 4);
  h.depth = d[8];
  h.color = d[9];
  h.interlace = d[12];
  TC_CHECK_INPUT(h.width > 0 && h.height > 0 && h.width < (1u << 31) && h.height < (1u << 31),
                 "{}: corrupt PNG: size {}x{} (expected 1 to 2^31-1 each)", what, h.width,
                 h.height);
  TC_CHECK_INPUT(uint64_t(h.width) * h.height <= kMaxPixels,
                 "{}: PNG of {}x{} pixels is larger than the {} Mpixel limit", what, h.width,
                 h.height, kMaxPixels >> 20);
  bool ok = false;
  switch (h.color) {
    case 0: ok = h.depth == 1 || h.depth == 2 || h.depth == 4 || h.depth == 8 || h.depth == 16; break;
    case 3: ok = h.depth == 1 || h.depth == 2 || h.depth == 4 || h.depth == 8; break;
    case 2: case 4: case 6: ok = h.depth == 8 || h.depth == 16; break;
    default: TC_INPUT_ERROR("{}: corrupt PNG: colour type {} (expected 0, 2, 3, 4 or 6)", what, h.color);
  }
  TC_CHECK_INPUT(ok, "{}: corrupt PNG: bit depth {} is not allowed for colour type {}", what,
                 h.depth, h.color);
  TC_CHECK_INPUT(d[10] == 0 && d[11] == 0,
                 "{}: corrupt PNG: compression method {} / filter method {} (expected 0 / 0)",
                 what, d[10], d[11]);
  TC_CHECK_INPUT(h.interlace <= 1, "{}: corrupt PNG: interlace method {} (expected 0 or 1)",
                 what, h.interlace);
  return h;
}

// Adam7 passes: x0, y0, dx, dy. A non-interlaced image is one pass (0, 0, 1, 1).
struct Pass {
  int x0, y0, dx, dy;
};
constexpr Pass kAdam7[7] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                            {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};

inline uint64_t pass_extent(uint32_t size, int start, int step) {
  return size > uint32_t(start) ? (uint64_t(size) - start + step - 1) / step : 0;
}

std::vector<uint8_t> inflate_all(const std::string& z, size_t expected, const std::string& what) {
  std::vector<uint8_t> out(expected);
  z_stream s{};
  TC_CHECK(inflateInit(&s) == Z_OK, "zlib inflateInit failed");
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(z.data()));
  s.avail_in = static_cast<uInt>(z.size());
  s.next_out = out.data();
  s.avail_out = static_cast<uInt>(expected);
  const int rc = inflate(&s, Z_FINISH);
  const std::string msg = s.msg ? s.msg : "";
  const size_t got = expected - s.avail_out;
  inflateEnd(&s);
  // Z_BUF_ERROR with a full output buffer only means trailing data, which readers tolerate.
  if (rc == Z_STREAM_END || (rc == Z_BUF_ERROR && got == expected)) return out;
  TC_CHECK_INPUT(rc != Z_DATA_ERROR && rc != Z_NEED_DICT,
                 "{}: corrupt PNG: compressed image data is invalid ({})", what, msg);
  TC_INPUT_ERROR("{}: truncated PNG: image data ends after {} of {} bytes", what, got, expected);
}

}  // namespace detail_png

namespace dp = detail_png;

bool is_png(std::string_view bytes) {
  return bytes.size() >= 8 && std::memcmp(bytes.data(), dp::kSignature, 8) == 0;
}

PngImage png_decode(std::string_view bytes, const std::string& what) {
  TC_CHECK_INPUT(is_png(bytes), "{}: not a PNG file (signature missing)", what);
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  size_t pos = 8;
  dp::Header h;
  bool have_ihdr = false, have_iend = false;
  std::string idat;
  std::vector<std::array<uint8_t, 4>> palette;  // RGBA
  bool palette_alpha = false;
  while (!have_iend) {
    TC_CHECK_INPUT(pos + 8 <= bytes.size(), "{}: truncated PNG: file ends before IEND", what);
    const uint32_t len = dp::be32(p + pos);
    const std::string type(reinterpret_cast<const char*>(p + pos + 4), 4);
    TC_CHECK_INPUT(len < (1u << 31) && pos + 12 + uint64_t(len) <= bytes.size(),
                   "{}: truncated PNG: chunk '{}' claims {} bytes, the file ends sooner", what,
                   type, len);
    const uint8_t* d = p + pos + 8;
    const uint32_t crc_stored = dp::be32(d + len);
    const uint32_t crc = static_cast<uint32_t>(crc32(crc32(0L, p + pos + 4, 4), d, len));
    TC_CHECK_INPUT(crc == crc_stored, "{}: corrupt PNG: CRC mismatch in chunk '{}'", what, type);
    pos += 12 + size_t(len);
    if (!have_ihdr) {
      TC_CHECK_INPUT(type == "IHDR", "{}: corrupt PNG: first chunk is '{}' (expected IHDR)",
                     what, type);
      h = dp::parse_ihdr(d, len, what);
      have_ihdr = true;
    } else if (type == "IDAT") {
      idat.append(reinterpret_cast<const char*>(d), len);
    } else if (type == "PLTE") {
      TC_CHECK_INPUT(len % 3 == 0 && len > 0 && len <= 768,
                     "{}: corrupt PNG: PLTE has {} bytes (expected 3 to 768, a multiple of 3)",
                     what, len);
      palette.resize(len / 3);
      for (uint32_t i = 0; i < len / 3; ++i) palette[i] = {d[3 * i], d[3 * i + 1], d[3 * i + 2], 255};
    } else if (type == "tRNS") {
      // Only palette transparency becomes a channel; a gray/RGB colour key is ignored, since
      // every consumer here drops alpha anyway.
      if (h.color == 3) {
        for (uint32_t i = 0; i < len && i < palette.size(); ++i) palette[i][3] = d[i];
        palette_alpha = len > 0;
      }
    } else if (type == "IEND") {
      have_iend = true;
    } else {
      // Unknown chunks: ancillary ones (lower-case first letter) are skipped; a critical one
      // we don't know means we cannot decode the image correctly.
      TC_CHECK_INPUT((type[0] & 0x20) != 0,
                     "{}: PNG uses an unknown critical chunk '{}'", what, type);
    }
  }
  TC_CHECK_INPUT(!idat.empty(), "{}: corrupt PNG: no IDAT chunk (no image data)", what);
  TC_CHECK_INPUT(h.color != 3 || !palette.empty(),
                 "{}: corrupt PNG: palette image without a PLTE chunk", what);

  const int sch = h.src_channels();
  const int bits = sch * h.depth;  // bits per pixel in the stream
  const size_t bpp = std::max(1, bits / 8);
  const int npass = h.interlace ? 7 : 1;
  const dp::Pass whole{0, 0, 1, 1};
  size_t expected = 0;
  for (int k = 0; k < npass; ++k) {
    const dp::Pass& ps = h.interlace ? dp::kAdam7[k] : whole;
    const uint64_t pw = dp::pass_extent(h.width, ps.x0, ps.dx), ph = dp::pass_extent(h.height, ps.y0, ps.dy);
    if (pw && ph) expected += ph * (1 + (pw * bits + 7) / 8);
  }
  // Deflate expands at most ~1032:1, so a header claiming more data than the compressed
  // stream can hold is refused before anything of that size is allocated.
  TC_CHECK_INPUT(expected <= idat.size() * 1032 + 1024,
                 "{}: truncated PNG: {} compressed bytes cannot hold the {} bytes a {}x{} image needs",
                 what, idat.size(), expected, h.width, h.height);
  std::vector<uint8_t> raw = dp::inflate_all(idat, expected, what);

  PngImage img;
  img.width = static_cast<int>(h.width);
  img.height = static_cast<int>(h.height);
  img.depth = h.depth == 16 ? 16 : 8;
  img.channels = h.color == 3 ? (palette_alpha ? 4 : 3) : sch;
  const size_t n = size_t(h.width) * h.height * img.channels;
  if (img.depth == 16) img.s16.resize(n); else img.s8.resize(n);
  const int oc = img.channels;
  const int maxv = (1 << h.depth) - 1;

  size_t off = 0;
  for (int k = 0; k < npass; ++k) {
    const dp::Pass& ps = h.interlace ? dp::kAdam7[k] : whole;
    const uint64_t pw = dp::pass_extent(h.width, ps.x0, ps.dx), ph = dp::pass_extent(h.height, ps.y0, ps.dy);
    if (!pw || !ph) continue;
    const size_t rowbytes = (pw * bits + 7) / 8;
    const uint8_t* prev = nullptr;
    for (uint64_t j = 0; j < ph; ++j) {
      uint8_t* row = raw.data() + off + 1;
      dp::unfilter(raw[off], row, prev, rowbytes, bpp, what, k + 1, static_cast<int>(j));
      prev = row;
      off += 1 + rowbytes;
      const size_t y = ps.y0 + j * ps.dy;
      for (uint64_t i = 0; i < pw; ++i) {
        const size_t o = (y * h.width + ps.x0 + i * ps.dx) * oc;
        if (h.depth == 16) {
          for (int c = 0; c < sch; ++c) {
            const uint8_t* s = row + (i * sch + c) * 2;
            img.s16[o + c] = static_cast<uint16_t>((s[0] << 8) | s[1]);
          }
          continue;
        }
        int v0;  // the first (or only) sample
        if (h.depth == 8) {
          v0 = row[i * sch];
        } else {  // 1/2/4-bit: packed from the most significant bit
          const size_t bit = i * h.depth;
          v0 = (row[bit / 8] >> (8 - h.depth - bit % 8)) & maxv;
        }
        if (h.color == 3) {
          static const std::array<uint8_t, 4> kBlack{0, 0, 0, 255};  // out-of-range index
          const auto& e = size_t(v0) < palette.size() ? palette[v0] : kBlack;
          for (int c = 0; c < oc; ++c) img.s8[o + c] = e[c];
        } else if (h.depth < 8) {
          img.s8[o] = static_cast<uint8_t>(v0 * 255 / maxv);
        } else {
          for (int c = 0; c < sch; ++c) img.s8[o + c] = row[i * sch + c];
        }
      }
    }
  }
  return img;
}

std::string png_encode(const uint8_t* px, int w, int h, int ch, int level) {
  TC_CHECK(w > 0 && h > 0 && ch >= 1 && ch <= 4, "png_encode: {}x{} with {} channels", w, h, ch);
  static constexpr uint8_t kColour[5] = {0, 0, 4, 2, 6};
  const size_t rowbytes = size_t(w) * ch, bpp = size_t(ch);
  std::vector<uint8_t> filtered((rowbytes + 1) * h);
  std::vector<uint8_t> cand[5];
  for (auto& c : cand) c.resize(rowbytes);
  for (int y = 0; y < h; ++y) {
    const uint8_t* cur = px + y * rowbytes;
    const uint8_t* prev = y ? cur - rowbytes : nullptr;
    int best = 0;
    uint64_t best_cost = UINT64_MAX;
    for (int f = 0; f < 5; ++f) {
      if (!prev && (f == 2 || f == 4)) continue;  // on the first row these equal None and Sub
      uint8_t* o = cand[f].data();
      // One tight loop per filter type (a per-byte switch costs ~3x the whole encode).
      switch (f) {
        case 0: std::memcpy(o, cur, rowbytes); break;
        case 1:
          for (size_t i = 0; i < rowbytes; ++i) o[i] = uint8_t(cur[i] - (i >= bpp ? cur[i - bpp] : 0));
          break;
        case 2:
          for (size_t i = 0; i < rowbytes; ++i) o[i] = uint8_t(cur[i] - prev[i]);
          break;
        case 3:
          for (size_t i = 0; i < rowbytes; ++i)
            o[i] = uint8_t(cur[i] - (((i >= bpp ? cur[i - bpp] : 0) + (prev ? prev[i] : 0)) >> 1));
          break;
        default:
          for (size_t i = 0; i < bpp; ++i) o[i] = uint8_t(cur[i] - prev[i]);  // paeth(0, b, 0) = b
          for (size_t i = bpp; i < rowbytes; ++i)
            o[i] = uint8_t(cur[i] - dp::paeth(cur[i - bpp], prev[i], prev[i - bpp]));
      }
      uint64_t cost = 0;  // bytes read as signed: small residuals are cheap to compress
      for (size_t i = 0; i < rowbytes; ++i) cost += uint64_t(std::abs(int(int8_t(o[i]))));
      if (cost < best_cost) best_cost = cost, best = f;
    }
    uint8_t* dst = filtered.data() + y * (rowbytes + 1);
    dst[0] = uint8_t(best);
    std::memcpy(dst + 1, cand[best].data(), rowbytes);
  }
  // Run-length matching only (Z_RLE), as libpng writers commonly default to: on filtered
  // image rows it compresses within a few percent of full matching at a fraction of the time.
  z_stream zs{};
  TC_CHECK(deflateInit2(&zs, level, Z_DEFLATED, 15, 8, Z_RLE) == Z_OK, "png_encode: zlib deflateInit2 failed");
  std::string z(deflateBound(&zs, static_cast<uLong>(filtered.size())), '\0');
  zs.next_in = filtered.data();
  zs.avail_in = static_cast<uInt>(filtered.size());
  zs.next_out = reinterpret_cast<Bytef*>(z.data());
  zs.avail_out = static_cast<uInt>(z.size());
  const int zrc = deflate(&zs, Z_FINISH);
  z.resize(zs.total_out);
  deflateEnd(&zs);
  TC_CHECK(zrc == Z_STREAM_END, "png_encode: zlib compression of {} bytes failed ({})", filtered.size(), zrc);

  std::string out(reinterpret_cast<const char*>(dp::kSignature), 8);
  auto chunk = [&out](const char* type, const std::string& data) {
    dp::put_be32(out, static_cast<uint32_t>(data.size()));
    const size_t start = out.size();
    out.append(type, 4);
    out += data;
    dp::put_be32(out, static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(out.data() + start),
                                                   static_cast<uInt>(out.size() - start))));
  };
  std::string ihdr;
  dp::put_be32(ihdr, static_cast<uint32_t>(w));
  dp::put_be32(ihdr, static_cast<uint32_t>(h));
  ihdr += std::string{char(8), char(kColour[ch]), 0, 0, 0};
  chunk("IHDR", ihdr);
  chunk("IDAT", z);
  chunk("IEND", "");
  return out;
}

}  // namespace tc::data
