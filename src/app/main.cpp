// `tokenclip` entry point: start the process environment (MPI when launched by mpirun/srun),
// dispatch to the subcommand, and make sure a failing rank ends the whole job.
#include "app/command.h"
#include "dist/dist.h"

int main(int argc, char** argv) {
  tc::dist::init(&argc, &argv);
  int rc = tc::app::run_main(argc, argv);
  // A rank that failed alone would leave its peers waiting in a collective: end the job.
  if (rc != 0 && tc::dist::env().world > 1) tc::dist::abort_job(rc);
  tc::dist::finalize();
  return rc;
}
