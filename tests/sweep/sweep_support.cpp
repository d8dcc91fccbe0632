#include "sweep/sweep_support.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "util/fs.h"

namespace tc::sweep::testing {

TempDir::TempDir() {
  std::string tmpl = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/tc_sweep_XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  path = mkdtemp(buf.data());
}
TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

void write_text(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}
std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
int count_lines(const std::string& path) {
  std::ifstream in(path);
  std::string l;
  int n = 0;
  while (std::getline(in, l)) ++n;
  return n;
}

static void append_line(const std::string& path, const std::string& line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::string l = line + "\n";
  (void)!::write(fd, l.data(), l.size());
  ::close(fd);
}

void RecordingRunner::train(const TrainJob& job) {
  append_line(calls_, "train " + job.point->id + " " + std::to_string(getpid()));
  if (sleep_s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(sleep_s));
  if (on_train) on_train(job);
  write_text(job.run_dir + "/log.jsonl", "{\"kind\":\"step\",\"step\":1,\"epoch\":0,\"loss\":2.0}\n"
                                         "{\"kind\":\"step\",\"step\":2,\"epoch\":0,\"loss\":1.0}\n");
  write_text(job.run_dir + "/checkpoint.h5", "x");
}

void RecordingRunner::eval(const EvalJob& job) {
  append_line(calls_, "eval " + job.point->id + " " + job.data->name + " " + std::to_string(getpid()));
  if (on_eval) on_eval(job);
  write_file_atomic(job.out_dir + "/metrics.json", metrics_doc(job.data->name, {{"c1", {0.8, 0.7, 0.9, 0.6, 0.5}}}));
}

std::string metrics_doc(const std::string& dataset,
                        const std::vector<std::pair<std::string, std::vector<double>>>& classes) {
  using nlohmann::json;
  auto val = [](double v) { return v < 0 ? json(nullptr) : json(v); };
  json cs = json::array();
  std::vector<double> sum(5, 0.0);
  std::vector<int> cnt(5, 0);
  bool any_pixel = false;
  for (const auto& [name, v] : classes) {
    // v = image auroc, image ap, pixel auroc, aupro anomalyclip, aupro mvtec
    json c = {{"name", name}, {"n_images", 10}, {"n_anomalous_images", 5},
              {"image", {{"auroc", val(v[0])}, {"ap", val(v[1])}, {"f1_max", nullptr}}}};
    if (v[2] < -1.5) {
      c["pixel"] = nullptr;
    } else {
      any_pixel = true;
      c["pixel"] = {{"auroc", val(v[2])}, {"ap", nullptr}, {"f1_max", nullptr},
                    {"aupro_anomalyclip", val(v[3])}, {"aupro_mvtec", val(v[4])}};
    }
    for (int k = 0; k < 5; ++k)
      if (v[k] >= 0) { sum[k] += v[k]; ++cnt[k]; }
    cs.push_back(c);
  }
  auto mean = [&](int k) { return cnt[k] ? json(sum[k] / cnt[k]) : json(nullptr); };
  json m = {{"name", "mean"}, {"image", {{"auroc", mean(0)}, {"ap", mean(1)}, {"f1_max", nullptr}}}};
  if (any_pixel)
    m["pixel"] = {{"auroc", mean(2)}, {"ap", nullptr}, {"f1_max", nullptr},
                  {"aupro_anomalyclip", mean(3)}, {"aupro_mvtec", mean(4)}};
  else
    m["pixel"] = nullptr;
  json d = {{"format", "tokenclip-metrics"}, {"version", 1}, {"dataset", dataset}, {"scale", "fraction"},
            {"aupro_variants", {"anomalyclip", "mvtec"}}, {"classes", cs}, {"mean", m}};
  return d.dump(2);
}

}  // namespace tc::sweep::testing
