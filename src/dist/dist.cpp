#include "dist/dist.h"

#include <mpi.h>
#ifdef TOKENCLIP_HAVE_NCCL
#include <cuda_runtime.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "util/check.h"
#include "util/log.h"

namespace tc::dist {
namespace {

Env g_env;
bool g_inited = false;

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

void mpi_check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, buf, &len);
  TC_FAIL(ErrorKind::Dist, "MPI {} failed: {}", what, std::string(buf, static_cast<size_t>(len)));
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

class MpiComm final : public Communicator {
 public:
  MpiComm() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &world_);
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
    // MPI counts are int: send in chunks so buffers above 2 GiB work.
    auto* p = static_cast<char*>(data);
    const size_t chunk = size_t{1} << 30;
    for (size_t off = 0; off < bytes || (bytes == 0 && off == 0); off += chunk) {
      int n = static_cast<int>(std::min(chunk, bytes - off));
      mpi_check(MPI_Bcast(p + off, n, MPI_BYTE, root, MPI_COMM_WORLD), "broadcast");
      if (bytes == 0) break;
    }
  }
  void allgather(const void* in, size_t bytes, void* out) override {
    TC_CHECK_LT(bytes, size_t{1} << 31, "allgather block size");
    mpi_check(MPI_Allgather(in, static_cast<int>(bytes), MPI_BYTE, out, static_cast<int>(bytes),
                            MPI_BYTE, MPI_COMM_WORLD),
              "allgather");
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
    mpi_check(MPI_Allgatherv(mine.data(), static_cast<int>(n), MPI_BYTE, all.data(), counts.data(),
                             displs.data(), MPI_BYTE, MPI_COMM_WORLD),
              "allgatherv");
    std::vector<std::string> out;
    for (int r = 0; r < world_; ++r) out.push_back(all.substr(displs[r], counts[r]));
    return out;
  }
  void barrier() override { mpi_check(MPI_Barrier(MPI_COMM_WORLD), "barrier"); }
  void send(const void* data, size_t bytes, int dest) override {
    const auto* p = static_cast<const char*>(data);
    const size_t chunk = size_t{1} << 30;
    for (size_t off = 0; off < bytes; off += chunk)
      mpi_check(MPI_Send(p + off, static_cast<int>(std::min(chunk, bytes - off)), MPI_BYTE, dest, 7,
                         MPI_COMM_WORLD), "send");
  }
  void recv(void* data, size_t bytes, int src) override {
    auto* p = static_cast<char*>(data);
    const size_t chunk = size_t{1} << 30;
    for (size_t off = 0; off < bytes; off += chunk)
      mpi_check(MPI_Recv(p + off, static_cast<int>(std::min(chunk, bytes - off)), MPI_BYTE, src, 7,
                         MPI_COMM_WORLD, MPI_STATUS_IGNORE), "recv");
  }

 private:
  void reduce(void* data, size_t count, DType t, MPI_Op op) {
    size_t elem = t == DType::F64 || t == DType::I64 ? 8 : (t == DType::U8 ? 1 : 4);
    auto* p = static_cast<char*>(data);
    const size_t chunk = size_t{1} << 28;
    for (size_t off = 0; off < count; off += chunk) {
      int n = static_cast<int>(std::min(chunk, count - off));
      mpi_check(MPI_Allreduce(MPI_IN_PLACE, p + off * elem, n, mpi_type(t), op, MPI_COMM_WORLD),
                "allreduce");
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
  if (g_env.mpi && inited && !fin) MPI_Finalize();
}

void abort_job(int exit_code) {
  int inited = 0, fin = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&fin);
  if (inited && !fin && g_env.world > 1) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::exit(exit_code);
}

std::unique_ptr<Communicator> make_communicator(const std::string& backend, int timeout_s) {
  if (backend == "single") return std::make_unique<SingleComm>();
  if (backend == "nccl") {
#ifdef TOKENCLIP_HAVE_NCCL
    return make_nccl_communicator(g_env.local_rank, timeout_s);
#else
    TC_FAIL_HINT(ErrorKind::Usage, "rebuild with CUDA + NCCL (-DTOKENCLIP_NCCL=ON), or use --runtime.comm mpi",
                 "communicator 'nccl' is not compiled into this build");
#endif
  }
  if (backend == "mpi") {
    int inited = 0;
    MPI_Initialized(&inited);
    TC_CHECK_USAGE(inited, "communicator 'mpi' needs the process to be started by an MPI launcher "
                           "(mpirun/mpiexec/srun --mpi=pmix)");
    return std::make_unique<MpiComm>();
  }
  if (backend == "auto") {
    if (nccl_fits_node()) return make_communicator("nccl", timeout_s);
    return g_env.mpi ? make_communicator("mpi", timeout_s) : make_communicator("single", timeout_s);
  }
  TC_USAGE_ERROR("unknown communicator backend '{}': expected single, mpi{}", backend,
                 nccl_compiled() ? ", nccl" : "");
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
