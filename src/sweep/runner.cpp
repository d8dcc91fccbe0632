// The point runner loop: rank 0 picks and locks a point, every rank runs its stages.
#include "sweep/runner.h"

#include <unistd.h>

#include <chrono>
#include <map>

#include "dist/dist.h"
#include "util/check.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/progress.h"

namespace tc::sweep {
namespace detail_runner {

int bcast_int(dist::Communicator& comm, int v) {
  comm.broadcast(&v, sizeof v, 0);
  return v;
}
bool bcast_bool(dist::Communicator& comm, bool v) { return bcast_int(comm, v ? 1 : 0) != 0; }

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

constexpr const char* kStopped = "stopped: ";

// Runs one stage on every rank; returns the errors of all ranks (empty: success everywhere).
// A stage that stopped on a signal on every rank (they agree on it) throws StageStopped.
template <typename F>
std::vector<std::string> stage(dist::Communicator& comm, F&& fn) {
  std::string err;
  try {
    fn();
  } catch (const StageStopped& e) {
    err = std::string(kStopped) + e.what();
  } catch (const Error& e) {
    err = fmt::format("{} error: {}", error_kind_name(e.kind()), e.message());
  } catch (const std::exception& e) {
    err = fmt::format("error: {}", e.what());
  }
  std::vector<std::string> all = comm.allgather_strings(err);
  std::vector<std::string> errs;
  size_t stopped = 0;
  for (size_t r = 0; r < all.size(); ++r) {
    if (all[r].rfind(kStopped, 0) == 0) ++stopped;
    if (!all[r].empty()) errs.push_back(all.size() > 1 ? fmt::format("rank {}: {}", r, all[r]) : all[r]);
  }
  if (stopped == all.size()) throw StageStopped(all.front().substr(std::string(kStopped).size()));
  return errs;
}

// Runs point `p` on every rank; returns "" on success or the failure description.
std::string run_one(const Manifest& m, const std::string& out_dir, const Point& p, PointRunner& runner,
                    dist::Communicator& comm, const RunOptions& opts) {
  bool root = comm.rank() == 0;
  auto t0 = std::chrono::steady_clock::now();
  std::string dir = point_dir(out_dir, p.id);
  if (root) {
    make_dirs(dir);
    write_marker(dir + "/point.json", point_json(p));
  }
  comm.barrier();
  auto data_of = [&](const std::string& ds) -> const DataSet& {
    auto it = m.data.find(ds);
    if (it == m.data.end())
      TC_FAIL(ErrorKind::Input, "{}: dataset '{}' of point {} is missing from field 'data'", m.path, ds, p.id);
    return it->second;
  };
  auto fail = [&](const std::string& stage_name, const std::vector<std::string>& errs) {
    if (root) {
      write_failed(out_dir, p.id,
                   {{"id", p.id}, {"index", p.index}, {"label", p.label}, {"stage", stage_name},
                    {"error", errs.front()}, {"errors", errs}, {"host", host_name()},
                    {"pid", static_cast<long>(getpid())}, {"time", utc_now_iso()},
                    {"seconds", seconds_since(t0)}});
    }
    return fmt::format("{} {} ({}): {}: {}", p.index, p.id, p.label, stage_name, errs.front());
  };

  std::string ckpt = train_dir(out_dir, p.id) + "/checkpoint.h5";
  bool train_done = bcast_bool(comm, root && file_exists(dir + "/train.done.json") && file_exists(ckpt));
  if (train_done) {
    log::info("point {} {}: training already done, reusing {}", p.index, p.id, ckpt);
  } else {
    log::info("point {} {} ({}): training on {}", p.index, p.id, p.label, p.train);
    auto ts = std::chrono::steady_clock::now();
    // An interrupted training left its last checkpoint: the trainer continues from it.
    bool resume = bcast_bool(comm, root && file_exists(ckpt));
    if (resume) log::info("point {} {}: resuming the interrupted training from {}", p.index, p.id, ckpt);
    if (root) make_dirs(train_dir(out_dir, p.id));
    comm.barrier();  // (no collective inside a stage: a rank that throws must not leave others waiting)
    auto errs = stage(comm, [&] {
      const DataSet& d = data_of(p.train);
      TC_CHECK_INPUT(file_exists(d.path), "{}: data.{}.path: data file '{}' does not exist (from [data] of "
                     "the sweep file)", m.path, d.name, d.path);
      TrainJob job{&p, &d, train_dir(out_dir, p.id), resume};
      runner.train(job);
      if (root)
        TC_CHECK_INPUT(file_exists(ckpt), "training of point {} finished without writing '{}'", p.id, ckpt);
    });
    if (!errs.empty()) return fail("train", errs);
    if (root)
      write_marker(dir + "/train.done.json",
                   {{"finished", utc_now_iso()}, {"seconds", seconds_since(ts)}, {"host", host_name()},
                    {"ranks", comm.world()}, {"checkpoint", ckpt}});
  }

  for (const auto& ds : p.evals) {
    std::string metrics = metrics_path(out_dir, p.id, ds);
    if (bcast_bool(comm, root && file_exists(metrics))) {
      log::info("point {} {}: evaluation on {} already done", p.index, p.id, ds);
      continue;
    }
    log::info("point {} {} ({}): evaluating on {}", p.index, p.id, p.label, ds);
    if (root) make_dirs(eval_dir(out_dir, p.id, ds));
    comm.barrier();
    auto errs = stage(comm, [&] {
      const DataSet& d = data_of(ds);
      TC_CHECK_INPUT(file_exists(d.path), "{}: data.{}.path: data file '{}' does not exist (from [data] of "
                     "the sweep file)", m.path, d.name, d.path);
      EvalJob job{&p, &d, ckpt, eval_dir(out_dir, p.id, ds), opts.visualize};
      runner.eval(job);
      if (root)
        TC_CHECK_INPUT(file_exists(metrics), "evaluation of point {} on {} finished without writing '{}'",
                       p.id, ds, metrics);
    });
    if (!errs.empty()) return fail("eval " + ds, errs);
  }

  if (root) {
    write_marker(dir + "/done.json", {{"id", p.id}, {"index", p.index}, {"label", p.label},
                                      {"train", p.train}, {"evals", p.evals}, {"finished", utc_now_iso()},
                                      {"seconds", seconds_since(t0)}, {"host", host_name()},
                                      {"ranks", comm.world()}});
    clear_failed(out_dir, p.id);
  }
  return "";
}

}  // namespace detail_runner

std::map<std::string, PointRunnerFactory>& point_runners() {
  static std::map<std::string, PointRunnerFactory> r;
  return r;
}

bool register_point_runner(const std::string& name, PointRunnerFactory make) {
  point_runners()[name] = std::move(make);
  return true;
}

const PointRunnerFactory* find_point_runner(const std::string& name) {
  auto it = point_runners().find(name);
  return it == point_runners().end() ? nullptr : &it->second;
}

RunSummary run_points(const Manifest& m, const std::string& out_dir, PointRunner& runner,
                      dist::Communicator& comm, const RunOptions& opts) {
  using detail_runner::bcast_int;
  RunSummary sum;
  bool root = comm.rank() == 0;
  int n = static_cast<int>(m.points.size());
  if (!opts.all) {
    if (opts.index < 0 || opts.index >= n)
      TC_FAIL(ErrorKind::Usage, "point index {} is out of range: {} has {} points (0..{})", opts.index,
              m.path, n, n - 1);
  }

  // Rank 0 picks the next point it can lock; -1 ends the loop on every rank.
  std::unique_ptr<PointLock> lock;
  auto pick = [&](int from) -> int {
    if (!root) return -1;
    for (int i = from; i < n; ++i) {
      const Point& p = m.points[i];
      PointStatus st = point_status(out_dir, p, opts.lock);
      if (st.state == State::Done) {
        ++sum.skipped_done;
        if (!opts.all) log::info("point {} {} ({}) is already done", i, p.id, p.label);
      } else if (st.state == State::Failed && opts.all && !opts.retry_failed) {
        ++sum.skipped_failed;
        log::info("point {} {} failed before ({}); skipped (--retry-failed runs it again)", i, p.id,
                  st.failed.value("error", std::string("?")));
      } else {
        LockInfo holder;
        lock = PointLock::try_acquire(point_dir(out_dir, p.id), opts.lock, &holder);
        if (lock) {
          if (lock->took_over())
            log::info("point {} {}: took over a stale lock ({}); resuming (train {}, {} of {} evaluations done)",
                      i, p.id, lock->took_over()->why, st.train_done ? "done" : "not done",
                      st.evals_done, st.evals_total);
          return i;
        }
        ++sum.skipped_running;
        log::info("point {} {} is running elsewhere ({}); skipped", i, p.id, holder.why);
      }
      if (!opts.all) return -1;
    }
    return -1;
  };

  int total = 0;
  if (root && opts.all)
    for (const auto& p : m.points)
      if (point_status(out_dir, p, opts.lock).state != State::Done) ++total;
  Progress progress("sweep points", opts.all ? total : 1, "point", root && opts.progress);

  int cursor = opts.all ? 0 : opts.index;
  while (true) {
    int i = bcast_int(comm, pick(cursor));
    if (i < 0) break;
    const Point& p = m.points[i];
    std::string err;
    try {
      err = detail_runner::run_one(m, out_dir, p, runner, comm, opts);
    } catch (const StageStopped& e) {  // every rank: the point resumes in the next job
      lock.reset();
      sum.stopped = fmt::format("point {} {}: {}", p.index, p.id, e.what());
      log::warn("sweep stopped on a signal: {}", sum.stopped);
      break;
    }
    lock.reset();
    ++sum.ran;
    if (err.empty()) {
      ++sum.succeeded;
    } else {
      ++sum.failed;
      sum.failures.push_back(err);
      log::warn("point failed: {}", err);
    }
    progress.update(1, fmt::format("{} ok, {} failed", sum.succeeded, sum.failed));
    if (!opts.all) break;
    cursor = i + 1;
  }
  progress.finish(fmt::format("{} ok, {} failed", sum.succeeded, sum.failed));
  // Nobody leaves before rank 0 has released its lock and written its markers: a rank that
  // returns a failure code ends the MPI job (tokenclip's main aborts on a non-zero exit).
  comm.barrier();
  return sum;
}

}  // namespace tc::sweep
