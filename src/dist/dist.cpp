#include "dist/dist.h"

#include <mpi.h>
#ifdef TOKENCLIP_HAVE_NCCL
#include <cuda_runtime.h>
#endif

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "dist/fault.h"
#include "dist/wait.h"
#include "util/check.h"
#include "util/log.h"

namespace tc::dist {
namespace {

using detail::mpi_check;

Env g_env;
bool g_inited = false;
double g_timeout_s = 600;

MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::F32: return MPI_FLOAT;
    case DType::F64: return MPI_DOUBLE;
    case DType::I32: return MPI_INT32_T;
    case DType::I64: return MPI_INT64_T;
    case DType::U8: return MPI_UINT8_T;
  }
  return MPI_BYTE;
}

class SingleComm final : public Communicator {
 public:
  std::string backend() const override { return "single"; }
  int rank() const override { return 0; }
  int world() const override { return 1; }
  void allreduce_sum(void*, size_t, DType) override {}
  void allreduce_max(void*, size_t, DType) override {}
  void broadcast(void*, size_t, int root) override { TC_CHECK_EQ(root, 0, "broadcast root"); }
  void allgather(const void* in, size_t bytes, void* out) override { std::memcpy(out, in, bytes); }
  std::vector<std::string> allgather_strings(const std::string& mine) override { return {mine}; }
  void barrier() override {}
  void send(const void*, size_t, int dest) override { TC_CHECK(false, "send to rank {} in a single-process run", dest); }
  void recv(void*, size_t, int src) override { TC_CHECK(false, "recv from rank {} in a single-process run", src); }
};

// Loops over `bytes` in pieces of at most `chunk` (MPI counts are int); one zero-size piece
// when `bytes` is 0, so that every rank still takes part in the collective.
template <typename F>
void for_chunks(size_t bytes, size_t chunk, F&& f) {
  size_t off = 0;
  do {
    const size_t n = std::min(chunk, bytes - off);
    f(off, static_cast<int>(n));
    off += n;
  } while (off < bytes);
}

// Every operation is non-blocking and waited for by detail::wait_requests (bounded, sleeping).
class MpiComm final : public Communicator {
 public:
  MpiComm() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &world_);
    detail::ensure_control();
  }
  std::string backend() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int world() const override { return world_; }
  void allreduce_sum(void* data, size_t count, DType t) override {
    reduce(data, count, t, MPI_SUM);
  }
  void allreduce_max(void* data, size_t count, DType t) override {
    reduce(data, count, t, MPI_MAX);
  }
  void broadcast(void* data, size_t bytes, int root) override {
    auto* p = static_cast<char*>(data);
    for_chunks(bytes, kChunkBytes, [&](size_t off, int n) {
      MPI_Request r;
      mpi_check(MPI_Ibcast(p + off, n, MPI_BYTE, root, MPI_COMM_WORLD, &r), "broadcast");
      detail::wait_requests("broadcast", static_cast<size_t>(n), &r, 1);
    });
  }
  void allgather(const void* in, size_t bytes, void* out) override {
    TC_CHECK_LT(bytes, size_t{1} << 31, "allgather block size");
    MPI_Request r;
    mpi_check(MPI_Iallgather(in, static_cast<int>(bytes), MPI_BYTE, out, static_cast<int>(bytes), MPI_BYTE,
                             MPI_COMM_WORLD, &r),
              "allgather");
    detail::wait_requests("allgather", bytes * static_cast<size_t>(world_), &r, 1);
  }
  std::vector<std::string> allgather_strings(const std::string& mine) override {
    int64_t n = static_cast<int64_t>(mine.size());
    std::vector<int64_t> sizes(static_cast<size_t>(world_));
    allgather(&n, sizeof n, sizes.data());
    std::vector<int> counts(world_), displs(world_);
    int64_t total = 0;
    for (int r = 0; r < world_; ++r) {
      counts[r] = static_cast<int>(sizes[r]);
      displs[r] = static_cast<int>(total);
      total += sizes[r];
    }
    std::string all(static_cast<size_t>(total), '\0');
    MPI_Request r;
    mpi_check(MPI_Iallgatherv(mine.data(), static_cast<int>(n), MPI_BYTE, all.data(), counts.data(),
                              displs.data(), MPI_BYTE, MPI_COMM_WORLD, &r),
              "allgatherv");
    detail::wait_requests("allgather of strings", static_cast<size_t>(total), &r, 1);
    std::vector<std::string> out;
    for (int r = 0; r < world_; ++r) out.push_back(all.substr(displs[r], counts[r]));
    return out;
  }
  void barrier() override {
    MPI_Request r;
    mpi_check(MPI_Ibarrier(MPI_COMM_WORLD, &r), "barrier");
    detail::wait_requests("barrier", 0, &r, 1);
  }
  void send(const void* data, size_t bytes, int dest) override {
    transfer(const_cast<void*>(data), bytes, dest, true);  // only read: MPI_Isend takes const
  }
  void recv(void* data, size_t bytes, int src) override { transfer(data, bytes, src, false); }

 private:
  static constexpr size_t kChunkBytes = size_t{1} << 30;
  static constexpr int kTag = 7;

  // Point-to-point in chunks (MPI counts are int), each waited for within the bound.
  void transfer(void* data, size_t bytes, int peer, bool sending) {
    auto* p = static_cast<char*>(data);
    const std::string what = (sending ? "send to rank " : "recv from rank ") + std::to_string(peer);
    for (size_t off = 0; off < bytes; off += kChunkBytes) {
      const int n = static_cast<int>(std::min(kChunkBytes, bytes - off));
      MPI_Request r;
      mpi_check(sending ? MPI_Isend(p + off, n, MPI_BYTE, peer, kTag, MPI_COMM_WORLD, &r)
                        : MPI_Irecv(p + off, n, MPI_BYTE, peer, kTag, MPI_COMM_WORLD, &r),
                sending ? "send" : "recv");
      detail::wait_requests(what.c_str(), static_cast<size_t>(n), &r, 1);
    }
  }

  void reduce(void* data, size_t count, DType t, MPI_Op op) {
    if (count == 0) return;
    const size_t elem = t == DType::F64 || t == DType::I64 ? 8 : (t == DType::U8 ? 1 : 4);
    auto* p = static_cast<char*>(data);
    const size_t chunk = size_t{1} << 28;
    for (size_t off = 0; off < count; off += chunk) {
      const int n = static_cast<int>(std::min(chunk, count - off));
      MPI_Request r;
      mpi_check(MPI_Iallreduce(MPI_IN_PLACE, p + off * elem, n, mpi_type(t), op, MPI_COMM_WORLD, &r),
                "allreduce");
      detail::wait_requests("allreduce", static_cast<size_t>(n) * elem, &r, 1);
    }
  }
  int rank_ = 0, world_ = 1;
};

}  // namespace

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v)) return true;
  return false;
}

const Env& init(int* argc, char*** argv) {
  if (g_inited) return g_env;
  g_inited = true;
  if (!launched_by_mpi()) return g_env;
  int provided = 0;
  mpi_check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "init");
  // Errors come back as codes so we can report them; a failed rank is handled by abort_job.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  detail::ensure_control();  // collective: every rank is here at start-up
  g_env.mpi = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_env.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_env.world);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_env.rank, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &g_env.local_rank);
  MPI_Comm_size(local, &g_env.local_world);
  MPI_Comm_free(&local);
  log::Options lo = log::options();
  lo.rank = g_env.rank;
  lo.world = g_env.world;
  log::configure(lo);
  return g_env;
}

const Env& env() { return g_env; }

void finalize() {
  int inited = 0, fin = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&fin);
  if (!(g_env.mpi && inited && !fin)) return;
  if (g_env.world > 1) {
    // MPI_Finalize waits for every rank without a limit (a stopped peer would hold it
    // forever): meet in a bounded barrier first.
    try {
      make_mpi_backend()->barrier();
    } catch (const Error& e) {
      detail::end_job(e.message(), {});
    }
  }
  MPI_Finalize();
}

void abort_job(int exit_code) {
  std::fflush(stdout);  // MPI_Abort kills without flushing: keep what was already printed
  std::fflush(stderr);
  int inited = 0, fin = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&fin);
  if (inited && !fin && g_env.world > 1) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::exit(exit_code);
}

void set_comm_timeout(double seconds) {
  TC_CHECK_USAGE(seconds > 0, "runtime.comm_timeout_s must be positive, got {}", seconds);
  g_timeout_s = seconds;
}
double comm_timeout() { return g_timeout_s; }

void CommDeleter::operator()(Communicator* c) const {
  if (!c) return;
  if (std::uncaught_exceptions() > 0) {
    c->abandon();  // the object itself is left for process exit (MPI_Abort follows)
    return;
  }
  delete c;
}

std::unique_ptr<Communicator> make_mpi_backend() {
  int inited = 0;
  MPI_Initialized(&inited);
  TC_CHECK_USAGE(inited, "communicator 'mpi' needs the process to be started by an MPI launcher "
                         "(mpirun/mpiexec/srun --mpi=pmix)");
  return std::make_unique<MpiComm>();
}

namespace {

std::unique_ptr<Communicator> make_backend(const std::string& backend) {
  if (backend == "single") return std::make_unique<SingleComm>();
  if (backend == "nccl") {
#ifdef TOKENCLIP_HAVE_NCCL
    return make_nccl_communicator(g_env.local_rank);
#else
    TC_FAIL_HINT(ErrorKind::Usage, "rebuild with CUDA + NCCL (-DTOKENCLIP_NCCL=ON), or use --runtime.comm mpi",
                 "communicator 'nccl' is not compiled into this build");
#endif
  }
  if (backend == "mpi") return make_mpi_backend();
  if (backend == "auto") return make_backend(nccl_fits_node() ? "nccl" : g_env.mpi ? "mpi" : "single");
  TC_USAGE_ERROR("unknown communicator backend '{}': expected single, mpi{}", backend,
                 nccl_compiled() ? ", nccl" : "");
}

}  // namespace

CommPtr make_communicator(const std::string& backend) {
  return CommPtr(with_test_faults(make_backend(backend)).release());
}

int cuda_device_count() {
#ifdef TOKENCLIP_HAVE_NCCL
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
#else
  return 0;
#endif
}

bool nccl_fits_node() {
  return nccl_compiled() && g_env.mpi && cuda_device_count() >= std::max(1, g_env.local_world);
}

bool nccl_compiled() {
#ifdef TOKENCLIP_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

}  // namespace tc::dist
