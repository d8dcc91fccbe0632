// Process environment and collective communication.
//
// `init` starts MPI when the process was launched by an MPI launcher (mpirun/mpiexec, srun
// with PMI/PMIx) and otherwise runs as a single process without MPI. Local rank comes from an
// MPI shared-memory split (ranks that share a node), never from hostname hashing.
//
// The Communicator works on raw buffers so that this layer knows nothing of models or torch;
// device buffers are handled by the NCCL backend (compiled when CUDA + NCCL are present).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tc::dist {

struct Env {
  int rank = 0, world = 1;
  int local_rank = 0, local_world = 1;
  bool mpi = false;  // MPI initialised by us
};

bool launched_by_mpi();                 // launcher environment variables present
const Env& init(int* argc, char*** argv);  // idempotent
const Env& env();
void finalize();                        // MPI_Finalize if we initialised it
[[noreturn]] void abort_job(int exit_code);  // MPI_Abort when world > 1, else exit

enum class DType { F32, F64, I32, I64, U8 };

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string backend() const = 0;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  // Whether allreduce/broadcast accept CUDA device pointers (only the NCCL backend does; the
  // MPI build is not CUDA-aware). Callers holding device tensors copy them to the host
  // otherwise, and synchronise their device before handing a device pointer over: the NCCL
  // backend orders itself after the legacy default stream only.
  virtual bool device_buffers() const { return false; }
  // In-place sum over all ranks.
  virtual void allreduce_sum(void* data, size_t count, DType type) = 0;
  virtual void allreduce_max(void* data, size_t count, DType type) = 0;
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  // Every rank contributes `bytes` bytes; `out` receives world * bytes, rank-major.
  virtual void allgather(const void* in, size_t bytes, void* out) = 0;
  // Variable-size gather of byte strings to every rank.
  virtual std::vector<std::string> allgather_strings(const std::string& mine) = 0;
  virtual void barrier() = 0;
  // Point-to-point (host buffers; MPI underneath for every backend): rank-ordered gathers of
  // large per-sample results to rank 0 without holding them all at once.
  virtual void send(const void* data, size_t bytes, int dest) = 0;
  virtual void recv(void* data, size_t bytes, int src) = 0;
};

// "single", "mpi" (needs init() under a launcher), "nccl" (when compiled; device = local
// rank), "auto" (nccl when compiled and every rank of this node has a CUDA device of its own,
// else mpi under a launcher, else single).
std::unique_ptr<Communicator> make_communicator(const std::string& backend, int timeout_s = 600);
bool nccl_compiled();
int cuda_device_count();  // 0 without CUDA runtime/driver or without NCCL compiled in
// What "auto" picks NCCL on: compiled in, started under MPI, and at least as many visible CUDA
// devices as ranks on this node (NCCL refuses two ranks on one device).
bool nccl_fits_node();

#ifdef TOKENCLIP_HAVE_NCCL
std::unique_ptr<Communicator> make_nccl_communicator(int device, int timeout_s);
#endif

}  // namespace tc::dist
