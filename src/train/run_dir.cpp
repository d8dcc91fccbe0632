#include "train/run_dir.h"

#include <filesystem>

#include "config/config.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/log.h"

namespace tc::train {
namespace detail_run_dir {

namespace fs = std::filesystem;
constexpr const char* kRunFiles[] = {"checkpoint.h5", "checkpoints", "log.jsonl", "config.ini"};

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace detail_run_dir

std::vector<std::string> run_files(const std::string& dir) {
  std::vector<std::string> found;
  for (const char* f : detail_run_dir::kRunFiles)
    if (file_exists(dir + "/" + f)) found.push_back(f);
  return found;
}

void check_out_dir(const std::string& dir, bool resume, bool overwrite) {
  using detail_run_dir::joined;
  TC_CHECK_USAGE(!(resume && overwrite),
                 "--resume and --overwrite exclude each other: continue the run in '{}', or replace it", dir);
  const std::string latest = dir + "/checkpoint.h5";
  if (resume) {
    TC_CHECK_INPUT(file_exists(latest),
                   "--resume: no checkpoint at '{}' (nothing to resume{})", latest,
                   run_files(dir).empty() ? ""
                                          : "; the run there stopped before its first checkpoint: start "
                                            "it again with --overwrite");
    return;
  }
  auto found = run_files(dir);
  if (found.empty() || overwrite) return;
  TC_FAIL_HINT(ErrorKind::Usage,
               file_exists(latest) ? "continue it with --resume, or give a new --out, or replace it with --overwrite"
                                   : "it has no checkpoint to resume: give a new --out, or replace it with --overwrite",
               "--out '{}' already holds a training run ({}); refusing to replace it", dir, joined(found));
}

void clear_run(const std::string& dir) {
  auto found = run_files(dir);
  if (found.empty()) return;
  std::error_code ec;
  for (const auto& f : found) {
    std::filesystem::remove_all(dir + "/" + f, ec);
    if (ec) TC_RUNTIME_ERROR("--overwrite: cannot remove '{}/{}': {}", dir, f, ec.message());
  }
  log::warn("--overwrite: removed the earlier run in {} ({})", dir, detail_run_dir::joined(found));
}

bool is_recipe_key(const std::string& key) {
  auto dot = key.find('.');
  if (dot == std::string::npos) return false;  // a command flag
  const std::string section = key.substr(0, dot);
  if (section != "model" && section != "method" && section != "train") return false;
  return key != "train.save_every_steps" && key != "train.log_every_steps";
}

std::vector<std::string> recipe_differences(const config::Config& then, const config::Config& now) {
  std::vector<std::string> out;
  for (const auto& key : now.keys()) {
    if (!is_recipe_key(key) || !then.has_key(key)) continue;
    if (then.text(key) != now.text(key))
      out.push_back(fmt::format("{}: {} in the checkpoint, {} now", key,
                                then.text(key).empty() ? "(empty)" : then.text(key),
                                now.text(key).empty() ? "(empty)" : now.text(key)));
  }
  return out;
}

}  // namespace tc::train
