// MVTec-scale metric benchmark: 15 classes, 1,725 maps of 518 x 518 in total (115 per class),
// masks with elliptical blobs on ~60 % of the images, smooth-ish float maps with a signal in the
// blobs. Times the full per-class computation (image + pixel AUROC/AP/F1-max, both AUPRO
// variants), one class in memory at a time; median of 3 runs. Also times the Gaussian blur.
// Usage: bench_metrics [images_total=1725] [size=518] [classes=15] [runs=3]
// Peak memory: run under /usr/bin/time -v.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "eval/blur.h"
#include "eval/metrics.h"
#include "eval/report_metrics.h"
#include "util/rng.h"

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

struct ClassBuffers {
  std::vector<float> maps;
  std::vector<uint8_t> masks;
  std::vector<float> scores;
  std::vector<uint8_t> labels;
};

// Deterministic synthetic class: low-frequency pattern + noise, +0.8 inside the blobs.
void make_class(int cls, int n, int s, ClassBuffers& b) {
  tc::Rng r(1234, uint64_t(cls));
  const size_t hw = size_t(s) * s;
  b.maps.assign(size_t(n) * hw, 0.f);
  b.masks.assign(size_t(n) * hw, 0);
  b.scores.assign(size_t(n), 0.f);
  b.labels.assign(size_t(n), 0);
  for (int i = 0; i < n; ++i) {
    float* m = b.maps.data() + size_t(i) * hw;
    uint8_t* k = b.masks.data() + size_t(i) * hw;
    const bool anomalous = r.uniform() < 0.6;
    b.labels[size_t(i)] = anomalous;
    if (anomalous) {
      int blobs = 1 + int(r.below(3));
      for (int q = 0; q < blobs; ++q) {
        double cy = r.uniform(0, s), cx = r.uniform(0, s), ry = r.uniform(4, 60), rx = r.uniform(4, 60);
        int y0 = std::max(0, int(cy - ry)), y1 = std::min(s - 1, int(cy + ry));
        int x0 = std::max(0, int(cx - rx)), x1 = std::min(s - 1, int(cx + rx));
        for (int y = y0; y <= y1; ++y)
          for (int x = x0; x <= x1; ++x) {
            double dy = (y - cy) / ry, dx = (x - cx) / rx;
            if (dy * dy + dx * dx <= 1) k[size_t(y) * s + x] = 1;
          }
      }
    }
    const double fy = r.uniform(0.01, 0.05), fx = r.uniform(0.01, 0.05), ph = r.uniform(0, 6.28);
    for (int y = 0; y < s; ++y)
      for (int x = 0; x < s; ++x) {
        size_t p = size_t(y) * s + x;
        m[p] = float(0.3 * std::sin(fy * y + fx * x + ph) + r.uniform() + (k[p] ? 0.8 : 0.0));
      }
    b.scores[size_t(i)] = *std::max_element(m, m + hw);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int total = argc > 1 ? std::atoi(argv[1]) : 1725;
  const int size = argc > 2 ? std::atoi(argv[2]) : 518;
  const int classes = argc > 3 ? std::atoi(argv[3]) : 15;
  const int runs = argc > 4 ? std::atoi(argv[4]) : 3;
  std::printf("bench_metrics: %d maps of %dx%d in %d classes; %s, %u hardware threads\n", total, size,
              size, classes, cpu_model().c_str(), std::thread::hardware_concurrency());

  std::vector<double> run_times, cpu_times;
  std::vector<double> class_times(size_t(classes), 1e300);
  double gen_time = 0;
  tc::eval::DatasetMetrics last;
  ClassBuffers b;
  for (int run = 0; run < runs; ++run) {
    std::vector<tc::eval::ClassMetrics> results;
    double t_run = 0, cpu_run = 0;
    for (int c = 0; c < classes; ++c) {
      const int n = total / classes + (c < total % classes ? 1 : 0);
      double g0 = now_s();
      make_class(c, n, size, b);  // regenerated per class: memory holds one class
      gen_time += now_s() - g0;
      tc::eval::ClassData d;
      d.name = "class" + std::to_string(c);
      d.image_scores = b.scores;
      d.image_labels = b.labels;
      d.set_pixels(b.maps.data(), b.masks.data(), n, size, size);
      double t0 = now_s();
      std::clock_t c0 = std::clock();  // process CPU time (both threads)
      results.push_back(tc::eval::compute_class_metrics(d));
      double dt = now_s() - t0;
      cpu_run += double(std::clock() - c0) / CLOCKS_PER_SEC;
      t_run += dt;
      class_times[size_t(c)] = std::min(class_times[size_t(c)], dt);
    }
    run_times.push_back(t_run);
    cpu_times.push_back(cpu_run);
    std::printf("run %d: metrics of all classes %.2f s wall, %.2f s CPU (%.3f s/class wall)\n", run + 1, t_run,
                cpu_run, t_run / classes);
    std::fflush(stdout);
    last = tc::eval::aggregate(std::move(results), {tc::eval::AuproVariant::AnomalyClip, tc::eval::AuproVariant::Mvtec},
                               "bench");
  }
  std::sort(run_times.begin(), run_times.end());
  std::sort(cpu_times.begin(), cpu_times.end());
  std::printf("median over %d runs: %.2f s wall, %.2f s CPU for %d maps (%.1f Mpixel); data generation excluded (%.1f s total)\n",
              runs, run_times[run_times.size() / 2], cpu_times[cpu_times.size() / 2], total,
              double(total) * size * size / 1e6, gen_time);
  const auto& m = last.mean;
  std::printf("mean: image AUROC %.4f AP %.4f F1 %.4f | pixel AUROC %.4f AP %.4f F1 %.4f AUPRO anomalyclip %.4f mvtec %.4f\n",
              m.image.auroc.value_or(NAN), m.image.ap.value_or(NAN), m.image.f1_max.value_or(NAN),
              m.pixel.auroc.value_or(NAN), m.pixel.ap.value_or(NAN), m.pixel.f1_max.value_or(NAN),
              m.aupro_anomalyclip.value_or(NAN), m.aupro_mvtec.value_or(NAN));

  // Blur: median per-map time over a few maps (wall and CPU: the machine may be shared).
  std::vector<float> out(size_t(size) * size);
  std::vector<double> bt, bc;
  for (int i = 0; i < 15; ++i) {
    double t0 = now_s();
    std::clock_t c0 = std::clock();
    tc::eval::gaussian_blur(b.maps.data() + size_t(i % 5) * size * size, out.data(), size, size, 4.0);
    bc.push_back(double(std::clock() - c0) / CLOCKS_PER_SEC);
    bt.push_back(now_s() - t0);
  }
  std::sort(bt.begin(), bt.end());
  std::sort(bc.begin(), bc.end());
  std::printf("gaussian blur sigma 4 on %dx%d: median %.2f ms wall, %.2f ms CPU per map (x%d maps = %.1f s CPU)\n",
              size, size, bt[bt.size() / 2] * 1e3, bc[bc.size() / 2] * 1e3, total, bc[bc.size() / 2] * total);
  return 0;
}
