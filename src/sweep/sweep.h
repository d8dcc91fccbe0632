// Sweeps: a grid of config points, each trained on one dataset and evaluated zero-shot on
// others (docs/SWEEPS.md).
//
// A sweep file (INI) is expanded into a list of points; `plan` writes them to a manifest with
// stable ids (a hash of the point's own overrides and training dataset), so that a Slurm job
// array addresses point i by index and results stay keyed by id. Torch-free.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tc::sweep {

// Where a point's overrides and data come from, for error messages ("file:line").
struct KeyValue {
  std::string key, value;
  std::string source;
};

struct DataSet {
  std::string name;
  std::string path;    // absolute
  std::string cache;   // absolute feature cache, or ""
  std::string domain;  // industrial | medical
};

struct Point {
  int index = 0;
  std::string id;            // "p-<8 hex>"
  std::string preset;        // "" when the sweep names no presets
  std::string method;        // label without the seed: "tokenclip subspaces=4 topk=2"
  std::string label;         // method + " seed=N" when the seed varies
  std::string seed;          // value of train.seed when the grid sets it, else ""
  std::string grid;          // name of the [grid.NAME] block it came from ("" for [grid])
  std::vector<KeyValue> overrides;        // [set] then grid values, in file order
  std::vector<std::string> config_files;  // absolute: base files, then the preset file
  std::string train;                      // training dataset name
  std::vector<std::string> evals;         // evaluation dataset names
};

struct Sweep {
  std::string file;  // the sweep file as given
  std::string name;
  std::string root;  // absolute; relative paths in the file resolve against it
  std::string file_hash;  // SHA-256 of the sweep file text
  std::vector<std::string> base;                   // absolute config files
  std::map<std::string, std::string> presets;      // name -> absolute config file
  std::map<std::string, DataSet> data;             // name -> data set
  std::vector<std::pair<std::string, std::vector<std::string>>> protocol;  // train -> evals
  int visualize = 0;  // pictures per evaluation (eval --visualize)
  // Which registered commands run a point (hidden test hook: a name registered with
  // register_point_runner, e.g. "builtin-fake" in test builds; see docs/SWEEPS.md, "Testing").
  std::string train_command = "train", eval_command = "eval";
  std::map<std::string, std::string> fake;  // [fake] section: options of the test stand-in
  // Extra flags of the train / eval commands ([train_flags], [eval_flags]), e.g. weights.
  std::vector<std::pair<std::string, std::string>> train_flags, eval_flags;
  // Named backbones ([backbone.NAME] sections): flags of both commands (weights, bpe; an empty
  // value sets nothing, so `weights =` names the random backbone). The grid or [set] key
  // `backbone` picks one per point; it is part of the point's overrides (and id, and label).
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> backbones;
  std::vector<std::string> dropped;  // grid combinations refused by [constraints], described
  std::vector<Point> points;
};

// Reads, validates and expands a sweep file. Every problem is an error naming the file, the
// line and what was expected; a protocol pair where a dataset evaluates prompts trained on
// itself (same name, or same data file) is refused.
Sweep load_sweep(const std::string& path);
Sweep load_sweep_text(const std::string& text, const std::string& name, const std::string& dir);

// The id of a point: "p-" + the first 8 hex digits of SHA-256 over the canonical text
// "preset=..\n" + sorted "key=normalised value\n" lines + "train=..\n".
std::string point_id(const std::string& preset, const std::vector<KeyValue>& overrides,
                     const std::string& train);

// Placeholders in path values: "{root}" -> the sweep root, "{env:NAME|default}" -> $NAME if
// set and non-empty, else the default ("{env:NAME}": empty default).
std::string expand_placeholders(const std::string& value, const std::string& root);

// Known domain of a dataset name (the 17 public sets, the synthetic ones); "" if unknown.
std::string default_domain(const std::string& dataset);

// ---------------------------------------------------------------- manifest

nlohmann::json point_json(const Point& p);
Point point_from_json(const nlohmann::json& j, const std::string& where);
nlohmann::json manifest_json(const Sweep& s);

std::string manifest_path(const std::string& out_dir);   // OUT/manifest.json
std::string point_dir(const std::string& out_dir, const std::string& id);  // OUT/points/<id>

struct PlanResult {
  int points = 0;
  bool written = false;  // false: an identical manifest was already there
  bool updated = false;  // same points, other details changed (e.g. data paths)
};
// Writes OUT/manifest.json atomically. An existing manifest with a different list of point
// ids (index -> id) is refused unless `force` (which renumbers; results stay keyed by id).
PlanResult plan(const Sweep& s, const std::string& out_dir, bool force = false);

struct Manifest {
  std::string path;
  nlohmann::json json;
  std::vector<Point> points;
  std::map<std::string, DataSet> data;
  std::string name;
};
Manifest read_manifest(const std::string& out_dir);

}  // namespace tc::sweep
