// Image-tower throughput of the frozen CLIP (what `tokenclip encode` spends its time on):
// random weights (values do not change the cost), V-V path at the preset default, median of
// several timed runs after one warm-up. Prints figures, never asserts on time.
//   bench_encode [--threads N] [--iters K] [--batch B] [--only tiny|B16|L14]
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "clip/clip.h"
#include "compat/torch_compat.h"

int main(int argc, char** argv) {
  int threads = 2, iters = 3, batch = 1;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--iters")) iters = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--batch")) batch = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--only")) only = argv[i + 1];
  }
  at::set_num_threads(threads);
  std::printf("bench_encode: libtorch %s, %d torch threads, %u hardware threads, batch %d, %d timed runs "
              "(median)\n", tc::compat::torch_version().c_str(), at::get_num_threads(),
              std::thread::hardware_concurrency(), batch, iters);
  struct Case { const char* tag; const char* preset; int S; };
  const Case cases[] = {{"tiny", "tiny", 128}, {"B16", "ViT-B-16", 224}, {"L14", "ViT-L-14", 518}};
  for (const auto& c : cases) {
    if (!only.empty() && only != c.tag) continue;
    auto cfg = tc::clip::preset_config(c.preset);
    cfg.image_size = c.S;
    tc::clip::ClipModel m(cfg);
    {
      torch::NoGradGuard ng;
      torch::manual_seed(0);
      for (auto& p : m->parameters()) p.normal_(0, 0.02);
      m->visual->set_image_size(c.S);
    }
    m->freeze();
    tc::compat::InferenceGuard guard;
    auto x = torch::randn({batch, 3, c.S, c.S});
    m->visual->forward(x);  // warm-up
    std::vector<double> t;
    for (int i = 0; i < iters; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      auto o = m->visual->forward(x);
      t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    const double med = t[t.size() / 2];
    std::printf("%-10s S=%d tokens=%d V-V from %d layers {%d}: %.3f s/batch, %.3f images/s\n", c.preset, c.S,
                1 + cfg.num_patches(), cfg.vv_from, cfg.layers.back(), med, batch / med);
    std::fflush(stdout);
  }
  return 0;
}
