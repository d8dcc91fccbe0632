// Figures for the CLIP readers: tokenizer throughput, safetensors open + conversion.
//   bench_clipio [BPE_FILE]   (without a vocabulary: the byte-level fallback)
// Prints medians of 5 runs; never asserts times.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <thread>
#include <vector>

#include "clip/safetensors.h"
#include "clip/tokenizer.h"

namespace {

double median_seconds(const std::function<void()>& fn, int runs = 5) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    auto a = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(1);
  std::printf("machine: %u hardware threads, torch threads 1\n", std::thread::hardware_concurrency());

  auto tok = argc > 1 ? tc::clip::Tokenizer::load(argv[1]) : tc::clip::Tokenizer::byte_fallback();
  std::vector<std::string> texts;
  for (int i = 0; i < 2000; ++i)
    texts.push_back("X X X X X X X X X X X X damaged object number " + std::to_string(i) +
                    ", a photo of a flawless object with a scratch. Caf\xc3\xa9 \xce\x9f\xce\x94\xce\x9f\xce\xa3!");
  double s = median_seconds([&] { (void)tok.tokenize(texts, 77, true); });
  std::printf("tokenizer (%s): %.0f texts/s (%zu texts of ~100 chars)\n", tok.kind().c_str(),
              texts.size() / s, texts.size());

  // ~200 MB of F16 tensors in ViT-L-like shapes.
  auto dir = std::filesystem::temp_directory_path() / "tc_bench_clipio";
  std::filesystem::create_directories(dir);
  std::string path = (dir / "w.safetensors").string();
  std::map<std::string, at::Tensor> m;
  for (int l = 0; l < 24; ++l) {
    m["blocks." + std::to_string(l) + ".attn.in_proj_weight"] = at::randn({3072, 1024}).to(at::kHalf);
    m["blocks." + std::to_string(l) + ".mlp.c_fc.weight"] = at::randn({1024, 1024}).to(at::kHalf);
  }
  tc::clip::write_safetensors(path, m);
  const double mb = static_cast<double>(std::filesystem::file_size(path)) / 1e6;
  double t_open = median_seconds([&] { (void)tc::clip::SafetensorsFile::open(path); });
  auto f = tc::clip::SafetensorsFile::open(path);
  double t_conv = median_seconds([&] {
    for (const auto& n : f.names()) (void)f.to_tensor(n);
  });
  std::printf("safetensors: %.0f MB, %zu tensors: open+validate %.3f ms, all to float32 %.3f s "
              "(%.0f MB/s of file data)\n", mb, m.size(), t_open * 1e3, t_conv, mb / t_conv);
  std::filesystem::remove_all(dir);
  return 0;
}
