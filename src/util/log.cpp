#include "util/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>

#include "util/check.h"

namespace tc::log {
namespace {

struct State {
  Options opts;
  std::mutex mu;
  std::FILE* file = nullptr;
};

State& state() {
  static State s;
  return s;
}

std::string timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  std::time_t t = system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&t, &tm);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return fmt::format("{}.{:03d}", buf, static_cast<int>(ms));
}

char level_letter(Level l) {
  switch (l) {
    case Level::Debug: return 'D';
    case Level::Info: return 'I';
    case Level::Warn: return 'W';
    case Level::Error: return 'E';
  }
  return '?';
}

}  // namespace

void configure(const Options& opts) {
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.file) {
    std::fclose(s.file);
    s.file = nullptr;
  }
  s.opts = opts;
  if (!opts.file_pattern.empty()) {
    std::string path = opts.file_pattern;
    auto pos = path.find("{rank}");
    if (pos != std::string::npos) path.replace(pos, 6, std::to_string(opts.rank));
    s.file = std::fopen(path.c_str(), "a");
    if (!s.file)
      TC_FAIL(ErrorKind::Usage, "--log-file: cannot open '{}' for appending", path);
  }
}

const Options& options() { return state().opts; }

bool enabled(Level level) {
  const auto& o = state().opts;
  if (level < o.level) return false;
  // Errors from any rank always reach stderr: a failing peer must be visible.
  return o.rank == 0 || o.all_ranks || level >= Level::Error || state().file != nullptr;
}

void write(Level level, const std::string& message) {
  auto& s = state();
  std::string line = fmt::format("[{} {}] ", timestamp(), level_letter(level));
  if (s.opts.world > 1) line += fmt::format("[rank {}] ", s.opts.rank);
  line += message;
  line += '\n';
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.file) {
    std::fputs(line.c_str(), s.file);
    std::fflush(s.file);
  }
  if (s.opts.rank == 0 || s.opts.all_ranks || level >= Level::Error) {
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
  }
}

Level parse_level(const std::string& s) {
  if (s == "debug") return Level::Debug;
  if (s == "info") return Level::Info;
  if (s == "warn") return Level::Warn;
  if (s == "error") return Level::Error;
  TC_USAGE_ERROR("log level '{}': expected one of debug, info, warn, error", s);
}

}  // namespace tc::log
