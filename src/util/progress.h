// Progress display for long loops (rank 0 only).
//
// On a terminal it redraws one line (at most 10 times a second); when stderr is not a
// terminal (CI, SLURM logs) it prints a plain line every `plain_interval_s` seconds and at the
// end, so logs stay readable. Shows done/total, rate and time left.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tc {

class Progress {
 public:
  // `unit` names what is counted ("img", "step"); `enabled=false` makes every call a no-op
  // (pass `rank == 0`).
  Progress(std::string label, int64_t total, std::string unit = "it", bool enabled = true,
           double plain_interval_s = 10.0);
  ~Progress();

  void update(int64_t done_increment = 1, const std::string& extra = {});
  void set(int64_t done, const std::string& extra = {});
  // A resumed loop starts at `done`: the rate and time left count only what this process does.
  void resume_at(int64_t done);
  void finish(const std::string& extra = {});

  double rate() const;          // units per second since start (or since resume_at)
  double seconds_left() const;  // < 0 when unknown

  static std::string format_duration(double seconds);  // "1h02m", "3m07s", "12.3s"

 private:
  void draw(bool force, const std::string& extra);

  std::string label_, unit_;
  int64_t total_ = 0, done_ = 0, base_ = 0;
  bool enabled_ = true, tty_ = false, finished_ = false;
  double plain_interval_s_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace tc
