// `tokenclip version`: what was built and with what.
#include <torch/version.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include <cstdio>

#include "app/command.h"
#include "compat/torch_compat.h"
#include "version.h"

namespace tc::app {
namespace {

int run_version(Invocation&) {
  std::printf("tokenclip %s (git %s)\n", TOKENCLIP_VERSION, TOKENCLIP_GIT_REV);
  std::printf("libtorch %s\n", compat::torch_version().c_str());
  std::printf("CUDA compiled: %s, CUDA available: %s\n", TOKENCLIP_CUDA_COMPILED ? "yes" : "no",
              at::hasCUDA() ? "yes" : "no");
  std::printf("NCCL compiled: %s%s\n", TOKENCLIP_NCCL_COMPILED ? "yes" : "no",
              TOKENCLIP_NCCL_COMPILED ? (std::string(" (") + TOKENCLIP_NCCL_VERSION + ")").c_str() : "");
  std::printf("torch threads: %d (%s)\n", at::get_num_threads(), at::get_parallel_info().find("OpenMP") != std::string::npos ? "OpenMP" : "native");
  return 0;
}

TC_REGISTER_COMMAND(Command{
    "version", "print the version, the libtorch version and whether CUDA/NCCL are compiled in",
    "Prints the tokenclip version and git revision, the libtorch version it was built against, "
    "and whether the CUDA and NCCL code paths were compiled in.",
    {}, {}, "", "", 0, 0, 990, run_version});

}  // namespace
}  // namespace tc::app
