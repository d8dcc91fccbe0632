// Sweep file parsing, grid expansion and the protocol guard.
#include <algorithm>
#include <filesystem>
#include <set>

#include "config/config.h"
#include "sweep/sweep.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/text.h"

namespace tc::sweep {
namespace detail_grid {

namespace fs = std::filesystem;

std::string where_of(const config::IniEntry& e) { return fmt::format("{}:{}", e.file, e.line); }

std::string resolve(const std::string& root, const std::string& raw) {
  fs::path q(expand_placeholders(raw, root));
  if (q.is_relative()) q = fs::path(root) / q;
  std::string out = q.lexically_normal().string();
  if (out.size() > 1 && out.back() == '/') out.pop_back();  // "a/b/.." normalises to "a/"
  return out;
}

const config::Spec* find_spec(const std::string& key) {
  for (const auto& s : config::schema())
    if (s.key == key) return &s;
  return nullptr;
}

std::vector<std::string> schema_keys() {
  std::vector<std::string> keys;
  for (const auto& s : config::schema()) keys.push_back(s.key);
  return keys;
}

const config::Spec& spec_or_fail(const config::IniEntry& e) {
  const config::Spec* s = find_spec(e.key);
  if (!s) {
    std::string near = closest(e.key, schema_keys());
    TC_FAIL(ErrorKind::Usage, "{}: [{}] unknown config key '{}'{}: expected a key of the config table "
            "('tokenclip config --help' lists them)", where_of(e), e.section, e.key,
            near.empty() ? std::string() : fmt::format(" (did you mean '{}'?)", near));
  }
  return *s;
}

bool is_list_type(config::Type t) {
  return t == config::Type::IntList || t == config::Type::FloatList || t == config::Type::StringList;
}

// Grid alternatives are comma separated; for keys whose values are lists themselves, the
// alternatives are separated by ';' instead.
std::vector<std::string> split_alternatives(const std::string& v, char sep) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    size_t a = cur.find_first_not_of(" \t"), b = cur.find_last_not_of(" \t");
    out.push_back(a == std::string::npos ? std::string() : cur.substr(a, b - a + 1));
    cur.clear();
  };
  for (char c : v) {
    if (c == sep) flush();
    else cur += c;
  }
  flush();
  return out;
}

struct GridKey {
  std::string key;
  std::vector<std::string> values;
  std::string source;
};
struct GridBlock {
  std::string name;
  std::vector<GridKey> keys;
};
struct Constraint {
  std::string name, lhs, op, rhs, source;
};

Constraint parse_constraint(const config::IniEntry& e) {
  static const char* ops[] = {"<=", ">=", "==", "!=", "<", ">"};
  for (const char* op : ops) {
    auto p = e.value.find(op);
    if (p == std::string::npos) continue;
    Constraint c;
    c.name = e.key;
    c.op = op;
    c.lhs = e.value.substr(0, p);
    c.rhs = e.value.substr(p + std::string(op).size());
    auto trim = [](std::string s) {
      size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
      return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
    };
    c.lhs = trim(c.lhs);
    c.rhs = trim(c.rhs);
    c.source = where_of(e);
    if (c.lhs.empty() || c.rhs.empty()) break;
    for (const auto* side : {&c.lhs, &c.rhs}) {
      char* end = nullptr;
      std::strtod(side->c_str(), &end);
      bool number = end && *end == '\0';
      if (!number && !find_spec(*side))
        TC_FAIL(ErrorKind::Usage, "{}: [constraints] {}: '{}' is neither a number nor a config key",
                c.source, c.name, *side);
    }
    return c;
  }
  TC_FAIL(ErrorKind::Usage, "{}: [constraints] {} = '{}': expected 'KEY OP KEY-or-NUMBER' with OP one "
          "of <=, <, >=, >, ==, != (e.g. 'method.topk <= method.subspaces')", where_of(e), e.key, e.value);
}

double operand_value(const config::Config& cfg, const std::string& s) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end && *end == '\0') return v;
  const std::string& t = cfg.text(s);
  if (t == "true") return 1;
  if (t == "false") return 0;
  return std::strtod(t.c_str(), nullptr);
}

bool holds(const Constraint& c, const config::Config& cfg) {
  double a = operand_value(cfg, c.lhs), b = operand_value(cfg, c.rhs);
  if (c.op == "<=") return a <= b;
  if (c.op == ">=") return a >= b;
  if (c.op == "==") return a == b;
  if (c.op == "!=") return a != b;
  if (c.op == "<") return a < b;
  return a > b;
}

std::string short_name(const std::string& key, const std::set<std::string>& varying) {
  auto dot = key.find('.');
  std::string n = dot == std::string::npos ? key : key.substr(dot + 1);
  for (const auto& k : varying)
    if (k != key && k.substr(k.find('.') + 1) == n) return key;  // ambiguous: keep section
  return n;
}

}  // namespace detail_grid

std::string point_id(const std::string& preset, const std::vector<KeyValue>& overrides,
                     const std::string& train) {
  std::vector<std::string> lines;
  for (const auto& kv : overrides) lines.push_back(kv.key + "=" + kv.value + "\n");
  std::sort(lines.begin(), lines.end());
  std::string text = "preset=" + preset + "\n";
  for (const auto& l : lines) text += l;
  text += "train=" + train + "\n";
  return "p-" + sha256_hex(text).substr(0, 8);
}

std::string expand_placeholders(const std::string& value, const std::string& root) {
  std::string out;
  size_t i = 0;
  while (i < value.size()) {
    size_t open = value.find('{', i);
    if (open == std::string::npos) break;
    size_t close = open + 1;  // the matching brace: defaults may hold placeholders themselves
    for (int depth = 1; close < value.size(); ++close) {
      if (value[close] == '{') ++depth;
      if (value[close] == '}' && --depth == 0) break;
    }
    if (close >= value.size()) break;
    out += value.substr(i, open - i);
    std::string token = value.substr(open + 1, close - open - 1);
    if (token == "root") {
      out += root;
    } else if (token.rfind("env:", 0) == 0) {
      std::string name = token.substr(4), def;
      auto bar = name.find('|');
      if (bar != std::string::npos) {
        def = name.substr(bar + 1);
        name = name.substr(0, bar);
      }
      const char* v = std::getenv(name.c_str());
      out += v && *v ? std::string(v) : expand_placeholders(def, root);
    } else {
      out += value.substr(open, close - open + 1);  // not ours: keep as written
    }
    i = close + 1;
  }
  return out + value.substr(std::min(i, value.size()));
}

std::string default_domain(const std::string& dataset) {
  static const std::set<std::string> industrial = {"mvtec", "visa", "mpdd", "btad", "sdd",
                                                   "ksdd", "ksdd2", "dagm", "dtd", "realiad"};
  static const std::set<std::string> medical = {"headct", "brainmri", "br35h", "covid",
                                                "isic", "clinicdb", "colondb", "kvasir",
                                                "endo", "tn3k"};
  if (industrial.count(dataset)) return "industrial";
  if (medical.count(dataset)) return "medical";
  if (dataset.find("medical") != std::string::npos) return "medical";
  if (dataset.find("industrial") != std::string::npos) return "industrial";
  return "";
}

Sweep load_sweep(const std::string& path) {
  if (!file_exists(path))
    TC_FAIL(ErrorKind::Usage, "sweep file '{}' does not exist", path);
  std::string dir = std::filesystem::absolute(path).parent_path().lexically_normal().string();
  return load_sweep_text(read_file(path), path, dir);
}

// ---------------------------------------------------------------- load_sweep_text's steps

namespace detail_grid {

// The sections of a sweep file, as read by read_sections (pass 2), for the later steps.
struct Sections {
  std::vector<GridBlock> blocks;
  std::vector<KeyValue> set_values;
  std::vector<Constraint> constraints;
  std::vector<config::IniEntry> data, protocol, domains;
};

// One grid combination: a preset (or none) and its overrides ([set] values, then grid values).
struct Combo {
  std::string preset, grid;
  std::vector<KeyValue> overrides;
};

const std::vector<std::string>& known_sections() {
  static const std::vector<std::string> sections = {"sweep", "presets", "grid", "set", "constraints",
                                                    "protocol", "data", "domains", "train_flags",
                                                    "eval_flags", "fake"};
  return sections;
}

bool is_grid_section(const std::string& section) {
  return section == "grid" || section.rfind("grid.", 0) == 0;
}

bool is_backbone_section(const std::string& section) {
  return section.rfind("backbone.", 0) == 0 && section.size() > 9;
}

// Grid keys that name something of the sweep file rather than a config key.
bool is_named_key(const std::string& key) { return key == "preset" || key == "backbone"; }

// Pass 1: refuses unknown sections and repeated keys, and reads [sweep] (the root must be
// known before any path resolves), then the base config files.
void read_sweep_section(const std::vector<config::IniEntry>& entries, const std::string& name,
                        const std::string& dir, Sweep& s) {
  const std::vector<std::string>& sections = known_sections();
  std::string base_text, base_where;
  std::set<std::string> seen;
  for (const auto& e : entries) {
    if (!is_grid_section(e.section) && !is_backbone_section(e.section) && std::find(sections.begin(), sections.end(), e.section) == sections.end()) {
      std::string near = closest(e.section, sections);
      TC_FAIL(ErrorKind::Usage, "{}: unknown section [{}]{}: expected one of [sweep], [presets], "
              "[grid] or [grid.NAME], [set], [constraints], [protocol], [data], [domains], "
              "[train_flags], [eval_flags], [backbone.NAME]",
              where_of(e), e.section, near.empty() ? "" : fmt::format(" (did you mean [{}]?)", near));
    }
    std::string dup = e.section + "\n" + e.key;
    if (e.section != "fake" && !seen.insert(dup).second)
      TC_FAIL(ErrorKind::Usage, "{}: [{}] key '{}' is given twice", where_of(e), e.section, e.key);
    if (e.section != "sweep") continue;
    if (e.key == "name") {
      s.name = e.value;
    } else if (e.key == "root") {
      s.root = resolve(dir, e.value);
    } else if (e.key == "base") {
      base_text = e.value;
      base_where = where_of(e);
    } else if (e.key == "visualize") {
      char* end = nullptr;
      long v = std::strtol(e.value.c_str(), &end, 10);
      if (e.value.empty() || *end != '\0' || v < 0)
        TC_FAIL(ErrorKind::Usage, "{}: [sweep] visualize = '{}': expected an integer >= 0", where_of(e), e.value);
      s.visualize = static_cast<int>(v);
    } else if (e.key == "train_command") {
      s.train_command = e.value;
    } else if (e.key == "eval_command") {
      s.eval_command = e.value;
    } else {
      std::string near = closest(e.key, {"name", "root", "base", "visualize"});
      TC_FAIL(ErrorKind::Usage, "{}: [sweep] unknown key '{}'{}: expected name, root, base or visualize",
              where_of(e), e.key, near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near));
    }
  }
  if (s.name.empty()) s.name = std::filesystem::path(name).stem().string();
  for (const auto& b : config::split_list(base_text)) {
    std::string p = resolve(s.root, b);
    if (!file_exists(p))
      TC_FAIL(ErrorKind::Input, "{}: [sweep] base: config file '{}' (resolved to '{}') does not exist",
              base_where, b, p);
    s.base.push_back(p);
  }
}

// A [grid] / [grid.NAME] line: its alternatives, normalised, appended to its block (a block's
// lines must stay together).
void add_grid_key(const config::IniEntry& e, std::vector<GridBlock>& blocks) {
  const std::string& sec = e.section;
  std::string bname = sec == "grid" ? "" : sec.substr(5);
  if (blocks.empty() || blocks.back().name != bname) {
    for (const auto& b : blocks)
      if (b.name == bname)
        TC_FAIL(ErrorKind::Usage, "{}: section [{}] appears twice; keep each grid block together",
                where_of(e), sec);
    blocks.push_back({bname, {}});
  }
  GridKey g;
  g.key = e.key;
  g.source = where_of(e);
  if (is_named_key(e.key)) {
    g.values = split_alternatives(e.value, ',');
  } else {
    const config::Spec& sp = spec_or_fail(e);
    for (const auto& v : split_alternatives(e.value, is_list_type(sp.type) ? ';' : ','))
      g.values.push_back(config::normalise_value(sp, v, g.source));
  }
  std::set<std::string> uniq;
  for (const auto& v : g.values) {
    if (v.empty() && is_named_key(e.key))
      TC_FAIL(ErrorKind::Usage, "{}: [{}] {}: empty alternative in '{}'", g.source, sec, e.key, e.value);
    if (!uniq.insert(v).second)
      TC_FAIL(ErrorKind::Usage, "{}: [{}] {}: value '{}' is listed twice", g.source, sec, e.key, v);
  }
  blocks.back().keys.push_back(std::move(g));
}

// A [backbone.NAME] line: one flag of both commands for the points on that backbone (an empty
// value declares the backbone and sets nothing: `weights =` names the random one).
void read_backbone_flag(const config::IniEntry& e, Sweep& s) {
  static const std::vector<std::string> reserved = {"data", "cache", "out", "checkpoint", "config"};
  if (std::find(reserved.begin(), reserved.end(), e.key) != reserved.end())
    TC_FAIL(ErrorKind::Usage, "{}: [{}] {}: this flag is set by the sweep runner itself", where_of(e), e.section,
            e.key);
  auto& flags = s.backbones[e.section.substr(9)];
  if (e.value.empty()) return;
  // Weight and vocabulary files resolve against the root like data files.
  flags.emplace_back(e.key, e.key == "weights" || e.key == "bpe" ? resolve(s.root, e.value)
                                                                 : expand_placeholders(e.value, s.root));
}

// Pass 2: every section but [sweep], in file order. [presets], [fake] and the flag sections
// go into the sweep; the rest is kept for the steps below.
Sections read_sections(const std::vector<config::IniEntry>& entries, Sweep& s) {
  Sections out;
  for (const auto& e : entries) {
    const std::string& sec = e.section;
    if (sec == "presets") {
      std::string p = resolve(s.root, e.value);
      if (!file_exists(p))
        TC_FAIL(ErrorKind::Input, "{}: [presets] {}: config file '{}' (resolved to '{}') does not exist",
                where_of(e), e.key, e.value, p);
      s.presets[e.key] = p;
    } else if (is_grid_section(sec)) {
      add_grid_key(e, out.blocks);
    } else if (sec == "set" && e.key == "backbone") {
      out.set_values.push_back({e.key, e.value, where_of(e)});
    } else if (is_backbone_section(sec)) {
      read_backbone_flag(e, s);
    } else if (sec == "set") {
      const config::Spec& sp = spec_or_fail(e);
      out.set_values.push_back({e.key, config::normalise_value(sp, e.value, where_of(e)), where_of(e)});
    } else if (sec == "constraints") {
      out.constraints.push_back(parse_constraint(e));
    } else if (sec == "protocol") {
      out.protocol.push_back(e);
    } else if (sec == "data") {
      out.data.push_back(e);
    } else if (sec == "domains") {
      out.domains.push_back(e);
    } else if (sec == "fake") {
      s.fake[e.key] = e.value;
    } else if (sec == "train_flags" || sec == "eval_flags") {
      static const std::vector<std::string> reserved = {"data", "cache", "out", "checkpoint", "config"};
      if (std::find(reserved.begin(), reserved.end(), e.key) != reserved.end())
        TC_FAIL(ErrorKind::Usage, "{}: [{}] {}: this flag is set by the sweep runner itself", where_of(e),
                sec, e.key);
      (sec == "train_flags" ? s.train_flags : s.eval_flags).emplace_back(e.key, expand_placeholders(e.value, s.root));
    }
  }
  return out;
}

// [data]: NAME = file.h5, NAME.cache = features.h5; then each dataset's domain ([domains],
// else known from its name, else industrial).
void read_data(const std::vector<config::IniEntry>& data, const std::vector<config::IniEntry>& domains,
               const std::string& name, Sweep& s) {
  for (const auto& e : data) {
    bool is_cache = e.key.size() > 6 && e.key.compare(e.key.size() - 6, 6, ".cache") == 0;
    std::string ds = is_cache ? e.key.substr(0, e.key.size() - 6) : e.key;
    if (e.value.empty())
      TC_FAIL(ErrorKind::Usage, "{}: [data] {}: expected a file path", where_of(e), e.key);
    DataSet& d = s.data[ds];
    d.name = ds;
    (is_cache ? d.cache : d.path) = resolve(s.root, e.value);
  }
  for (auto& [n, d] : s.data) {
    if (d.path.empty())
      TC_FAIL(ErrorKind::Usage, "{}: [data] {}.cache is given but not the data file '{} = FILE.h5'",
              name, n, n);
    d.domain = default_domain(n);
  }
  for (const auto& e : domains) {
    if (e.value != "industrial" && e.value != "medical")
      TC_FAIL(ErrorKind::Usage, "{}: [domains] {} = '{}': expected industrial or medical", where_of(e),
              e.key, e.value);
    auto it = s.data.find(e.key);
    if (it == s.data.end())
      TC_FAIL(ErrorKind::Usage, "{}: [domains] {}: no such dataset in [data]", where_of(e), e.key);
    it->second.domain = e.value;
  }
  for (auto& [n, d] : s.data)
    if (d.domain.empty()) d.domain = "industrial";  // documented default for unknown names
}

// [protocol] with the guard: no dataset evaluates prompts trained on itself (by name or file).
void read_protocol(const std::vector<config::IniEntry>& protocol, const std::string& name, Sweep& s) {
  std::vector<std::string> data_names;
  for (const auto& [n, d] : s.data) data_names.push_back(n);
  auto need_data = [&](const std::string& ds, const config::IniEntry& e) {
    if (s.data.count(ds)) return;
    std::string near = closest(ds, data_names);
    TC_FAIL(ErrorKind::Usage, "{}: [protocol] dataset '{}' has no entry in [data]{}: expected a line "
            "'{} = FILE.h5' under [data]", where_of(e), ds,
            near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near), ds);
  };
  for (const auto& e : protocol) {
    need_data(e.key, e);
    std::vector<std::string> evals = config::split_list(e.value);
    if (evals.empty())
      TC_FAIL(ErrorKind::Usage, "{}: [protocol] {}: expected a list of evaluation datasets", where_of(e), e.key);
    std::set<std::string> uniq;
    for (const auto& t : evals) {
      need_data(t, e);
      if (t == e.key)
        TC_FAIL(ErrorKind::Usage, "{}: [protocol] {} = {}: refused: '{}' would evaluate the prompts it "
                "was trained on (zero-shot protocol: train and evaluation datasets must differ)",
                where_of(e), e.key, e.value, t);
      if (s.data.at(t).path == s.data.at(e.key).path)
        TC_FAIL(ErrorKind::Usage, "{}: [protocol] {} -> {}: refused: both names point at the same data "
                "file '{}' (a dataset must not evaluate the prompts it was trained on)",
                where_of(e), e.key, t, s.data.at(t).path);
      if (!uniq.insert(t).second)
        TC_FAIL(ErrorKind::Usage, "{}: [protocol] {}: '{}' is listed twice", where_of(e), e.key, t);
    }
    s.protocol.emplace_back(e.key, evals);
  }
  if (s.protocol.empty())
    TC_FAIL(ErrorKind::Usage, "{}: no [protocol] section: expected lines 'TRAIN = EVAL1, EVAL2, ...'", name);
}

// Every preset and backbone a grid block names is defined in the sweep file.
void check_names(const GridBlock& b, const Sweep& s) {
  for (const auto& g : b.keys) {
    if (!is_named_key(g.key)) continue;
    std::vector<std::string> names;
    if (g.key == "preset") for (const auto& [n, f] : s.presets) names.push_back(n);
    else for (const auto& [n, f] : s.backbones) names.push_back(n);
    for (const auto& v : g.values)
      if (std::find(names.begin(), names.end(), v) == names.end()) {
        std::string near = closest(v, names);
        std::string hint = near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near);
        if (g.key == "preset")
          TC_FAIL(ErrorKind::Usage, "{}: preset '{}' is not defined in [presets]{}", g.source, v, hint);
        TC_FAIL(ErrorKind::Usage, "{}: backbone '{}' is not defined by a [backbone.{}] section{}", g.source, v, v,
                hint);
      }
  }
}

// Grid expansion: each block is a product (first key outermost, last key fastest); the
// combinations are the union over blocks. [set] values apply where the grid does not set the key.
std::vector<Combo> expand_grid(std::vector<GridBlock> blocks, const std::vector<KeyValue>& set_values,
                               const Sweep& s) {
  for (const auto& sv : set_values)
    if (sv.key == "backbone" && !s.backbones.count(sv.value))
      TC_FAIL(ErrorKind::Usage, "{}: [set] backbone '{}' is not defined by a [backbone.{}] section", sv.source,
              sv.value, sv.value);
  if (blocks.empty()) blocks.push_back({"", {}});
  std::vector<Combo> combos;
  for (const auto& b : blocks) {
    check_names(b, s);
    std::vector<size_t> idx(b.keys.size(), 0);
    while (true) {
      Combo c;
      c.grid = b.name;
      std::vector<KeyValue> grid_kv;
      for (size_t k = 0; k < b.keys.size(); ++k) {
        const auto& g = b.keys[k];
        if (g.key == "preset") c.preset = g.values[idx[k]];
        else grid_kv.push_back({g.key, g.values[idx[k]], g.source});
      }
      for (const auto& sv : set_values) {
        bool overridden = std::any_of(grid_kv.begin(), grid_kv.end(),
                                      [&](const KeyValue& kv) { return kv.key == sv.key; });
        if (!overridden) c.overrides.push_back(sv);
      }
      for (auto& kv : grid_kv) c.overrides.push_back(kv);
      combos.push_back(std::move(c));
      // Odometer increment, last key fastest.
      size_t k = b.keys.size();
      while (k > 0) {
        --k;
        if (++idx[k] < b.keys[k].values.size()) break;
        idx[k] = 0;
        if (k == 0) { k = SIZE_MAX; break; }
      }
      if (b.keys.empty() || k == SIZE_MAX) break;
    }
  }
  return combos;
}

// The effective config of every combination (which validates the config files) against
// [constraints]: the combinations that hold; the others are described in s.dropped.
std::vector<Combo> apply_constraints(std::vector<Combo> combos, const std::vector<Constraint>& constraints,
                                     const std::string& name, Sweep& s) {
  std::vector<Combo> kept;
  for (auto& c : combos) {
    config::Config cfg = config::Config::for_sections(config::schema_sections());
    for (const auto& f : s.base) cfg.load_ini(f);
    if (!c.preset.empty()) cfg.load_ini(s.presets.at(c.preset));
    for (const auto& kv : c.overrides)
      if (kv.key != "backbone") cfg.set(kv.key, kv.value, kv.source);  // a sweep name, not a config key
    const Constraint* broken = nullptr;
    for (const auto& con : constraints)
      if (!holds(con, cfg)) { broken = &con; break; }
    if (broken) {
      std::string desc = c.preset.empty() ? "" : "preset=" + c.preset;
      for (const auto& kv : c.overrides) desc += (desc.empty() ? "" : " ") + kv.key + "=" + kv.value;
      s.dropped.push_back(fmt::format("{} (constraint {}: {} {} {}, {})", desc, broken->name,
                                      broken->lhs, broken->op, broken->rhs, broken->source));
      continue;
    }
    kept.push_back(std::move(c));
  }
  if (kept.empty())
    TC_FAIL(ErrorKind::Usage, "{}: every grid combination is refused by [constraints]: nothing to run", name);
  return kept;
}

// The points: every (training dataset, combination), numbered in that order; labels name the
// preset and the keys whose value varies over the sweep (the seed separately). A point that
// two grid blocks both produce (same id) runs once.
void make_points(const std::vector<Combo>& kept, Sweep& s) {
  std::map<std::string, std::set<std::string>> values_of;
  for (const auto& c : kept)
    for (const auto& kv : c.overrides) values_of[kv.key].insert(kv.value);
  std::set<std::string> varying;
  for (const auto& [k, vs] : values_of)
    if (vs.size() > 1 && k != "train.seed") varying.insert(k);
  bool seed_varies = values_of.count("train.seed") && values_of["train.seed"].size() > 1;

  std::set<std::string> ids;
  for (const auto& [train, evals] : s.protocol) {
    for (const auto& c : kept) {
      Point p;
      p.preset = c.preset;
      p.grid = c.grid;
      p.overrides = c.overrides;
      p.config_files = s.base;
      if (!c.preset.empty()) p.config_files.push_back(s.presets.at(c.preset));
      p.train = train;
      p.evals = evals;
      std::string m = c.preset;
      for (const auto& kv : c.overrides) {
        if (kv.key == "train.seed") p.seed = kv.value;
        if (varying.count(kv.key)) m += (m.empty() ? "" : " ") + short_name(kv.key, varying) + "=" + kv.value;
      }
      p.method = m.empty() ? "default" : m;
      p.label = seed_varies ? p.method + " seed=" + p.seed : p.method;
      p.id = point_id(p.preset, p.overrides, p.train);
      if (!ids.insert(p.id).second) continue;  // same point from two grid blocks: run it once
      p.index = static_cast<int>(s.points.size());
      s.points.push_back(std::move(p));
    }
  }
}

}  // namespace detail_grid

Sweep load_sweep_text(const std::string& text, const std::string& name, const std::string& dir) {
  using namespace detail_grid;  // NOLINT: function scope only
  Sweep s;
  s.file = name;
  s.file_hash = sha256_hex(text);
  s.root = dir;
  const std::vector<config::IniEntry> entries = config::parse_ini_text(text, name);
  read_sweep_section(entries, name, dir, s);
  const Sections sections = read_sections(entries, s);
  read_data(sections.data, sections.domains, name, s);
  read_protocol(sections.protocol, name, s);
  std::vector<Combo> combos = expand_grid(sections.blocks, sections.set_values, s);
  make_points(apply_constraints(std::move(combos), sections.constraints, name, s), s);
  return s;
}

}  // namespace tc::sweep
