#include "dist/fault.h"

#include <mpi.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "dist/dist.h"
#include "util/check.h"

namespace tc::dist {
namespace {

struct Fault {
  int rank = -1;
  std::string op;
  int call = 0;
  std::string action;  // throw | stop | sleep
  double sleep_s = 0;
};

Fault parse_fault(const std::string& text) {
  auto bad = [&](const std::string& why) {
    TC_USAGE_ERROR("TOKENCLIP_TEST_FAULT='{}': {}; expected RANK:OP:CALL:ACTION, e.g. 1:allreduce:3:throw "
                   "(OP allreduce|broadcast|allgather|allgather_strings|barrier|send|recv; ACTION "
                   "throw|stop|sleep=SECONDS)", text, why);
  };
  std::vector<std::string> f;
  std::istringstream in(text);
  for (std::string part; std::getline(in, part, ':');) f.push_back(part);
  if (f.size() != 4) bad("four fields separated by ':'");
  Fault x;
  try {
    x.rank = std::stoi(f[0]);
    x.call = std::stoi(f[2]);
  } catch (const std::exception&) {
    bad("RANK and CALL must be integers");
  }
  x.op = f[1];
  if (x.op != "allreduce" && x.op != "broadcast" && x.op != "allgather" && x.op != "allgather_strings" &&
      x.op != "barrier" && x.op != "send" && x.op != "recv")
    bad("unknown OP '" + x.op + "'");
  if (x.call < 1) bad("CALL counts from 1");
  x.action = f[3];
  if (x.action.rfind("sleep=", 0) == 0) {
    try {
      x.sleep_s = std::stod(x.action.substr(6));
    } catch (const std::exception&) {
      bad("sleep=SECONDS needs a number");
    }
    x.action = "sleep";
  } else if (x.action != "throw" && x.action != "stop") {
    bad("unknown ACTION '" + x.action + "'");
  }
  return x;
}

class FaultComm final : public Communicator {
 public:
  FaultComm(std::unique_ptr<Communicator> inner, Fault f) : inner_(std::move(inner)), fault_(std::move(f)) {}
  ~FaultComm() override {
    int inited = 0, fin = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&fin);
    if (inited && !fin && inner_->world() > 1) MPI_Barrier(MPI_COMM_WORLD);  // collective teardown
  }
  void abandon() override { inner_->abandon(); }
  std::string backend() const override { return inner_->backend(); }
  int rank() const override { return inner_->rank(); }
  int world() const override { return inner_->world(); }
  bool device_buffers() const override { return inner_->device_buffers(); }
  void allreduce_sum(void* d, size_t n, DType t) override { at("allreduce"); inner_->allreduce_sum(d, n, t); }
  void allreduce_max(void* d, size_t n, DType t) override { at("allreduce"); inner_->allreduce_max(d, n, t); }
  void broadcast(void* d, size_t n, int root) override { at("broadcast"); inner_->broadcast(d, n, root); }
  void allgather(const void* in, size_t n, void* out) override { at("allgather"); inner_->allgather(in, n, out); }
  std::vector<std::string> allgather_strings(const std::string& mine) override {
    at("allgather_strings");
    return inner_->allgather_strings(mine);
  }
  void barrier() override { at("barrier"); inner_->barrier(); }
  void send(const void* d, size_t n, int dest) override { at("send"); inner_->send(d, n, dest); }
  void recv(void* d, size_t n, int src) override { at("recv"); inner_->recv(d, n, src); }

 private:
  void at(const char* op) {
    if (op != fault_.op || rank() != fault_.rank || ++calls_ != fault_.call) return;
    // The wall-clock time lets a test measure from the fault, not from the launch.
    const double t = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::fprintf(stderr, "[rank %d] TOKENCLIP_TEST_FAULT: %s at %s #%d (unix time %.3f)\n", rank(),
                 fault_.action.c_str(), op, calls_, t);
    std::fflush(stderr);
    if (fault_.action == "throw")
      TC_RUNTIME_ERROR("injected fault (TOKENCLIP_TEST_FAULT) at {} #{} on rank {}", op, calls_, rank());
    if (fault_.action == "stop") raise(SIGSTOP);
    if (fault_.action == "sleep") std::this_thread::sleep_for(std::chrono::duration<double>(fault_.sleep_s));
  }

  std::unique_ptr<Communicator> inner_;
  Fault fault_;
  int calls_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> with_test_faults(std::unique_ptr<Communicator> comm) {
  const char* spec = std::getenv("TOKENCLIP_TEST_FAULT");
  if (!spec || !*spec) return comm;
  return std::make_unique<FaultComm>(std::move(comm), parse_fault(spec));
}

}  // namespace tc::dist
