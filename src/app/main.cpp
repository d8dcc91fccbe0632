// `tokenclip` entry point: start the process environment (MPI when launched by mpirun/srun),
// dispatch to the subcommand, and make sure a failing rank ends the whole job.
#include <unistd.h>

#include <cstdlib>

#include "app/command.h"
#include "dist/dist.h"
#include "train/stop_signal.h"

int main(int argc, char** argv) {
  // libgomp's idle threads spin by default; with several ranks per node or a busy machine that
  // makes steps many times slower (measured: 35 s vs 0.8 s per tiny step). libgomp reads the
  // policy when it loads, before main, so when the user has not chosen one we set PASSIVE and
  // restart the program once (before MPI starts; the launcher sees the same process).
  if (!std::getenv("OMP_WAIT_POLICY")) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);  // returns only on failure: then run as we are
  }
  tc::dist::init(&argc, &argv);
  // run_main prints any error before it returns. The communicator of a failing rank was not torn
  // down on the way (dist::CommDeleter abandons it while an exception unwinds, since NCCL's
  // teardown is collective), so nothing has waited for the peers yet.
  int rc = tc::app::run_main(argc, argv);
  // A rank that failed alone would leave its peers waiting in a collective: end the job. (A run
  // stopped on a signal is no failure: every rank agreed on it and returns the same code.)
  if (rc != 0 && rc != tc::train::kExitStopped && tc::dist::env().world > 1) tc::dist::abort_job(rc);
  tc::dist::finalize();  // a bounded barrier first: MPI_Finalize itself would wait forever
  return rc;
}
