#include <gtest/gtest.h>

#include "dist/agreement.h"
#include "dist/dist.h"
#include "util/check.h"

using tc::dist::Statement;

TEST(Agreement, SameStatementsPass) {
  auto comm = tc::dist::make_communicator("mpi");
  EXPECT_NO_THROW(tc::dist::check_agreement(*comm, {{"config hash", "abc"}, {"shapes", "ctx:12x768;"}}));
}

TEST(Agreement, EveryRankRefusesWhenOneRankDiffers) {
  auto comm = tc::dist::make_communicator("mpi");
  if (comm->world() < 2) GTEST_SKIP() << "needs 2 or more ranks";
  int odd = comm->world() - 1;  // the last rank uses other data
  std::string hash = comm->rank() == odd ? "ffff" : "0000";
  try {
    tc::dist::check_agreement(*comm, {{"config hash", "abc"}, {"dataset content hash", hash}});
    FAIL() << "rank " << comm->rank() << " did not refuse";
  } catch (const tc::Error& e) {
    EXPECT_EQ(e.kind(), tc::ErrorKind::Dist);
    EXPECT_NE(e.message().find("rank " + std::to_string(odd) + " differs in dataset content hash"),
              std::string::npos)
        << e.message();
    EXPECT_NE(e.message().find("'ffff' (rank 0: '0000')"), std::string::npos) << e.message();
  }
}
