// A model-free stand-in for `train`/`eval`, for testing the harness (runner, locks, Slurm
// scripts, reports) where training for real would take too long. Its numbers are
// pseudo-random but deterministic per (point, dataset, class); they mean nothing.
#include "sweep/fake_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "config/config.h"
#include "data/png.h"
#include "eval/report_metrics.h"
#include "sweep/runner.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/rng.h"

namespace tc::sweep::testing {
namespace detail_fake {

uint64_t seed_of(const std::string& s) {
  std::string h = sha256_hex(s).substr(0, 16);
  return std::stoull(h, nullptr, 16);
}

bool listed(const std::map<std::string, std::string>& o, const std::string& key, const std::string& v) {
  auto it = o.find(key);
  if (it == o.end()) return false;
  for (const auto& x : config::split_list(it->second))
    if (x == v) return true;
  return false;
}

double option(const std::map<std::string, std::string>& o, const std::string& key, double def) {
  auto it = o.find(key);
  return it == o.end() ? def : std::strtod(it->second.c_str(), nullptr);
}

class FakeRunner : public PointRunner {
 public:
  explicit FakeRunner(std::map<std::string, std::string> o) : o_(std::move(o)) {}

  void train(const TrainJob& job) override {
    const Point& p = *job.point;
    sleep();
    if (listed(o_, "fail", p.id) || listed(o_, "fail", std::to_string(p.index)) || listed(o_, "fail", p.train))
      TC_RUNTIME_ERROR("fake runner: point {} is configured to fail ([fake] fail)", p.id);
    make_dirs(job.run_dir);
    std::string cfg = fmt::format("# fake training of point {} ({})\n", p.id, p.label);
    for (const auto& kv : p.overrides) cfg += fmt::format("# {} = {}  # from {}\n", kv.key, kv.value, kv.source);
    write_file_atomic(job.run_dir + "/config.ini", cfg);
    int steps = static_cast<int>(option(o_, "steps", 24));
    int per_epoch = std::max(1, steps / 3);
    Rng rng(seed_of(p.id), 1);
    double decay = 4.0 + 8.0 * rng.uniform();
    std::string log;
    for (int s = 1; s <= steps; ++s) {
      double focal = 0.6 * std::exp(-s / decay) + 0.05 + 0.02 * rng.uniform();
      double dice = 0.8 * std::exp(-s / (1.5 * decay)) + 0.2 + 0.02 * rng.uniform();
      nlohmann::json j = {{"kind", "step"}, {"step", s}, {"epoch", (s - 1) / per_epoch},
                          {"loss", focal + dice}, {"focal", focal}, {"dice", dice},
                          {"images_per_s", 20 + rng.uniform()}};
      log += j.dump() + "\n";
      if (s % per_epoch == 0)
        log += nlohmann::json({{"kind", "epoch"}, {"epoch", (s - 1) / per_epoch}, {"loss", focal + dice}}).dump() + "\n";
    }
    write_file_atomic(job.run_dir + "/log.jsonl", log);
    write_file_atomic(job.run_dir + "/checkpoint.h5", "fake checkpoint of sweep point " + p.id + "\n");
  }

  void eval(const EvalJob& job) override {
    const Point& p = *job.point;
    const std::string& ds = job.data->name;
    sleep();
    if (listed(o_, "fail_eval", ds))
      TC_RUNTIME_ERROR("fake runner: evaluation on {} is configured to fail ([fake] fail_eval)", ds);
    bool image = !listed(o_, "pixel_only", ds), pixel = !listed(o_, "image_only", ds);
    int n_classes = static_cast<int>(option(o_, "classes", 3));
    // Methods differ systematically (so reports have a best column) and seeds a little.
    std::string method_key = p.method + "/" + p.train;
    double base = 0.55 + 0.4 * Rng(seed_of(method_key + "/" + ds), 2).uniform();
    std::vector<eval::ClassMetrics> classes;
    for (int c = 0; c < n_classes; ++c) {
      Rng rng(seed_of(p.id + "/" + ds + "/" + std::to_string(c)), 3);
      auto val = [&](double spread) { return std::min(0.999, std::max(0.3, base + spread * (rng.uniform() - 0.5))); };
      eval::ClassMetrics m;
      m.name = fmt::format("class{}", c + 1);
      m.n_images = 20;
      m.n_anomalous_images = 10;
      if (image) {
        m.image.auroc = val(0.2);
        m.image.ap = val(0.2);
        m.image.f1_max = val(0.2);
      }
      if (pixel) {
        m.has_pixel = true;
        m.pixel.auroc = val(0.1);
        m.pixel.ap = val(0.3);
        m.pixel.f1_max = val(0.3);
        m.aupro_anomalyclip = val(0.3);
        m.aupro_mvtec = val(0.3);
      }
      classes.push_back(m);
    }
    auto d = eval::aggregate(classes, {eval::AuproVariant::AnomalyClip, eval::AuproVariant::Mvtec}, ds);
    for (int k = 0; k < job.visualize; ++k) write_picture(job.out_dir, p.id, ds, k);
    eval::write_metrics_json(job.out_dir + "/metrics.json", d,
                             {{"checkpoint", job.checkpoint}, {"data", job.data->path}, {"fake", true}});
  }

 private:
  void sleep() const {
    double s = option(o_, "sleep_s", 0);
    if (s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(s));
  }

  static void write_picture(const std::string& dir, const std::string& id, const std::string& ds, int k) {
    make_dirs(dir + "/pictures");
    Rng rng(seed_of(id + ds) + static_cast<uint64_t>(k), 4);
    std::vector<uint8_t> rgb(64 * 64 * 3);
    double cx = 16 + 32 * rng.uniform(), cy = 16 + 32 * rng.uniform();
    for (int y = 0; y < 64; ++y)
      for (int x = 0; x < 64; ++x) {
        // A Gaussian blob through a jet-like ramp: enough to look like a heatmap in a report.
        const double t = std::exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / 120.0);
        const double ch[3] = {1.5 - std::fabs(4 * t - 3), 1.5 - std::fabs(4 * t - 2), 1.5 - std::fabs(4 * t - 1)};
        for (int c = 0; c < 3; ++c)
          rgb[(y * 64 + x) * 3 + c] = static_cast<uint8_t>(255.0 * std::clamp(ch[c], 0.0, 1.0) + 0.5);
      }
    const std::string png = data::png_encode(rgb.data(), 64, 64, 3);
    write_file_atomic(fmt::format("{}/pictures/{:03d}.png", dir, k), png);
  }

  std::map<std::string, std::string> o_;
};

}  // namespace detail_fake

std::unique_ptr<PointRunner> make_fake_runner(const std::map<std::string, std::string>& options) {
  return std::make_unique<detail_fake::FakeRunner>(options);
}

namespace {
const bool kRegistered = register_point_runner("builtin-fake", [](const Manifest& m) {
  return make_fake_runner(m.json.value("fake", std::map<std::string, std::string>{}));
});
}  // namespace

}  // namespace tc::sweep::testing
