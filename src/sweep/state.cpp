// Point markers and O_EXCL locks with heartbeat and stale-lock takeover.
#include "sweep/state.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "util/check.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/log.h"

namespace tc::sweep {
namespace detail_state {

// Reads the whole file or returns "" when it cannot be read (a lock may vanish at any time).
std::string slurp(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return {};
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return s;
}

double mtime_age_s(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<double>(now.tv_sec - st.st_mtim.tv_sec) +
         1e-9 * static_cast<double>(now.tv_nsec - st.st_mtim.tv_nsec);
}

LockInfo describe(const std::string& text, double age_s, const LockOptions& opts) {
  LockInfo li;
  li.age_s = age_s;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    // Being written right now (created, content not yet there), or garbage: judge by age.
    li.stale = age_s > opts.stale_after_s;
    li.why = li.stale ? fmt::format("unreadable lock, no heartbeat for {:.0f} s", age_s)
                      : "lock being written";
    return li;
  }
  li.host = j.value("host", std::string());
  li.pid = j.value("pid", 0L);
  li.started = j.value("started", std::string());
  li.token = j.value("token", std::string());
  if (li.host == host_name() && li.pid > 0) {
    bool gone = ::kill(static_cast<pid_t>(li.pid), 0) != 0 && errno == ESRCH;
    li.stale = gone;
    li.why = gone ? fmt::format("process {} on {} is gone", li.pid, li.host)
                  : fmt::format("process {} on {} is alive", li.pid, li.host);
  } else {
    li.stale = age_s > opts.stale_after_s;
    li.why = li.stale ? fmt::format("owner {} on {}: no heartbeat for {:.0f} s (limit {:.0f} s)",
                                    li.pid, li.host, age_s, opts.stale_after_s)
                      : fmt::format("owner {} on {}: heartbeat {:.0f} s ago", li.pid, li.host, age_s);
  }
  return li;
}

}  // namespace detail_state

const char* state_name(State s) {
  switch (s) {
    case State::Pending: return "pending";
    case State::Running: return "running";
    case State::Done: return "done";
    case State::Failed: return "failed";
  }
  return "?";
}

std::string host_name() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}


std::optional<LockInfo> read_lock(const std::string& pdir, const LockOptions& opts) {
  std::string path = pdir + "/lock";
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return detail_state::describe(detail_state::slurp(path), detail_state::mtime_age_s(path), opts);
}

std::unique_ptr<PointLock> PointLock::try_acquire(const std::string& pdir, const LockOptions& opts,
                                                  LockInfo* holder) {
  make_dirs(pdir);
  std::string path = pdir + "/lock";
  std::unique_ptr<PointLock> lock(new PointLock());
  lock->path_ = path;
  lock->token_ = sha256_hex(fmt::format("{}/{}/{}/{}", host_name(), getpid(), utc_now_iso(),
                                        std::chrono::steady_clock::now().time_since_epoch().count()))
                     .substr(0, 16);
  for (int attempt = 0; attempt < 3; ++attempt) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd >= 0) {
      nlohmann::json j = {{"pid", static_cast<long>(getpid())}, {"host", host_name()},
                          {"started", utc_now_iso()}, {"token", lock->token_}};
      std::string text = j.dump() + "\n";
      bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
      ::fsync(fd);
      ::close(fd);
      if (!ok) {
        ::unlink(path.c_str());
        TC_RUNTIME_ERROR("cannot write lock file '{}': {}", path, std::strerror(errno));
      }
      if (opts.heartbeat_s > 0)
        lock->heartbeat_ = std::thread(&PointLock::heartbeat_loop, lock.get(), opts.heartbeat_s);
      return lock;
    }
    if (errno != EEXIST) TC_RUNTIME_ERROR("cannot create lock file '{}': {}", path, std::strerror(errno));
    std::string seen = detail_state::slurp(path);
    LockInfo li = detail_state::describe(seen, detail_state::mtime_age_s(path), opts);
    if (!li.stale) {
      if (holder) *holder = li;
      return nullptr;
    }
    // Take over: move the stale file aside; if what we moved is not what we judged (a new
    // owner replaced it in between), put it back (link fails if yet another lock exists).
    std::string aside = fmt::format("{}.stale.{}.{}", path, host_name(), getpid());
    if (::rename(path.c_str(), aside.c_str()) != 0) continue;  // someone else moved it: retry
    if (detail_state::slurp(aside) != seen) {
      if (::link(aside.c_str(), path.c_str()) != 0 && holder) *holder = li;
      ::unlink(aside.c_str());
      if (holder) *holder = detail_state::describe(detail_state::slurp(path), 0, opts);
      return nullptr;
    }
    ::unlink(aside.c_str());
    lock->previous_ = li;
  }
  if (holder) *holder = detail_state::describe(detail_state::slurp(path), 0, opts);
  return nullptr;
}

void PointLock::heartbeat_loop(double period_s) {
  auto period = std::chrono::duration<double>(period_s);
  auto next = std::chrono::steady_clock::now() + period;
  while (!stop_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (std::chrono::steady_clock::now() < next) continue;
    ::utimensat(AT_FDCWD, path_.c_str(), nullptr, 0);
    next = std::chrono::steady_clock::now() + period;
  }
}

PointLock::~PointLock() {
  stop_ = true;
  if (heartbeat_.joinable()) heartbeat_.join();
  // Remove only our own lock: after a (wrongful) takeover the file may belong to another.
  nlohmann::json j = nlohmann::json::parse(detail_state::slurp(path_), nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.value("token", std::string()) == token_)
    ::unlink(path_.c_str());
}

std::string train_dir(const std::string& out_dir, const std::string& id) {
  return point_dir(out_dir, id) + "/train";
}
std::string eval_dir(const std::string& out_dir, const std::string& id, const std::string& ds) {
  return point_dir(out_dir, id) + "/eval/" + ds;
}
std::string metrics_path(const std::string& out_dir, const std::string& id, const std::string& ds) {
  return eval_dir(out_dir, id, ds) + "/metrics.json";
}

void write_marker(const std::string& path, const nlohmann::json& j) {
  make_dirs(std::filesystem::path(path).parent_path().string());
  write_file_atomic(path, j.dump(2) + "\n");
}

void write_failed(const std::string& out_dir, const std::string& id, const nlohmann::json& j) {
  write_marker(point_dir(out_dir, id) + "/failed.json", j);
}

void clear_failed(const std::string& out_dir, const std::string& id) {
  ::unlink((point_dir(out_dir, id) + "/failed.json").c_str());
}

PointStatus point_status(const std::string& out_dir, const Point& p, const LockOptions& opts) {
  PointStatus st;
  std::string dir = point_dir(out_dir, p.id);
  st.lock = read_lock(dir, opts);
  st.train_done = file_exists(dir + "/train.done.json");
  st.evals_total = static_cast<int>(p.evals.size());
  for (const auto& ds : p.evals)
    if (file_exists(metrics_path(out_dir, p.id, ds))) ++st.evals_done;
  if (file_exists(dir + "/failed.json")) {
    st.failed = nlohmann::json::parse(detail_state::slurp(dir + "/failed.json"), nullptr, false);
    if (st.failed.is_discarded()) st.failed = nlohmann::json::object();
  }
  // done.json is written after the last stage; a protocol that gained targets since then
  // makes the point incomplete again (evals_done < total).
  bool done = file_exists(dir + "/done.json") && st.train_done && st.evals_done == st.evals_total;
  if (done) st.state = State::Done;
  else if (st.lock && !st.lock->stale) st.state = State::Running;
  else if (!st.failed.is_null()) st.state = State::Failed;
  else st.state = State::Pending;
  return st;
}

}  // namespace tc::sweep
