// Cross-dataset reports of a sweep folder (docs/SWEEPS.md, "Reports").
//
// Reads every metrics.json of the sweep (points x evaluation datasets), groups points by
// method (the point label without the seed) and renders the paper's tables: industrial
// image-level (AUROC, AP), industrial pixel-level (AUROC, AUPRO), medical image-level, medical
// pixel-level; rows are (evaluation dataset, training dataset), columns methods, a mean row,
// the best value per row and metric in bold; mean +- sample std (n-1) over seeds. Plus
// per-class tables for every dataset. Missing results are marked, never fatal.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace tc::sweep {

struct ReportOptions {
  std::string aupro = "anomalyclip";  // which AUPRO variant the tables show: anomalyclip | mvtec
  int thumbnails = 2;                 // heatmap pictures per (method, dataset) in the HTML page
  int thumbnail_width = 320;          // pictures wider than this are scaled down
  int max_curve_points = 400;         // training curves are subsampled to this many points
};

// The report model: every table with its cells (values x100), plus the points and inputs.
// {"format": "tokenclip-report", "version": 1, "sweep", "aupro_variant", "tables": [...],
//  "per_class": [...], "points": [...], "missing": [...]}. A cell metric is
// {"mean", "std", "n", "expected", "values", "status": ok|partial|missing|na}.
nlohmann::json build_report(const std::string& sweep_dir, const ReportOptions& opts = {});

std::string render_markdown(const nlohmann::json& report);
std::string render_csv(const nlohmann::json& report);  // long format: one line per cell metric
std::string render_html(const nlohmann::json& report, const std::string& sweep_dir,
                        const ReportOptions& opts = {});

struct ReportFiles {
  std::vector<std::string> written;
  int metrics_found = 0, cells_missing = 0;
};
// Writes report.md, report.csv (tables and per-class, long format), report.json and
// index.html (the self-contained page) into out_dir
// (default: <sweep_dir>/report), each atomically. A folder without any metrics.json (empty, or
// a sweep with no evaluation done yet) is an Input error and nothing is written.
ReportFiles write_report(const std::string& sweep_dir, const std::string& out_dir,
                         const ReportOptions& opts = {});

std::string base64_encode(const std::string& bytes);

}  // namespace tc::sweep
