// Running sweep points: train once, then evaluate on each target, resumably.
//
// Every rank of an MPI job calls run_points(); rank 0 decides which point runs (it takes the
// point's lock) and broadcasts the index, so all ranks train and evaluate the same point
// together. Only rank 0 writes markers. A stage that throws on any rank fails the point on
// every rank: rank 0 records failed.json (stage, each rank's error) and the others go on.
#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "sweep/state.h"
#include "sweep/sweep.h"

namespace tc::dist {
class Communicator;
}

namespace tc::sweep {

struct TrainJob {
  const Point* point = nullptr;
  const DataSet* data = nullptr;
  std::string run_dir;  // OUT/points/<id>/train: checkpoint.h5, config.ini, log.jsonl
  bool resume = false;  // an interrupted training left run_dir/checkpoint.h5: continue from it
};

struct EvalJob {
  const Point* point = nullptr;
  const DataSet* data = nullptr;
  std::string checkpoint;  // OUT/points/<id>/train/checkpoint.h5
  std::string out_dir;     // OUT/points/<id>/eval/<ds>: metrics.json, pictures/
  int visualize = 0;
};

// How a point's stages run. The `tokenclip` command runs the registered `train`/`eval`
// commands in-process (app/cmd_sweep.cpp); tests inject their own.
class PointRunner {
 public:
  virtual ~PointRunner() = default;
  virtual void train(const TrainJob& job) = 0;
  virtual void eval(const EvalJob& job) = 0;
};

// Point runners by name: a sweep file whose train_command or eval_command names a registered
// runner has its points run by it instead of the registered commands. The tokenclip binary
// registers none; a test build registers its stand-ins (tests/sweep/fake_runner.cpp registers
// "builtin-fake" in the test binaries and in tests' tokenclip_fake).
using PointRunnerFactory = std::function<std::unique_ptr<PointRunner>(const Manifest&)>;
bool register_point_runner(const std::string& name, PointRunnerFactory make);
const PointRunnerFactory* find_point_runner(const std::string& name);  // nullptr: none

struct RunOptions {
  int index = -1;            // run this point (>= 0), or ...
  bool all = false;          // ... every point that is not done (failed ones only with retry)
  bool retry_failed = false;
  LockOptions lock;
  bool progress = true;      // tc::Progress over the points (rank 0)
  int visualize = 0;
};

// Thrown by a PointRunner stage that stopped early on a signal after saving what it resumes
// from (train's exit code 75 on SIGTERM/SIGUSR1): the point is neither done nor failed; its
// lock is released and run_points returns at once with `stopped` set.
struct StageStopped : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct RunSummary {
  int ran = 0, succeeded = 0, failed = 0;
  int skipped_done = 0, skipped_running = 0, skipped_failed = 0;
  std::vector<std::string> failures;  // "index id label: stage: error"
  std::string stopped;                // the stage that stopped on a signal ("" = none)
};

RunSummary run_points(const Manifest& m, const std::string& out_dir, PointRunner& runner,
                      dist::Communicator& comm, const RunOptions& opts);

}  // namespace tc::sweep
