// The sweep manifest: index -> id -> overrides -> train dataset -> eval datasets, plus
// everything `run` needs (data paths, commands), so that workers need only the output folder.
#include <filesystem>

#include "sweep/sweep.h"
#include "util/check.h"
#include "util/fs.h"

namespace tc::sweep {
namespace detail_manifest {

const nlohmann::json& field(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key))
    TC_FAIL(ErrorKind::Input, "{}: missing field '{}'", where, key);
  return j.at(key);
}

std::string str_field(const nlohmann::json& j, const char* key, const std::string& where) {
  const auto& v = field(j, key, where);
  if (!v.is_string()) TC_FAIL(ErrorKind::Input, "{}: field '{}' must be a string", where, key);
  return v.get<std::string>();
}

std::vector<std::string> str_list(const nlohmann::json& j, const char* key, const std::string& where) {
  const auto& v = field(j, key, where);
  if (!v.is_array()) TC_FAIL(ErrorKind::Input, "{}: field '{}' must be a list of strings", where, key);
  std::vector<std::string> out;
  for (const auto& x : v) {
    if (!x.is_string()) TC_FAIL(ErrorKind::Input, "{}: field '{}' must be a list of strings", where, key);
    out.push_back(x.get<std::string>());
  }
  return out;
}

}  // namespace detail_manifest

std::string manifest_path(const std::string& out_dir) { return out_dir + "/manifest.json"; }
std::string point_dir(const std::string& out_dir, const std::string& id) {
  return out_dir + "/points/" + id;
}

nlohmann::json point_json(const Point& p) {
  nlohmann::json ov = nlohmann::json::array();
  for (const auto& kv : p.overrides) ov.push_back({{"key", kv.key}, {"value", kv.value}, {"source", kv.source}});
  return {{"index", p.index},   {"id", p.id},         {"label", p.label},
          {"method", p.method}, {"preset", p.preset}, {"seed", p.seed},
          {"grid", p.grid},     {"overrides", ov},    {"config_files", p.config_files},
          {"train", p.train},   {"evals", p.evals}};
}

Point point_from_json(const nlohmann::json& j, const std::string& where) {
  using namespace detail_manifest;  // NOLINT: function scope only
  Point p;
  const auto& idx = field(j, "index", where);
  if (!idx.is_number_integer()) TC_FAIL(ErrorKind::Input, "{}: field 'index' must be an integer", where);
  p.index = idx.get<int>();
  p.id = str_field(j, "id", where);
  p.label = str_field(j, "label", where);
  p.method = str_field(j, "method", where);
  p.preset = str_field(j, "preset", where);
  p.seed = str_field(j, "seed", where);
  p.grid = j.value("grid", std::string());
  for (const auto& kv : field(j, "overrides", where)) {
    if (!kv.is_object()) TC_FAIL(ErrorKind::Input, "{}: 'overrides' items must be objects", where);
    p.overrides.push_back({str_field(kv, "key", where), str_field(kv, "value", where),
                           kv.value("source", std::string())});
  }
  p.config_files = str_list(j, "config_files", where);
  p.train = str_field(j, "train", where);
  p.evals = str_list(j, "evals", where);
  return p;
}

nlohmann::json manifest_json(const Sweep& s) {
  nlohmann::json data = nlohmann::json::object();
  for (const auto& [n, d] : s.data)
    data[n] = {{"path", d.path}, {"cache", d.cache}, {"domain", d.domain}};
  nlohmann::json protocol = nlohmann::json::array();
  for (const auto& [t, e] : s.protocol) protocol.push_back({{"train", t}, {"evals", e}});
  nlohmann::json points = nlohmann::json::array();
  for (const auto& p : s.points) points.push_back(point_json(p));
  std::string abs_file = std::filesystem::absolute(s.file).lexically_normal().string();
  return {{"format", "tokenclip-sweep-manifest"},
          {"version", 1},
          {"name", s.name},
          {"sweep_file", abs_file},
          {"sweep_file_sha256", s.file_hash},
          {"root", s.root},
          {"base", s.base},
          {"presets", s.presets},
          {"data", data},
          {"protocol", protocol},
          {"train_command", s.train_command},
          {"eval_command", s.eval_command},
          {"visualize", s.visualize},
          {"fake", s.fake},
          {"train_flags", s.train_flags},
          {"eval_flags", s.eval_flags},
          {"backbones", s.backbones},
          {"dropped", s.dropped},
          {"points", points}};
}

PlanResult plan(const Sweep& s, const std::string& out_dir, bool force) {
  PlanResult r;
  r.points = static_cast<int>(s.points.size());
  nlohmann::json next = manifest_json(s);
  std::string path = manifest_path(out_dir);
  if (file_exists(path)) {
    Manifest old = read_manifest(out_dir);
    size_t n = std::max(old.points.size(), s.points.size());
    for (size_t i = 0; i < n && !force; ++i) {
      std::string a = i < old.points.size() ? old.points[i].id : "(none)";
      std::string b = i < s.points.size() ? s.points[i].id : "(none)";
      if (a != b)
        TC_FAIL_HINT(ErrorKind::Usage,
                     "plan into a new --out folder, or pass --force to renumber (results stay keyed "
                     "by point id; array tasks of the old plan must be finished first)",
                     "{}: refusing to renumber: the manifest holds {} points, the sweep file '{}' now "
                     "gives {}, first difference at index {} ({} in the manifest, {} now); running "
                     "array tasks address points by index",
                     path, old.points.size(), s.file, s.points.size(), i, a, b);
    }
    if (old.json == next) return r;
    r.updated = true;
  }
  make_dirs(out_dir);
  write_file_atomic(path, next.dump(2) + "\n");
  r.written = true;
  return r;
}

Manifest read_manifest(const std::string& out_dir) {
  using namespace detail_manifest;  // NOLINT: function scope only
  Manifest m;
  m.path = manifest_path(out_dir);
  if (!file_exists(m.path))
    TC_FAIL_HINT(ErrorKind::Input, "run 'tokenclip sweep plan --sweep FILE --out DIR' first",
                 "no sweep manifest '{}'", m.path);
  try {
    m.json = nlohmann::json::parse(read_file(m.path));
  } catch (const nlohmann::json::exception& e) {
    TC_FAIL(ErrorKind::Input, "{}: not valid JSON: {}", m.path, e.what());
  }
  if (!m.json.is_object() || m.json.value("format", std::string()) != "tokenclip-sweep-manifest")
    TC_FAIL(ErrorKind::Input, "{}: field 'format': expected \"tokenclip-sweep-manifest\"", m.path);
  if (m.json.value("version", 0) != 1)
    TC_FAIL(ErrorKind::Input, "{}: field 'version': expected 1", m.path);
  m.name = str_field(m.json, "name", m.path);
  const auto& pts = field(m.json, "points", m.path);
  if (!pts.is_array()) TC_FAIL(ErrorKind::Input, "{}: field 'points' must be a list", m.path);
  for (size_t i = 0; i < pts.size(); ++i) {
    Point p = point_from_json(pts[i], fmt::format("{}: points[{}]", m.path, i));
    if (p.index != static_cast<int>(i))
      TC_FAIL(ErrorKind::Input, "{}: points[{}] has index {}: expected {}", m.path, i, p.index, i);
    m.points.push_back(std::move(p));
  }
  for (auto it = field(m.json, "data", m.path).begin(); it != m.json["data"].end(); ++it) {
    std::string w = fmt::format("{}: data.{}", m.path, it.key());
    DataSet d;
    d.name = it.key();
    d.path = str_field(it.value(), "path", w);
    d.cache = it.value().value("cache", std::string());
    d.domain = it.value().value("domain", std::string("industrial"));
    m.data[d.name] = d;
  }
  return m;
}

}  // namespace tc::sweep
