// Process environment and collective communication.
//
// `init` starts MPI when the process was launched by an MPI launcher (mpirun/mpiexec, srun
// with PMI/PMIx) and otherwise runs as a single process without MPI. Local rank comes from an
// MPI shared-memory split (ranks that share a node), never from hostname hashing.
//
// The Communicator works on raw buffers so that this layer knows nothing of models or torch;
// device buffers are handled by the NCCL backend (compiled when CUDA + NCCL are present).
//
// Every wait for a peer (each collective and send/recv of every backend, and the barrier
// before MPI_Finalize) is bounded by one process-wide timeout (`set_comm_timeout`). Waits poll
// non-blocking operations with a sleeping backoff, so a waiting rank does not burn a core. When
// the timeout passes, the waiting ranks tell each other so over a control communicator of their
// own; whoever did not answer within a short grace is named, and the job ends with exit 5. The
// job is ended there and then (message, MPI_Abort), never by an exception: an MPI collective
// that was started cannot be cancelled, so nothing could continue on that communicator.
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
[[noreturn]] void abort_job(int exit_code);  // flushes stdio; MPI_Abort when world > 1, else exit

// The bound on any wait for a peer, in seconds (default 600; `runtime.comm_timeout_s`). A rank
// legitimately slower than this at some point (rank 0 alone writing a large checkpoint or
// rendering pictures while the others wait in a barrier, an uneven shard) ends the job: raise
// it for such jobs.
void set_comm_timeout(double seconds);
double comm_timeout();

enum class DType { F32, F64, I32, I64, U8 };

class Communicator {
 public:
  // Destruction may be collective (ncclCommDestroy); see CommDeleter.
  virtual ~Communicator() = default;
  // Releases what can be released without the other ranks (ncclCommAbort); the object is then
  // left for process exit. Called instead of the destructor while an exception unwinds.
  virtual void abandon() {}
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

// Owns a communicator. While an exception unwinds (a rank failing alone), the destructor is not
// run: a collective teardown (NCCL's) would wait for peers that are not coming, before the
// error was even printed. `abandon()` releases what is local, and the job ends in MPI_Abort.
struct CommDeleter {
  void operator()(Communicator* c) const;
};
using CommPtr = std::unique_ptr<Communicator, CommDeleter>;

// "single", "mpi" (needs init() under a launcher), "nccl" (when compiled; device = local
// rank), "auto" (nccl when compiled and every rank of this node has a CUDA device of its own,
// else mpi under a launcher, else single). With TOKENCLIP_TEST_FAULT set, the communicator is
// wrapped by the fault injector of the tests (dist/fault.h).
CommPtr make_communicator(const std::string& backend);
bool nccl_compiled();
int cuda_device_count();  // 0 without CUDA runtime/driver or without NCCL compiled in
// What "auto" picks NCCL on: compiled in, started under MPI, and at least as many visible CUDA
// devices as ranks on this node (NCCL refuses two ranks on one device).
bool nccl_fits_node();

// The backends themselves, without CommPtr or the test-fault wrapper (the NCCL backend does
// its host traffic through an MPI backend of its own).
std::unique_ptr<Communicator> make_mpi_backend();
#ifdef TOKENCLIP_HAVE_NCCL
std::unique_ptr<Communicator> make_nccl_communicator(int device);
#endif

}  // namespace tc::dist
