// PNG codec cost: our zlib-only decoder/encoder (data/png.h) next to libpng through OpenCV
// (when the build has it), on 1024x1024 RGB and 512x512 gray content that compresses like a
// photograph. Prints the median of 7 runs in thread CPU time (wall time on a shared machine
// measures the neighbours); never asserts times.
//   bench_png
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#if TOKENCLIP_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#endif

#include "data/png.h"
#include "util/rng.h"

namespace {

double png_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

double png_median_ms(const std::function<void()>& f) {
  std::vector<double> t;
  for (int r = 0; r < 7; ++r) {
    const double c0 = png_cpu_s();
    f();
    t.push_back(1e3 * (png_cpu_s() - c0));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

std::vector<uint8_t> png_bench_pixels(int w, int h, int ch) {
  tc::Rng rng(7, 0);
  std::vector<uint8_t> px(size_t(w) * h * ch);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < ch; ++c) {
        const double v = 128 + 90 * std::sin(0.013 * x * (c + 1) + 0.021 * y) + 8 * (rng.uniform() - 0.5);
        px[(size_t(y) * w + x) * ch + c] = uint8_t(std::clamp(v, 0.0, 255.0));
      }
  return px;
}

void png_bench_case(int w, int h, int ch) {
  const auto px = png_bench_pixels(w, h, ch);
  std::string ours;
  const double enc = png_median_ms([&] { ours = tc::data::png_encode(px.data(), w, h, ch); });
  const double dec = png_median_ms([&] { (void)tc::data::png_decode(ours, "bench"); });
  std::printf("%4dx%-4d %s  ours: encode %7.1f ms (%6.2f MB), decode %6.1f ms\n", w, h,
              ch == 3 ? "RGB " : "gray", enc, double(ours.size()) / 1e6, dec);
#if TOKENCLIP_HAVE_OPENCV
  cv::Mat m(h, w, ch == 3 ? CV_8UC3 : CV_8UC1, const_cast<uint8_t*>(px.data()));
  std::vector<uchar> theirs;
  const double cenc = png_median_ms([&] { cv::imencode(".png", m, theirs); });
  std::vector<uchar> buf(ours.begin(), ours.end());
  const double cdec = png_median_ms([&] { (void)cv::imdecode(buf, cv::IMREAD_UNCHANGED); });
  std::printf("%4dx%-4d %s  libpng (OpenCV): encode %7.1f ms (%6.2f MB), decode %6.1f ms (our file)\n", w, h,
              ch == 3 ? "RGB " : "gray", cenc, double(theirs.size()) / 1e6, cdec);
#endif
}

}  // namespace

int main() {
  std::printf("bench_png: one thread, %u hardware threads on this machine; medians of 7 runs, "
              "thread CPU time\n", std::thread::hardware_concurrency());
  png_bench_case(1024, 1024, 3);
  png_bench_case(512, 512, 1);
  return 0;
}
