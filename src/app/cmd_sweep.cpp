// `tokenclip sweep plan|run|status --sweep FILE --out DIR`: grids of training + zero-shot
// evaluation points (docs/SWEEPS.md). Points run the registered `train` and `eval` commands
// in-process, so `mpirun -np N tokenclip sweep run ...` trains each point with N ranks.
#include <cstdio>
#include <cstdlib>
#include <map>

#include "app/command.h"
#include "config/config.h"
#include "dist/dist.h"
#include "sweep/runner.h"
#include "sweep/state.h"
#include "sweep/sweep.h"
#include "train/stop_signal.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/log.h"

namespace tc::app {
namespace {

// Runs a point's stages through the command registry, as if typed on the command line:
// config files (base, preset), then the point's overrides, then the flags.
class CommandPointRunner : public sweep::PointRunner {
 public:
  using Flags = std::vector<std::pair<std::string, std::string>>;
  CommandPointRunner(std::string train_cmd, std::string eval_cmd, std::string manifest, Flags train_flags,
                     Flags eval_flags, std::map<std::string, Flags> backbones)
      : train_(std::move(train_cmd)), eval_(std::move(eval_cmd)), manifest_(std::move(manifest)),
        train_flags_(std::move(train_flags)), eval_flags_(std::move(eval_flags)), backbones_(std::move(backbones)) {}

  void train(const sweep::TrainJob& job) override {
    Invocation inv = make(train_, *job.point);
    for (const auto& [k, v] : train_flags_) set_flag(inv, k, v, true);
    for (const auto& [k, v] : backbone_flags(*job.point)) set_flag(inv, k, v, true);
    set_flag(inv, "data", job.data->path, true);
    if (!job.data->cache.empty()) set_flag(inv, "cache", job.data->cache, true);
    set_flag(inv, "out", job.run_dir, true);
    // The point's training folder is the sweep's own: an interrupted run is resumed; one that
    // stopped before its first checkpoint is started again.
    set_flag(inv, job.resume ? "resume" : "overwrite", "true", false);
    call(inv);
  }

  void eval(const sweep::EvalJob& job) override {
    Invocation inv = make(eval_, *job.point);
    for (const auto& [k, v] : eval_flags_) set_flag(inv, k, v, true);
    for (const auto& [k, v] : backbone_flags(*job.point)) set_flag(inv, k, v, true);
    set_flag(inv, "checkpoint", job.checkpoint, true);
    set_flag(inv, "data", job.data->path, true);
    if (!job.data->cache.empty()) set_flag(inv, "cache", job.data->cache, false);
    set_flag(inv, "out", job.out_dir, true);
    if (job.visualize > 0) set_flag(inv, "visualize", std::to_string(job.visualize), false);
    call(inv);
  }

 private:
  const Command& command(const std::string& name) const {
    const Command* c = find_command(name);
    if (!c)
      TC_FAIL_HINT(ErrorKind::Runtime, "this tokenclip build lacks the command; check 'tokenclip --help'",
                   "{}: the sweep runs points with 'tokenclip {}', which is not part of this build",
                   manifest_, name);
    return *c;
  }

  Invocation make(const std::string& name, const sweep::Point& p) const {
    const Command& c = command(name);
    Invocation inv;
    inv.command = name;
    inv.command_line = fmt::format("tokenclip {} (sweep point {} {}: {})", name, p.index, p.id, p.label);
    std::vector<config::Spec> own = c.flags;
    for (const auto& g : global_flags()) own.push_back(g);
    inv.cfg = config::Config::for_sections(c.sections, own);
    // Files apply the keys this command reads and skip the rest (`eval` takes the model config
    // from the checkpoint), as on the command line.
    for (const auto& f : p.config_files) {
      inv.cfg.load_ini(f);
      inv.config_files.push_back(f);
    }
    for (const auto& kv : p.overrides)
      if (inv.cfg.has_key(kv.key)) inv.cfg.set(kv.key, kv.value, "sweep " + kv.source);
    return inv;
  }

  // The flags of the point's backbone (override `backbone`), none without one.
  const Flags& backbone_flags(const sweep::Point& p) const {
    static const Flags none;
    for (const auto& kv : p.overrides) {
      if (kv.key != "backbone") continue;
      auto it = backbones_.find(kv.value);
      if (it == backbones_.end())
        TC_FAIL(ErrorKind::Input, "{}: point {} uses backbone '{}', which the manifest does not define", manifest_,
                p.id, kv.value);
      return it->second;
    }
    return none;
  }

  void set_flag(Invocation& inv, const std::string& key, const std::string& value, bool required) const {
    if (!inv.cfg.has_key(key)) {
      if (required)
        TC_RUNTIME_ERROR("{}: 'tokenclip {}' has no --{} option, which the sweep sets", manifest_, inv.command, key);
      return;
    }
    if (inv.cfg.spec(key).multi) inv.cfg.append(key, value, "sweep runner");
    else inv.cfg.set(key, value, "sweep runner");
    inv.command_line += fmt::format(" --{} {}", key, value);
  }

  void call(Invocation& inv) const {
    inv.cfg.check_required();
    int rc = command(inv.command).run(inv);
    if (rc == train::kExitStopped)
      throw sweep::StageStopped(fmt::format("'{}' stopped on a signal after writing its checkpoint", inv.command_line));
    if (rc != 0) TC_RUNTIME_ERROR("'{}' exited with code {}", inv.command_line, rc);
  }

  std::string train_, eval_, manifest_;
  Flags train_flags_, eval_flags_;
  std::map<std::string, Flags> backbones_;
};

int run_sweep(Invocation& inv) {
  const std::string action = inv.args.at(0);
  const std::string out = inv.cfg.get_string("out");
  const std::string file = inv.cfg.get_string("sweep");
  const auto& env = dist::env();
  bool root = env.rank == 0;
  sweep::LockOptions lock;
  lock.stale_after_s = inv.cfg.get_float("stale-after");

  if (action == "plan") {
    TC_CHECK_USAGE(!file.empty(), "sweep plan: --sweep FILE is required");
    sweep::Sweep s = sweep::load_sweep(file);
    sweep::PlanResult r = root ? sweep::plan(s, out, inv.cfg.get_bool("force")) : sweep::PlanResult{};
    if (!root) return 0;
    for (const auto& d : s.dropped) log::info("sweep: dropped by [constraints]: {}", d);
    for (const auto& [n, d] : s.data)
      if (!file_exists(d.path)) log::warn("sweep: data file of '{}' does not exist yet: {}", n, d.path);
    log::info("sweep '{}': {} points ({} dropped by constraints) -> {} ({})", s.name, s.points.size(),
              s.dropped.size(), sweep::manifest_path(out),
              r.written ? (r.updated ? "updated" : "written") : "unchanged");
    log::info("submit with: sbatch --array=0-{} slurm/sweep.sbatch {} {}", s.points.size() - 1, file, out);
    std::printf("%zu\n", s.points.size());
    return 0;
  }

  if (action == "run") {
    auto comm = dist::make_communicator(env.world > 1 ? "mpi" : "single");
    if (!file.empty()) {
      // Every rank validates the file (same errors everywhere); rank 0 (re)writes the manifest.
      sweep::Sweep s = sweep::load_sweep(file);
      if (root) sweep::plan(s, out, false);
    }
    comm->barrier();
    sweep::Manifest m = sweep::read_manifest(out);
    sweep::RunOptions o;
    o.all = inv.cfg.get_bool("all");
    o.retry_failed = inv.cfg.get_bool("retry-failed");
    o.lock = lock;
    o.visualize = m.json.value("visualize", 0);
    o.index = static_cast<int>(inv.cfg.get_int("index"));
    if (!o.all && o.index < 0) {
      const char* task = std::getenv("SLURM_ARRAY_TASK_ID");
      TC_CHECK_USAGE(task && *task, "sweep run: give --index I or --all (inside a Slurm array task the "
                     "index defaults to SLURM_ARRAY_TASK_ID, which is not set)");
      char* end = nullptr;
      long v = std::strtol(task, &end, 10);
      TC_CHECK_USAGE(*end == '\0' && v >= 0, "sweep run: SLURM_ARRAY_TASK_ID='{}' is not an index", task);
      o.index = static_cast<int>(v);
    }
    TC_CHECK_USAGE(!(o.all && inv.cfg.get_int("index") >= 0), "sweep run: --index and --all exclude each other");
    std::string tc = m.json.value("train_command", std::string("train"));
    std::string ec = m.json.value("eval_command", std::string("eval"));
    std::unique_ptr<sweep::PointRunner> runner;
    const std::string stand_in = sweep::find_point_runner(tc) ? tc : ec;  // a test build's runner
    if (const sweep::PointRunnerFactory* make = sweep::find_point_runner(stand_in)) {
      log::warn("sweep: points run the stand-in '{}' of this test build, not train/eval: results mean nothing",
                stand_in);
      runner = (*make)(m);
    } else {
      using Flags = CommandPointRunner::Flags;
      runner = std::make_unique<CommandPointRunner>(tc, ec, m.path, m.json.value("train_flags", Flags{}),
                                                    m.json.value("eval_flags", Flags{}),
                                                    m.json.value("backbones", std::map<std::string, Flags>{}));
    }
    sweep::RunSummary sum = sweep::run_points(m, out, *runner, *comm, o);
    if (root) {
      std::printf("sweep run: %d point(s) run: %d ok, %d failed; skipped %d done, %d running elsewhere, "
                  "%d failed before\n", sum.ran, sum.succeeded, sum.failed, sum.skipped_done,
                  sum.skipped_running, sum.skipped_failed);
      for (const auto& f : sum.failures) std::printf("  failed: %s\n", f.c_str());
      if (!sum.stopped.empty()) std::printf("  stopped on a signal (resumes when run again): %s\n", sum.stopped.c_str());
      std::fflush(stdout);
    }
    comm->barrier();  // the summary is out before a failure code ends the MPI job
    if (!sum.stopped.empty()) return train::kExitStopped;
    return sum.failed > 0 ? static_cast<int>(ErrorKind::Runtime) : 0;
  }

  if (action == "status") {
    if (!root) return 0;
    sweep::Manifest m = sweep::read_manifest(out);
    int counts[4] = {0, 0, 0, 0};
    std::printf("%-5s %-10s %-8s %-6s %-8s %-24s %s\n", "index", "id", "state", "train", "evals", "trained on", "label / detail");
    for (const auto& p : m.points) {
      sweep::PointStatus st = sweep::point_status(out, p, lock);
      ++counts[static_cast<int>(st.state)];
      std::string detail = p.label;
      if (st.state == sweep::State::Running && st.lock)
        detail += fmt::format(" [pid {} on {}, since {}]", st.lock->pid, st.lock->host, st.lock->started);
      if (st.state == sweep::State::Failed)
        detail += fmt::format(" [{}: {}]", st.failed.value("stage", std::string("?")),
                              st.failed.value("error", std::string("?")));
      if (st.state == sweep::State::Pending && st.lock && st.lock->stale)
        detail += fmt::format(" [interrupted: {}]", st.lock->why);
      std::printf("%-5d %-10s %-8s %-6s %d/%-6d %-24s %s\n", p.index, p.id.c_str(), sweep::state_name(st.state),
                  st.train_done ? "done" : "-", st.evals_done, st.evals_total, p.train.c_str(), detail.c_str());
    }
    std::printf("%zu points: %d done, %d running, %d failed, %d pending\n", m.points.size(),
                counts[static_cast<int>(sweep::State::Done)], counts[static_cast<int>(sweep::State::Running)],
                counts[static_cast<int>(sweep::State::Failed)], counts[static_cast<int>(sweep::State::Pending)]);
    return 0;
  }
  TC_FAIL(ErrorKind::Usage, "sweep: unknown action '{}': expected plan, run or status", action);
}

TC_REGISTER_COMMAND(Command{
    "sweep", "plan, run and inspect a sweep of training + zero-shot evaluation points",
    "plan: expand the sweep file (grid x protocol) into OUT/manifest.json and print the number of "
    "points P (for sbatch --array=0-(P-1)); refuses to renumber an existing manifest. run: run "
    "point --index I (default: SLURM_ARRAY_TASK_ID), or --all pending points; each point trains "
    "once, then evaluates on each target dataset; resumable, one lock per point, a failed point "
    "is recorded (failed.json) and the others go on; under mpirun every rank takes part. status: "
    "list done / running / failed / pending points. See docs/SWEEPS.md.",
    {},
    {flag_string("sweep", "", "sweep file (INI); required for plan, optional for run"),
     flag_string("out", "", "sweep output folder (manifest, points, results)", true),
     flag_int("index", "-1", "run: the point to run (default: SLURM_ARRAY_TASK_ID)", -1),
     flag_bool("all", "run: every point that is not done (in index order)"),
     flag_bool("retry-failed", "run --all: also run points that failed before"),
     flag_bool("force", "plan: overwrite a manifest whose points differ (renumbers indices)"),
     flag_float("stale-after", "900", "seconds without heartbeat after which another host's lock is stale", 1)},
    "ACTION", "plan | run | status", 1, 1, 60, run_sweep});

}  // namespace
}  // namespace tc::app
