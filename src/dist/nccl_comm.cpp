// NCCL backend (compiled when CUDA + NCCL are found; see TOKENCLIP_NCCL in CMakeLists.txt).
//
// Bootstrap over MPI: every rank checks its device first and all agree before rank 0 creates
// the unique id and broadcasts it (one rank's refusal must not leave the others waiting in
// ncclCommInitRank). Reductions run on our own stream; we poll the stream and NCCL's async
// error state instead of blocking, so a peer failure or a hang ends in a clear error (and
// ncclCommAbort) rather than a silent wait. Device buffers: our stream first waits for the
// legacy default stream (libtorch's default stream, where the buffer was written); callers
// also synchronise their device (train/optim.cpp), which covers work on any other stream.
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

// Makes `device` current for the calls in its scope and restores the caller's device, so that
// scratch allocations and our stream never land on whatever device libtorch left current.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    if (cudaGetDevice(&prev_) != cudaSuccess) prev_ = -1;
    if (prev_ != device) cuda_check(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceScope() {
    int now = -1;
    if (prev_ >= 0 && cudaGetDevice(&now) == cudaSuccess && now != prev_) cudaSetDevice(prev_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int prev_ = -1;
};

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
    if (e != cudaSuccess) cudaGetLastError();
    // Every rank takes part in this vote before anyone throws: a rank that refused alone would
    // leave the others blocked in the id broadcast or in ncclCommInitRank.
    int ok = e == cudaSuccess && count > 0 && device >= 0 && device < count ? 1 : 0, all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (e != cudaSuccess || count == 0)
      TC_FAIL_HINT(ErrorKind::Usage, "use --runtime.comm mpi on machines without GPUs",
                   "the NCCL backend needs a CUDA device, but cudaGetDeviceCount says: {}",
                   e != cudaSuccess ? cudaGetErrorString(e) : "no devices");
    TC_CHECK_USAGE(device >= 0 && device < count,
                   "rank {}: local device {} does not exist ({} visible CUDA devices; NCCL needs one "
                   "device per rank: start at most {} ranks per node, or use --runtime.comm mpi)",
                   rank_, device, count, count);
    TC_CHECK_USAGE(all_ok, "rank {}: another rank could not get a CUDA device for NCCL (see its "
                           "message); NCCL needs one device per rank", rank_);
    device_ = device;
    cuda_check(cudaSetDevice(device_), "cudaSetDevice");
    cuda_check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    cuda_check(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming), "cudaEventCreate");
    ncclUniqueId id;
    if (rank_ == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
    nccl_check(ncclCommInitRank(&comm_, world_, id, rank_), "ncclCommInitRank");
    log::debug("NCCL communicator up: rank {}/{} on device {}", rank_, world_, device_);
  }

  ~NcclComm() override {
    if (comm_) ncclCommDestroy(comm_);
    if (scratch_) cudaFree(scratch_);
    if (ready_) cudaEventDestroy(ready_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  std::string backend() const override { return "nccl"; }
  bool device_buffers() const override { return true; }
  int rank() const override { return rank_; }
  int world() const override { return world_; }

  void allreduce_sum(void* data, size_t count, DType t) override { reduce(data, count, t, ncclSum); }
  void allreduce_max(void* data, size_t count, DType t) override { reduce(data, count, t, ncclMax); }

  void broadcast(void* data, size_t bytes, int root) override {
    if (is_device(data)) {
      DeviceScope scope(device_);
      after_default_stream();
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
  bool is_device(const void* p) const {
    cudaPointerAttributes attr{};
    if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "invalid value" for plain host pointers
      return false;
    }
    const bool dev = attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged;
    TC_CHECK(!dev || attr.device == device_,
             "rank {}: a buffer on CUDA device {} was given to the NCCL communicator of device {}",
             rank_, attr.device, device_);
    return dev;
  }

  // Orders our stream after everything queued so far on the legacy default stream, where
  // libtorch's default stream puts its kernels: a device buffer is read only once written.
  void after_default_stream() {
    cuda_check(cudaEventRecord(ready_, cudaStreamLegacy), "cudaEventRecord");
    cuda_check(cudaStreamWaitEvent(stream_, ready_, 0), "cudaStreamWaitEvent");
  }

  void reduce(void* data, size_t count, DType t, ncclRedOp_t op) {
    if (count == 0) return;
    size_t bytes = count * elem_size(t);
    void* buf = data;
    bool staged = !is_device(data);
    DeviceScope scope(device_);
    if (!staged) after_default_stream();
    if (staged) {
      if (scratch_bytes_ < bytes) {
        if (scratch_) cudaFree(scratch_);
        scratch_ = nullptr;  // a failed cudaMalloc below must not leave a freed pointer behind
        scratch_bytes_ = 0;
        cuda_check(cudaMalloc(&scratch_, bytes), "cudaMalloc (staging buffer)");
        scratch_bytes_ = bytes;
      }
      buf = scratch_;
      cuda_check(cudaMemcpyAsync(buf, data, bytes, cudaMemcpyHostToDevice, stream_), "copy to device");
    }
    nccl_check(ncclAllReduce(buf, buf, count, nccl_type(t), op, comm_, stream_), "allreduce");
    // Poll (with the timeout) before the copy back: a copy into pageable host memory returns
    // only when done, so queued behind a reduction stuck on a dead peer it would block forever.
    wait("allreduce");
    if (staged) {
      cuda_check(cudaMemcpyAsync(data, buf, bytes, cudaMemcpyDeviceToHost, stream_), "copy to host");
      wait("copy to host");
    }
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
  cudaEvent_t ready_ = nullptr;
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
