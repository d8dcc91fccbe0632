#include "util/check.h"

#include <cstring>

#include "util/log.h"

namespace tc {

const char* error_kind_name(ErrorKind k) {
  switch (k) {
    case ErrorKind::Usage: return "usage";
    case ErrorKind::Input: return "input";
    case ErrorKind::Runtime: return "runtime";
    case ErrorKind::Dist: return "distributed";
  }
  return "error";
}

Error::Error(ErrorKind kind, std::string message, std::string where, std::string hint)
    : std::runtime_error(message), kind_(kind), message_(std::move(message)),
      where_(std::move(where)), hint_(std::move(hint)) {}

std::string error_report(const Error& e) {
  std::string msg = fmt::format("tokenclip: error ({}): {}", error_kind_name(e.kind()), e.message());
  if (!e.hint().empty()) msg += fmt::format("\n  hint: {}", e.hint());
  if (!e.where().empty() && e.kind() != ErrorKind::Usage) msg += fmt::format("\n  at {}", e.where());
  if (log::options().world > 1) msg = fmt::format("[rank {}] {}", log::options().rank, msg);
  return msg;
}

std::string source_location(const char* file, int line) {
  std::string f = file ? file : "?";
  for (const char* root : {"/src/", "/tests/", "/bench/", "/data_prep/"}) {
    auto pos = f.rfind(root);
    if (pos != std::string::npos) {
      f = f.substr(pos + 1);
      break;
    }
  }
  return fmt::format("{}:{}", f, line);
}

void throw_error(ErrorKind kind, const char* file, int line, std::string message, std::string hint) {
  throw Error(kind, std::move(message), source_location(file, line), std::move(hint));
}

}  // namespace tc
