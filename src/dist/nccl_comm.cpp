// NCCL backend (compiled when CUDA + NCCL are found; see TOKENCLIP_NCCL in CMakeLists.txt).
//
// Bootstrap over MPI: every rank checks its device first and all agree before rank 0 creates
// the unique id and broadcasts it (one rank's refusal must not leave the others waiting in
// ncclCommInitRank). Reductions run on our own stream; we poll the stream and NCCL's async
// error state instead of blocking, through the bounded, sleeping wait every backend uses
// (dist/wait.h), so a peer failure or a hang ends the job with a message naming the silent rank
// rather than a silent wait. Device buffers: our stream first waits for the legacy default
// stream (libtorch's default stream, where the buffer was written); callers also synchronise
// their device (train/optim.cpp), which covers work on any other stream. Host buffers of
// all-reduces are staged through a device scratch buffer, which lets a CPU-only libtorch use
// NCCL too. Everything else on host buffers (broadcast, all-gathers, barrier, send/recv, the
// start-up vote and the id broadcast) goes through an MPI backend: checked, chunked and bounded
// the same way as with --runtime.comm mpi.
#include "dist/dist.h"

#ifdef TOKENCLIP_HAVE_NCCL

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstring>

#include "dist/wait.h"
#include "util/check.h"
#include "util/log.h"

namespace tc::dist {
namespace detail_nccl {

void cuda_check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    TC_FAIL(ErrorKind::Runtime, "CUDA {} failed: {} ({})", what, cudaGetErrorString(e), static_cast<int>(e));
}

// NCCL's own account of the last error (what lies behind "unhandled system error" and the like).
std::string nccl_detail(ncclComm_t comm) {
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 13, 0)
  const char* last = ncclGetLastError(comm);
  if (last && *last) return fmt::format(" ({})", last);
#else
  (void)comm;
#endif
  return "";
}

constexpr const char* kNcclHint = "NCCL_DEBUG=WARN (or INFO) makes NCCL print its own account";

void nccl_check(ncclResult_t r, const char* what, ncclComm_t comm) {
  if (r != ncclSuccess && r != ncclInProgress)
    TC_FAIL_HINT(ErrorKind::Dist, kNcclHint, "NCCL {} failed: {}{}", what, ncclGetErrorString(r), nccl_detail(comm));
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
  NcclComm(int device, std::unique_ptr<Communicator> mpi) : mpi_(std::move(mpi)) {
    rank_ = mpi_->rank();
    world_ = mpi_->world();
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) cudaGetLastError();
    // Every rank takes part in this vote before anyone throws: a rank that refused alone would
    // leave the others blocked in the id broadcast or in ncclCommInitRank.
    int32_t refused = e == cudaSuccess && count > 0 && device >= 0 && device < count ? 0 : 1;
    mpi_->allreduce_max(&refused, 1, DType::I32);
    if (e != cudaSuccess || count == 0)
      TC_FAIL_HINT(ErrorKind::Usage, "use --runtime.comm mpi on machines without GPUs",
                   "the NCCL backend needs a CUDA device, but cudaGetDeviceCount says: {}",
                   e != cudaSuccess ? cudaGetErrorString(e) : "no devices");
    TC_CHECK_USAGE(device >= 0 && device < count,
                   "rank {}: local device {} does not exist ({} visible CUDA devices; NCCL needs one "
                   "device per rank: start at most {} ranks per node, or use --runtime.comm mpi)",
                   rank_, device, count, count);
    TC_CHECK_USAGE(!refused, "rank {}: another rank could not get a CUDA device for NCCL (see its "
                             "message); NCCL needs one device per rank", rank_);
    device_ = device;
    cuda_check(cudaSetDevice(device_), "cudaSetDevice");
    cuda_check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    cuda_check(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming), "cudaEventCreate");
    ncclUniqueId id;
    std::memset(&id, 0, sizeof id);
    // Rank 0 failing to make the id must not leave the others waiting in the broadcast.
    ncclResult_t made = rank_ == 0 ? ncclGetUniqueId(&id) : ncclSuccess;
    int32_t id_failed = made != ncclSuccess ? 1 : 0;
    mpi_->allreduce_max(&id_failed, 1, DType::I32);
    nccl_check(made, "ncclGetUniqueId", nullptr);
    if (id_failed) TC_FAIL(ErrorKind::Dist, "rank {}: rank 0 could not create the NCCL unique id (see its message)", rank_);
    mpi_->broadcast(&id, sizeof id, 0);
    // Blocking without a limit of its own: a rank that dies in here is left to the launcher.
    nccl_check(ncclCommInitRank(&comm_, world_, id, rank_), "ncclCommInitRank", comm_);
    log::debug("NCCL communicator up: rank {}/{} on device {}", rank_, world_, device_);
  }

  // Normal teardown: ncclCommDestroy, at the end of the command on every rank. Never while an
  // exception unwinds: dist::CommDeleter calls abandon() instead.
  ~NcclComm() override {
    if (comm_) ncclCommDestroy(comm_);
    release_local();
  }

  void abandon() override {
    if (comm_) ncclCommAbort(comm_);  // local: waits for no other rank
    comm_ = nullptr;
    release_local();
  }

  std::string backend() const override { return "nccl"; }
  bool device_buffers() const override { return true; }
  int rank() const override { return rank_; }
  int world() const override { return world_; }

  void allreduce_sum(void* data, size_t count, DType t) override { reduce(data, count, t, ncclSum); }
  void allreduce_max(void* data, size_t count, DType t) override { reduce(data, count, t, ncclMax); }

  void broadcast(void* data, size_t bytes, int root) override {
    if (!is_device(data)) return mpi_->broadcast(data, bytes, root);
    DeviceScope scope(device_);
    after_default_stream();
    nccl_check(ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream_), "broadcast", comm_);
    wait("broadcast", bytes);
  }
  void allgather(const void* in, size_t bytes, void* out) override { mpi_->allgather(in, bytes, out); }
  std::vector<std::string> allgather_strings(const std::string& mine) override {
    return mpi_->allgather_strings(mine);
  }
  void barrier() override { mpi_->barrier(); }
  void send(const void* data, size_t bytes, int dest) override { mpi_->send(data, bytes, dest); }
  void recv(void* data, size_t bytes, int src) override { mpi_->recv(data, bytes, src); }

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
    nccl_check(ncclAllReduce(buf, buf, count, nccl_type(t), op, comm_, stream_), "allreduce", comm_);
    // Poll (with the timeout) before the copy back: a copy into pageable host memory returns
    // only when done, so queued behind a reduction stuck on a dead peer it would block forever.
    wait("allreduce", bytes);
    if (staged) {
      cuda_check(cudaMemcpyAsync(data, buf, bytes, cudaMemcpyDeviceToHost, stream_), "copy to host");
      wait("copy to host", bytes);
    }
  }

  // Polls our stream within the bound every backend has (past the timeout the silent rank is
  // named and the job ends). A NCCL async error (a peer's connection broke) is printed first,
  // then ends the job; the communicator is left to process exit.
  void wait(const char* what, size_t bytes) {
    detail::wait_until(what, bytes, [&] {
      cudaError_t q = cudaStreamQuery(stream_);
      if (q == cudaSuccess) return true;
      if (q != cudaErrorNotReady) cuda_check(q, what);
      ncclResult_t async = ncclSuccess;
      ncclResult_t got = ncclCommGetAsyncError(comm_, &async);
      if (got != ncclSuccess) async = got;
      if (async != ncclSuccess && async != ncclInProgress)
        detail::end_job(fmt::format("NCCL {} failed on rank {}: {}{} (a peer rank probably died)", what, rank_,
                                    ncclGetErrorString(async), nccl_detail(comm_)),
                        kNcclHint);
      return false;
    });
  }

  void release_local() {
    if (scratch_) cudaFree(scratch_);
    if (ready_) cudaEventDestroy(ready_);
    if (stream_) cudaStreamDestroy(stream_);
    scratch_ = nullptr;
    scratch_bytes_ = 0;
    ready_ = nullptr;
    stream_ = nullptr;
  }

  std::unique_ptr<Communicator> mpi_;  // the first member: built first, destroyed last
  int rank_ = 0, world_ = 1, device_ = 0;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t ready_ = nullptr;
  ncclComm_t comm_ = nullptr;
  void* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
};

}  // namespace detail_nccl

std::unique_ptr<Communicator> make_nccl_communicator(int device) {
  return std::make_unique<detail_nccl::NcclComm>(device, make_mpi_backend());
}

}  // namespace tc::dist

#endif  // TOKENCLIP_HAVE_NCCL
