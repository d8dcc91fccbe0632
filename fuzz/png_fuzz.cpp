// libFuzzer target for the PNG decoder (src/data/png.cpp, zlib only). Any byte string must be
// refused with tc::Error or decode to a buffer of exactly width x height x channels samples of
// the reported depth; every sample is read (ASan flags reads outside the buffer), and a
// decoded image re-encoded at 8 bits must decode to the same samples.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <zlib.h>

#include "data/png.h"
#include "util/check.h"

namespace {

// Mutations inside a chunk almost always break its CRC, which would keep the fuzzer at the
// CRC check; so each input is also tried with every chunk's CRC recomputed.
std::string fix_crcs(std::string s) {
  size_t pos = 8;
  while (pos + 12 <= s.size()) {
    const auto* p = reinterpret_cast<const uint8_t*>(s.data()) + pos;
    const uint64_t len = (uint64_t(p[0]) << 24) | (uint64_t(p[1]) << 16) | (uint64_t(p[2]) << 8) | p[3];
    if (pos + 12 + len > s.size()) break;
    const uint32_t c = static_cast<uint32_t>(crc32(0L, p + 4, static_cast<uInt>(len + 4)));
    for (int k = 0; k < 4; ++k) s[pos + 8 + len + k] = static_cast<char>((c >> (24 - 8 * k)) & 255);
    pos += 12 + len;
  }
  return s;
}

void check_one(std::string_view bytes) {
  try {
    const auto img = tc::data::png_decode(bytes, "fuzz-input");
    const size_t n = size_t(img.width) * size_t(img.height) * size_t(img.channels);
    if (img.width <= 0 || img.height <= 0 || img.channels < 1 || img.channels > 4) std::abort();
    if (img.depth == 8 ? (img.s8.size() != n || !img.s16.empty()) : (img.depth != 16 || img.s16.size() != n))
      std::abort();
    unsigned sum = 0;
    for (auto v : img.s8) sum += v;
    for (auto v : img.s16) sum += v;
    volatile unsigned sink = sum;
    (void)sink;
    if (img.depth == 8 && n <= (1u << 16)) {  // keep single inputs cheap
      const std::string re = tc::data::png_encode(img.s8.data(), img.width, img.height, img.channels);
      const auto back = tc::data::png_decode(re, "re-encoded");
      if (back.s8 != img.s8 || back.channels != img.channels) std::abort();
    }
  } catch (const tc::Error&) {
    // refused with a clear error: the expected outcome for malformed input
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  check_one(in);
  check_one(fix_crcs(in));
  return 0;
}
