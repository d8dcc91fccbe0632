#include "app/command.h"

#include <boost/program_options.hpp>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>

#include "util/check.h"
#include "util/fs.h"
#include "util/log.h"
#include "version.h"

namespace po = boost::program_options;

namespace tc::app {

static std::vector<Command>& registry() {
  static std::vector<Command> r;
  return r;
}

bool register_command(Command c) {
  registry().push_back(std::move(c));
  return true;
}

const std::vector<Command>& commands() {
  auto& r = registry();
  std::stable_sort(r.begin(), r.end(), [](const Command& a, const Command& b) {
    return a.order != b.order ? a.order < b.order : a.name < b.name;
  });
  return r;
}

const Command* find_command(const std::string& name) {
  for (const auto& c : commands())
    if (c.name == name) return &c;
  return nullptr;
}

// ---------------------------------------------------------------- flag helpers

config::Spec flag_string(const char* name, const char* def, const char* help, bool required) {
  config::Spec s;
  s.key = name; s.type = config::Type::String; s.default_value = def; s.help = help;
  s.required = required;
  return s;
}
config::Spec flag_bool(const char* name, const char* help) {
  config::Spec s;
  s.key = name; s.type = config::Type::Bool; s.default_value = "false"; s.help = help;
  return s;
}
config::Spec flag_int(const char* name, const char* def, const char* help, double min,
                      std::vector<std::string> words) {
  config::Spec s;
  s.key = name; s.type = config::Type::Int; s.default_value = def; s.help = help;
  if (min > -1e17) s.min = min;
  s.choices = std::move(words);
  return s;
}
config::Spec flag_float(const char* name, const char* def, const char* help, double min,
                        std::vector<std::string> words) {
  config::Spec s;
  s.key = name; s.type = config::Type::Float; s.default_value = def; s.help = help;
  if (min > -1e307) s.min = min;
  s.choices = std::move(words);
  return s;
}
config::Spec flag_int_list(const char* name, const char* def, const char* help, double min) {
  config::Spec s;
  s.key = name; s.type = config::Type::IntList; s.default_value = def; s.help = help;
  if (min > -1e17) s.min = min;
  return s;
}
config::Spec flag_choice(const char* name, const char* def, std::vector<std::string> choices,
                         const char* help) {
  config::Spec s;
  s.key = name; s.type = config::Type::Choice; s.default_value = def; s.help = help;
  s.choices = std::move(choices);
  return s;
}
config::Spec flag_multi(const char* name, const char* help, bool required) {
  config::Spec s;
  s.key = name; s.type = config::Type::String; s.help = help; s.multi = true;
  s.required = required;
  return s;
}

// ---------------------------------------------------------------- help

std::vector<config::Spec> global_flags() {
  return {flag_multi("config", "INI config file; repeatable, later files win, flags win over files"),
          flag_bool("verbose", "log from every rank (prefixed with the rank), and debug messages"),
          flag_string("log-file", "", "also log to this file; '{rank}' is replaced by the rank"),
          flag_choice("log-level", "info", {"debug", "info", "warn", "error"}, "minimum log level"),
          flag_bool("help", "show this help")};
}

// Greedy word wrap; `col` is where the cursor already stands on the first line.
static std::string wrap_text(const std::string& text, size_t indent, size_t width, size_t col) {
  std::string out, word;
  std::istringstream words(text);
  bool first = true;
  while (words >> word) {
    if (!first && col + 1 + word.size() > width) {
      out += "\n" + std::string(indent, ' ');
      col = indent;
      first = true;
    }
    if (!first) { out += ' '; ++col; }
    out += word;
    col += word.size();
    first = false;
  }
  return out;
}

static std::string spec_line(const config::Spec& s, bool is_flag) {
  std::string arg;
  if (s.type == config::Type::Bool && is_flag)
    arg = "";
  else if (s.type == config::Type::Choice)
    arg = " {" + [&] { std::string c; for (size_t i = 0; i < s.choices.size(); ++i) c += (i ? "|" : "") + s.choices[i]; return c; }() + "}";
  else
    arg = " " + std::string(config::type_name(s.type) == std::string("bool") ? "BOOL" : "VALUE");
  std::string def;
  if (s.required)
    def = " (required)";
  else if (!(s.type == config::Type::Bool && is_flag))
    def = s.default_value.empty() ? " (default: none)" : " (default: " + s.default_value + ")";
  if (s.multi) def += " (repeatable)";
  std::string left = "  --" + s.key + arg;
  std::string out = left;
  if (left.size() < 34)
    out += std::string(34 - left.size(), ' ');
  else
    out += "\n" + std::string(34, ' ');
  out += wrap_text(s.help + def, 34, 100, 34);
  return out + "\n";
}

static void print_main_help() {
  std::printf("tokenclip %s - token-wise prompt learning for zero-shot anomaly detection\n\n",
              TOKENCLIP_VERSION);
  std::printf("usage: tokenclip <command> [options]\n       tokenclip <command> --help\n\ncommands:\n");
  for (const auto& c : commands())
    if (c.order < 9000) std::printf("  %-18s %s\n", c.name.c_str(), c.summary.c_str());
  std::printf(
      "\nOptions come from INI files (--config a.ini --config b.ini, later wins) and from the\n"
      "command line (--section.key VALUE, wins over files).\n"
      "Exit codes: 0 ok, 2 usage or config error, 3 input data error, 4 runtime failure,\n"
      "5 distributed failure (a peer rank failed or ranks disagree).\n"
      "Developer commands (debug-*) are listed by 'tokenclip --help-all'.\n");
}

static void print_command_help(const Command& c) {
  std::string usage = "usage: tokenclip " + c.name + " [options]";
  if (!c.positional.empty())
    usage += c.max_positional == 1 ? " " + c.positional
                                   : (c.min_positional == 0 ? " [" + c.positional + " ...]"
                                                            : " " + c.positional + " [...]");
  std::printf("%s\n\n", usage.c_str());
  if (!c.description.empty()) std::printf("%s\n\n", wrap_text(c.description, 0, 100, 0).c_str());
  if (!c.positional.empty()) std::printf("  %-32s%s\n\n", c.positional.c_str(), c.positional_help.c_str());
  if (!c.flags.empty()) {
    std::printf("options:\n");
    for (const auto& s : c.flags) std::printf("%s", spec_line(s, true).c_str());
    std::printf("\n");
  }
  std::printf("common options:\n");
  for (const auto& s : global_flags()) std::printf("%s", spec_line(s, true).c_str());
  for (const auto& sec : c.sections) {
    std::printf("\nconfig section [%s] (INI key or --%s.KEY):\n", sec.c_str(), sec.c_str());
    for (const auto& s : config::schema())
      if (s.section() == sec) std::printf("%s", spec_line(s, false).c_str());
  }
}

// ---------------------------------------------------------------- effective config

void write_effective_config(const Invocation& inv, const std::string& dir, const std::string& file_name) {
  make_dirs(dir);
  std::string text = fmt::format("# effective config of: {}\n# tokenclip {}\n", inv.command_line,
                                 TOKENCLIP_VERSION);
  for (const auto& f : inv.config_files) text += fmt::format("# config file: {}\n", f);
  for (const auto& s : inv.cfg.specs()) {
    if (!s.section().empty()) continue;
    if (s.multi)  // one line per value: values may hold commas
      for (const auto& v : inv.cfg.get_string_list(s.key)) text += fmt::format("# --{} = {}\n", s.key, v);
    else
      text += fmt::format("# --{} = {}\n", s.key, inv.cfg.text(s.key));
  }
  text += fmt::format("# config hash: {}\n\n", inv.cfg.hash());
  text += inv.cfg.to_ini(true);
  write_file_atomic(dir + "/" + file_name, text);
}

// ---------------------------------------------------------------- main

static int report_error(const Error& e) {
  std::fprintf(stderr, "%s\n", error_report(e).c_str());
  std::fflush(stderr);
  return e.exit_code();
}

static int dispatch(int argc, char** argv) {
  if (argc < 2) {
    print_main_help();
    return 2;
  }
  std::string name = argv[1];
  if (name == "--help-all") {
    print_main_help();
    std::printf("\ndeveloper commands:\n");
    for (const auto& c : commands())
      if (c.order >= 9000) std::printf("  %-18s %s\n", c.name.c_str(), c.summary.c_str());
    return 0;
  }
  if (name == "--help" || name == "-h" || name == "help") {
    if (argc >= 3 && find_command(argv[2])) {
      print_command_help(*find_command(argv[2]));
      return 0;
    }
    print_main_help();
    return 0;
  }
  if (name == "--version") name = "version";
  const Command* cmd = find_command(name);
  if (!cmd) {
    std::vector<std::string> names;
    for (const auto& c : commands()) names.push_back(c.name);
    std::string near = config::closest(name, names);
    TC_FAIL_HINT(ErrorKind::Usage, "run 'tokenclip --help' for the list of commands",
                 "unknown command '{}'{}", name,
                 near.empty() ? std::string() : fmt::format(" (did you mean '{}'?)", near));
  }

  Invocation inv;
  inv.command = cmd->name;
  inv.command_line = "tokenclip";
  for (int i = 1; i < argc; ++i) inv.command_line += std::string(" ") + argv[i];

  std::vector<config::Spec> own = cmd->flags;
  for (const auto& g : global_flags()) own.push_back(g);
  inv.cfg = config::Config::for_sections(cmd->sections, own);

  // Boost tokenises; every value arrives as text and the table validates it.
  po::options_description desc;
  for (const auto& s : inv.cfg.specs()) {
    bool is_flag = s.section().empty();
    if (is_flag && s.type == config::Type::Bool)
      desc.add_options()(s.key.c_str(), po::value<std::vector<std::string>>()->implicit_value(
                                            std::vector<std::string>{"true"}, "true")->zero_tokens());
    else
      desc.add_options()(s.key.c_str(), po::value<std::vector<std::string>>());
  }
  desc.add_options()("tc-positional", po::value<std::vector<std::string>>());
  po::positional_options_description pos;
  pos.add("tc-positional", -1);

  std::vector<std::string> rest(argv + 2, argv + argc);
  po::parsed_options parsed(&desc);
  try {
    int style = po::command_line_style::allow_long | po::command_line_style::long_allow_adjacent |
                po::command_line_style::long_allow_next;
    parsed = po::command_line_parser(rest).options(desc).positional(pos).style(style).run();
  } catch (const po::unknown_option& e) {
    std::string opt = e.get_option_name();
    while (!opt.empty() && opt[0] == '-') opt.erase(0, 1);
    std::string near = config::closest(opt, inv.cfg.keys());
    std::string msg = fmt::format("command line: unknown option '--{}' for '{}'", opt, cmd->name);
    if (!near.empty()) msg += fmt::format(" (did you mean '--{}'?)", near);
    TC_FAIL_HINT(ErrorKind::Usage, fmt::format("run 'tokenclip {} --help'", cmd->name), "{}", msg);
  } catch (const po::error& e) {
    TC_FAIL_HINT(ErrorKind::Usage, fmt::format("run 'tokenclip {} --help'", cmd->name),
                 "command line: {}", e.what());
  }

  // Config files first (in order), then command-line values.
  std::vector<std::pair<std::string, std::string>> cli;
  for (const auto& o : parsed.options) {
    std::string key = o.string_key;
    if (key == "tc-positional") {
      for (const auto& v : o.value) inv.args.push_back(v);
      continue;
    }
    if (key == "help") {
      print_command_help(*cmd);
      return 0;
    }
    std::vector<std::string> vals = o.value.empty() ? std::vector<std::string>{"true"} : o.value;
    for (const auto& v : vals) {
      if (key == "config")
        inv.config_files.push_back(v);
      else
        cli.emplace_back(key, v);
    }
  }
  for (const auto& f : inv.config_files) inv.cfg.load_ini(f);
  for (const auto& [key, value] : cli) {
    if (inv.cfg.spec(key).multi)
      inv.cfg.append(key, value, "command line");
    else
      inv.cfg.set(key, value, "command line");
  }
  inv.cfg.check_required();
  int npos = static_cast<int>(inv.args.size());
  if (npos < cmd->min_positional || (cmd->max_positional >= 0 && npos > cmd->max_positional)) {
    if (cmd->max_positional == 0)
      TC_FAIL_HINT(ErrorKind::Usage, fmt::format("run 'tokenclip {} --help'", cmd->name),
                   "'{}' takes no positional arguments, got '{}'", cmd->name, inv.args.at(0));
    TC_FAIL_HINT(ErrorKind::Usage, fmt::format("run 'tokenclip {} --help'", cmd->name),
                 "'{}' expects {} {} argument(s) {}, got {}", cmd->name,
                 cmd->max_positional < 0 ? "at least" : "", cmd->min_positional, cmd->positional, npos);
  }

  log::Options lo = log::options();
  lo.level = log::parse_level(inv.cfg.get_string("log-level"));
  if (inv.cfg.get_bool("verbose")) {
    lo.all_ranks = true;
    if (lo.level > log::Level::Debug) lo.level = log::Level::Debug;
  }
  lo.file_pattern = inv.cfg.get_string("log-file");
  log::configure(lo);
  for (const auto& k : inv.cfg.unused_from_files())
    log::debug("config: {} is not used by '{}' (skipped)", k, cmd->name);
  return cmd->run(inv);
}

int run_main(int argc, char** argv) {
  try {
    return dispatch(argc, argv);
  } catch (const Error& e) {
    return report_error(e);
  } catch (const std::exception& e) {
    return report_error(Error(ErrorKind::Runtime, e.what()));
  } catch (...) {  // e.g. H5::Exception, which is no std::exception: still a message and an exit code
    return report_error(Error(ErrorKind::Runtime, "unexpected exception of a type that carries no message"));
  }
}

}  // namespace tc::app
