// Data-path throughput: images/s read from a dataset file (HDF5 gzip chunk per image),
// assembled into a uint8 batch and normalised to CLIP's float input, at S = 518 and 224; and
// the per-image cost of `prep`'s core (decode a 1024x1024 PNG, Pillow bicubic to 518, append).
// Prints medians of 5 runs; never asserts times.
//   bench_data_read [N images, default 64] [work dir, default /tmp]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "data/batch.h"
#include "data/dataset.h"
#include "data/image.h"
#include "util/rng.h"

namespace {

using Clock = std::chrono::steady_clock;

// CPU time of this thread: on a shared, oversubscribed machine wall time mostly measures the
// neighbours, so both are printed.
double bench_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

double bench_median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Smooth content plus mild noise: compresses roughly like a photograph, unlike pure noise.
std::vector<uint8_t> bench_pixels(int w, int h, uint64_t seed) {
  tc::Rng rng(seed, 0);
  std::vector<uint8_t> px(size_t(w) * h * 3);
  const double fx = 0.01 + 0.02 * rng.uniform(), fy = 0.01 + 0.02 * rng.uniform();
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        double v = 128 + 90 * std::sin(fx * x * (c + 1) + fy * y) + 8 * (rng.uniform() - 0.5);
        px[(size_t(y) * w + x) * 3 + c] = uint8_t(std::clamp(v, 0.0, 255.0));
      }
  return px;
}

std::string bench_write_dataset(const std::string& dir, int S, int n) {
  std::string path = dir + "/bench_data_read_" + std::to_string(S) + ".h5";
  tc::data::DatasetMeta m;
  m.name = "bench";
  m.domain = "synthetic";
  m.image_size = S;
  m.class_names = {"a"};
  m.layout = "bench";
  m.mask_rule = "none";
  tc::data::DatasetWriter w(path, m);
  for (int i = 0; i < n; ++i) {
    tc::data::Sample s;
    s.image = bench_pixels(S, S, uint64_t(i));
    s.label = uint8_t(i % 2);
    s.has_mask = 1;
    s.mask.assign(size_t(S) * S, 0);
    if (s.label)
      for (int y = S / 4; y < S / 2; ++y)
        for (int x = S / 4; x < S / 2; ++x) s.mask[size_t(y) * S + x] = 1;
    s.defect = s.label ? "d" : "good";
    s.source_path = std::to_string(i);
    w.append(s);
  }
  w.finish();
  return path;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 64;
  const std::string dir = argc > 2 ? argv[2] : "/tmp";
  const int batch = 8, runs = 5;
  std::printf("bench_data_read: %d images, batch %d, median of %d runs; %u hardware threads, "
              "torch threads %d\n", n, batch, runs, std::thread::hardware_concurrency(),
              at::get_num_threads());

  for (int S : {518, 224}) {
    std::string path = bench_write_dataset(dir, S, n);
    tc::data::DatasetReader r(path);
    std::vector<int64_t> order = tc::permutation(n, 1, 0);  // random access, as in training
    std::vector<double> read_rate, full_rate, cpu_rate;
    for (int run = 0; run < runs; ++run) {
      double t_read = 0, t_full = 0, c0 = bench_cpu_s();
      for (int b0 = 0; b0 < n; b0 += batch) {
        std::vector<int64_t> idx(order.begin() + b0, order.begin() + std::min(n, b0 + batch));
        auto t0 = Clock::now();
        auto b = tc::data::read_batch(r, idx, /*with_masks=*/true);
        auto t1 = Clock::now();
        auto x = tc::data::normalize_clip(b.images);
        auto t2 = Clock::now();
        (void)x;
        t_read += std::chrono::duration<double>(t1 - t0).count();
        t_full += std::chrono::duration<double>(t2 - t0).count();
      }
      read_rate.push_back(n / t_read);
      full_rate.push_back(n / t_full);
      cpu_rate.push_back(n / (bench_cpu_s() - c0));
    }
    std::printf("S=%d: read image+mask (HDF5 gzip) %.0f img/s; read + normalise to float %.0f img/s"
                " wall, %.0f img/s per CPU-second (file %.1f MB for %d images)\n",
                S, bench_median(read_rate), bench_median(full_rate), bench_median(cpu_rate),
                double(std::filesystem::file_size(path)) / 1e6, n);
    std::filesystem::remove(path);
  }

  // prep core: decode a 1024x1024 RGB PNG, resize to 518 (Pillow bicubic), append.
  {
    const int W = 1024, k = 8;
    std::vector<std::string> pngs;
    for (int i = 0; i < k; ++i) {
      tc::data::Image im;
      im.width = im.height = W;
      im.channels = 3;
      im.pixels = bench_pixels(W, W, uint64_t(100 + i));
      pngs.push_back(dir + "/bench_data_read_" + std::to_string(getpid()) + "_" +
                     std::to_string(i) + ".png");
      tc::data::save_png(pngs.back(), im);
    }
    std::vector<double> dec, rs, tot, cpu;
    for (int run = 0; run < runs; ++run) {
      std::string out = dir + "/bench_data_read_prep.h5";
      tc::data::DatasetMeta m;
      m.name = "bench";
      m.domain = "synthetic";
      m.image_size = 518;
      m.class_names = {"a"};
      m.mask_rule = "none";
      tc::data::DatasetWriter w(out, m);
      double td = 0, tr = 0, c0 = bench_cpu_s();
      auto t0 = Clock::now();
      for (const auto& p : pngs) {
        double a = bench_cpu_s();
        auto im = tc::data::load_rgb(p);
        double b = bench_cpu_s();
        tc::data::Sample s;
        s.image = tc::data::prepare_image(im, 518).pixels;
        double c = bench_cpu_s();
        w.append(s);
        td += b - a;
        tr += c - b;
      }
      w.finish();
      double t = std::chrono::duration<double>(Clock::now() - t0).count();
      dec.push_back(1e3 * td / k);
      rs.push_back(1e3 * tr / k);
      tot.push_back(k / t);
      cpu.push_back(k / (bench_cpu_s() - c0));
      std::filesystem::remove(out);
    }
    std::printf("prep core, 1024x1024 PNG -> 518, one thread: decode %.1f ms, resize %.1f ms (CPU), "
                "total %.1f img/s wall, %.1f img/s per CPU-second (incl. gzip write)\n",
                bench_median(dec), bench_median(rs), bench_median(tot), bench_median(cpu));
    for (const auto& p : pngs) std::filesystem::remove(p);
  }
  return 0;
}
