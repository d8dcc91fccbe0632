// main() for the multi-rank test executables: MPI up, only rank 0 prints gtest's report, and
// the exit code is the worst over all ranks so a failure on any rank fails the CTest entry.
#include <gtest/gtest.h>
#include <mpi.h>

#include "dist/dist.h"

int main(int argc, char** argv) {
  tc::dist::init(&argc, &argv);
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) MPI_Init(&argc, &argv);  // started without a launcher: MPI singleton
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    auto& l = ::testing::UnitTest::GetInstance()->listeners();
    delete l.Release(l.default_result_printer());
  }
  int rc = RUN_ALL_TESTS(), worst = 0;
  MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return worst;
}
