// Image decoding and Pillow-exact resampling.
//
// Resizing reimplements Pillow's algorithm (separable convolution; bicubic a = -0.5 for
// images, bilinear for masks; support stretched by the scale factor when downscaling, i.e.
// antialiased; 8-bit fixed-point coefficients and Pillow's rounding), so that inputs match the
// Python reference preprocessing to within 1 intensity level (tests/python checks this).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tc::data {

// An 8-bit image, row-major, interleaved channels (1 or 3).
struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;
};

// Decodes PNG (own codec, data/png.h) or JPEG/BMP/TIFF (OpenCV; builds without OpenCV refuse
// them with a clear error) into 8-bit RGB: grayscale replicated, alpha dropped, 16-bit scaled
// by 1/257 (rounded). Input error naming the file when unreadable or corrupt.
Image load_rgb(const std::string& path);
// Decodes a mask into one 8-bit channel (16-bit scaled by 1/257; colour masks: max over
// channels, so a non-zero pixel in any channel counts).
Image load_gray(const std::string& path);
// True when any sample of the file (any channel, full bit depth) is non-zero: label images
// that mark a defect by any non-zero value.
bool image_any_nonzero(const std::string& path);

enum class Filter { Bilinear, Bicubic };
// Pillow's Image.resize((w, h), filter) for 8-bit images of 1 or 3 channels.
Image resize_pillow(const Image& src, int out_w, int out_h, Filter filter);

// The preprocessing of METHOD.md section 1: RGB resized (bicubic) to S x S.
Image prepare_image(const Image& rgb, int size);
// Mask: binarise (> threshold), scale to 0/255, Pillow bilinear to S x S, then / 255 > 0.5.
// Returns S*S values 0/1.
std::vector<uint8_t> prepare_mask(const Image& gray, int size, int threshold);

// PNG writing for pictures (atomic); RGB or gray.
void save_png(const std::string& path, const Image& img);

}  // namespace tc::data
