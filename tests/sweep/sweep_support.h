// Helpers shared by the sweep tests: temporary folders, files, and a recording point runner.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "sweep/runner.h"

namespace tc::sweep::testing {

// A fresh folder under $TMPDIR (removed by the destructor).
struct TempDir {
  TempDir();
  ~TempDir();
  std::string path;
};

void write_text(const std::string& path, const std::string& text);
std::string read_text(const std::string& path);
int count_lines(const std::string& path);

// Writes the documented outputs of train/eval (checkpoint, log, metrics.json) and appends one
// line per call to OUT/calls.log (O_APPEND, so several processes can share it). Hooks run
// before the outputs are written and may throw or _exit to simulate failures and crashes.
class RecordingRunner : public PointRunner {
 public:
  explicit RecordingRunner(std::string calls_log) : calls_(std::move(calls_log)) {}
  void train(const TrainJob& job) override;
  void eval(const EvalJob& job) override;
  std::function<void(const TrainJob&)> on_train;
  std::function<void(const EvalJob&)> on_eval;
  double sleep_s = 0;

 private:
  std::string calls_;
};

// A metrics.json document of the eval schema with the given per-class image/pixel values
// (fractions; a negative value writes null; pixel < -1.5 writes "pixel": null).
std::string metrics_doc(const std::string& dataset,
                        const std::vector<std::pair<std::string, std::vector<double>>>& classes);

}  // namespace tc::sweep::testing
