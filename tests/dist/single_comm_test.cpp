#include <gtest/gtest.h>

#include "dist/dist.h"
#include "util/check.h"

TEST(SingleComm, IsTheIdentity) {
  auto comm = tc::dist::make_communicator("single");
  EXPECT_EQ(comm->world(), 1);
  float v[3] = {1, 2, 3};
  comm->allreduce_sum(v, 3, tc::dist::DType::F32);
  EXPECT_EQ(v[2], 3);
  EXPECT_EQ(comm->allgather_strings("a"), std::vector<std::string>{"a"});
}

TEST(SingleComm, UnknownBackendIsAUsageError) {
  try {
    tc::dist::make_communicator("gloo");
    FAIL();
  } catch (const tc::Error& e) {
    EXPECT_EQ(e.kind(), tc::ErrorKind::Usage);
    EXPECT_NE(e.message().find("'gloo'"), std::string::npos);
  }
}

namespace {

// Records how it ended: destroyed (a collective teardown, for NCCL) or abandoned.
struct Ending {
  int destroyed = 0, abandoned = 0;
};

class RecordingComm final : public tc::dist::Communicator {
 public:
  explicit RecordingComm(Ending* e) : e_(e) {}
  ~RecordingComm() override { ++e_->destroyed; }
  void abandon() override { ++e_->abandoned; }
  std::string backend() const override { return "recording"; }
  int rank() const override { return 0; }
  int world() const override { return 1; }
  void allreduce_sum(void*, size_t, tc::dist::DType) override {}
  void allreduce_max(void*, size_t, tc::dist::DType) override {}
  void broadcast(void*, size_t, int) override {}
  void allgather(const void*, size_t, void*) override {}
  std::vector<std::string> allgather_strings(const std::string& m) override { return {m}; }
  void barrier() override {}
  void send(const void*, size_t, int) override {}
  void recv(void*, size_t, int) override {}

 private:
  Ending* e_;
};

}  // namespace

TEST(CommPtr, DestroysNormallyButOnlyAbandonsWhileAnExceptionUnwinds) {
  Ending normal;
  { tc::dist::CommPtr c(new RecordingComm(&normal)); }
  EXPECT_EQ(normal.destroyed, 1);
  EXPECT_EQ(normal.abandoned, 0);

  // A rank failing alone: the owner (app::Runtime) unwinds. The destructor (NCCL's collective
  // ncclCommDestroy) must not run; abandon (ncclCommAbort, local) does.
  Ending failing;
  try {
    tc::dist::CommPtr c(new RecordingComm(&failing));
    throw std::runtime_error("out of memory");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(failing.destroyed, 0);
  EXPECT_EQ(failing.abandoned, 1);

  // Once the exception is caught, a communicator made afterwards is destroyed normally again.
  Ending after;
  try {
    throw std::runtime_error("handled");
  } catch (const std::runtime_error&) {
    tc::dist::CommPtr c(new RecordingComm(&after));
  }
  EXPECT_EQ(after.destroyed, 1);
  EXPECT_EQ(after.abandoned, 0);
}

TEST(TestFault, MalformedSpecIsAUsageErrorNamingTheVariable) {
  for (const char* bad : {"1:allreduce:3", "x:allreduce:3:throw", "1:gather:3:throw", "1:allreduce:0:throw",
                          "1:allreduce:3:explode", "1:barrier:1:sleep=soon"}) {
    setenv("TOKENCLIP_TEST_FAULT", bad, 1);
    try {
      tc::dist::make_communicator("single");
      ADD_FAILURE() << bad << " was accepted";
    } catch (const tc::Error& e) {
      EXPECT_EQ(e.kind(), tc::ErrorKind::Usage) << bad;
      EXPECT_NE(e.message().find("TOKENCLIP_TEST_FAULT='" + std::string(bad) + "'"), std::string::npos) << e.message();
    }
  }
  setenv("TOKENCLIP_TEST_FAULT", "0:allreduce:2:throw", 1);
  auto comm = tc::dist::make_communicator("single");
  float v = 1;
  comm->allreduce_sum(&v, 1, tc::dist::DType::F32);  // call 1: nothing
  EXPECT_THROW(comm->allreduce_sum(&v, 1, tc::dist::DType::F32), tc::Error);  // call 2: throws
  EXPECT_NO_THROW(comm->barrier());
  unsetenv("TOKENCLIP_TEST_FAULT");
}
