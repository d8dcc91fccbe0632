// The subcommand registry of the `tokenclip` command.
//
// Each `cmd_*.cpp` registers itself with TC_REGISTER_COMMAND; the table drives `--help`, flag
// parsing (Boost.Program_options tokenises argv, the config table validates) and dispatch.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "config/config.h"

namespace tc::app {

struct Invocation {
  std::string command;
  config::Config cfg;                  // config sections + this command's flags
  std::vector<std::string> args;       // positional arguments
  std::vector<std::string> config_files;
  std::string command_line;            // as typed, for the record
};

struct Command {
  std::string name;
  std::string summary;      // one line for `tokenclip --help`
  std::string description;  // paragraph for `tokenclip <name> --help`
  std::vector<std::string> sections;  // config sections this command reads ([model], ...)
  std::vector<config::Spec> flags;    // own flags (bare names, e.g. "out")
  std::string positional;             // name shown in usage, e.g. "LAYOUT" ("" = none)
  std::string positional_help;
  int min_positional = 0, max_positional = 0;  // max -1 = unlimited
  int order = 100;                             // position in the help listing
  std::function<int(Invocation&)> run;
};

bool register_command(Command c);
const std::vector<Command>& commands();
const Command* find_command(const std::string& name);

// The flags every command takes (--config, --verbose, --log-file, --log-level, --help).
std::vector<config::Spec> global_flags();

// Writes `<dir>/config.ini` (atomically): the effective config with the source of every
// non-default value, preceded by the command line and the command's flag values.
void write_effective_config(const Invocation& inv, const std::string& dir,
                            const std::string& file_name = "config.ini");

// The entry point used by main() and by in-process tests; returns the exit code.
int run_main(int argc, char** argv);

// Flag spec helpers for command tables.
config::Spec flag_string(const char* name, const char* def, const char* help, bool required = false);
config::Spec flag_bool(const char* name, const char* help);
// Numeric flags are validated (type and range) when the command line is parsed; `words` are
// accepted instead of a number (read with Config::word), e.g. {"none", "all"}.
config::Spec flag_int(const char* name, const char* def, const char* help, double min = -1e18,
                      std::vector<std::string> words = {});
config::Spec flag_float(const char* name, const char* def, const char* help, double min = -1e308,
                        std::vector<std::string> words = {});
// A comma-separated list of integers (one value; repeatable flags are flag_multi).
config::Spec flag_int_list(const char* name, const char* def, const char* help, double min = -1e18);
config::Spec flag_choice(const char* name, const char* def, std::vector<std::string> choices, const char* help);
// A repeatable string flag: every occurrence is one value, commas included.
config::Spec flag_multi(const char* name, const char* help, bool required = false);

}  // namespace tc::app

#define TC_CONCAT2_(a, b) a##b
#define TC_CONCAT_(a, b) TC_CONCAT2_(a, b)
#define TC_REGISTER_COMMAND(...) \
  static const bool TC_CONCAT_(tc_registered_, __COUNTER__) = ::tc::app::register_command(__VA_ARGS__)
