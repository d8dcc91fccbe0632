// Synthetic benchmark generation speed: CPU milliseconds per image for each category (normal
// render) and each defect type (normal render + defect), median of 5 runs, one thread.
// Usage: bench_synth [S ...]   (default 128 256)
#include <algorithm>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "data/synth.h"
#include "data/synth_detail.h"

namespace {

namespace sy = tc::data::synth;
namespace sd = tc::data::synth::detail;

// Thread CPU time: on a shared machine wall time mostly measures the other processes.
double cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

template <typename F>
double median_ms(F&& f, int runs = 5) {
  std::vector<double> t;
  for (int r = 0; r < runs; ++r) {
    double t0 = cpu_ms();
    f(r);
    t.push_back(cpu_ms() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {128, 256};
  std::printf("# bench_synth: thread CPU ms, median of 5, 1 thread, %u hardware threads\n",
              std::thread::hardware_concurrency());
  for (int S : sizes) {
    std::printf("\n## S = %d: normal images, ms per image\n", S);
    for (const auto& c : sy::categories()) {
      double ms = median_ms([&](int r) { sd::render_normal(c, 0, "bench|" + std::to_string(r), S); });
      std::printf("%-8s %8.1f\n", c.name.c_str(), ms);
    }
    std::printf("\n## S = %d: defects (normal + defect), ms per image, on the first category it applies to\n", S);
    for (const auto& d : sd::all_defects()) {
      const sy::Category* cat = nullptr;
      for (const auto& c : sy::categories())
        if (sd::defect_applies(d, c)) { cat = &c; break; }
      if (!cat) continue;
      double ms = median_ms([&](int r) {
        std::string key = "bench|" + std::to_string(r);
        auto canvas = sd::render_normal(*cat, 0, key, S);
        auto q = sd::quantize(canvas);
        sd::apply_defect(d, *cat, 0, key, canvas, q);
      });
      std::printf("%-13s %-8s %8.1f\n", d.c_str(), cat->name.c_str(), ms);
    }
  }
  return 0;
}
