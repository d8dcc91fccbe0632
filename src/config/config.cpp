#include "config/config.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

#include "util/check.h"
#include "util/fs.h"
#include "util/hash.h"

namespace tc::config {

const char* type_name(Type t) {
  switch (t) {
    case Type::Bool: return "bool";
    case Type::Int: return "int";
    case Type::Float: return "float";
    case Type::String: return "string";
    case Type::Choice: return "choice";
    case Type::IntList: return "int list";
    case Type::FloatList: return "float list";
    case Type::StringList: return "string list";
  }
  return "?";
}

std::string Spec::section() const {
  auto p = key.find('.');
  return p == std::string::npos ? std::string() : key.substr(0, p);
}
std::string Spec::name() const {
  auto p = key.find('.');
  return p == std::string::npos ? key : key.substr(p + 1);
}

static std::string fmt_num(double v) {
  if (std::fabs(v - std::round(v)) < 1e-12 && std::fabs(v) < 1e15)
    return fmt::format("{}", static_cast<long long>(std::llround(v)));
  return fmt::format("{}", v);
}

std::string Spec::describe_expected() const {
  std::string what;
  switch (type) {
    case Type::Bool: return "a boolean (true/false, 1/0, yes/no, on/off)";
    case Type::Int: what = "an integer"; break;
    case Type::Float: what = "a number"; break;
    case Type::String: return "a string";
    case Type::Choice: {
      std::string c;
      for (size_t i = 0; i < choices.size(); ++i) c += (i ? ", " : "") + choices[i];
      return "one of: " + c;
    }
    case Type::IntList: what = "a comma-separated list of integers"; break;
    case Type::FloatList: what = "a comma-separated list of numbers"; break;
    case Type::StringList:
      if (choices.empty()) return "a comma-separated list";
      what = "a comma-separated list of: ";
      for (size_t i = 0; i < choices.size(); ++i) what += (i ? ", " : "") + choices[i];
      return what;
  }
  if (min && max)
    what += fmt::format(" in {}{}, {}{}", min_exclusive ? "(" : "[", fmt_num(*min), fmt_num(*max),
                        max_exclusive ? ")" : "]");
  else if (min)
    what += fmt::format(" {} {}", min_exclusive ? ">" : ">=", fmt_num(*min));
  else if (max)
    what += fmt::format(" {} {}", max_exclusive ? "<" : "<=", fmt_num(*max));
  return what;
}

// ---------------------------------------------------------------- parsing helpers

static std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return {};
  size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

bool parse_bool(const std::string& s0, bool* out) {
  std::string s = s0;
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  if (s == "true" || s == "1" || s == "yes" || s == "on") { *out = true; return true; }
  if (s == "false" || s == "0" || s == "no" || s == "off") { *out = false; return true; }
  return false;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  if (trim(s).empty()) return out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, ',')) out.push_back(trim(item));
  return out;
}

static bool parse_int(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno || *end != '\0') return false;
  *out = v;
  return true;
}

static bool parse_float(const std::string& s, double* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (errno || *end != '\0' || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

static bool in_range(const Spec& sp, double v) {
  if (sp.min && (sp.min_exclusive ? !(v > *sp.min) : !(v >= *sp.min))) return false;
  if (sp.max && (sp.max_exclusive ? !(v < *sp.max) : !(v <= *sp.max))) return false;
  return true;
}

std::string normalise_value(const Spec& sp, const std::string& raw, const std::string& source) {
  std::string v = trim(raw);
  auto bad = [&](const std::string& why) -> std::string {
    TC_FAIL(ErrorKind::Usage, "{}: key '{}': value '{}' {}; expected {}", source, sp.key, v, why,
            sp.describe_expected());
  };
  switch (sp.type) {
    case Type::Bool: {
      bool b;
      if (!parse_bool(v, &b)) bad("is not a boolean");
      return b ? "true" : "false";
    }
    case Type::Int: {
      int64_t i;
      if (!parse_int(v, &i)) bad("is not an integer");
      if (!in_range(sp, static_cast<double>(i))) bad("is out of range");
      return std::to_string(i);
    }
    case Type::Float: {
      double d;
      if (!parse_float(v, &d)) bad("is not a number");
      if (!in_range(sp, d)) bad("is out of range");
      return v;
    }
    case Type::String: return v;
    case Type::Choice:
      if (std::find(sp.choices.begin(), sp.choices.end(), v) == sp.choices.end()) {
        std::string near = closest(v, sp.choices);
        if (!near.empty()) bad(fmt::format("is not allowed (did you mean '{}'?)", near));
        bad("is not allowed");
      }
      return v;
    case Type::IntList:
    case Type::FloatList:
    case Type::StringList: {
      std::string out;
      for (const auto& item : split_list(v)) {
        if (item.empty()) bad("has an empty list item");
        if (sp.type == Type::IntList) {
          int64_t i;
          if (!parse_int(item, &i)) bad(fmt::format("has item '{}' that is not an integer", item));
          if (!in_range(sp, static_cast<double>(i))) bad(fmt::format("has item '{}' out of range", item));
        } else if (sp.type == Type::FloatList) {
          double d;
          if (!parse_float(item, &d)) bad(fmt::format("has item '{}' that is not a number", item));
          if (!in_range(sp, d)) bad(fmt::format("has item '{}' out of range", item));
        } else if (!sp.choices.empty() &&
                   std::find(sp.choices.begin(), sp.choices.end(), item) == sp.choices.end()) {
          bad(fmt::format("has item '{}' that is not allowed", item));
        }
        out += (out.empty() ? "" : ",") + item;
      }
      return out;
    }
  }
  return v;
}

// ---------------------------------------------------------------- INI

std::vector<IniEntry> parse_ini_text(const std::string& text, const std::string& name) {
  std::vector<IniEntry> out;
  std::istringstream in(text);
  std::string line, section;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t[0] == '[') {
      if (t.back() != ']')
        TC_FAIL(ErrorKind::Usage, "{}:{}: malformed section header '{}': expected '[name]'", name,
                lineno, t);
      section = trim(t.substr(1, t.size() - 2));
      if (section.empty())
        TC_FAIL(ErrorKind::Usage, "{}:{}: empty section name", name, lineno);
      continue;
    }
    auto eq = t.find('=');
    if (eq == std::string::npos)
      TC_FAIL(ErrorKind::Usage, "{}:{}: expected 'key = value', got '{}'", name, lineno, t);
    IniEntry e;
    e.section = section;
    e.key = trim(t.substr(0, eq));
    std::string value = t.substr(eq + 1);
    // Inline comments need a space before them so that values may contain '#'.
    for (const char* c : {" #", " ;", "\t#", "\t;"}) {
      auto p = value.find(c);
      if (p != std::string::npos) value = value.substr(0, p);
    }
    e.value = trim(value);
    e.file = name;
    e.line = lineno;
    if (e.key.empty()) TC_FAIL(ErrorKind::Usage, "{}:{}: empty key", name, lineno);
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<IniEntry> parse_ini(const std::string& path) {
  if (!file_exists(path)) TC_FAIL(ErrorKind::Usage, "config file '{}' does not exist", path);
  return parse_ini_text(read_file(path), path);
}

// ---------------------------------------------------------------- Config

Config::Config(std::vector<Spec> specs) : specs_(std::move(specs)) {
  for (size_t i = 0; i < specs_.size(); ++i) {
    TC_CHECK(index_.count(specs_[i].key) == 0, "duplicate option '{}' in the table", specs_[i].key);
    index_[specs_[i].key] = i;
    if (!specs_[i].default_value.empty() || specs_[i].type == Type::String ||
        specs_[i].type == Type::IntList || specs_[i].type == Type::FloatList ||
        specs_[i].type == Type::StringList) {
      Value v;
      v.text = specs_[i].default_value.empty()
                   ? std::string()
                   : normalise_value(specs_[i], specs_[i].default_value, "option table (default)");
      v.source = "default";
      values_[specs_[i].key] = v;
    }
  }
}

Config Config::for_sections(const std::vector<std::string>& sections, const std::vector<Spec>& extra) {
  std::vector<Spec> specs;
  for (const auto& s : schema())
    if (std::find(sections.begin(), sections.end(), s.section()) != sections.end()) specs.push_back(s);
  for (const auto& s : extra) specs.push_back(s);
  return Config(std::move(specs));
}

const Spec* Config::find(const std::string& key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &specs_[it->second];
}

bool Config::has_key(const std::string& key) const { return find(key) != nullptr; }

const Spec& Config::spec(const std::string& key) const {
  const Spec* sp = find(key);
  TC_CHECK(sp != nullptr, "option '{}' is not in this command's table", key);
  return *sp;
}

std::vector<std::string> Config::keys() const {
  std::vector<std::string> k;
  for (const auto& s : specs_) k.push_back(s.key);
  return k;
}

void Config::unknown_key(const std::string& key, const std::string& source) const {
  // Suggest among this command's keys first, then anywhere in the schema (the key may belong
  // to a section this command does not take).
  std::string near = closest(key, keys());
  std::string msg = fmt::format("{}: unknown key '{}'", source, key);
  if (!near.empty()) {
    msg += fmt::format(" (did you mean '{}'?)", near);
  } else {
    std::vector<std::string> all;
    for (const auto& s : schema()) all.push_back(s.key);
    std::string other = closest(key, all);
    if (!other.empty())
      msg += fmt::format(" (the closest key, '{}', is not used by this command)", other);
  }
  TC_FAIL(ErrorKind::Usage, "{}", msg);
}

void Config::set(const std::string& key, const std::string& value, const std::string& source) {
  const Spec* sp = find(key);
  if (!sp) unknown_key(key, source);
  values_[key] = Value{normalise_value(*sp, value, source), source};
}

void Config::append(const std::string& key, const std::string& value, const std::string& source) {
  const Spec* sp = find(key);
  if (!sp) unknown_key(key, source);
  auto it = values_.find(key);
  std::string norm = normalise_value(*sp, value, source);
  if (it == values_.end() || it->second.source == "default" || it->second.text.empty())
    values_[key] = Value{norm, source};
  else
    it->second = Value{it->second.text + "," + norm, source};
}

void Config::load_ini(const std::string& path) { apply(parse_ini(path)); }

void Config::apply(const std::vector<IniEntry>& entries) {
  for (const auto& e : entries) {
    std::string where = fmt::format("{}:{}", e.file, e.line);
    if (e.section.empty())
      TC_FAIL(ErrorKind::Usage, "{}: key '{}' is outside any [section]", where, e.key);
    set(e.section + "." + e.key, e.value, where);
  }
}

void Config::check_required() const {
  for (const auto& s : specs_)
    if (s.required && (values_.count(s.key) == 0 || values_.at(s.key).text.empty()))
      TC_FAIL(ErrorKind::Usage, "missing required option --{} ({})", s.key, s.help);
}

bool Config::is_default(const std::string& key) const {
  auto it = values_.find(key);
  return it == values_.end() || it->second.source == "default";
}

const std::string& Config::text(const std::string& key) const {
  spec(key);
  static const std::string empty;
  auto it = values_.find(key);
  return it == values_.end() ? empty : it->second.text;
}

const std::string& Config::source(const std::string& key) const {
  static const std::string def = "default";
  auto it = values_.find(key);
  return it == values_.end() ? def : it->second.source;
}

static void expect_type(const Spec& sp, std::initializer_list<Type> ok) {
  for (Type t : ok)
    if (sp.type == t) return;
  TC_CHECK(false, "option '{}' is a {}, read as another type", sp.key, type_name(sp.type));
}

bool Config::get_bool(const std::string& key) const {
  expect_type(spec(key), {Type::Bool});
  bool b = false;
  parse_bool(text(key), &b);
  return b;
}
int64_t Config::get_int(const std::string& key) const {
  expect_type(spec(key), {Type::Int});
  int64_t v = 0;
  TC_CHECK(parse_int(text(key), &v), "option '{}' has no value", key);
  return v;
}
double Config::get_float(const std::string& key) const {
  expect_type(spec(key), {Type::Float, Type::Int});
  double v = 0;
  TC_CHECK(parse_float(text(key), &v), "option '{}' has no value", key);
  return v;
}
std::string Config::get_string(const std::string& key) const {
  expect_type(spec(key), {Type::String, Type::Choice});
  return text(key);
}
std::vector<int64_t> Config::get_int_list(const std::string& key) const {
  expect_type(spec(key), {Type::IntList});
  std::vector<int64_t> out;
  for (const auto& s : split_list(text(key))) {
    int64_t v = 0;
    parse_int(s, &v);
    out.push_back(v);
  }
  return out;
}
std::vector<double> Config::get_float_list(const std::string& key) const {
  expect_type(spec(key), {Type::FloatList});
  std::vector<double> out;
  for (const auto& s : split_list(text(key))) {
    double v = 0;
    parse_float(s, &v);
    out.push_back(v);
  }
  return out;
}
std::vector<std::string> Config::get_string_list(const std::string& key) const {
  expect_type(spec(key), {Type::StringList, Type::String});
  return split_list(text(key));
}

std::string Config::to_ini(bool with_sources) const {
  std::map<std::string, std::vector<const Spec*>> by_section;
  std::vector<std::string> order;
  for (const auto& s : specs_) {
    if (s.section().empty()) continue;
    if (!by_section.count(s.section())) order.push_back(s.section());
    by_section[s.section()].push_back(&s);
  }
  std::string out;
  for (const auto& sec : order) {
    out += fmt::format("[{}]\n", sec);
    for (const Spec* s : by_section[sec]) {
      out += fmt::format("{} = {}", s->name(), text(s->key));
      if (with_sources && !is_default(s->key)) out += fmt::format("  # from {}", source(s->key));
      out += "\n";
    }
    out += "\n";
  }
  return out;
}

std::string Config::hash(const std::vector<std::string>& sections) const {
  Sha256 h;
  for (const auto& s : specs_) {
    std::string sec = s.section();
    if (sec.empty()) continue;
    bool take = sections.empty() ? sec != "runtime"
                                 : std::find(sections.begin(), sections.end(), sec) != sections.end();
    if (!take) continue;
    h.update(s.key + "=" + text(s.key) + "\n");
  }
  return h.hex();
}

}  // namespace tc::config
