// Rank-aware logging.
//
// Rank 0 prints to stderr by default; other ranks stay quiet unless `--verbose` is given
// (then every line carries its rank) or a per-rank log file is configured. Lines carry a
// timestamp and a level letter. Results go to stdout through plain printing, never here.
#pragma once

#include <fmt/format.h>

#include <string>

namespace tc::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

struct Options {
  int rank = 0;
  int world = 1;
  Level level = Level::Info;
  bool all_ranks = false;  // --verbose: every rank prints to stderr, prefixed by its rank
  std::string file_pattern;  // --log-file: "{rank}" replaced by the rank; every rank writes
};

// Sets up logging for this process (call again after MPI init to set rank/world).
void configure(const Options& opts);
const Options& options();

bool enabled(Level level);
void write(Level level, const std::string& message);

template <typename... A>
void debug(fmt::format_string<A...> f, A&&... a) {
  if (enabled(Level::Debug)) write(Level::Debug, fmt::format(f, std::forward<A>(a)...));
}
template <typename... A>
void info(fmt::format_string<A...> f, A&&... a) {
  if (enabled(Level::Info)) write(Level::Info, fmt::format(f, std::forward<A>(a)...));
}
template <typename... A>
void warn(fmt::format_string<A...> f, A&&... a) {
  if (enabled(Level::Warn)) write(Level::Warn, fmt::format(f, std::forward<A>(a)...));
}
template <typename... A>
void error(fmt::format_string<A...> f, A&&... a) {
  if (enabled(Level::Error)) write(Level::Error, fmt::format(f, std::forward<A>(a)...));
}

Level parse_level(const std::string& s);  // debug|info|warn|error

}  // namespace tc::log
