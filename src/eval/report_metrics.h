// metrics.json: per-class and mean metrics as JSON. Undefined metrics are JSON null; values
// are fractions in [0, 1] (tables print x100 with one decimal); every document names the AUPRO
// variants it carries.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "eval/metrics.h"

namespace tc::eval {

nlohmann::json to_json(const BinaryMetrics& m);
nlohmann::json to_json(const ClassMetrics& c);
// {"format": "tokenclip-metrics", "version": 1, "dataset", "aupro_variants", "classes": [...],
//  "mean": {...}}
nlohmann::json to_json(const DatasetMetrics& d);

// Writes to_json(d) (merged with `extra` at the top level, e.g. checkpoint and config) to
// `path` atomically.
void write_metrics_json(const std::string& path, const DatasetMetrics& d,
                        const nlohmann::json& extra = nlohmann::json::object());

}  // namespace tc::eval
