// Figures of the method's numerical core (never pass/fail on time):
//   1. Sinkhorn (log domain, float32, eps 0.1, tol 1e-4, <= 100 iterations) per image at
//      N = 1369 tokens (ViT-L/14 at 518 px), Q in {2, 4, 8}, batch of 8 images.
//   2. Detector forward + backward per batch of 8 (TokenCLIP defaults), for the `tiny` and the
//      ViT-B/16 shapes (random weights), from images and from cached features.
// Usage: bench_method [--threads N] [--runs R] [--skip-b16-images] [--skip-b16]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "clip/clip.h"
#include "method/detector.h"
#include "method/ot.h"
#include "method/scores.h"

namespace {

double median_seconds(int runs, const std::function<void()>& f) {
  std::vector<double> t;
  for (int r = 0; r < runs; ++r) {
    auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

tc::method::PromptTokens bench_tokens() {
  tc::method::PromptTokens t;
  t.normal.assign(77, 0);
  t.abnormal.assign(77, 0);
  t.normal[0] = t.abnormal[0] = 49406;
  for (int i = 1; i <= 12; ++i) t.normal[i] = t.abnormal[i] = 343;
  t.normal[13] = 14115; t.normal[14] = 269; t.normal[15] = 49407;
  t.abnormal[13] = 13568; t.abnormal[14] = 14115; t.abnormal[15] = 269; t.abnormal[16] = 49407;
  return t;
}

void bench_detector(const std::string& preset, int runs, bool images) {
  auto clip = tc::clip::random_clip(preset, 1, tc::clip::LoadOptions{}).model;
  tc::method::Detector d(clip, tc::method::MethodOptions{}, bench_tokens(), 111);
  const int64_t B = 8, S = clip->config.image_size;
  at::manual_seed(0);
  at::Tensor img = at::randn({B, 3, S, S});
  tc::method::Targets tg;
  tg.masks = (at::rand({B, S, S}) > 0.9).to(at::kFloat);
  tg.labels = at::arange(B) % 2;
  tc::method::FeatureBatch fb = d->extract_features(img);
  std::vector<at::Tensor> ps;
  for (const auto& kv : d->learnable_parameters()) ps.push_back(kv.second);
  auto step = [&]() {
    auto out = images ? d->forward(img, &tg) : d->forward_features(fb, &tg);
    auto g = torch::autograd::grad({out.loss.total}, ps, {}, false, false, true);
  };
  step();  // warm-up
  double t = median_seconds(runs, step);
  std::printf("detector %-9s S=%-3lld N=%-5d from %-8s forward+backward, batch 8: %8.3f s  (%.1f ms/image)\n",
              preset.c_str(), (long long)S, clip->config.num_patches(), images ? "images" : "features", t,
              1000 * t / B);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, runs = 5;
  bool b16_images = true, b16 = true;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) runs = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--skip-b16-images")) b16_images = false;
    else if (!std::strcmp(argv[i], "--skip-b16")) b16 = false;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // figures appear as they are measured
  at::set_num_threads(threads);
  std::printf("machine: %u hardware threads, torch threads %d, libtorch CPU; median of %d runs\n",
              std::thread::hardware_concurrency(), at::get_num_threads(), runs);
  at::NoGradGuard ng;
  for (int Q : {2, 4, 8}) {
    at::manual_seed(Q);
    at::Tensor f = tc::method::l2_normalize(at::randn({8, 1369, 768}));
    at::Tensor t = tc::method::l2_normalize(at::randn({Q, 2, 768}));
    at::Tensor C = tc::method::ot_cost_max(tc::method::subspace_similarities(f, t));
    tc::method::SinkhornResult r;
    double s = median_seconds(runs, [&]() { r = tc::method::sinkhorn_log(C, {}, tc::method::SinkhornOptions{}); });
    std::printf("sinkhorn N=1369 Q=%d eps=0.1 tol=1e-4: %.3f ms/image (batch 8; %lld iterations max)\n", Q,
                1000 * s / 8, (long long)r.iterations.max().item<int64_t>());
  }
  {
    at::AutoGradMode on(true);
    bench_detector("tiny", runs, true);
    bench_detector("tiny", runs, false);
    if (b16) bench_detector("ViT-B-16", std::max(1, runs / 2), false);
    if (b16 && b16_images) bench_detector("ViT-B-16", 1, true);
  }
  return 0;
}
