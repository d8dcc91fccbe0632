// Bounded waits for peers (internal to src/dist): every backend waits through `wait_until`,
// which polls with a sleeping backoff and, once dist::comm_timeout() has passed, finds out
// which ranks are silent and ends the job.
//
// Naming the silent rank: a rank whose wait times out sends "I am waiting in <op>" to every
// other rank over the control communicator (a duplicate of MPI_COMM_WORLD, so these messages
// never match the job's own traffic) and listens for a grace period (its own deadline:
// timeout / 10, within 2..10 s). Every rank that is itself waiting anywhere sees such a message
// within a poll, answers the same way and joins. Whoever did not answer within the grace is
// not in any wait: stopped, hung, dead without the launcher noticing, or busy for longer than
// the timeout. Each waiting rank prints the verdict and calls MPI_Abort(5).
#pragma once

#include <mpi.h>

#include <cstddef>
#include <functional>
#include <string>

namespace tc::dist::detail {

void mpi_check(int rc, const char* what);  // throws a Dist error with MPI's message

// The control communicator; created (collectively) by init(), or by the first MPI
// communicator when someone else initialised MPI.
void ensure_control();

// Polls `done` until it returns true. The first polls do not sleep, for at least the time
// `bytes` take to move at memory speed (a transfer in progress needs our polls to advance);
// after that the poll sleeps, backing off to 1 ms between polls (< 1% of a core).
void wait_until(const char* what, size_t bytes, const std::function<bool()>& done);

// wait_until over MPI requests (MPI_Testall; an MPI error is thrown as a Dist error).
void wait_requests(const char* what, size_t bytes, MPI_Request* reqs, int n);

// Prints a distributed error the way `tokenclip` prints errors, then ends the job (exit 5).
[[noreturn]] void end_job(const std::string& message, const std::string& hint);

}  // namespace tc::dist::detail
