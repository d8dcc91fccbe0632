// Aggregation over classes and the metrics.json document.
#include "eval/report_metrics.h"

#include "eval/metrics.h"
#include "util/check.h"
#include "util/fs.h"

namespace tc::eval {
namespace detail_report {

nlohmann::json opt(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

// Unweighted mean over the classes where the metric is defined.
std::optional<double> mean_of(const std::vector<ClassMetrics>& cs,
                              std::optional<double> (*get)(const ClassMetrics&)) {
  double s = 0;
  int k = 0;
  for (const auto& c : cs)
    if (auto v = get(c)) {
      s += *v;
      ++k;
    }
  if (k == 0) return std::nullopt;
  return s / k;
}

}  // namespace detail_report

DatasetMetrics aggregate(std::vector<ClassMetrics> classes, std::vector<AuproVariant> variants,
                         std::string dataset) {
  using detail_report::mean_of;
  DatasetMetrics d;
  d.dataset = std::move(dataset);
  d.aupro_variants = std::move(variants);
  d.classes = std::move(classes);
  ClassMetrics& m = d.mean;
  m.name = "mean";
  for (const auto& c : d.classes) {
    m.n_images += c.n_images;
    m.n_anomalous_images += c.n_anomalous_images;
    m.image.n_pos += c.image.n_pos;
    m.image.n_neg += c.image.n_neg;
    m.has_pixel = m.has_pixel || c.has_pixel;
    m.pixel.n_pos += c.pixel.n_pos;
    m.pixel.n_neg += c.pixel.n_neg;
    m.n_regions += c.n_regions;
    m.seconds += c.seconds;
  }
  const auto& cs = d.classes;
  m.image.auroc = mean_of(cs, [](const ClassMetrics& c) { return c.image.auroc; });
  m.image.ap = mean_of(cs, [](const ClassMetrics& c) { return c.image.ap; });
  m.image.f1_max = mean_of(cs, [](const ClassMetrics& c) { return c.image.f1_max; });
  m.pixel.auroc = mean_of(cs, [](const ClassMetrics& c) { return c.pixel.auroc; });
  m.pixel.ap = mean_of(cs, [](const ClassMetrics& c) { return c.pixel.ap; });
  m.pixel.f1_max = mean_of(cs, [](const ClassMetrics& c) { return c.pixel.f1_max; });
  m.aupro_anomalyclip = mean_of(cs, [](const ClassMetrics& c) { return c.aupro_anomalyclip; });
  m.aupro_mvtec = mean_of(cs, [](const ClassMetrics& c) { return c.aupro_mvtec; });
  return d;
}

nlohmann::json to_json(const BinaryMetrics& m) {
  using detail_report::opt;
  return {{"auroc", opt(m.auroc)},   {"ap", opt(m.ap)},       {"f1_max", opt(m.f1_max)},
          {"f1_threshold", opt(m.f1_threshold)}, {"n_pos", m.n_pos}, {"n_neg", m.n_neg}};
}

nlohmann::json to_json(const ClassMetrics& c) {
  using detail_report::opt;
  nlohmann::json j;
  j["name"] = c.name;
  j["n_images"] = c.n_images;
  j["n_anomalous_images"] = c.n_anomalous_images;
  j["image"] = to_json(c.image);
  if (c.has_pixel) {
    nlohmann::json p = to_json(c.pixel);
    p["aupro_anomalyclip"] = opt(c.aupro_anomalyclip);
    p["aupro_mvtec"] = opt(c.aupro_mvtec);
    p["n_regions"] = c.n_regions;
    j["pixel"] = std::move(p);
  } else {
    j["pixel"] = nullptr;  // image-only set: no pixel metrics at all
  }
  j["seconds"] = c.seconds;
  return j;
}

nlohmann::json to_json(const DatasetMetrics& d) {
  nlohmann::json j;
  j["format"] = "tokenclip-metrics";
  j["version"] = 1;
  j["dataset"] = d.dataset;
  j["scale"] = "fraction";
  nlohmann::json v = nlohmann::json::array();
  for (auto a : d.aupro_variants) v.push_back(aupro_variant_name(a));
  j["aupro_variants"] = v;
  nlohmann::json cs = nlohmann::json::array();
  for (const auto& c : d.classes) cs.push_back(to_json(c));
  j["classes"] = std::move(cs);
  j["mean"] = to_json(d.mean);
  // How many classes each mean covers (a class where a metric is undefined is left out).
  auto count = [&](std::optional<double> (*get)(const ClassMetrics&)) {
    int k = 0;
    for (const auto& c : d.classes) k += get(c).has_value();
    return k;
  };
  j["mean"]["classes_defined"] = {
      {"image_auroc", count([](const ClassMetrics& c) { return c.image.auroc; })},
      {"image_ap", count([](const ClassMetrics& c) { return c.image.ap; })},
      {"image_f1_max", count([](const ClassMetrics& c) { return c.image.f1_max; })},
      {"pixel_auroc", count([](const ClassMetrics& c) { return c.pixel.auroc; })},
      {"pixel_ap", count([](const ClassMetrics& c) { return c.pixel.ap; })},
      {"pixel_f1_max", count([](const ClassMetrics& c) { return c.pixel.f1_max; })},
      {"aupro_anomalyclip", count([](const ClassMetrics& c) { return c.aupro_anomalyclip; })},
      {"aupro_mvtec", count([](const ClassMetrics& c) { return c.aupro_mvtec; })}};
  return j;
}

void write_metrics_json(const std::string& path, const DatasetMetrics& d, const nlohmann::json& extra) {
  nlohmann::json j = to_json(d);
  TC_CHECK(extra.is_object(), "extra metrics fields must be a JSON object");
  for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
  write_file_atomic(path, j.dump(2) + "\n");
}

}  // namespace tc::eval
