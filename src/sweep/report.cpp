// Report model (JSON) from the metrics.json files of a sweep, and its renderings.
#include "sweep/report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "data/image.h"
#include "data/png.h"
#include "sweep/state.h"
#include "sweep/sweep.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/log.h"

namespace tc::sweep {
namespace detail_report {

namespace fs = std::filesystem;
using nlohmann::json;

struct Run {
  std::string point_id, method, label, train, seed, dataset, path;
  json metrics;  // null when missing
  bool present = false;
};

const std::vector<std::pair<std::string, std::string>>& metric_titles() {
  static const std::vector<std::pair<std::string, std::string>> t = {
      {"image_auroc", "image AUROC"}, {"image_ap", "image AP"},     {"image_f1max", "image F1-max"},
      {"pixel_auroc", "pixel AUROC"}, {"pixel_ap", "pixel AP"},     {"pixel_f1max", "pixel F1-max"},
      {"pixel_aupro", "AUPRO"}};
  return t;
}
std::string metric_title(const std::string& k) {
  for (const auto& [key, t] : metric_titles())
    if (key == k) return t;
  return k;
}

std::optional<double> num(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j.at(key).is_number()) return std::nullopt;
  return 100.0 * j.at(key).get<double>();
}

// One metric of a class (or the "mean") object of metrics.json, x100.
std::optional<double> metric_of(const json& block, const std::string& key, const std::string& aupro) {
  if (!block.is_object()) return std::nullopt;
  const json& image = block.contains("image") ? block.at("image") : json();
  const json& pixel = block.contains("pixel") ? block.at("pixel") : json();
  if (key == "image_auroc") return num(image, "auroc");
  if (key == "image_ap") return num(image, "ap");
  if (key == "image_f1max") return num(image, "f1_max");
  if (key == "pixel_auroc") return num(pixel, "auroc");
  if (key == "pixel_ap") return num(pixel, "ap");
  if (key == "pixel_f1max") return num(pixel, "f1_max");
  if (key == "pixel_aupro") return num(pixel, ("aupro_" + aupro).c_str());
  return std::nullopt;
}

// Statistics of one metric over the seeds of a method: present values, mean, sample std.
json cell_stat(const std::vector<std::optional<double>>& vals, int expected) {
  std::vector<double> v;
  int present = 0;
  for (const auto& x : vals) {
    ++present;
    if (x) v.push_back(*x);
  }
  json c = {{"n", static_cast<int>(v.size())}, {"expected", expected}, {"values", v}};
  if (present == 0) {
    c["status"] = "missing";
    c["mean"] = nullptr;
    c["std"] = nullptr;
    return c;
  }
  if (v.empty()) {
    c["status"] = "na";
    c["mean"] = nullptr;
    c["std"] = nullptr;
    return c;
  }
  double s = 0;
  for (double x : v) s += x;
  double mean = s / static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  c["mean"] = mean;
  c["std"] = v.size() > 1 ? json(std::sqrt(ss / static_cast<double>(v.size() - 1))) : json(nullptr);
  c["status"] = present < expected ? "partial" : "ok";
  return c;
}

double shown(double x) { return std::round(x * 10.0) / 10.0; }

// Marks, per metric, the columns holding the best displayed value of a row. With
// `complete_first` (mean rows), columns missing some rows compete only when none is complete.
json best_of(const json& cells, const std::vector<std::string>& metrics, bool complete_first = false) {
  json best = json::object();
  for (const auto& m : metrics) {
    bool any_ok = false;
    for (const auto& c : cells) any_ok = any_ok || (c.contains(m) && c[m]["status"] == "ok");
    auto eligible = [&](const json& c) {
      return c.contains(m) && c[m]["mean"].is_number() && (!complete_first || !any_ok || c[m]["status"] == "ok");
    };
    std::optional<double> top;
    for (const auto& c : cells)
      if (eligible(c)) {
        double x = shown(c[m]["mean"].get<double>());
        if (!top || x > *top) top = x;
      }
    json cols = json::array();
    for (size_t i = 0; i < cells.size() && top; ++i)
      if (eligible(cells[i]) && shown(cells[i][m]["mean"].get<double>()) == *top)
        cols.push_back(i);
    best[m] = cols;
  }
  return best;
}

const std::set<std::string>& image_only_sets() {
  static const std::set<std::string> s = {"headct", "brainmri", "br35h", "covid"};
  return s;
}
const std::set<std::string>& pixel_only_sets() {
  static const std::set<std::string> s = {"isic", "clinicdb", "colondb", "kvasir", "endo", "tn3k"};
  return s;
}

std::string fmt_cell_metric(const json& c, bool bold, bool markdown) {
  std::string st = c.value("status", "missing");
  if (st == "missing") return "missing";
  if (st == "na") return "n/a";
  std::string t = fmt::format("{:.1f}", c["mean"].get<double>());
  if (c["std"].is_number()) t += fmt::format("±{:.1f}", c["std"].get<double>());
  if (st == "partial") t += "*";
  if (bold) t = markdown ? "**" + t + "**" : "<b>" + t + "</b>";
  return t;
}

std::string cell_text(const json& row_cells, const json& best, size_t col,
                      const std::vector<std::string>& metrics, bool markdown) {
  std::string out;
  for (size_t k = 0; k < metrics.size(); ++k) {
    const json& c = row_cells[col][metrics[k]];
    bool bold = false;
    for (const auto& b : best[metrics[k]]) bold = bold || b.get<size_t>() == col;
    out += (k ? " / " : "") + fmt_cell_metric(c, bold, markdown);
  }
  return out;
}

// "--weights W --bpe V" of a backbone's flags; none: a random-initialised backbone.
std::string backbone_text(const json& flags) {
  std::string t;
  for (const auto& f : flags) t += (t.empty() ? "--" : " --") + f[0].get<std::string>() + " " + f[1].get<std::string>();
  return t.empty() ? "(no weights: the random-initialised CLIP of model.preset, seed model.init_seed)" : t;
}

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

// A PNG scaled down to at most `max_w` pixels wide (Pillow's antialiased bilinear), so that
// the page stays small; the original bytes when it is small already or not an 8-bit gray/RGB
// PNG (our pictures are RGB).
std::string thumbnail_png(const std::string& png, int max_w) {
  if (!data::is_png(png)) return png;
  data::PngImage p;
  try {
    p = data::png_decode(png, "picture");
  } catch (const std::exception&) {
    return png;
  }
  if (p.width <= max_w || p.depth != 8 || (p.channels != 1 && p.channels != 3)) return png;
  data::Image img;
  img.width = p.width;
  img.height = p.height;
  img.channels = p.channels;
  img.pixels = std::move(p.s8);
  const int h = std::max(1, static_cast<int>(std::lround(img.height * double(max_w) / img.width)));
  const data::Image small = data::resize_pillow(img, max_w, h, data::Filter::Bilinear);
  return data::png_encode(small.pixels.data(), small.width, small.height, small.channels);
}

std::vector<std::string> metric_list(const json& t) {
  std::vector<std::string> m;
  for (const auto& x : t["metrics"]) m.push_back(x.get<std::string>());
  return m;
}

}  // namespace detail_report

std::string base64_encode(const std::string& in) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += tbl[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// ---------------------------------------------------------------- build_report's steps

namespace detail_report {

// What the tables are made of: one Run per (point, evaluation dataset), the method columns
// and (dataset, train) rows in order of first appearance, each dataset's domain.
struct Inputs {
  std::vector<Run> runs;
  std::vector<std::string> methods;
  std::map<std::string, std::string> domain;
  std::vector<std::pair<std::string, std::string>> rows;  // (dataset, train)
  json points = json::array();
  json missing = json::array();
  json backbones = json::object();  // name -> [[flag, value], ...] (sweeps with [backbone.NAME])
  std::string sweep_name;
  int metrics_found = 0;

  void add_method(const std::string& m) {
    if (std::find(methods.begin(), methods.end(), m) == methods.end()) methods.push_back(m);
  }
  void add_row(const std::string& ds, const std::string& train) {
    auto r = std::make_pair(ds, train);
    if (std::find(rows.begin(), rows.end(), r) == rows.end()) rows.push_back(r);
  }
  // Reads r.path when it is a tokenclip-metrics document (else the run stays missing).
  void load_metrics(Run& r) {
    if (!file_exists(r.path)) return;
    json j = json::parse(read_file(r.path), nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.value("format", std::string()) != "tokenclip-metrics") {
      log::warn("report: {} is not a tokenclip-metrics JSON document; treated as missing", r.path);
      return;
    }
    r.metrics = std::move(j);
    r.present = true;
    ++metrics_found;
  }
};

// A sweep with a manifest: every (point, evaluation dataset) is a run, present or missing.
void collect_manifest(const std::string& sweep_dir, Inputs& in) {
  Manifest m = read_manifest(sweep_dir);
  in.sweep_name = m.name;
  in.backbones = m.json.value("backbones", json::object());
  for (const auto& [n, d] : m.data) in.domain[n] = d.domain;
  for (const auto& p : m.points) {
    in.add_method(p.method);
    json ov = json::object();
    for (const auto& kv : p.overrides) ov[kv.key] = kv.value;
    PointStatus st = point_status(sweep_dir, p);
    in.points.push_back({{"index", p.index}, {"id", p.id}, {"label", p.label}, {"method", p.method},
                         {"train", p.train}, {"evals", p.evals}, {"overrides", ov},
                         {"config_files", p.config_files}, {"state", state_name(st.state)},
                         {"checkpoint", train_dir(sweep_dir, p.id) + "/checkpoint.h5"}});
    for (const auto& ds : p.evals) {
      Run r{p.id, p.method, p.label, p.train, p.seed, ds, metrics_path(sweep_dir, p.id, ds), json(), false};
      in.load_metrics(r);
      if (!r.present) in.missing.push_back({{"point", p.id}, {"label", p.label}, {"dataset", ds}});
      in.add_row(ds, p.train);
      in.runs.push_back(std::move(r));
    }
  }
}

// No manifest: every metrics.json below the folder is one run; its method is the path
// leading to it (without the dataset folder and a trailing "eval").
void collect_folder(const std::string& sweep_dir, Inputs& in) {
  std::vector<std::string> found;
  for (auto it = fs::recursive_directory_iterator(sweep_dir); it != fs::recursive_directory_iterator(); ++it)
    if (it->is_regular_file() && it->path().filename() == "metrics.json") found.push_back(it->path().string());
  std::sort(found.begin(), found.end());
  for (const auto& f : found) {
    Run r;
    r.path = f;
    in.load_metrics(r);
    if (!r.present) continue;
    fs::path rel = fs::path(f).lexically_relative(sweep_dir).parent_path();
    r.dataset = r.metrics.value("dataset", rel.filename().string());
    fs::path parent = rel.parent_path();
    if (parent.filename() == "eval") parent = parent.parent_path();
    r.method = parent.empty() ? "." : parent.string();
    r.label = r.method;
    r.point_id = r.method;
    r.train = r.metrics.value("train_dataset", std::string("?"));
    in.add_method(r.method);
    in.add_row(r.dataset, r.train);
    in.runs.push_back(std::move(r));
  }
}

Inputs collect(const std::string& sweep_dir) {
  Inputs in;
  in.sweep_name = fs::path(sweep_dir).filename().string();
  if (file_exists(manifest_path(sweep_dir))) collect_manifest(sweep_dir, in);
  else collect_folder(sweep_dir, in);
  // Datasets the manifest does not place: the domain their metrics.json gives, else by name.
  for (const auto& r : in.runs)
    if (!in.domain.count(r.dataset)) {
      std::string d = r.present ? r.metrics.value("domain", std::string()) : std::string();
      if (d != "industrial" && d != "medical") d = default_domain(r.dataset);
      in.domain[r.dataset] = d.empty() ? "industrial" : d;
    }
  return in;
}

// Appends one run's value of a metric (nullopt where undefined): of its mean (cls null), or of
// class *cls when the run has that class.
void add_run_value(const Run& r, const std::string* cls, const std::string& mk, const std::string& aupro,
                   std::vector<std::optional<double>>& vals) {
  if (!cls) {
    vals.push_back(metric_of(r.metrics.value("mean", json()), mk, aupro));
    return;
  }
  std::optional<double> v;
  bool has_class = false;
  for (const auto& c : r.metrics.value("classes", json::array()))
    if (c.value("name", std::string()) == *cls) {
      v = metric_of(c, mk, aupro);
      has_class = true;
    }
  if (has_class) vals.push_back(v);
}

// Cells of one (dataset, train) row for the given metrics, one per method column: the
// statistics over the method's runs (seeds) of the row.
json row_cells(const Inputs& in, const std::string& ds, const std::string& train, const std::string* cls,
               const std::vector<std::string>& metrics, const std::string& aupro) {
  json cells = json::array();
  for (const auto& meth : in.methods) {
    json cell = json::object();
    for (const auto& mk : metrics) {
      std::vector<std::optional<double>> vals;
      int expected = 0;
      for (const auto& r : in.runs) {
        if (r.dataset != ds || r.train != train || r.method != meth) continue;
        ++expected;
        if (!r.present) continue;
        add_run_value(r, cls, mk, aupro, vals);
      }
      cell[mk] = cell_stat(vals, expected);
    }
    cells.push_back(cell);
  }
  return cells;
}

// Does a row have a level (image or pixel) at all? From its results, else from the dataset.
bool row_has(const Inputs& in, const std::string& ds, const std::string& train, const std::string& level,
             const std::string& aupro) {
  bool any_present = false;
  for (const auto& r : in.runs) {
    if (r.dataset != ds || r.train != train || !r.present) continue;
    any_present = true;
    const json& mean = r.metrics.value("mean", json());
    for (const auto& mk : {level + "_auroc", level + "_ap"})
      if (metric_of(mean, mk, aupro)) return true;
  }
  if (any_present) return false;
  return level == "image" ? !pixel_only_sets().count(ds) : !image_only_sets().count(ds);
}

std::string trained_note(const json& trows) {
  std::map<std::string, std::vector<std::string>> by_train;
  for (const auto& r : trows) by_train[r["train"].get<std::string>()].push_back(r["dataset"].get<std::string>());
  std::string note;
  for (const auto& [t, ds] : by_train) {
    std::string list;
    for (const auto& d : ds) list += (list.empty() ? "" : ", ") + d;
    note += fmt::format("{}prompts trained on {} (rows: {})", note.empty() ? "" : "; ", t, list);
  }
  return note;
}

std::string aupro_note(const std::string& aupro) {
  return aupro == "anomalyclip"
             ? "AUPRO: anomalyclip variant (AnomalyCLIP cal_pro_score: 200 thresholds, FPR < 0.3 rescaled)"
             : "AUPRO: mvtec variant (official MVTec AD evaluation, FPR limit 0.3, normalised)";
}

// The mean row of a cross-dataset table: per column, the mean over the rows where it has a value.
json mean_row_cells(const json& trows, size_t columns, const std::vector<std::string>& metrics) {
  json mcells = json::array();
  for (size_t col = 0; col < columns; ++col) {
    json cell = json::object();
    for (const auto& mk : metrics) {
      std::vector<double> v;
      for (const auto& r : trows)
        if (r["cells"][col][mk]["mean"].is_number()) v.push_back(r["cells"][col][mk]["mean"].get<double>());
      double s = 0;
      for (double x : v) s += x;
      json c = {{"n", static_cast<int>(v.size())}, {"expected", static_cast<int>(trows.size())},
                {"values", v}, {"std", nullptr}};
      c["mean"] = v.empty() ? json(nullptr) : json(s / static_cast<double>(v.size()));
      c["status"] = v.empty() ? "missing" : (v.size() < trows.size() ? "partial" : "ok");
      cell[mk] = c;
    }
    mcells.push_back(cell);
  }
  return mcells;
}

// The paper's four tables (industrial / medical x image / pixel level); a table without rows
// is left out. Counts the missing cells into *cells_missing.
json cross_dataset_tables(const Inputs& in, const std::string& aupro, int* cells_missing) {
  struct Spec {
    const char* id;
    const char* title;
    const char* domain;
    const char* level;
    std::vector<std::string> metrics;
  };
  static const std::vector<Spec> specs = {
      {"industrial_image", "Industrial, image level (AUROC / AP)", "industrial", "image", {"image_auroc", "image_ap"}},
      {"industrial_pixel", "Industrial, pixel level (AUROC / AUPRO)", "industrial", "pixel", {"pixel_auroc", "pixel_aupro"}},
      {"medical_image", "Medical, image level (AUROC / AP)", "medical", "image", {"image_auroc", "image_ap"}},
      {"medical_pixel", "Medical, pixel level (AUROC / AUPRO)", "medical", "pixel", {"pixel_auroc", "pixel_aupro"}}};
  json tables = json::array();
  for (const auto& sp : specs) {
    json t = {{"id", sp.id}, {"title", sp.title}, {"metrics", sp.metrics}, {"columns", in.methods}};
    json trows = json::array();
    for (const auto& [ds, train] : in.rows) {
      if (in.domain.at(ds) != sp.domain || !row_has(in, ds, train, sp.level, aupro)) continue;
      json cells = row_cells(in, ds, train, nullptr, sp.metrics, aupro);
      for (const auto& c : cells)
        for (const auto& mk : sp.metrics) *cells_missing += c[mk]["status"] == "missing" ? 1 : 0;
      trows.push_back({{"label", ds}, {"dataset", ds}, {"train", train}, {"cells", cells},
                       {"best", best_of(cells, sp.metrics)}});
    }
    if (trows.empty()) continue;
    json mcells = mean_row_cells(trows, in.methods.size(), sp.metrics);
    t["rows"] = trows;
    t["mean_row"] = {{"label", "mean"}, {"cells", mcells}, {"best", best_of(mcells, sp.metrics, true)}};
    t["training"] = trained_note(trows);
    t["caption"] = fmt::format("{}. {}. Values x100, unweighted mean over classes; ± = sample std over "
                               "seeds; * = some runs missing (mean over those present); missing = no "
                               "result yet; n/a = undefined for this dataset; bold = best per row.",
                               t["training"].get<std::string>(), aupro_note(aupro));
    tables.push_back(t);
  }
  return tables;
}

// Per-class tables, one per (dataset, train): a row per class, the dataset's mean below.
json per_class_tables(const Inputs& in, const std::string& aupro) {
  json per_class = json::array();
  for (const auto& [ds, train] : in.rows) {
    std::vector<std::string> metrics;
    if (row_has(in, ds, train, "image", aupro)) metrics.insert(metrics.end(), {"image_auroc", "image_ap"});
    if (row_has(in, ds, train, "pixel", aupro)) metrics.insert(metrics.end(), {"pixel_auroc", "pixel_aupro"});
    if (metrics.empty()) metrics = {"image_auroc", "image_ap"};
    std::vector<std::string> classes;
    for (const auto& r : in.runs)
      if (r.dataset == ds && r.train == train && r.present)
        for (const auto& c : r.metrics.value("classes", json::array())) {
          std::string n = c.value("name", std::string());
          if (std::find(classes.begin(), classes.end(), n) == classes.end()) classes.push_back(n);
        }
    json trows = json::array();
    for (const auto& cls : classes) {
      json cells = row_cells(in, ds, train, &cls, metrics, aupro);
      trows.push_back({{"label", cls}, {"dataset", ds}, {"train", train}, {"cells", cells},
                       {"best", best_of(cells, metrics)}});
    }
    json mcells = row_cells(in, ds, train, nullptr, metrics, aupro);
    std::string titles;
    for (const auto& mk : metrics) titles += (titles.empty() ? "" : " / ") + metric_title(mk);
    per_class.push_back(
        {{"id", "class_" + ds + "_" + train}, {"title", fmt::format("{} per class ({})", ds, titles)},
         {"dataset", ds}, {"train", train}, {"metrics", metrics}, {"columns", in.methods}, {"rows", trows},
         {"mean_row", {{"label", "mean"}, {"cells", mcells}, {"best", best_of(mcells, metrics, true)}}},
         {"training", fmt::format("prompts trained on {}", train)},
         {"caption", fmt::format("Evaluation data: {}; prompts trained on {}. {}. Values x100.", ds, train,
                                 aupro_note(aupro))}});
  }
  return per_class;
}

}  // namespace detail_report

nlohmann::json build_report(const std::string& sweep_dir, const ReportOptions& opts) {
  using namespace detail_report;  // NOLINT: function scope only
  if (opts.aupro != "anomalyclip" && opts.aupro != "mvtec")
    TC_FAIL(ErrorKind::Usage, "report: --aupro '{}': expected anomalyclip or mvtec", opts.aupro);
  if (!fs::is_directory(sweep_dir))
    TC_FAIL(ErrorKind::Input, "report: '{}' is not a directory (expected a sweep output folder)", sweep_dir);
  const Inputs in = collect(sweep_dir);
  int cells_missing = 0;
  json tables = cross_dataset_tables(in, opts.aupro, &cells_missing);
  json per_class = per_class_tables(in, opts.aupro);
  json rep = {{"format", "tokenclip-report"},
          {"version", 1},
          {"sweep", in.sweep_name},
          {"sweep_dir", fs::absolute(sweep_dir).lexically_normal().string()},
          {"aupro_variant", opts.aupro},
          {"metrics_found", in.metrics_found},
          {"cells_missing", cells_missing},
          {"columns", in.methods},
          {"tables", tables},
          {"per_class", per_class},
          {"points", in.points},
          {"missing", in.missing}};
  if (!in.backbones.empty()) rep["backbones"] = in.backbones;  // only sweeps that name backbones
  return rep;
}

std::string render_markdown(const nlohmann::json& rep) {
  using namespace detail_report;  // NOLINT: function scope only
  std::string md = fmt::format("# Sweep report: {}\n\nFrom `{}`: {} metrics files; AUPRO variant `{}`.\n",
                               rep["sweep"].get<std::string>(), rep["sweep_dir"].get<std::string>(),
                               rep["metrics_found"].get<int>(), rep["aupro_variant"].get<std::string>());
  if (!rep["missing"].empty())
    md += fmt::format("{} (point, dataset) results are missing; their cells say `missing`.\n", rep["missing"].size());
  auto table = [&](const json& t, int level) {
    std::vector<std::string> metrics = metric_list(t);
    std::string s = fmt::format("\n{} {}\n\n{}\n\n| {} | trained on |", std::string(level, '#'),
                                t["title"].get<std::string>(), t["caption"].get<std::string>(),
                                t.contains("dataset") ? "class" : "dataset");
    for (const auto& c : t["columns"]) s += " " + c.get<std::string>() + " |";
    s += "\n|---|---|";
    for (size_t i = 0; i < t["columns"].size(); ++i) s += "---|";
    s += "\n";
    auto line = [&](const json& r, bool mean) {
      std::string l = mean ? "| **mean** | |" : fmt::format("| {} | {} |", r["label"].get<std::string>(),
                                                            r["train"].get<std::string>());
      for (size_t c = 0; c < t["columns"].size(); ++c)
        l += " " + cell_text(r["cells"], r["best"], c, metrics, true) + " |";
      return l + "\n";
    };
    for (const auto& r : t["rows"]) s += line(r, false);
    s += line(t["mean_row"], true);
    return s;
  };
  if (rep.contains("backbones")) {
    md += "\n## Backbones\n\n| backbone | flags of train and eval |\n|---|---|\n";
    for (auto it = rep["backbones"].begin(); it != rep["backbones"].end(); ++it)
      md += fmt::format("| {} | {} |\n", it.key(), backbone_text(it.value()));
  }
  md += "\n## Cross-dataset tables\n";
  for (const auto& t : rep["tables"]) md += table(t, 3);
  md += "\n## Per-class tables\n";
  for (const auto& t : rep["per_class"]) md += table(t, 3);
  if (!rep["points"].empty()) {
    md += "\n## Points\n\n| index | id | label | trained on | state | overrides | configs |\n|---|---|---|---|---|---|---|\n";
    for (const auto& p : rep["points"]) {
      std::string ov, cf;
      for (auto it = p["overrides"].begin(); it != p["overrides"].end(); ++it)
        ov += (ov.empty() ? "" : ", ") + it.key() + "=" + it.value().get<std::string>();
      for (const auto& f : p["config_files"]) cf += (cf.empty() ? "" : ", ") + f.get<std::string>();
      md += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", p["index"].get<int>(),
                        p["id"].get<std::string>(), p["label"].get<std::string>(),
                        p["train"].get<std::string>(), p["state"].get<std::string>(), ov, cf);
    }
  }
  return md;
}

std::string render_csv(const nlohmann::json& rep) {
  using namespace detail_report;  // NOLINT: function scope only
  std::string csv = "table,row,dataset,train,column,metric,mean,std,n,expected,status,aupro_variant\n";
  auto emit = [&](const json& t) {
    std::vector<std::string> metrics = metric_list(t);
    auto rows = t["rows"];
    json mean = t["mean_row"];
    mean["dataset"] = "";
    mean["train"] = "";
    rows.push_back(mean);
    for (const auto& r : rows)
      for (size_t c = 0; c < t["columns"].size(); ++c)
        for (const auto& mk : metrics) {
          const json& cell = r["cells"][c][mk];
          auto numtxt = [](const json& v) { return v.is_number() ? fmt::format("{:.4f}", v.get<double>()) : std::string(); };
          csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{}\n", csv_field(t["id"].get<std::string>()),
                             csv_field(r["label"].get<std::string>()), csv_field(r["dataset"].get<std::string>()),
                             csv_field(r["train"].get<std::string>()),
                             csv_field(t["columns"][c].get<std::string>()), mk, numtxt(cell["mean"]),
                             numtxt(cell["std"]), cell["n"].get<int>(), cell["expected"].get<int>(),
                             cell["status"].get<std::string>(), rep["aupro_variant"].get<std::string>());
        }
  };
  for (const auto& t : rep["tables"]) emit(t);
  for (const auto& t : rep["per_class"]) emit(t);
  return csv;
}

// ---------------------------------------------------------------- render_html's parts

namespace detail_report {

std::string html_head(const json& rep) {
  std::string h =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Sweep report: " +
      html_escape(rep["sweep"].get<std::string>()) +
      "</title>\n<style>\nbody{font-family:sans-serif;margin:2em;color:#222}"
      "table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #bbb;padding:3px 8px;"
      "text-align:right;font-size:90%}th{background:#eee}td:first-child,td:nth-child(2){text-align:left}"
      "caption{caption-side:top;text-align:left;font-size:85%;color:#555;max-width:60em;padding:4px 0}"
      ".missing{color:#b00}.mean td{border-top:2px solid #444}figure{display:inline-block;margin:4px}"
      "figcaption{font-size:75%}svg{background:#fafafa;border:1px solid #ddd}</style></head><body>\n";
  h += fmt::format("<h1>Sweep report: {}</h1>\n<p>From <code>{}</code>: {} metrics files; AUPRO variant "
                   "<code>{}</code>; {} missing results.</p>\n",
                   html_escape(rep["sweep"].get<std::string>()), html_escape(rep["sweep_dir"].get<std::string>()),
                   rep["metrics_found"].get<int>(), html_escape(rep["aupro_variant"].get<std::string>()),
                   rep["missing"].size());
  return h;
}

std::string html_table(const json& t) {
  std::vector<std::string> metrics = metric_list(t);
  std::string s = fmt::format("<h3>{}</h3>\n<table><caption>{}</caption>\n<tr><th>{}</th><th>trained on</th>",
                              html_escape(t["title"].get<std::string>()),
                              html_escape(t["caption"].get<std::string>()),
                              t.contains("dataset") ? "class" : "dataset");
  for (const auto& c : t["columns"]) s += "<th>" + html_escape(c.get<std::string>()) + "</th>";
  s += "</tr>\n";
  auto line = [&](const json& r, bool mean) {
    std::string l = mean ? "<tr class=\"mean\"><td><b>mean</b></td><td></td>"
                         : fmt::format("<tr><td>{}</td><td>{}</td>", html_escape(r["label"].get<std::string>()),
                                       html_escape(r["train"].get<std::string>()));
    for (size_t c = 0; c < t["columns"].size(); ++c) {
      std::string txt = cell_text(r["cells"], r["best"], c, metrics, false);
      bool miss = txt.find("missing") != std::string::npos;
      l += fmt::format("<td{}>{}</td>", miss ? " class=\"missing\"" : "", txt);
    }
    return l + "</tr>\n";
  };
  for (const auto& r : t["rows"]) s += line(r, false);
  s += line(t["mean_row"], true);
  return s + "</table>\n";
}

using Curve = std::vector<std::pair<double, double>>;  // (step, loss)

// The loss per step of a training log (step lines only; unreadable lines skipped), evenly
// subsampled to at most max_points.
Curve read_loss_curve(const std::string& log, int max_points) {
  Curve xy;
  std::string text = read_file(log);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t e = text.find('\n', pos);
    if (e == std::string::npos) e = text.size();
    json j = json::parse(text.substr(pos, e - pos), nullptr, false);
    pos = e + 1;
    if (j.is_discarded() || !j.is_object() || j.value("kind", std::string()) != "step") continue;
    if (!j.contains("step") || !j["step"].is_number() || !j.contains("loss") || !j["loss"].is_number()) continue;
    xy.emplace_back(j["step"].get<double>(), j["loss"].get<double>());
  }
  if (static_cast<int>(xy.size()) > max_points) {
    Curve sub;
    for (int k = 0; k < max_points; ++k)
      sub.push_back(xy[static_cast<size_t>(k) * (xy.size() - 1) / (max_points - 1)]);
    xy.swap(sub);
  }
  return xy;
}

const char* curve_color(size_t method_index) {
  static const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                 "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
  return colors[method_index % 10];
}

// One chart (SVG in a figure): the curves of the points trained on `train`, a line each,
// coloured by method, with the method legend.
std::string svg_chart(const std::vector<std::pair<const json*, Curve>>& curves,
                      const std::vector<std::string>& methods, const std::string& train) {
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const auto& [p, xy] : curves)
    for (const auto& [x, y] : xy) {
      x0 = std::min(x0, x); x1 = std::max(x1, x);
      if (std::isfinite(y)) { y0 = std::min(y0, y); y1 = std::max(y1, y); }
    }
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y1 = y0 + 1;
  const double W = 560, H = 260, L = 50, R = 10, T = 10, B = 30;
  std::string svg = fmt::format("<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\">", W, H);
  svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#444\"/>"
                     "<line x1=\"{0}\" y1=\"{3}\" x2=\"{0}\" y2=\"{1}\" stroke=\"#444\"/>",
                     L, H - B, W - R, T);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"10\">{:g}</text><text x=\"{}\" y=\"{}\" font-size=\"10\" "
                     "text-anchor=\"end\">{:g}</text>", L, H - B + 12, x0, W - R, H - B + 12, x1);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{:.3g}</text><text x=\"{}\" "
                     "y=\"{}\" font-size=\"10\" text-anchor=\"end\">{:.3g}</text>", L - 3, T + 8, y1, L - 3, H - B, y0);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">step</text>", (L + W) / 2, H - 4);
  for (const auto& [p, xy] : curves) {
    size_t mi = std::find(methods.begin(), methods.end(), (*p)["method"].get<std::string>()) - methods.begin();
    std::string ptsattr;
    for (const auto& [x, y] : xy) {
      if (!std::isfinite(y)) continue;
      ptsattr += fmt::format("{:.1f},{:.1f} ", L + (x - x0) / (x1 - x0) * (W - L - R),
                             H - B - (y - y0) / (y1 - y0) * (H - T - B));
    }
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.2\" points=\"{}\"><title>{}</title></polyline>",
                       curve_color(mi), ptsattr, html_escape((*p)["label"].get<std::string>()));
  }
  svg += "</svg><figcaption>prompts trained on " + html_escape(train) + ": ";
  for (size_t mi = 0; mi < methods.size(); ++mi)
    svg += fmt::format("<span style=\"color:{}\">&#9632; {}</span> ", curve_color(mi), html_escape(methods[mi]));
  return svg + "</figcaption></figure>\n";
}

// Training curves: loss against step, one line per point, one chart per training dataset.
std::string html_training_curves(const json& rep, const std::string& sweep_dir, const ReportOptions& opts) {
  std::map<std::string, std::vector<const json*>> by_train;
  for (const auto& p : rep["points"]) by_train[p["train"].get<std::string>()].push_back(&p);
  std::string h;
  if (!by_train.empty()) h += "<h2>Training curves (loss per step)</h2>\n";
  std::vector<std::string> methods;
  for (const auto& c : rep["columns"]) methods.push_back(c.get<std::string>());
  for (const auto& [train, pts] : by_train) {
    std::vector<std::pair<const json*, Curve>> curves;
    for (const json* p : pts) {
      std::string log = train_dir(sweep_dir, (*p)["id"].get<std::string>()) + "/log.jsonl";
      if (!file_exists(log)) continue;
      Curve xy = read_loss_curve(log, opts.max_curve_points);
      if (!xy.empty()) curves.emplace_back(p, std::move(xy));
    }
    if (!curves.empty()) h += svg_chart(curves, methods, train);
  }
  return h;
}

// Heatmap thumbnails: the first pictures of one point per (method, training, evaluation dataset).
std::string html_thumbnails(const json& rep, const std::string& sweep_dir, const ReportOptions& opts) {
  if (opts.thumbnails <= 0 || rep["points"].empty()) return "";
  std::string th;
  std::set<std::string> shown_pairs;
  for (const auto& p : rep["points"])
    for (const auto& ds : p["evals"]) {
      std::string key = p["method"].get<std::string>() + "\n" + p["train"].get<std::string>() + "\n" + ds.get<std::string>();
      std::string dir = eval_dir(sweep_dir, p["id"].get<std::string>(), ds.get<std::string>()) + "/pictures";
      if (shown_pairs.count(key) || !fs::is_directory(dir)) continue;
      std::vector<std::string> pngs;
      for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".png") pngs.push_back(e.path().string());
      if (pngs.empty()) continue;
      std::sort(pngs.begin(), pngs.end());
      shown_pairs.insert(key);
      for (int k = 0; k < opts.thumbnails && k < static_cast<int>(pngs.size()); ++k)
        th += fmt::format("<figure><img src=\"data:image/png;base64,{}\" alt=\"{}\"><figcaption>{} on {}"
                          "<br>{}</figcaption></figure>\n",
                          base64_encode(thumbnail_png(read_file(pngs[k]), opts.thumbnail_width)), html_escape(fs::path(pngs[k]).filename().string()),
                          html_escape(p["label"].get<std::string>()), html_escape(ds.get<std::string>()),
                          html_escape(fs::path(pngs[k]).filename().string()));
    }
  return th.empty() ? "" : "<h2>Heatmap thumbnails</h2>\n" + th;
}

std::string html_points_table(const json& rep) {
  if (rep["points"].empty()) return "";
  std::string h = "<h2>Points</h2>\n<table><tr><th>index</th><th>id</th><th>label</th><th>trained on</th><th>state</th>"
                  "<th>overrides</th><th>configs</th></tr>\n";
  for (const auto& p : rep["points"]) {
    std::string ov, cf;
    for (auto it = p["overrides"].begin(); it != p["overrides"].end(); ++it)
      ov += (ov.empty() ? "" : ", ") + it.key() + "=" + it.value().get<std::string>();
    for (const auto& f : p["config_files"]) cf += (cf.empty() ? "" : "<br>") + html_escape(f.get<std::string>());
    h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                     p["index"].get<int>(), html_escape(p["id"].get<std::string>()),
                     html_escape(p["label"].get<std::string>()), html_escape(p["train"].get<std::string>()),
                     html_escape(p["state"].get<std::string>()), html_escape(ov), cf);
  }
  return h + "</table>\n";
}

}  // namespace detail_report

std::string render_html(const nlohmann::json& rep, const std::string& sweep_dir, const ReportOptions& opts) {
  using namespace detail_report;  // NOLINT: function scope only
  std::string h = html_head(rep);
  h += "<h2>Cross-dataset tables</h2>\n";
  for (const auto& t : rep["tables"]) h += html_table(t);
  h += html_training_curves(rep, sweep_dir, opts);
  h += html_thumbnails(rep, sweep_dir, opts);
  if (rep.contains("backbones")) {
    h += "<h2>Backbones</h2>\n<table><tr><th>backbone</th><th>flags of train and eval</th></tr>\n";
    for (auto it = rep["backbones"].begin(); it != rep["backbones"].end(); ++it)
      h += fmt::format("<tr><td>{}</td><td>{}</td></tr>\n", html_escape(it.key()),
                       html_escape(backbone_text(it.value())));
    h += "</table>\n";
  }
  h += "<h2>Per-class tables</h2>\n";
  for (const auto& t : rep["per_class"]) h += html_table(t);
  h += html_points_table(rep);
  return h + "</body></html>\n";
}

ReportFiles write_report(const std::string& sweep_dir, const std::string& out_dir, const ReportOptions& opts) {
  nlohmann::json rep = build_report(sweep_dir, opts);
  // Empty tables would read as a finished report; say why there is none instead.
  if (rep["metrics_found"].get<int>() == 0) {
    const size_t n = rep["points"].size();
    TC_FAIL_HINT(ErrorKind::Input,
                 n > 0 ? fmt::format("`tokenclip sweep status --out {}` shows where its points stand", sweep_dir)
                       : std::string("give a sweep output folder (tokenclip sweep run) or a folder of "
                                     "eval outputs"),
                 "report: no metrics.json under '{}'{}; nothing written", sweep_dir,
                 n > 0 ? fmt::format(" (the sweep has {} point(s), none evaluated yet)", n) : "");
  }
  make_dirs(out_dir);
  ReportFiles f;
  f.metrics_found = rep["metrics_found"].get<int>();
  f.cells_missing = rep["cells_missing"].get<int>();
  auto put = [&](const std::string& name, const std::string& text) {
    write_file_atomic(out_dir + "/" + name, text);
    f.written.push_back(out_dir + "/" + name);
  };
  put("report.json", rep.dump(2) + "\n");
  put("report.md", render_markdown(rep));
  put("report.csv", render_csv(rep));
  put("index.html", render_html(rep, sweep_dir, opts));
  return f;
}

}  // namespace tc::sweep
