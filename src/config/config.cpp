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

bool Spec::accepts_word(const std::string& v) const {
  return (type == Type::Int || type == Type::Float) &&
         std::find(choices.begin(), choices.end(), v) != choices.end();
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
  if ((type == Type::Int || type == Type::Float) && !choices.empty()) {
    what += ", or one of: ";
    for (size_t i = 0; i < choices.size(); ++i) what += (i ? ", " : "") + choices[i];
  }
  return what;
}

std::string quote_value(const std::string& v) {
  constexpr size_t kShown = 80;
  if (v.size() <= kShown + 20) return "'" + v + "'";
  size_t cut = kShown;
  while (cut > 0 && (static_cast<unsigned char>(v[cut]) & 0xC0) == 0x80) --cut;  // whole UTF-8 characters
  return fmt::format("'{}...' ({} characters)", v.substr(0, cut), v.size());
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

// A number that is well-formed but beyond what the type holds is OutOfRange, not Malformed:
// "12345678901234567890123" is an integer, just too large.
enum class Parsed { Ok, Malformed, OutOfRange };

static Parsed parse_int(const std::string& s, int64_t* out) {
  if (s.empty()) return Parsed::Malformed;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (end == s.c_str() || *end != '\0') return Parsed::Malformed;
  if (errno == ERANGE) return Parsed::OutOfRange;
  if (errno) return Parsed::Malformed;
  *out = v;
  return Parsed::Ok;
}

static Parsed parse_float(const std::string& s, double* out) {
  if (s.empty()) return Parsed::Malformed;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0' || std::isnan(v)) return Parsed::Malformed;
  if (std::isinf(v)) {
    // "inf" spelled out is not a value any option takes; 1e999 is a number out of range.
    return errno == ERANGE ? Parsed::OutOfRange : Parsed::Malformed;
  }
  // Underflow (1e-999) gives a denormal or 0 with ERANGE: a number, but not representable.
  if (errno == ERANGE) return Parsed::OutOfRange;
  *out = v;
  return Parsed::Ok;
}

// Every integer option is read into an `int` somewhere (sizes, counts, blocks, seeds): beyond
// 32 bits a value would wrap silently (synth --size 4294967328 became 32), so it is refused here.
constexpr int64_t kIntLimit = 2147483647;
static bool fits_int32(int64_t v) { return v >= -kIntLimit - 1 && v <= kIntLimit; }

static bool in_range(const Spec& sp, double v) {
  if (sp.min && (sp.min_exclusive ? !(v > *sp.min) : !(v >= *sp.min))) return false;
  if (sp.max && (sp.max_exclusive ? !(v < *sp.max) : !(v <= *sp.max))) return false;
  return true;
}

std::string normalise_value(const Spec& sp, const std::string& raw, const std::string& source) {
  std::string v = trim(raw);
  auto bad = [&](const std::string& why) -> std::string {
    // Flags (bare keys) are named as typed; config keys as in the INI/--section.key form.
    const std::string name = sp.section().empty() ? "option '--" + sp.key + "'" : "key '" + sp.key + "'";
    TC_FAIL(ErrorKind::Usage, "{}: {}: value {} {}; expected {}", source, name, quote_value(v), why,
            sp.describe_expected());
  };
  if (sp.accepts_word(v)) return v;
  switch (sp.type) {
    case Type::Bool: {
      bool b;
      if (!parse_bool(v, &b)) bad("is not a boolean");
      return b ? "true" : "false";
    }
    case Type::Int: {
      int64_t i = 0;
      Parsed p = parse_int(v, &i);
      if (p == Parsed::Malformed) bad("is not an integer");
      if (p == Parsed::Ok && !fits_int32(i)) bad(fmt::format("is out of range (integers are at most {})", kIntLimit));
      if (p == Parsed::OutOfRange || !in_range(sp, static_cast<double>(i))) bad("is out of range");
      return std::to_string(i);
    }
    case Type::Float: {
      double d = 0;
      Parsed p = parse_float(v, &d);
      if (p == Parsed::Malformed) bad("is not a number");
      if (p == Parsed::OutOfRange || !in_range(sp, d)) bad("is out of range");
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
        const std::string q = quote_value(item);
        if (sp.type == Type::IntList) {
          int64_t i = 0;
          Parsed p = parse_int(item, &i);
          if (p == Parsed::Malformed) bad(fmt::format("has item {} that is not an integer", q));
          if (p == Parsed::OutOfRange || !fits_int32(i) || !in_range(sp, static_cast<double>(i)))
            bad(fmt::format("has item {} out of range", q));
        } else if (sp.type == Type::FloatList) {
          double d = 0;
          Parsed p = parse_float(item, &d);
          if (p == Parsed::Malformed) bad(fmt::format("has item {} that is not a number", q));
          if (p == Parsed::OutOfRange || !in_range(sp, d)) bad(fmt::format("has item {} out of range", q));
        } else if (!sp.choices.empty() &&
                   std::find(sp.choices.begin(), sp.choices.end(), item) == sp.choices.end()) {
          bad(fmt::format("has item {} that is not allowed", q));
        }
        out += (out.empty() ? "" : ",") + item;
      }
      return out;
    }
  }
  return v;
}

// ---------------------------------------------------------------- INI

std::vector<IniEntry> parse_ini_text(const std::string& text, const std::string& name,
                                     bool allow_repeats) {
  std::vector<IniEntry> out;
  std::map<std::string, int> first_line;  // "section\nkey" -> line of its first occurrence
  std::istringstream in(text);
  std::string line, section;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t[0] == '[') {
      if (t.back() != ']')
        TC_FAIL(ErrorKind::Usage, "{}:{}: malformed section header {}: expected '[name]'", name,
                lineno, quote_value(t));
      section = trim(t.substr(1, t.size() - 2));
      if (section.empty())
        TC_FAIL(ErrorKind::Usage, "{}:{}: empty section name", name, lineno);
      continue;
    }
    auto eq = t.find('=');
    if (eq == std::string::npos)
      TC_FAIL(ErrorKind::Usage, "{}:{}: expected 'key = value', got {}", name, lineno, quote_value(t));
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
    // Last-wins inside one file would hide a typo'd edit; across files it is the documented
    // precedence (Config::load_ini of each --config in turn).
    auto [it, fresh] = first_line.emplace(section + "\n" + e.key, lineno);
    if (!fresh && !allow_repeats)
      TC_FAIL(ErrorKind::Usage, "{}:{}: key '{}' of [{}] is given twice (first at {}:{}); keep one", name,
              lineno, e.key, section, name, it->second);
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

void Config::unknown_key(const std::string& key, const std::string& source, bool from_file) const {
  // Suggest among this command's keys first, then anywhere in the schema (the key may belong
  // to a section this command does not take: files may hold it, flags may not).
  std::string near = closest(key, keys());
  std::string msg = fmt::format("{}: unknown key {}", source, quote_value(key));
  if (!near.empty()) {
    msg += fmt::format(" (did you mean '{}'?)", near);
  } else {
    std::vector<std::string> all;
    for (const auto& s : schema()) all.push_back(s.key);
    std::string other = closest(key, all);
    if (!other.empty())
      msg += from_file ? fmt::format(" (did you mean '{}'?)", other)
                       : fmt::format(" (the closest key, '{}', is not used by this command)", other);
  }
  TC_FAIL(ErrorKind::Usage, "{}", msg);
}

void Config::set(const std::string& key, const std::string& value, const std::string& source) {
  const Spec* sp = find(key);
  if (!sp) unknown_key(key, source);
  if (sp->multi) {  // setting a repeatable option replaces all its values by this one
    values_.erase(key);
    append(key, value, source);
    return;
  }
  values_[key] = Value{normalise_value(*sp, value, source), source, {}};
}

void Config::append(const std::string& key, const std::string& value, const std::string& source) {
  const Spec* sp = find(key);
  if (!sp) unknown_key(key, source);
  TC_CHECK(sp->multi, "option '{}' is not repeatable", key);
  Value& v = values_[key];
  if (v.source == "default" || v.source.empty()) v = Value{};
  v.items.push_back(normalise_value(*sp, value, source));
  v.text += (v.text.empty() ? "" : ", ") + v.items.back();
  v.source = source;
}

void Config::load_ini(const std::string& path) { apply(parse_ini(path)); }

void Config::apply(const std::vector<IniEntry>& entries) {
  const std::vector<std::string> sections = schema_sections();
  for (const auto& e : entries) {
    std::string where = fmt::format("{}:{}", e.file, e.line);
    if (e.section.empty())
      TC_FAIL(ErrorKind::Usage, "{}: key '{}' is outside any [section]", where, e.key);
    const std::string key = e.section + "." + e.key;
    if (find(key)) {
      set(key, e.value, where);
      continue;
    }
    if (std::find(sections.begin(), sections.end(), e.section) == sections.end()) {
      std::string near = closest(e.section, sections), all;
      for (const auto& s : sections) all += (all.empty() ? "[" : ", [") + s + "]";
      TC_FAIL(ErrorKind::Usage, "{}: unknown section [{}]{}; config files have {}", where, e.section,
              near.empty() ? std::string() : fmt::format(" (did you mean [{}]?)", near), all);
    }
    // A key of the schema that this command does not read: still validated (a bad value in the
    // shared file is an error for every command), then skipped.
    const Spec* known = nullptr;
    for (const auto& s : schema())
      if (s.key == key) known = &s;
    if (!known) unknown_key(key, where, /*from_file=*/true);
    normalise_value(*known, e.value, where);
    unused_.push_back(fmt::format("{} ({})", key, where));
  }
}

void Config::check_required() const {
  for (const auto& s : specs_)
    if (s.required && (values_.count(s.key) == 0 ||
                       (s.multi ? values_.at(s.key).items.empty() : values_.at(s.key).text.empty())))
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

std::string Config::word(const std::string& key) const {
  const std::string& t = text(key);
  return spec(key).accepts_word(t) ? t : std::string();
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
  TC_CHECK(parse_int(text(key), &v) == Parsed::Ok, "option '{}' has no number ('{}')", key, text(key));
  return v;
}
double Config::get_float(const std::string& key) const {
  expect_type(spec(key), {Type::Float, Type::Int});
  double v = 0;
  TC_CHECK(parse_float(text(key), &v) == Parsed::Ok, "option '{}' has no number ('{}')", key, text(key));
  return v;
}
std::string Config::get_string(const std::string& key) const {
  expect_type(spec(key), {Type::String, Type::Choice});
  TC_CHECK(!spec(key).multi, "option '{}' is repeatable: read it with get_string_list", key);
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
  const Spec& sp = spec(key);
  if (sp.multi) {
    auto it = values_.find(key);
    return it == values_.end() ? std::vector<std::string>{} : it->second.items;
  }
  expect_type(sp, {Type::StringList});
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
