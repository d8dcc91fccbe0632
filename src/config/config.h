// Configuration: one table of typed options (the schema) from which INI parsing, command-line
// flags, help text, validation and the effective-config file are all derived.
//
// Keys are "section.name" (e.g. "method.subspaces"). A value set from an INI file records its
// file and line; errors name the key, where it came from, what was expected and the closest
// valid key.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "util/text.h"

namespace tc::config {

enum class Type { Bool, Int, Float, String, Choice, IntList, FloatList, StringList };
const char* type_name(Type t);

struct Spec {
  std::string key;            // "section.name", or a bare name for a command's own flags
  Type type = Type::String;
  std::string default_value;  // textual, parsed with the same rules as user input
  std::string help;
  // Choice: the allowed values; StringList: the allowed items (when non-empty); Int/Float: words
  // accepted instead of a number (e.g. "auto", "none"; see Config::word).
  std::vector<std::string> choices;
  std::optional<double> min, max;    // numeric bounds (each item for lists)
  bool min_exclusive = false, max_exclusive = false;
  bool required = false;  // command flags only: must be given
  // Command flags only: may repeat; each occurrence is one value of `type`, never split at
  // commas (a list meant as a list is an IntList/FloatList/StringList instead).
  bool multi = false;

  std::string section() const;  // "" for bare names
  std::string name() const;
  std::string describe_expected() const;  // "an integer >= 1", "one of: ot, greedy", ...
  bool accepts_word(const std::string& v) const;  // Int/Float: v is one of `choices`
};

// The full table of config sections (model, method, train, eval, data, runtime).
const std::vector<Spec>& schema();
std::vector<std::string> schema_sections();

// One "key = value" line of an INI file, as read (sections folded into the key).
struct IniEntry {
  std::string section, key, value;
  std::string file;
  int line = 0;
};
// Reads an INI file: `[section]`, `key = value`, `#`/`;` comments, blank lines. Lists are
// comma-separated values. Syntax errors, and a key given twice in one section (unless
// `allow_repeats`), are Usage errors naming file:line.
std::vector<IniEntry> parse_ini(const std::string& path);
std::vector<IniEntry> parse_ini_text(const std::string& text, const std::string& name,
                                     bool allow_repeats = false);

// The "did you mean" suggestion of config errors (util/text.h), under the name its callers use.
using ::tc::closest;

struct Value {
  std::string text;                // normalised text (multi: the items joined, for display)
  std::string source;              // "default", "file.ini:12", "command line"
  std::vector<std::string> items;  // multi options: one per occurrence, as given
};

class Config {
 public:
  Config() = default;
  // Allowed keys: the given specs (typically some schema sections plus command flags).
  explicit Config(std::vector<Spec> specs);
  static Config for_sections(const std::vector<std::string>& sections,
                             const std::vector<Spec>& extra = {});

  // Entries from files. One INI serves every command: a key of a known section that this
  // command does not use is skipped and listed in unused_from_files(); unknown keys and
  // unknown sections are refused.
  void load_ini(const std::string& path);
  void apply(const std::vector<IniEntry>& entries);
  // Validates and stores (strict: every key must be this command's); `source` is used in error
  // messages and in the effective config.
  void set(const std::string& key, const std::string& value, const std::string& source);
  // One more value of a repeatable (multi) option.
  void append(const std::string& key, const std::string& value, const std::string& source);
  void check_required() const;

  bool has_key(const std::string& key) const;
  bool is_default(const std::string& key) const;
  const std::string& text(const std::string& key) const;
  const std::string& source(const std::string& key) const;
  // Int/Float options that accept words: the word given ("auto", "none", ...), or "" when the
  // value is a number (read it with get_int/get_float) or unset.
  std::string word(const std::string& key) const;
  // "section.key (file:line)" of every file entry skipped because this command does not use it.
  const std::vector<std::string>& unused_from_files() const { return unused_; }

  bool get_bool(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::vector<int64_t> get_int_list(const std::string& key) const;
  std::vector<double> get_float_list(const std::string& key) const;
  // StringList: the items; a multi option: its values, one per occurrence.
  std::vector<std::string> get_string_list(const std::string& key) const;

  const std::vector<Spec>& specs() const { return specs_; }
  const Spec& spec(const std::string& key) const;
  std::vector<std::string> keys() const;

  // The effective config of the schema sections as an INI text that `--config` accepts
  // again; `with_sources` adds a comment saying where each non-default value came from.
  std::string to_ini(bool with_sources = true) const;
  // SHA-256 of the canonical effective config (sections in `sections`, or all schema
  // sections except "runtime" when empty): equal configs give equal hashes on every rank.
  std::string hash(const std::vector<std::string>& sections = {}) const;

 private:
  const Spec* find(const std::string& key) const;
  [[noreturn]] void unknown_key(const std::string& key, const std::string& source,
                                bool from_file = false) const;

  std::vector<Spec> specs_;
  std::map<std::string, size_t> index_;
  std::map<std::string, Value> values_;
  std::vector<std::string> unused_;
};

// Parses one value for a spec; throws a Usage error naming key and source when malformed.
std::string normalise_value(const Spec& spec, const std::string& value, const std::string& source);
// A value as quoted in messages: whole when short, else its first ~80 characters, an ellipsis
// and the length (a 1 MB value must not flood the terminal).
std::string quote_value(const std::string& v);
bool parse_bool(const std::string& s, bool* out);
std::vector<std::string> split_list(const std::string& s);

}  // namespace tc::config
