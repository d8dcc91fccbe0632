// Running points: locks (contention between two worker processes, stale takeover), resume
// after an interrupted point, failure recording, status, and the fake runner's outputs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>

#include "dist/dist.h"
#include "sweep/fake_runner.h"
#include "sweep/runner.h"
#include "sweep/state.h"
#include "sweep/sweep.h"
#include "sweep/sweep_support.h"
#include "util/check.h"
#include "util/fs.h"

namespace tc::sweep {
namespace {

using ::testing::HasSubstr;
using testing::count_lines;
using testing::read_text;
using testing::RecordingRunner;
using testing::TempDir;
using testing::write_text;

// A sweep of `n` points (method.topk grid) trained on a, evaluated on b and c; data files exist.
Manifest make_sweep(const TempDir& d, int n, const std::string& extra = "") {
  write_text(d.path + "/a.h5", "a");
  write_text(d.path + "/b.h5", "b");
  write_text(d.path + "/c.h5", "c");
  std::string grid = "1";
  for (int i = 2; i <= n; ++i) grid += ", " + std::to_string(i);
  Sweep s = load_sweep_text("[grid]\nmethod.topk = " + grid + "\n[protocol]\na = b, c\n[data]\na = a.h5\nb = b.h5\nc = c.h5\n" + extra,
                            "s.ini", d.path);
  plan(s, d.path + "/out");
  return read_manifest(d.path + "/out");
}

std::map<std::string, int> count_calls(const std::string& log) {
  std::map<std::string, int> c;
  std::string text = read_text(log);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t e = text.find('\n', pos);
    std::string line = text.substr(pos, e - pos);
    pos = e + 1;
    c[line.substr(0, line.rfind(' '))]++;  // without the pid
  }
  return c;
}

pid_t dead_pid() {
  pid_t p = fork();
  if (p == 0) _exit(0);
  waitpid(p, nullptr, 0);
  return p;
}

TEST(SweepLock, ExclusiveReleasedAndStaleTakeover) {
  TempDir d;
  std::string pd = d.path + "/p";
  LockOptions o;
  o.heartbeat_s = 0.2;
  auto a = PointLock::try_acquire(pd, o);
  ASSERT_TRUE(a);
  LockInfo holder;
  EXPECT_FALSE(PointLock::try_acquire(pd, o, &holder));
  EXPECT_EQ(holder.pid, getpid());
  EXPECT_FALSE(holder.stale);
  EXPECT_THAT(holder.why, HasSubstr("is alive"));
  // Heartbeat: the lock file's mtime moves while held.
  struct stat st0, st1;
  stat((pd + "/lock").c_str(), &st0);
  usleep(600000);
  stat((pd + "/lock").c_str(), &st1);
  EXPECT_GT(st1.st_mtim.tv_sec * 1000000000L + st1.st_mtim.tv_nsec, st0.st_mtim.tv_sec * 1000000000L + st0.st_mtim.tv_nsec);
  a.reset();
  EXPECT_FALSE(file_exists(pd + "/lock"));

  // Owner on this host is gone: taken over.
  pid_t gone = dead_pid();
  write_text(pd + "/lock", fmt::format("{{\"pid\": {}, \"host\": \"{}\", \"started\": \"x\", \"token\": \"t\"}}", gone, host_name()));
  auto b = PointLock::try_acquire(pd, o);
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->took_over());
  EXPECT_EQ(b->took_over()->pid, gone);
  EXPECT_THAT(b->took_over()->why, HasSubstr("is gone"));
  b.reset();

  // Owner on another host: alive while the heartbeat is fresh, stale after stale_after_s.
  write_text(pd + "/lock", "{\"pid\": 1, \"host\": \"elsewhere\", \"started\": \"x\", \"token\": \"t\"}");
  o.stale_after_s = 100;
  EXPECT_FALSE(PointLock::try_acquire(pd, o, &holder));
  EXPECT_THAT(holder.why, HasSubstr("heartbeat"));
  struct timespec old[2];
  clock_gettime(CLOCK_REALTIME, &old[0]);
  old[0].tv_sec -= 200;
  old[1] = old[0];
  utimensat(AT_FDCWD, (pd + "/lock").c_str(), old, 0);
  auto c = PointLock::try_acquire(pd, o);
  ASSERT_TRUE(c);
  EXPECT_THAT(c->took_over()->why, HasSubstr("no heartbeat for 200 s"));
}

TEST(SweepRunner, RunsEveryPointOnceAndSkipsDone) {
  TempDir d;
  Manifest m = make_sweep(d, 3);
  std::string out = d.path + "/out";
  RecordingRunner r(d.path + "/calls.log");
  auto comm = dist::make_communicator("single");
  RunOptions o;
  o.all = true;
  o.progress = false;
  RunSummary s = run_points(m, out, r, *comm, o);
  EXPECT_EQ(s.ran, 3);
  EXPECT_EQ(s.succeeded, 3);
  EXPECT_EQ(count_lines(d.path + "/calls.log"), 3 * 3);  // 1 train + 2 evals each
  for (const auto& p : m.points) {
    EXPECT_EQ(point_status(out, p).state, State::Done);
    EXPECT_TRUE(file_exists(point_dir(out, p.id) + "/done.json"));
    EXPECT_TRUE(file_exists(point_dir(out, p.id) + "/point.json"));
    EXPECT_FALSE(file_exists(point_dir(out, p.id) + "/lock"));
  }
  RunSummary again = run_points(m, out, r, *comm, o);
  EXPECT_EQ(again.ran, 0);
  EXPECT_EQ(again.skipped_done, 3);
  EXPECT_EQ(count_lines(d.path + "/calls.log"), 9);
}

TEST(SweepRunner, TwoWorkerProcessesNeverRunTheSamePoint) {
  TempDir d;
  Manifest m = make_sweep(d, 6);
  std::string out = d.path + "/out";
  std::vector<pid_t> kids;
  for (int w = 0; w < 2; ++w) {
    pid_t pid = fork();
    if (pid == 0) {
      int rc = 0;
      try {
        RecordingRunner r(d.path + "/calls.log");
        r.sleep_s = 0.3;  // long enough that both workers contend for the same points
        auto comm = dist::make_communicator("single");
        RunOptions o;
        o.all = true;
        o.progress = false;
        RunSummary s = run_points(m, out, r, *comm, o);
        write_text(fmt::format("{}/summary.{}", d.path, w), fmt::format("{} {}", s.ran, s.skipped_running));
        rc = s.failed;
      } catch (...) {
        rc = 99;
      }
      _exit(rc);
    }
    kids.push_back(pid);
  }
  for (pid_t k : kids) {
    int status = 0;
    waitpid(k, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  auto calls = count_calls(d.path + "/calls.log");
  for (const auto& p : m.points) {
    EXPECT_EQ(calls["train " + p.id], 1) << p.id;
    EXPECT_EQ(calls["eval " + p.id + " b"], 1) << p.id;
    EXPECT_EQ(calls["eval " + p.id + " c"], 1) << p.id;
    EXPECT_EQ(point_status(out, p).state, State::Done);
  }
  int ran0 = 0, ran1 = 0, skip0 = 0, skip1 = 0;
  sscanf(read_text(d.path + "/summary.0").c_str(), "%d %d", &ran0, &skip0);
  sscanf(read_text(d.path + "/summary.1").c_str(), "%d %d", &ran1, &skip1);
  EXPECT_EQ(ran0 + ran1, 6);
  EXPECT_GT(ran0, 0);  // both workers got work: the points were shared, not duplicated
  EXPECT_GT(ran1, 0);
}

TEST(SweepRunner, ResumesAnInterruptedPointWhereItStopped) {
  TempDir d;
  Manifest m = make_sweep(d, 2);
  std::string out = d.path + "/out";
  const Point& p0 = m.points[0];
  // A worker dies (as if killed) during its second evaluation of point 0.
  pid_t pid = fork();
  if (pid == 0) {
    RecordingRunner r(d.path + "/crash.log");
    r.on_eval = [](const EvalJob& j) {
      if (j.data->name == "c") _exit(9);
    };
    auto comm = dist::make_communicator("single");
    RunOptions o;
    o.index = 0;
    o.progress = false;
    run_points(m, out, r, *comm, o);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 9);
  PointStatus st = point_status(out, p0);
  EXPECT_EQ(st.state, State::Pending);  // its lock is stale: the owner is gone
  ASSERT_TRUE(st.lock);
  EXPECT_TRUE(st.lock->stale);
  EXPECT_TRUE(st.train_done);
  EXPECT_EQ(st.evals_done, 1);

  RecordingRunner r(d.path + "/calls.log");
  auto comm = dist::make_communicator("single");
  RunOptions o;
  o.all = true;
  o.progress = false;
  RunSummary s = run_points(m, out, r, *comm, o);
  EXPECT_EQ(s.succeeded, 2);
  auto calls = count_calls(d.path + "/calls.log");
  EXPECT_EQ(calls["train " + p0.id], 0);  // not retrained
  EXPECT_EQ(calls["eval " + p0.id + " b"], 0);  // finished evaluation kept
  EXPECT_EQ(calls["eval " + p0.id + " c"], 1);
  EXPECT_EQ(calls["train " + m.points[1].id], 1);
  EXPECT_EQ(point_status(out, p0).state, State::Done);
}

TEST(SweepRunner, FailedPointIsRecordedAndOthersGoOn) {
  TempDir d;
  Manifest m = make_sweep(d, 3);
  std::string out = d.path + "/out";
  std::string bad = m.points[1].id;
  RecordingRunner r(d.path + "/calls.log");
  r.on_train = [&](const TrainJob& j) {
    if (j.point->id == bad) TC_INPUT_ERROR("file x.h5: field 'images': expected uint8");
  };
  auto comm = dist::make_communicator("single");
  RunOptions o;
  o.all = true;
  o.progress = false;
  RunSummary s = run_points(m, out, r, *comm, o);
  EXPECT_EQ(s.succeeded, 2);
  EXPECT_EQ(s.failed, 1);
  ASSERT_EQ(s.failures.size(), 1u);
  EXPECT_THAT(s.failures[0], HasSubstr("train: input error: file x.h5: field 'images'"));
  PointStatus st = point_status(out, m.points[1]);
  EXPECT_EQ(st.state, State::Failed);
  EXPECT_EQ(st.failed["stage"], "train");
  EXPECT_THAT(st.failed["error"].get<std::string>(), HasSubstr("expected uint8"));
  EXPECT_EQ(point_status(out, m.points[2]).state, State::Done);

  // --all skips it unless asked to retry; a retry that succeeds clears failed.json.
  RunSummary again = run_points(m, out, r, *comm, o);
  EXPECT_EQ(again.ran, 0);
  EXPECT_EQ(again.skipped_failed, 1);
  r.on_train = nullptr;
  o.retry_failed = true;
  RunSummary retry = run_points(m, out, r, *comm, o);
  EXPECT_EQ(retry.succeeded, 1);
  EXPECT_EQ(point_status(out, m.points[1]).state, State::Done);
  EXPECT_FALSE(file_exists(point_dir(out, bad) + "/failed.json"));
}

// A training stopped on a signal (train exit 75: a Slurm time limit) leaves its point neither
// done nor failed, releases the lock and ends the run at once; the next run resumes it.
TEST(SweepRunner, StoppedTrainingEndsTheRunAndResumesNextTime) {
  TempDir d;
  Manifest m = make_sweep(d, 2);
  std::string out = d.path + "/out";
  const Point& p0 = m.points[0];
  RecordingRunner r(d.path + "/calls.log");
  r.on_train = [&](const TrainJob& j) {
    write_text(j.run_dir + "/checkpoint.h5", "step 3");  // what the stopped trainer leaves
    throw StageStopped("'tokenclip train ...' stopped on a signal after writing its checkpoint");
  };
  auto comm = dist::make_communicator("single");
  RunOptions o;
  o.all = true;
  o.progress = false;
  RunSummary s = run_points(m, out, r, *comm, o);
  EXPECT_THAT(s.stopped, HasSubstr("point 0 " + p0.id + ": 'tokenclip train ...' stopped on a signal"));
  EXPECT_EQ(s.failed, 0);
  EXPECT_EQ(s.succeeded, 0);
  PointStatus st = point_status(out, p0);
  EXPECT_EQ(st.state, State::Pending);
  EXPECT_FALSE(st.lock) << "the stopped point kept its lock";
  EXPECT_FALSE(file_exists(point_dir(out, p0.id) + "/failed.json"));
  EXPECT_EQ(count_calls(d.path + "/calls.log")["train " + m.points[1].id], 0) << "went on after the stop";

  bool resumed = false;
  r.on_train = [&](const TrainJob& j) { resumed = resumed || (j.point->id == p0.id && j.resume); };
  RunSummary again = run_points(m, out, r, *comm, o);
  EXPECT_TRUE(again.stopped.empty());
  EXPECT_EQ(again.succeeded, 2);
  EXPECT_TRUE(resumed) << "the stopped training was not resumed";
}

TEST(SweepRunner, MissingDataFileFailsThePointNamingIt) {
  TempDir d;
  Manifest m = make_sweep(d, 1);
  ::unlink((d.path + "/b.h5").c_str());
  RecordingRunner r(d.path + "/calls.log");
  auto comm = dist::make_communicator("single");
  RunOptions o;
  o.index = 0;
  o.progress = false;
  RunSummary s = run_points(m, d.path + "/out", r, *comm, o);
  ASSERT_EQ(s.failed, 1);
  EXPECT_THAT(s.failures[0], HasSubstr("eval b: input error"));
  EXPECT_THAT(s.failures[0], HasSubstr("data.b.path: data file '" + d.path + "/b.h5' does not exist"));
  RunOptions bad;
  bad.index = 5;  // out of range
  EXPECT_THROW(run_points(m, d.path + "/out", r, *comm, bad), Error);
}

TEST(SweepRunner, FakeRunnerWritesTheDocumentedOutputs) {
  TempDir d;
  Manifest m = make_sweep(d, 2, "[fake]\nfail = 1\nsteps = 6\n");
  std::string out = d.path + "/out";
  auto fake = testing::make_fake_runner(m.json.value("fake", std::map<std::string, std::string>{}));
  auto comm = dist::make_communicator("single");
  RunOptions o;
  o.all = true;
  o.progress = false;
  o.visualize = 2;
  RunSummary s = run_points(m, out, *fake, *comm, o);
  EXPECT_EQ(s.succeeded, 1);
  EXPECT_EQ(s.failed, 1);
  std::string id = m.points[0].id;
  EXPECT_EQ(count_lines(train_dir(out, id) + "/log.jsonl"), 6 + 3);  // steps + epoch lines
  EXPECT_TRUE(file_exists(train_dir(out, id) + "/checkpoint.h5"));
  auto j = nlohmann::json::parse(read_text(metrics_path(out, id, "b")));
  EXPECT_EQ(j["format"], "tokenclip-metrics");
  EXPECT_EQ(j["classes"].size(), 3u);
  EXPECT_TRUE(file_exists(eval_dir(out, id, "b") + "/pictures/001.png"));
}

TEST(SweepRunner, StandInsAreRegisteredByTheTestBuildOnly) {
  // tests/sweep/fake_runner.cpp, linked into this binary, registers "builtin-fake"; the
  // commands are no point runners of their own (the shipped tokenclip registers none: e2e
  // fake_runner.sh).
  TempDir d;
  Manifest m = make_sweep(d, 1, "[fake]\nsteps = 3\n");
  const PointRunnerFactory* make = find_point_runner("builtin-fake");
  ASSERT_NE(make, nullptr);
  EXPECT_EQ(find_point_runner("train"), nullptr);
  EXPECT_EQ(find_point_runner("eval"), nullptr);
  auto runner = (*make)(m);
  auto comm = dist::make_communicator("single");
  RunOptions o;
  o.all = true;
  o.progress = false;
  RunSummary s = run_points(m, d.path + "/out", *runner, *comm, o);
  EXPECT_EQ(s.succeeded, 1);
  EXPECT_EQ(count_lines(train_dir(d.path + "/out", m.points[0].id) + "/log.jsonl"), 3 + 3);  // [fake] steps = 3
}

}  // namespace
}  // namespace tc::sweep
