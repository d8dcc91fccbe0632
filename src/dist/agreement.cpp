#include "dist/agreement.h"

#include <sstream>

#include "dist/dist.h"
#include "util/check.h"

namespace tc::dist {
namespace detail_agreement {

// what \t value \n ... (tabs/newlines inside values are escaped away)
std::string encode(const std::vector<Statement>& s) {
  std::string out;
  for (const auto& st : s) {
    std::string v = st.value;
    for (char& c : v)
      if (c == '\n' || c == '\t') c = ' ';
    out += st.what + "\t" + v + "\n";
  }
  return out;
}

std::vector<Statement> decode(const std::string& text) {
  std::vector<Statement> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto tab = line.find('\t');
    out.push_back({line.substr(0, tab), tab == std::string::npos ? "" : line.substr(tab + 1)});
  }
  return out;
}

std::string shorten(const std::string& v) { return v.size() > 80 ? v.substr(0, 77) + "..." : v; }

}  // namespace detail_agreement

void check_agreement(Communicator& comm, const std::vector<Statement>& mine) {
  using namespace detail_agreement;
  auto all = comm.allgather_strings(encode(mine));
  auto ref = decode(all.at(0));
  std::vector<std::string> problems;
  for (size_t r = 1; r < all.size(); ++r) {
    auto other = decode(all[r]);
    if (other.size() != ref.size()) {
      problems.push_back(fmt::format("rank {} states {} items, rank 0 states {}", r, other.size(), ref.size()));
      continue;
    }
    for (size_t i = 0; i < ref.size(); ++i) {
      if (other[i].what != ref[i].what || other[i].value != ref[i].value)
        problems.push_back(fmt::format("rank {} differs in {}: '{}' (rank 0: '{}')", r, ref[i].what,
                                       shorten(other[i].value), shorten(ref[i].value)));
    }
  }
  if (!problems.empty()) {
    std::string msg = "ranks disagree at start-up: " + problems.front();
    for (size_t i = 1; i < problems.size() && i < 8; ++i) msg += "; " + problems[i];
    TC_FAIL_HINT(ErrorKind::Dist,
                 "every rank must run the same config on the same data; check per-rank paths and "
                 "environment",
                 "{}", msg);
  }
}

}  // namespace tc::dist
