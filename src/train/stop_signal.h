// Stopping a training run early on request (a Slurm time limit or preemption, `kill`).
//
// SIGTERM and SIGUSR1 are recorded, not acted on, while a StopSignals lives: the trainer reads
// the flag at each step boundary and combines it over ranks in that step's exchange of
// scalars (a signal may reach only some ranks), so every rank stops after the same step, rank 0
// writes a step checkpoint atomically, and the command exits with kExitStopped. `train` installs
// them for the whole command (a signal during start-up stops the run after its first step);
// elsewhere the signals keep their default action.
#pragma once

namespace tc::train {

// Exit code of a run that stopped on SIGTERM/SIGUSR1 after writing the checkpoint it resumes
// from (EX_TEMPFAIL of sysexits.h, "try again later"; not one of the error codes 2-5). The
// Slurm scripts requeue the job on it. Documented in docs/CLI.md.
inline constexpr int kExitStopped = 75;

class StopSignals {
 public:
  // Installs the recording handlers (SA_RESTART: no call is interrupted) and clears the record;
  // a nested StopSignals changes nothing. The outermost one restores the previous handlers.
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // 0, or the first of SIGTERM/SIGUSR1 received since the handlers were installed.
  static int received();
};

const char* signal_name(int signal);  // "SIGTERM", "SIGUSR1", else "signal N"

}  // namespace tc::train
