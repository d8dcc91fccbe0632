// NCCL backend (compiled when CUDA + NCCL are found; see TOKENCLIP_NCCL in CMakeLists.txt).
//
// Bootstrap over MPI: rank 0 creates the unique id and broadcasts it. Reductions run on our
// own stream; we poll the stream and NCCL's async error state instead of blocking, so a peer
// failure or a hang ends in a clear error (and ncclCommAbort) rather than a silent wait.
// Host buffers are staged through a device scratch buffer, which lets a CPU-only libtorch use
// NCCL too. Metadata collectives (strings, barrier) go over MPI.
#include "dist/dist.h"

#ifdef TOKENCLIP_HAVE_NCCL

#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "util/check.h"
#include "util/log.h"

namespace tc::dist {
namespace detail_nccl {

void cuda_check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    TC_FAIL(ErrorKind::Runtime, "CUDA {} failed: {} ({})", what, cudaGetErrorString(e), static_cast<int>(e));
}

void nccl_check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess && r != ncclInProgress)
    TC_FAIL(ErrorKind::Dist, "NCCL {} failed: {}", what, ncclGetErrorString(r));
}

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::F32: return ncclFloat32;
    case DType::F64: return ncclFloat64;
    case DType::I32: return ncclInt32;
    case DType::I64: return ncclInt64;
    case DType::U8: return ncclUint8;
  }
  return ncclUint8;
}

size_t elem_size(DType t) {
  return t == DType::F64 || t == DType::I64 ? 8 : (t == DType::U8 ? 1 : 4);
}

class NcclComm final : public Communicator {
 public:
  NcclComm(int device, int timeout_s) : timeout_s_(timeout_s) {
    int inited = 0;
    MPI_Initialized(&inited);
    TC_CHECK_USAGE(inited, "the NCCL backend is bootstrapped over MPI: start the job with "
                           "mpirun/mpiexec or srun --mpi=pmix");
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &world_);
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0)
      TC_FAIL_HINT(ErrorKind::Usage, "use --runtime.comm mpi on machines without GPUs",
                   "the NCCL backend needs a CUDA device, but cudaGetDeviceCount says: {}",
                   e != cudaSuccess ? cudaGetErrorString(e) : "no devices");
    TC_CHECK_USAGE(device >= 0 && device < count,
                   "rank {}: local device {} does not exist ({} visible CUDA devices)", rank_, device, count);
    device_ = device;
    cuda_check(cudaSetDevice(device_), "cudaSetDevice");
    cuda_check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    ncclUniqueId id;
    if (rank_ == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
    nccl_check(ncclCommInitRank(&comm_, world_, id, rank_), "ncclCommInitRank");
    log::debug("NCCL communicator up: rank {}/{} on device {}", rank_, world_, device_);
  }

  ~NcclComm() override {
    if (comm_) ncclCommDestroy(comm_);
    if (scratch_) cudaFree(scratch_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  std::string backend() const override { return "nccl"; }
  int rank() const override { return rank_; }
  int world() const override { return world_; }

  void allreduce_sum(void* data, size_t count, DType t) override { reduce(data, count, t, ncclSum); }
  void allreduce_max(void* data, size_t count, DType t) override { reduce(data, count, t, ncclMax); }

  void broadcast(void* data, size_t bytes, int root) override {
    if (is_device(data)) {
      nccl_check(ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream_), "broadcast");
      wait("broadcast");
    } else {
      MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, root, MPI_COMM_WORLD);
    }
  }
  void allgather(const void* in, size_t bytes, void* out) override {
    MPI_Allgather(in, static_cast<int>(bytes), MPI_BYTE, out, static_cast<int>(bytes), MPI_BYTE,
                  MPI_COMM_WORLD);
  }
  std::vector<std::string> allgather_strings(const std::string& mine) override {
    return mpi_->allgather_strings(mine);
  }
  void barrier() override { MPI_Barrier(MPI_COMM_WORLD); }
  void send(const void* data, size_t bytes, int dest) override { mpi_->send(data, bytes, dest); }
  void recv(void* data, size_t bytes, int src) override { mpi_->recv(data, bytes, src); }

  void set_mpi(std::unique_ptr<Communicator> mpi) { mpi_ = std::move(mpi); }

 private:
  static bool is_device(const void* p) {
    cudaPointerAttributes attr{};
    if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "invalid value" for plain host pointers
      return false;
    }
    return attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged;
  }

  void reduce(void* data, size_t count, DType t, ncclRedOp_t op) {
    if (count == 0) return;
    size_t bytes = count * elem_size(t);
    void* buf = data;
    bool staged = !is_device(data);
    if (staged) {
      if (scratch_bytes_ < bytes) {
        if (scratch_) cudaFree(scratch_);
        cuda_check(cudaMalloc(&scratch_, bytes), "cudaMalloc (staging buffer)");
        scratch_bytes_ = bytes;
      }
      buf = scratch_;
      cuda_check(cudaMemcpyAsync(buf, data, bytes, cudaMemcpyHostToDevice, stream_), "copy to device");
    }
    nccl_check(ncclAllReduce(buf, buf, count, nccl_type(t), op, comm_, stream_), "allreduce");
    if (staged)
      cuda_check(cudaMemcpyAsync(data, buf, bytes, cudaMemcpyDeviceToHost, stream_), "copy to host");
    wait("allreduce");
  }

  // Polls the stream; a NCCL async error or the timeout aborts the communicator with a clear
  // message instead of hanging on a dead peer.
  void wait(const char* what) {
    auto start = std::chrono::steady_clock::now();
    for (;;) {
      cudaError_t q = cudaStreamQuery(stream_);
      if (q == cudaSuccess) return;
      if (q != cudaErrorNotReady) cuda_check(q, what);
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess && async != ncclInProgress) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        TC_FAIL(ErrorKind::Dist, "NCCL {} failed on rank {}: {} (a peer rank probably died)", what,
                rank_, ncclGetErrorString(async));
      }
      double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (waited > timeout_s_) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        TC_FAIL_HINT(ErrorKind::Dist, "raise --runtime.comm_timeout_s if steps are legitimately this slow",
                     "NCCL {} on rank {} did not finish within {} s: a peer rank is dead or stuck", what,
                     rank_, timeout_s_);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  int rank_ = 0, world_ = 1, device_ = 0, timeout_s_ = 600;
  cudaStream_t stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
  void* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
  std::unique_ptr<Communicator> mpi_;
};

}  // namespace detail_nccl

std::unique_ptr<Communicator> make_nccl_communicator(int device, int timeout_s) {
  auto c = std::make_unique<detail_nccl::NcclComm>(device, timeout_s);
  c->set_mpi(make_communicator("mpi"));
  return c;
}

}  // namespace tc::dist

#endif  // TOKENCLIP_HAVE_NCCL
