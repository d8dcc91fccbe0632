// Image decoding (our PNG codec; OpenCV for the other formats when the build has it) and a
// reimplementation of Pillow's resampling (libImaging/Resample.c as of Pillow 9-11, 8-bit
// path), so that our preprocessing equals the Python reference (torchvision Resize on a PIL
// image) bit for bit.
#include "data/image.h"

#if TOKENCLIP_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <streambuf>

#include "data/png.h"
#include "util/check.h"
#include "util/fs.h"

namespace tc::data {
namespace detail_image {

// ---------------------------------------------------------------------------- decoding

// 16-bit -> 8-bit: round(v / 257). 257 is odd, so v/257 is never exactly x.5 and the integer
// form (v + 128) / 257 equals round-half-anything.
inline uint8_t from16(uint16_t v) { return static_cast<uint8_t>((uint32_t(v) + 128) / 257); }

// Decoded samples of either depth; colour channels in RGB(A) order.
struct Decoded {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> s8;
  std::vector<uint16_t> s16;  // used instead of s8 for 16-bit files
  uint16_t raw(int y, int x, int c) const {
    const size_t i = (static_cast<size_t>(y) * width + x) * channels + c;
    return s16.empty() ? s8[i] : s16[i];
  }
  uint8_t at8(int y, int x, int c) const {
    const size_t i = (static_cast<size_t>(y) * width + x) * channels + c;
    return s16.empty() ? s8[i] : from16(s16[i]);
  }
};

// The format from the file's signature (not its name): a JPEG named .png still decodes, and a
// file that is no image at all is refused in our words before any decoder sees it.
enum class Format { Png, Jpeg, Bmp, Tiff, Unknown };

const char* format_name(Format f) {
  switch (f) {
    case Format::Png: return "PNG";
    case Format::Jpeg: return "JPEG";
    case Format::Bmp: return "BMP";
    case Format::Tiff: return "TIFF";
    case Format::Unknown: break;
  }
  return "unknown";
}

Format sniff(const std::string& b) {
  auto starts = [&](const char* sig, size_t n) { return b.size() >= n && std::memcmp(b.data(), sig, n) == 0; };
  if (is_png(b)) return Format::Png;
  if (starts("\xFF\xD8\xFF", 3)) return Format::Jpeg;
  if (starts("BM", 2)) return Format::Bmp;
  if (starts("II*\0", 4) || starts("MM\0*", 4) || starts("II+\0", 4) || starts("MM\0+", 4))
    return Format::Tiff;  // classic and BigTIFF, either byte order
  return Format::Unknown;
}

// "68 65 6c 6c 6f 2c 20 6e ('hello, n')": what the file starts with, for the message.
std::string describe_start(const std::string& b) {
  const size_t n = std::min<size_t>(b.size(), 8);
  std::string hex, text;
  bool printable = true;
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(b[i]);
    hex += fmt::format("{}{:02x}", i ? " " : "", c);
    printable = printable && c >= 0x20 && c < 0x7f;
    text += static_cast<char>(c);
  }
  return printable ? fmt::format("{} ('{}')", hex, text) : hex;
}

// A JPEG's entropy-coded data can only end with the EOI marker (FF D9): inside it every FF is
// followed by 00 or a restart marker. A file cut short has no EOI after its last start-of-scan,
// and libjpeg would fill the missing rows with grey and only warn.
std::string jpeg_defect(const std::string& b) {
  const size_t sos = b.rfind("\xFF\xDA");
  if (sos == std::string::npos) return "corrupt JPEG: no image data (no start-of-scan marker)";
  if (b.find("\xFF\xD9", sos + 2) == std::string::npos)
    return fmt::format("truncated JPEG: the file ends inside the image data after {} bytes (no end-of-image "
                       "marker)", b.size());
  return {};
}

#if TOKENCLIP_HAVE_OPENCV
// OpenCV's imdecode prints a decoder's exception text to std::cerr itself (e.g. "imdecode_(''):
// can't read header: ... bitstrm.cpp:102 ...") before returning an empty image; we report the
// failure in our own words, so that text is dropped while a decode runs. Nested and concurrent
// decodes (prep's threads) share one swap; nothing else here writes to std::cerr.
class MuteCerr {
 public:
  MuteCerr() {
    std::lock_guard<std::mutex> lock(mu());
    if (depth()++ == 0) saved() = std::cerr.rdbuf(&sink());
  }
  ~MuteCerr() {
    std::lock_guard<std::mutex> lock(mu());
    if (--depth() == 0) std::cerr.rdbuf(saved());
  }
  MuteCerr(const MuteCerr&) = delete;
  MuteCerr& operator=(const MuteCerr&) = delete;

 private:
  struct Sink : std::streambuf {  // stateless: safe to write from several threads
    int overflow(int c) override { return c == traits_type::eof() ? 0 : c; }
    std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
  };
  static std::mutex& mu() { static std::mutex m; return m; }
  static int& depth() { static int d = 0; return d; }
  static std::streambuf*& saved() { static std::streambuf* s = nullptr; return s; }
  static Sink& sink() { static Sink s; return s; }
};
#endif

Decoded decode(const std::string& path, const char* what) {
  std::error_code ec;
  TC_CHECK_INPUT(std::filesystem::exists(path, ec), "{} file '{}' does not exist", what, path);
  TC_CHECK_INPUT(!std::filesystem::is_directory(path, ec), "{} '{}' is a directory, not an image file", what, path);
  const std::string bytes = read_file(path);
  TC_CHECK_INPUT(!bytes.empty(), "cannot decode {} '{}': the file is empty (0 bytes)", what, path);
  const Format format = sniff(bytes);
  TC_CHECK_INPUT(format != Format::Unknown,
                 "cannot decode {} '{}': not a PNG, JPEG, BMP or TIFF file (it starts with {}; {} bytes)", what,
                 path, describe_start(bytes), bytes.size());
  Decoded d;
  if (format == Format::Png) {
    PngImage p = png_decode(bytes, fmt::format("cannot decode {} '{}'", what, path));
    d.width = p.width;
    d.height = p.height;
    d.channels = p.channels;
    d.s8 = std::move(p.s8);
    d.s16 = std::move(p.s16);
    return d;
  }
#if TOKENCLIP_HAVE_OPENCV
  if (format == Format::Jpeg) {
    const std::string defect = jpeg_defect(bytes);
    TC_CHECK_INPUT(defect.empty(), "cannot decode {} '{}': {}", what, path, defect);
  }
  cv::Mat m;
  try {
    MuteCerr mute;
    // A header over the bytes already read: no second copy of the file.
    const cv::Mat buf(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data()));
    m = cv::imdecode(buf, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception&) {
    m = cv::Mat();  // reported below in our words; OpenCV's text names its own source lines
  }
  TC_CHECK_INPUT(!m.empty(), "cannot decode {} '{}': corrupt, truncated or unsupported {} file ({} bytes)", what,
                 path, format_name(format), bytes.size());
  TC_CHECK_INPUT(m.depth() == CV_8U || m.depth() == CV_16U,
                 "{} '{}': unsupported sample type (expected 8- or 16-bit integer samples)", what,
                 path);
  TC_CHECK_INPUT(m.channels() >= 1 && m.channels() <= 4,
                 "{} '{}': {} channels (expected 1 to 4)", what, path, m.channels());
  d.width = m.cols;
  d.height = m.rows;
  d.channels = m.channels();
  const int ch = d.channels;
  // OpenCV orders colour BGR(A); swap to RGB(A) so both decoders agree.
  auto fill = [&](auto* out, auto tag) {
    using T = decltype(tag);
    for (int y = 0; y < m.rows; ++y) {
      const T* in = m.ptr<T>(y);
      T* o = out + static_cast<size_t>(y) * m.cols * ch;
      for (int x = 0; x < m.cols; ++x)
        for (int c = 0; c < ch; ++c)
          o[x * ch + c] = in[x * ch + (ch >= 3 && c < 3 ? 2 - c : c)];
    }
  };
  const size_t n = static_cast<size_t>(m.cols) * m.rows * ch;
  if (m.depth() == CV_8U) {
    d.s8.resize(n);
    fill(d.s8.data(), uint8_t{});
  } else {
    d.s16.resize(n);
    fill(d.s16.data(), uint16_t{});
  }
  return d;
#else
  TC_INPUT_ERROR("cannot decode {} '{}': a {} file, and this build has no decoder for formats other "
                 "than PNG (built with TOKENCLIP_OPENCV=OFF; rebuild with OpenCV for "
                 "JPEG/BMP/TIFF, or convert the file to PNG)",
                 what, path, format_name(format));
#endif
}

// ---------------------------------------------------------------------------- resampling

// Pillow keeps 22 fractional bits: 32-bit accumulators, 8 bits of result, 2 bits of headroom
// for kernels with negative lobes.
constexpr int kPrecisionBits = 32 - 8 - 2;

double bilinear_kernel(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

// Keys' cubic convolution with a = -0.5. Evaluated in exactly this Horner form: a different but
// algebraically equal order can change the last bit of a weight and, rarely, a fixed-point
// coefficient.
double bicubic_kernel(double x) {
  const double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Per output position: the first input index, how many inputs contribute, and their weights in
// fixed point (row `ksize` wide).
struct Taps {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;
};

Taps compute_taps(int in_size, int out_size, Filter filter) {
  const double support0 = filter == Filter::Bicubic ? 2.0 : 1.0;
  // Pillow computes the box extent in float (box = (0, 0, w, h)), then the scale in double.
  const float in0 = 0.0f, in1 = static_cast<float>(in_size);
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = std::max(scale, 1.0);  // downscaling widens the kernel (antialias)
  const double support = support0 * filterscale;
  const double inv = 1.0 / filterscale;

  Taps t;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(out_size);
  t.count.resize(out_size);
  t.weights.assign(static_cast<size_t>(out_size) * t.ksize, 0);
  std::vector<double> w(t.ksize);
  for (int o = 0; o < out_size; ++o) {
    const double center = in0 + (o + 0.5) * scale;
    // (int) truncates toward zero, as in Pillow; negative values are clamped right after.
    int lo = static_cast<int>(center - support + 0.5);
    int hi = static_cast<int>(center + support + 0.5);
    lo = std::max(lo, 0);
    hi = std::min(hi, in_size);
    const int n = hi - lo;
    double sum = 0.0;
    for (int i = 0; i < n; ++i) {
      const double arg = (i + lo - center + 0.5) * inv;
      w[i] = filter == Filter::Bicubic ? bicubic_kernel(arg) : bilinear_kernel(arg);
      sum += w[i];
    }
    int32_t* k = &t.weights[static_cast<size_t>(o) * t.ksize];
    for (int i = 0; i < n; ++i) {
      const double v = sum != 0.0 ? w[i] / sum : w[i];
      // Round half away from zero, then truncate (Pillow's normalize_coeffs_8bpc).
      const double f = v * (1 << kPrecisionBits);
      k[i] = static_cast<int32_t>(v < 0 ? -0.5 + f : 0.5 + f);
    }
    t.first[o] = lo;
    t.count[o] = n;
  }
  return t;
}

// Accumulator -> 8 bits: start from one half (rounding), arithmetic shift, clamp.
inline uint8_t clip_acc(int32_t acc) {
  int32_t v = acc >> kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Horizontal pass over source rows [row0, row0 + rows) into an 8-bit intermediate. Integer
// sums are exact, so the loop order is free: RGB gets its three accumulators side by side.
void resample_rows(const uint8_t* src, int in_w, int ch, int row0, int rows, const Taps& t,
                   int out_w, uint8_t* dst) {
  const int32_t half = 1 << (kPrecisionBits - 1);
  for (int y = 0; y < rows; ++y) {
    const uint8_t* in = src + static_cast<size_t>(row0 + y) * in_w * ch;
    uint8_t* out = dst + static_cast<size_t>(y) * out_w * ch;
    for (int x = 0; x < out_w; ++x) {
      const int32_t* k = &t.weights[static_cast<size_t>(x) * t.ksize];
      const uint8_t* p = in + static_cast<size_t>(t.first[x]) * ch;
      const int n = t.count[x];
      if (ch == 3) {
        int32_t a0 = half, a1 = half, a2 = half;
        for (int i = 0; i < n; ++i) {
          a0 += int32_t(p[3 * i]) * k[i];
          a1 += int32_t(p[3 * i + 1]) * k[i];
          a2 += int32_t(p[3 * i + 2]) * k[i];
        }
        out[3 * x] = clip_acc(a0);
        out[3 * x + 1] = clip_acc(a1);
        out[3 * x + 2] = clip_acc(a2);
        continue;
      }
      for (int c = 0; c < ch; ++c) {
        int32_t acc = half;
        for (int i = 0; i < n; ++i) acc += int32_t(p[i * ch + c]) * k[i];
        out[x * ch + c] = clip_acc(acc);
      }
    }
  }
}

// Vertical pass; `row_shift` maps a source row index to a row of `src`. Accumulates whole
// rows (contiguous, vectorisable) tap by tap.
void resample_cols(const uint8_t* src, int w, int ch, int row_shift, const Taps& t, int out_h,
                   uint8_t* dst) {
  const size_t stride = static_cast<size_t>(w) * ch;
  std::vector<int32_t> acc(stride);
  for (int y = 0; y < out_h; ++y) {
    const int32_t* k = &t.weights[static_cast<size_t>(y) * t.ksize];
    const uint8_t* base = src + static_cast<size_t>(t.first[y] - row_shift) * stride;
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    for (int i = 0; i < t.count[y]; ++i) {
      const uint8_t* row = base + static_cast<size_t>(i) * stride;
      const int32_t ki = k[i];
      for (size_t j = 0; j < stride; ++j) acc[j] += int32_t(row[j]) * ki;
    }
    uint8_t* out = dst + static_cast<size_t>(y) * stride;
    for (size_t j = 0; j < stride; ++j) out[j] = clip_acc(acc[j]);
  }
}

}  // namespace detail_image

namespace di = detail_image;

Image load_rgb(const std::string& path) {
  const di::Decoded m = di::decode(path, "image");
  Image img;
  img.width = m.width;
  img.height = m.height;
  img.channels = 3;
  img.pixels.resize(static_cast<size_t>(m.width) * m.height * 3);
  const bool gray = m.channels <= 2;  // gray (+ alpha): replicate; alpha is dropped
  for (int y = 0; y < m.height; ++y) {
    uint8_t* out = &img.pixels[static_cast<size_t>(y) * m.width * 3];
    for (int x = 0; x < m.width; ++x)
      for (int c = 0; c < 3; ++c) out[3 * x + c] = m.at8(y, x, gray ? 0 : c);
  }
  return img;
}

Image load_gray(const std::string& path) {
  const di::Decoded m = di::decode(path, "mask");
  Image img;
  img.width = m.width;
  img.height = m.height;
  img.channels = 1;
  img.pixels.resize(static_cast<size_t>(m.width) * m.height);
  // Gray(+alpha): the gray channel. Colour(+alpha): max over the colour channels, so a
  // non-zero value in any of them counts as foreground.
  const int colour = m.channels <= 2 ? 1 : 3;
  for (int y = 0; y < m.height; ++y)
    for (int x = 0; x < m.width; ++x) {
      uint8_t v = 0;
      for (int c = 0; c < colour; ++c) v = std::max(v, m.at8(y, x, c));
      img.pixels[static_cast<size_t>(y) * m.width + x] = v;
    }
  return img;
}

bool image_any_nonzero(const std::string& path) {
  const di::Decoded m = di::decode(path, "label image");
  for (int y = 0; y < m.height; ++y)
    for (int x = 0; x < m.width; ++x)
      for (int c = 0; c < m.channels; ++c)
        if (m.raw(y, x, c) != 0) return true;
  return false;
}

Image resize_pillow(const Image& src, int out_w, int out_h, Filter filter) {
  TC_CHECK(src.width > 0 && src.height > 0 && out_w > 0 && out_h > 0,
           "resize of a {}x{} image to {}x{}", src.width, src.height, out_w, out_h);
  TC_CHECK(src.channels >= 1 && src.channels <= 4, "resize: {} channels", src.channels);
  TC_CHECK_EQ(src.pixels.size(), static_cast<size_t>(src.width) * src.height * src.channels,
              "resize: pixel buffer size");
  const int ch = src.channels;
  const bool need_h = out_w != src.width, need_v = out_h != src.height;
  if (!need_h && !need_v) return src;

  Image out;
  out.width = out_w;
  out.height = out_h;
  out.channels = ch;

  di::Taps vt = di::compute_taps(src.height, out_h, filter);
  const uint8_t* cur = src.pixels.data();
  int cur_w = src.width, row_shift = 0;
  std::vector<uint8_t> tmp;
  if (need_h) {
    // Only the source rows the vertical pass will read, stored as 8-bit like Pillow does.
    const int first = vt.first[0];
    const int last = vt.first[out_h - 1] + vt.count[out_h - 1];
    const int rows = need_v ? last - first : src.height;
    const int row0 = need_v ? first : 0;
    di::Taps ht = di::compute_taps(src.width, out_w, filter);
    tmp.resize(static_cast<size_t>(rows) * out_w * ch);
    di::resample_rows(src.pixels.data(), src.width, ch, row0, rows, ht, out_w, tmp.data());
    if (!need_v) {
      out.pixels = std::move(tmp);
      return out;
    }
    cur = tmp.data();
    cur_w = out_w;
    row_shift = row0;
  }
  out.pixels.resize(static_cast<size_t>(out_w) * out_h * ch);
  di::resample_cols(cur, cur_w, ch, row_shift, vt, out_h, out.pixels.data());
  return out;
}

Image prepare_image(const Image& rgb, int size) {
  TC_CHECK_EQ(rgb.channels, 3, "prepare_image expects RGB");
  return resize_pillow(rgb, size, size, Filter::Bicubic);
}

std::vector<uint8_t> prepare_mask(const Image& gray, int size, int threshold) {
  TC_CHECK_EQ(gray.channels, 1, "prepare_mask expects one channel");
  Image bin = gray;
  for (auto& v : bin.pixels) v = v > threshold ? 255 : 0;
  Image r = resize_pillow(bin, size, size, Filter::Bilinear);
  // v / 255 > 0.5  <=>  v >= 128
  std::vector<uint8_t> out(r.pixels.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = r.pixels[i] >= 128 ? 1 : 0;
  return out;
}

void save_png(const std::string& path, const Image& img) {
  TC_CHECK(img.channels == 1 || img.channels == 3, "save_png: {} channels", img.channels);
  TC_CHECK_EQ(img.pixels.size(), static_cast<size_t>(img.width) * img.height * img.channels,
              "save_png: pixel buffer size");
  write_file_atomic(path, png_encode(img.pixels.data(), img.width, img.height, img.channels));
}

}  // namespace tc::data
