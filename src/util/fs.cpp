#include "util/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/check.h"

namespace tc {
namespace fs = std::filesystem;

AtomicPath::AtomicPath(std::string final_path) : final_(std::move(final_path)) {
  tmp_ = fmt::format("{}.tmp.{}", final_, static_cast<long>(getpid()));
}

AtomicPath::~AtomicPath() {
  if (!committed_) {
    std::error_code ec;
    fs::remove(tmp_, ec);
  }
}

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void AtomicPath::commit() {
  TC_CHECK(!committed_, "commit of '{}' called twice", final_);
  fsync_path(tmp_);
  if (std::rename(tmp_.c_str(), final_.c_str()) != 0)
    TC_RUNTIME_ERROR("cannot rename '{}' to '{}': {}", tmp_, final_, std::strerror(errno));
  committed_ = true;
  auto dir = fs::path(final_).parent_path();
  fsync_path(dir.empty() ? "." : dir.string());
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  AtomicPath ap(path);
  {
    std::ofstream out(ap.tmp(), std::ios::binary | std::ios::trunc);
    if (!out) TC_RUNTIME_ERROR("cannot write '{}': {}", ap.tmp(), std::strerror(errno));
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.flush();
    if (!out) TC_RUNTIME_ERROR("write to '{}' failed: {}", ap.tmp(), std::strerror(errno));
  }
  ap.commit();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) TC_INPUT_ERROR("cannot read '{}': {}", path, std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::string s = read_file(path);
  return std::vector<uint8_t>(s.begin(), s.end());
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

void make_dirs(const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) TC_RUNTIME_ERROR("cannot create directory '{}': {}", path, ec.message());
}

}  // namespace tc
