#include "train/stop_signal.h"

#include <csignal>
#include <cstdio>
#include <cstring>

namespace tc::train {
namespace detail_stop {

volatile std::sig_atomic_t g_received = 0;
int g_depth = 0;  // StopSignals alive (the trainer's inside the command's)
struct sigaction g_previous[2];
constexpr int kSignals[2] = {SIGTERM, SIGUSR1};

extern "C" void record(int signal) {
  if (g_received == 0) g_received = signal;
}

}  // namespace detail_stop

StopSignals::StopSignals() {
  using namespace detail_stop;
  if (g_depth++ > 0) return;
  g_received = 0;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = record;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < 2; ++i) sigaction(kSignals[i], &sa, &g_previous[i]);
}

StopSignals::~StopSignals() {
  using namespace detail_stop;
  if (--g_depth > 0) return;
  for (int i = 0; i < 2; ++i) sigaction(kSignals[i], &g_previous[i], nullptr);
}

int StopSignals::received() { return static_cast<int>(detail_stop::g_received); }

const char* signal_name(int signal) {
  if (signal == SIGTERM) return "SIGTERM";
  if (signal == SIGUSR1) return "SIGUSR1";
  static thread_local char buf[32];
  std::snprintf(buf, sizeof buf, "signal %d", signal);
  return buf;
}

}  // namespace tc::train
