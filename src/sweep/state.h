// Resumable sweep state: per-point markers and locks (docs/SWEEPS.md, "State and locks").
//
// OUT/points/<id>/
//   lock             O_EXCL lock file {pid, host, started, token}; its mtime is a heartbeat
//   train.done.json  training finished (the run folder is OUT/points/<id>/train)
//   eval/<ds>/metrics.json   one evaluation finished (written atomically by the evaluator)
//   done.json        every stage finished
//   failed.json      the last attempt failed: stage, error, host, time
//
// A lock is stale when its owner process is gone (same host: kill(pid, 0) says so) or, for an
// owner on another host, when its heartbeat is older than `stale_after_s`. A stale lock is
// taken over by renaming it aside (atomic; only one contender wins the rename), checking
// that the renamed file is the one judged stale, then creating a fresh lock with O_EXCL.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "sweep/sweep.h"

namespace tc::sweep {

enum class State { Pending, Running, Done, Failed };
const char* state_name(State s);  // "pending" | "running" | "done" | "failed"

struct LockOptions {
  double stale_after_s = 900;  // owner on another host: no heartbeat for this long = gone
  double heartbeat_s = 60;     // how often the owner touches its lock file
};

struct LockInfo {
  std::string host, started, token;
  long pid = 0;
  double age_s = 0;  // seconds since the last heartbeat (lock file mtime)
  bool stale = false;
  std::string why;   // why it is (or is not) considered stale
};

// Reads OUT/points/<id>/lock; nullopt when there is none.
std::optional<LockInfo> read_lock(const std::string& point_dir, const LockOptions& opts = {});

class PointLock {
 public:
  // Takes the lock of a point folder, or returns nullptr when a live owner holds it (its
  // description in *holder). A stale lock is taken over (took_over() then describes it).
  static std::unique_ptr<PointLock> try_acquire(const std::string& point_dir,
                                                const LockOptions& opts = {},
                                                LockInfo* holder = nullptr);
  ~PointLock();  // stops the heartbeat and removes the lock file if it is still ours
  PointLock(const PointLock&) = delete;
  PointLock& operator=(const PointLock&) = delete;

  const std::optional<LockInfo>& took_over() const { return previous_; }
  const std::string& path() const { return path_; }

 private:
  PointLock() = default;
  void heartbeat_loop(double period_s);

  std::string path_, token_;
  std::optional<LockInfo> previous_;
  std::atomic<bool> stop_{false};
  std::thread heartbeat_;
};

struct PointStatus {
  State state = State::Pending;
  std::optional<LockInfo> lock;  // present when a lock file exists (live or stale)
  bool train_done = false;
  int evals_done = 0, evals_total = 0;
  nlohmann::json failed;  // failed.json when present
};
PointStatus point_status(const std::string& out_dir, const Point& p, const LockOptions& opts = {});

std::string train_dir(const std::string& out_dir, const std::string& id);           // .../train
std::string eval_dir(const std::string& out_dir, const std::string& id, const std::string& ds);
std::string metrics_path(const std::string& out_dir, const std::string& id, const std::string& ds);

// Marker writers (atomic). write_done/clear_failed are called by rank 0 only.
void write_marker(const std::string& path, const nlohmann::json& j);
void write_failed(const std::string& out_dir, const std::string& id, const nlohmann::json& j);
void clear_failed(const std::string& out_dir, const std::string& id);

std::string host_name();

}  // namespace tc::sweep
