// `tokenclip config`: print the effective config (files merged, flags applied) without running
// anything, e.g. to check what a sweep point or a preset resolves to.
#include <cstdio>

#include "app/command.h"
#include "config/config.h"

namespace tc::app {
namespace {

int run_config(Invocation& inv) {
  std::string out = inv.cfg.get_string("out");
  if (!out.empty()) {
    write_effective_config(inv, out);
    std::printf("wrote %s/config.ini\n", out.c_str());
    return 0;
  }
  std::printf("# config hash: %s\n%s", inv.cfg.hash().c_str(), inv.cfg.to_ini(true).c_str());
  return 0;
}

TC_REGISTER_COMMAND(Command{
    "config", "print the effective config after merging --config files and flags",
    "Merges the given INI files (later wins) and --section.key flags (win over files), validates "
    "every key and value, and prints the effective config with where each value came from.",
    config::schema_sections(),
    {flag_string("out", "", "write DIR/config.ini instead of printing")},
    "", "", 0, 0, 900, run_config});

}  // namespace
}  // namespace tc::app
