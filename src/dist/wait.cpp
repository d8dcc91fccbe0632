#include "dist/wait.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "dist/dist.h"
#include "util/check.h"

namespace tc::dist::detail {
namespace {

using Clock = std::chrono::steady_clock;

MPI_Comm g_control = MPI_COMM_NULL;
constexpr int kWaitingTag = 0x7c1;  // "I am waiting in <op>", on the control communicator only
constexpr size_t kOpText = 64;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string rank_list(const std::vector<int>& ranks) {
  std::string s;
  for (size_t i = 0; i < ranks.size(); ++i) s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s;
}

// One announcement from a peer, if one is there; the op it waits in goes to ops[src].
bool receive_announcement(std::vector<std::string>& ops, int* src) {
  int flag = 0;
  MPI_Status st;
  if (MPI_Iprobe(MPI_ANY_SOURCE, kWaitingTag, g_control, &flag, &st) != MPI_SUCCESS || !flag) return false;
  char text[kOpText] = {};
  int n = 0;
  MPI_Get_count(&st, MPI_CHAR, &n);
  n = std::clamp(n, 0, static_cast<int>(kOpText));
  MPI_Recv(text, n, MPI_CHAR, st.MPI_SOURCE, kWaitingTag, g_control, MPI_STATUS_IGNORE);
  *src = st.MPI_SOURCE;
  ops[static_cast<size_t>(*src)] = std::string(text, strnlen(text, static_cast<size_t>(n)));
  return true;
}

// The timeout passed on this rank (`first` < 0: it decides) or a peer announced its own
// (`first`, whose announcement is in ops: it decides, this rank only answers). Either way we
// tell everyone we are waiting; the decider gathers who else is and names the rest.
[[noreturn]] void diagnose(const char* what, double waited, int first, std::vector<std::string> ops) {
  int rank = 0, world = 1;
  MPI_Comm_rank(g_control, &rank);
  MPI_Comm_size(g_control, &world);
  ops[static_cast<size_t>(rank)] = what;
  // Buffers of the sends stay alive until MPI_Abort (this function does not return).
  static char text[kOpText];
  std::snprintf(text, sizeof text, "%s", what);
  for (int p = 0; p < world; ++p) {
    if (p == rank) continue;
    MPI_Request req;
    if (MPI_Isend(text, static_cast<int>(strnlen(text, kOpText)), MPI_CHAR, p, kWaitingTag, g_control, &req) ==
        MPI_SUCCESS)
      MPI_Request_free(&req);  // a stopped peer never takes it; we do not wait for it
  }
  const double timeout = comm_timeout();
  const double grace = std::clamp(timeout / 10, 2.0, 10.0);
  // An answering rank stays quiet and waits for the decider's MPI_Abort (one verdict, and the
  // launcher names the rank that decided); only if that never comes does it decide itself.
  const double limit = first < 0 ? grace : 2 * grace + 10;
  const auto t0 = Clock::now();
  auto missing = [&] { return std::count(ops.begin(), ops.end(), std::string()); };
  int src = 0;
  while ((first >= 0 || missing() > 0) && seconds(Clock::now() - t0) < limit) {
    while (receive_announcement(ops, &src)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::vector<int> silent, waiting;
  for (int p = 0; p < world; ++p) (ops[static_cast<size_t>(p)].empty() ? silent : waiting).push_back(p);
  std::string how = first < 0 ? fmt::format("waited {:.0f} s (the timeout)", waited)
                              : fmt::format("rank {} timed out ({:.0f} s) and did not end the job; this "
                                            "rank had waited {:.0f} s", first, timeout, waited);
  std::string who;
  for (int p : waiting) who += fmt::format("{}rank {} in {}", who.empty() ? "" : ", ", p, ops[static_cast<size_t>(p)]);
  std::string msg;
  if (!silent.empty())
    msg = fmt::format("{} on rank {} did not complete: {}; rank{} {} did not reach a collective or send/recv "
                      "within that time and did not answer within {:.0f} s (stopped, hung, or busy for "
                      "longer than the timeout); waiting: {}",
                      what, rank, how, silent.size() > 1 ? "s" : "", rank_list(silent), grace, who);
  else
    msg = fmt::format("{} on rank {} did not complete: {}; every rank is waiting, in operations that do not "
                      "match ({}): a rank left the sequence of operations the others follow (after an error "
                      "it handled, or a bug)", what, rank, how, who);
  end_job(msg, fmt::format("a rank that is legitimately this slow (rank 0 alone writing a large checkpoint, "
                           "pictures or a cache; an uneven shard) needs a larger limit: --runtime.comm_timeout_s "
                           "(now {:.0f} s) or comm_timeout_s in [runtime]", timeout));
}

}  // namespace

void mpi_check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, buf, &len);
  TC_FAIL(ErrorKind::Dist, "MPI {} failed: {}", what, std::string(buf, static_cast<size_t>(len)));
}

void ensure_control() {
  if (g_control != MPI_COMM_NULL) return;
  mpi_check(MPI_Comm_dup(MPI_COMM_WORLD, &g_control), "Comm_dup (control communicator)");
  MPI_Comm_set_errhandler(g_control, MPI_ERRORS_RETURN);
}

void wait_until(const char* what, size_t bytes, const std::function<bool()>& done) {
  if (done()) return;
  const auto t0 = Clock::now();
  // Spin while the data could still be moving at ~1 GB/s; then sleep, 20 us doubling to 1 ms.
  const auto spin = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(std::max(2e-4, static_cast<double>(bytes) * 1e-9)));
  const double timeout = comm_timeout();
  auto pause = std::chrono::microseconds(20);
  std::vector<std::string> ops;
  for (;;) {
    if (done()) return;
    const auto now = Clock::now();
    if (now - t0 < spin) continue;
    if (g_control != MPI_COMM_NULL) {
      if (ops.empty()) {
        int world = 1;
        MPI_Comm_size(g_control, &world);
        ops.resize(static_cast<size_t>(world));
      }
      int src = 0;
      if (receive_announcement(ops, &src)) diagnose(what, seconds(now - t0), src, ops);
      if (seconds(now - t0) > timeout) diagnose(what, seconds(now - t0), -1, ops);
    } else if (seconds(now - t0) > timeout) {
      end_job(fmt::format("{} did not complete within {:.0f} s (the timeout)", what, timeout),
              "raise --runtime.comm_timeout_s if a rank is legitimately this slow");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
}

void wait_requests(const char* what, size_t bytes, MPI_Request* reqs, int n) {
  wait_until(what, bytes, [&] {
    int flag = 0;
    mpi_check(MPI_Testall(n, reqs, &flag, MPI_STATUSES_IGNORE), what);
    return flag != 0;
  });
}

void end_job(const std::string& message, const std::string& hint) {
  std::fprintf(stderr, "%s\n", error_report(Error(ErrorKind::Dist, message, {}, hint)).c_str());
  abort_job(static_cast<int>(ErrorKind::Dist));
}

}  // namespace tc::dist::detail
