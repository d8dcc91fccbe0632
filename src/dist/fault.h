// Fault injection for the tests of failure handling (internal to src/dist). With
//   TOKENCLIP_TEST_FAULT=RANK:OP:CALL:ACTION
// the communicator of rank RANK does ACTION when its CALL-th (1-based) OP begins, and its
// destructor is collective (a plain, unbounded MPI barrier, as ncclCommDestroy is), so a test
// on the CPU shows whether a failing rank still tears its communicator down collectively.
//   OP: allreduce (sum and max), broadcast, allgather, allgather_strings, barrier, send, recv
//   ACTION: throw (a runtime error), stop (SIGSTOP to itself), sleep=SECONDS
// Unset (always, outside tests): the communicator is returned as it is.
#pragma once

#include <memory>

namespace tc::dist {

class Communicator;

std::unique_ptr<Communicator> with_test_faults(std::unique_ptr<Communicator> comm);

}  // namespace tc::dist
