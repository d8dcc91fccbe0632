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
