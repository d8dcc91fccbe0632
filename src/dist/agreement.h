// Start-up agreement: every rank states what it is about to run (config hash, learnable
// shapes, dataset content hash, ...); any difference stops all ranks together with a message
// naming the rank and the field. All ranks see all statements, so they all fail at once and
// nobody is left waiting in a collective.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace tc::dist {

class Communicator;

struct Statement {
  std::string what;   // "effective config hash"
  std::string value;  // compared as text
};

// Throws a Dist error (exit 5) on every rank when any rank differs from rank 0.
void check_agreement(Communicator& comm, const std::vector<Statement>& mine);

}  // namespace tc::dist
