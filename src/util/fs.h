// File helpers: atomic writes (temporary name, fsync, rename) so that no output is ever
// left half-written, and small read helpers with clear errors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tc {

// A temporary path next to `final_path`; commit() fsyncs it and renames it over the final
// path (then fsyncs the directory). Destroyed without commit(): the temporary is removed and
// the final path is untouched.
class AtomicPath {
 public:
  explicit AtomicPath(std::string final_path);
  ~AtomicPath();
  AtomicPath(const AtomicPath&) = delete;
  AtomicPath& operator=(const AtomicPath&) = delete;

  const std::string& tmp() const { return tmp_; }
  const std::string& final_path() const { return final_; }
  void commit();

 private:
  std::string final_, tmp_;
  bool committed_ = false;
};

void write_file_atomic(const std::string& path, const std::string& contents);
std::string read_file(const std::string& path);  // Input error naming the file when unreadable
std::vector<uint8_t> read_file_bytes(const std::string& path);
bool file_exists(const std::string& path);
void make_dirs(const std::string& path);  // mkdir -p; Runtime error naming the path
void fsync_path(const std::string& path);

}  // namespace tc
