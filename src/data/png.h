// PNG decoding and encoding on zlib alone.
//
// Own codec so that the common case (PNG datasets, every picture we write) needs no image
// library: a build without OpenCV (TOKENCLIP_OPENCV=OFF, e.g. launch/gpu_check.sh) still reads
// PNG data and writes PNG outputs. Decoding follows the PNG specification (ISO/IEC 15948):
// every colour type and bit depth, palettes, Adam7 interlacing, CRC-checked chunks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tc::data {

// Decoded samples, row-major, channels interleaved in PNG order: gray, gray+alpha, RGB, RGBA.
// Palettes are expanded to RGB (RGBA when the palette has transparency); 1/2/4-bit gray is
// scaled to 8 bits (v * 255 / (2^depth - 1)), as libpng and Pillow do. 16-bit files keep their
// 16-bit samples in `s16` (host order); 8-bit ones use `s8`.
struct PngImage {
  int width = 0, height = 0, channels = 0, depth = 0;  // depth: 8 or 16
  std::vector<uint8_t> s8;
  std::vector<uint16_t> s16;
};

// True when the bytes start with the PNG signature.
bool is_png(std::string_view bytes);

// Decodes a whole PNG file held in memory. Throws an input error that names `what` (usually
// the file name) and the defect (bad signature, CRC mismatch in chunk X, truncated data, ...).
PngImage png_decode(std::string_view bytes, const std::string& what);

// Encodes 8-bit gray (1), gray+alpha (2), RGB (3) or RGBA (4) pixels, row-major interleaved.
// Each row gets the filter with the smallest sum of absolute values (the usual heuristic).
std::string png_encode(const uint8_t* pixels, int width, int height, int channels,
                       int zlib_level = 1);

}  // namespace tc::data
