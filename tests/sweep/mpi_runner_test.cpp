// Sweep points under MPI: every rank runs every stage of the same point, only rank 0 writes
// markers, and a stage failing on one rank fails the point on all ranks (its error recorded).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "dist/dist.h"
#include "sweep/runner.h"
#include "sweep/state.h"
#include "sweep/sweep.h"
#include "sweep/sweep_support.h"
#include "util/check.h"
#include "util/fs.h"

namespace tc::sweep {
namespace {

using ::testing::HasSubstr;

// A folder shared by all ranks (rank 0 creates it).
std::string shared_dir(dist::Communicator& comm) {
  char buf[256] = {0};
  if (comm.rank() == 0) {
    std::string t = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/tc_mpisweep_XXXXXX";
    std::snprintf(buf, sizeof buf, "%s", t.c_str());
    if (!mkdtemp(buf)) buf[0] = 0;
  }
  comm.broadcast(buf, sizeof buf, 0);
  return buf;
}

// Records (rank, stage, point) per call in a per-rank file.
class RankRunner : public PointRunner {
 public:
  RankRunner(std::string dir, int rank) : dir_(std::move(dir)), rank_(rank) {}
  void train(const TrainJob& j) override {
    note("train " + j.point->id);
    if (j.point->index == fail_train_index && rank_ == fail_rank)
      TC_RUNTIME_ERROR("rank {} cannot train", rank_);
    if (rank_ == 0) testing::write_text(j.run_dir + "/checkpoint.h5", "x");
  }
  void eval(const EvalJob& j) override {
    note("eval " + j.point->id + " " + j.data->name);
    if (rank_ == 0) write_file_atomic(j.out_dir + "/metrics.json", "{}");
  }
  int fail_train_index = -1, fail_rank = -1;

 private:
  void note(const std::string& s) {
    std::string p = dir_ + "/calls." + std::to_string(rank_);
    testing::write_text(p, testing::read_text(p) + s + "\n");
  }
  std::string dir_;
  int rank_;
};

TEST(SweepMpi, AllRanksRunEachPointAndFailTogether) {
  auto comm = dist::make_communicator(dist::env().world > 1 ? "mpi" : "single");
  std::string d = shared_dir(*comm);
  ASSERT_FALSE(d.empty());
  if (comm->rank() == 0)
    for (const char* f : {"a.h5", "b.h5"}) testing::write_text(d + "/" + f, "x");
  Sweep s = load_sweep_text("[grid]\nmethod.topk = 1, 2, 3\n[protocol]\na = b\n[data]\na = a.h5\nb = b.h5\n", "s.ini", d);
  if (comm->rank() == 0) plan(s, d + "/out");
  comm->barrier();
  Manifest m = read_manifest(d + "/out");

  int world = comm->world();
  RankRunner r(d, comm->rank());
  r.fail_train_index = 1;
  r.fail_rank = world - 1;  // the last rank fails point 1
  RunOptions o;
  o.all = true;
  o.progress = false;
  RunSummary sum = run_points(m, d + "/out", r, *comm, o);
  comm->barrier();

  // Every rank saw the same outcome.
  EXPECT_EQ(sum.ran, 3);
  EXPECT_EQ(sum.succeeded, 2);
  EXPECT_EQ(sum.failed, 1);
  // Every rank took part in every stage of every point, in the same order.
  std::string mine = testing::read_text(d + "/calls." + std::to_string(comm->rank()));
  std::string expect;
  for (const auto& p : m.points) {
    expect += "train " + p.id + "\n";
    if (p.index != 1) expect += "eval " + p.id + " b\n";
  }
  EXPECT_EQ(mine, expect);
  if (comm->rank() == 0) {
    PointStatus st = point_status(d + "/out", m.points[1]);
    EXPECT_EQ(st.state, State::Failed);
    std::string err = st.failed["error"].get<std::string>();
    EXPECT_THAT(err, HasSubstr(fmt::format("rank {} cannot train", world - 1)));
    if (world > 1) EXPECT_THAT(err, HasSubstr(fmt::format("rank {}: runtime error", world - 1)));
    auto done = nlohmann::json::parse(testing::read_text(point_dir(d + "/out", m.points[0].id) + "/done.json"));
    EXPECT_EQ(done["ranks"], world);
  }
  comm->barrier();
  if (comm->rank() == 0) std::filesystem::remove_all(d);
}

}  // namespace
}  // namespace tc::sweep
