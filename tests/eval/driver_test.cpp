// Test-only driver for tests/python/test_metrics_sklearn.py: when TC_METRICS_DRIVER_DIR is set,
// reads raw inputs written by the Python test, computes the metrics and the blur, and writes
// out.json (+ blur_out.f32) for comparison with sklearn / scipy / the reference scripts.
// Without the variable the test is skipped, so a normal run of test_eval is unaffected.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "eval/blur.h"
#include "eval/metrics.h"
#include "eval/report_metrics.h"
#include "util/fs.h"

namespace tc::eval::test_driver {

template <typename T>
std::vector<T> read_raw(const std::string& path, size_t n) {
  auto bytes = read_file_bytes(path);
  if (bytes.size() != n * sizeof(T)) throw std::runtime_error(path + ": unexpected size");
  std::vector<T> v(n);
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

nlohmann::json opt_json(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

TEST(MetricsDriver, Run) {
  const char* dir_env = std::getenv("TC_METRICS_DRIVER_DIR");
  if (!dir_env) GTEST_SKIP() << "driver for the Python parity test (TC_METRICS_DRIVER_DIR unset)";
  const std::string dir = dir_env;
  auto meta = nlohmann::json::parse(read_file(dir + "/meta.json"));
  nlohmann::json out = nlohmann::json::object();
  out["cases"] = nlohmann::json::array();
  for (const auto& c : meta["cases"]) {
    const std::string name = c["name"];
    const int n = c["n"], h = c["h"], w = c["w"];
    const size_t np = size_t(n) * h * w;
    auto maps = read_raw<float>(dir + "/" + name + "_maps.f32", np);
    auto masks = read_raw<uint8_t>(dir + "/" + name + "_masks.u8", np);
    ClassData d;
    d.name = name;
    d.image_scores = read_raw<float>(dir + "/" + name + "_scores.f32", size_t(n));
    d.image_labels = read_raw<uint8_t>(dir + "/" + name + "_labels.u8", size_t(n));
    d.set_pixels(maps.data(), masks.data(), n, h, w);
    MetricsOptions o;
    o.pro_fpr_limit = c.value("limit", 0.3);
    o.pro_steps = c.value("steps", 200);
    o.threads = c.value("threads", 2);
    ClassMetrics m = compute_class_metrics(d, o);
    nlohmann::json j = to_json(m);
    float mn = *std::min_element(maps.begin(), maps.end());
    float mx = *std::max_element(maps.begin(), maps.end());
    j["thresholds"] = anomalyclip_thresholds(mn, mx, o.pro_steps);
    out["cases"].push_back(j);
  }
  if (meta.contains("blur")) {
    const int h = meta["blur"]["h"], w = meta["blur"]["w"];
    const double sigma = meta["blur"]["sigma"];
    auto in = read_raw<float>(dir + "/blur_in.f32", size_t(h) * w);
    std::vector<float> o(in.size());
    gaussian_blur(in.data(), o.data(), h, w, sigma);
    write_file_atomic(dir + "/blur_out.f32", std::string(reinterpret_cast<const char*>(o.data()), o.size() * 4));
    out["kernel"] = gaussian_kernel(sigma);
  }
  write_file_atomic(dir + "/out.json", out.dump());
}

}  // namespace tc::eval::test_driver
