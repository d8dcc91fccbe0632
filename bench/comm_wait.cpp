// What the bounded, sleeping wait of the MPI backend (dist/wait.h: non-blocking operations polled
// with a backoff to 1 ms) costs next to blocking MPI calls, which spin:
//   1. latency when both ranks arrive together (barrier first): all-reduce of 1, 23,808 (the
//      tiny gradient) and 4M floats, broadcast of 64 MiB; median of the repetitions;
//   2. a late peer (rank 1 sleeps D before joining): rank 0's time past D (the added latency)
//      and the CPU it burns while it waits.
// Prints figures, asserts nothing. Run with two ranks:
//   mpiexec --bind-to none -n 2 build/bench/bench_comm_wait
#include <mpi.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <thread>
#include <vector>

#include "dist/dist.h"

namespace {

double comm_wall_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double comm_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

double comm_median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median wall time of `op` (both ranks start together).
double comm_together_ms(int reps, const std::function<void()>& op) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = comm_wall_s();
    op();
    t.push_back(1e3 * (comm_wall_s() - t0));
  }
  return comm_median(t);
}

struct Late {
  double extra_ms, cpu_share;  // rank 0: wall time past the peer's delay; CPU / wall while waiting
};

// Rank 1 sleeps `delay_s` before `op`; rank 0 measures.
Late comm_late(int reps, double delay_s, int rank, const std::function<void()>& op) {
  std::vector<double> extra, share;
  for (int i = 0; i < reps; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = comm_wall_s(), c0 = comm_cpu_s();
    if (rank == 1) std::this_thread::sleep_for(std::chrono::duration<double>(delay_s));
    op();
    const double wall = comm_wall_s() - t0, cpu = comm_cpu_s() - c0;
    extra.push_back(1e3 * (wall - delay_s));
    share.push_back(cpu / wall);
  }
  return {comm_median(extra), comm_median(share)};
}

}  // namespace

int main(int argc, char** argv) {
  const auto& env = tc::dist::init(&argc, &argv);
  if (env.world != 2) {
    std::fprintf(stderr, "run with 2 ranks: mpiexec --bind-to none -n 2 %s\n", argv[0]);
    tc::dist::finalize();
    return 2;
  }
  auto comm = tc::dist::make_communicator("mpi");
  const int rank = env.rank;
  const bool root = rank == 0;
  if (root) std::printf("| operation | blocking MPI | polled (tokenclip) |\n|---|---|---|\n");
  for (size_t n : {size_t{1}, size_t{23808}, size_t{4} << 20}) {
    std::vector<float> a(n, 1.0f);
    const int reps = n > 100000 ? 9 : 201;
    double blocking = comm_together_ms(reps, [&] {
      MPI_Allreduce(MPI_IN_PLACE, a.data(), static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    });
    double polled = comm_together_ms(reps, [&] { comm->allreduce_sum(a.data(), n, tc::dist::DType::F32); });
    if (root) std::printf("| all-reduce %zu floats | %.3f ms | %.3f ms |\n", n, blocking, polled);
  }
  {
    std::vector<char> b(size_t{64} << 20, 1);
    double blocking = comm_together_ms(7, [&] {
      MPI_Bcast(b.data(), static_cast<int>(b.size()), MPI_BYTE, 0, MPI_COMM_WORLD);
    });
    double polled = comm_together_ms(7, [&] { comm->broadcast(b.data(), b.size(), 0); });
    if (root) std::printf("| broadcast 64 MiB | %.2f ms | %.2f ms |\n", blocking, polled);
  }
  std::vector<float> g(23808, 1.0f);
  for (double delay : {0.02, 1.0}) {
    const int reps = delay < 0.1 ? 21 : 3;
    Late blocking = comm_late(reps, delay, rank, [&] {
      MPI_Allreduce(MPI_IN_PLACE, g.data(), static_cast<int>(g.size()), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    });
    Late polled = comm_late(reps, delay, rank, [&] { comm->allreduce_sum(g.data(), g.size(), tc::dist::DType::F32); });
    if (root)
      std::printf("| all-reduce 23808 floats, peer %.0f ms late: added latency; CPU while waiting | "
                  "%.3f ms; %.0f%% | %.3f ms; %.1f%% |\n",
                  1e3 * delay, blocking.extra_ms, 100 * blocking.cpu_share, polled.extra_ms, 100 * polled.cpu_share);
  }
  comm.reset();
  tc::dist::finalize();
  return 0;
}
