#include "util/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace tc {

Progress::Progress(std::string label, int64_t total, std::string unit, bool enabled,
                   double plain_interval_s)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), enabled_(enabled),
      tty_(isatty(STDERR_FILENO) != 0), plain_interval_s_(plain_interval_s),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() {
  if (enabled_ && !finished_ && done_ > base_) finish();
}

void Progress::update(int64_t inc, const std::string& extra) { set(done_ + inc, extra); }

void Progress::set(int64_t done, const std::string& extra) {
  done_ = done;
  draw(false, extra);
}

void Progress::resume_at(int64_t done) {
  done_ = base_ = done;
  start_ = std::chrono::steady_clock::now();
}

void Progress::finish(const std::string& extra) {
  if (finished_) return;
  draw(true, extra);
  finished_ = true;
  if (enabled_ && tty_) std::fputc('\n', stderr);
}

double Progress::rate() const {
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return s > 0 ? static_cast<double>(done_ - base_) / s : 0.0;
}

double Progress::seconds_left() const {
  double r = rate();
  if (total_ <= 0 || r <= 0) return -1;
  return static_cast<double>(total_ - done_) / r;
}

std::string Progress::format_duration(double s) {
  if (s < 0 || !std::isfinite(s)) return "?";
  if (s < 60) return fmt::format("{:.1f}s", s);
  auto t = static_cast<int64_t>(std::llround(s));
  if (t < 3600) return fmt::format("{}m{:02d}s", t / 60, static_cast<int>(t % 60));
  return fmt::format("{}h{:02d}m", t / 3600, static_cast<int>((t % 3600) / 60));
}

void Progress::draw(bool force, const std::string& extra) {
  if (!enabled_ || finished_) return;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  if (!force && since < (tty_ ? 0.1 : plain_interval_s_)) return;
  last_draw_ = now;
  double r = rate();
  std::string rate_s = r >= 1 ? fmt::format("{:.1f} {}/s", r, unit_)
                              : (r > 0 ? fmt::format("{:.2f} s/{}", 1.0 / r, unit_) : "-");
  std::string line;
  if (total_ > 0) {
    double pct = 100.0 * static_cast<double>(done_) / static_cast<double>(total_);
    line = fmt::format("{}: {}/{} ({:.0f}%) {} left {}", label_, done_, total_, pct, rate_s,
                       format_duration(force ? 0.0 : seconds_left()));
  } else {
    line = fmt::format("{}: {} {}", label_, done_, rate_s);
  }
  if (!extra.empty()) line += "  " + extra;
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
  else
    std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace tc
