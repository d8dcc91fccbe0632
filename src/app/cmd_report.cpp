// `tokenclip report DIR [--out DIR]`: cross-dataset tables of a sweep folder (or any folder of
// metrics.json files) as Markdown, CSV, JSON and one self-contained HTML page.
#include <cstdio>

#include "app/command.h"
#include "dist/dist.h"
#include "sweep/report.h"

namespace tc::app {
namespace {

int run_report(Invocation& inv) {
  if (dist::env().rank != 0) return 0;
  const std::string dir = inv.args.at(0);
  std::string out = inv.cfg.get_string("out");
  if (out.empty()) out = dir + "/report";
  sweep::ReportOptions o;
  o.aupro = inv.cfg.get_string("aupro");
  o.thumbnails = static_cast<int>(inv.cfg.get_int("thumbnails"));
  sweep::ReportFiles f = sweep::write_report(dir, out, o);
  std::printf("report: %d metrics files, %d missing cells\n", f.metrics_found, f.cells_missing);
  for (const auto& w : f.written) std::printf("  wrote %s\n", w.c_str());
  return 0;
}

TC_REGISTER_COMMAND(Command{
    "report", "cross-dataset result tables of a sweep (Markdown, CSV, JSON, HTML)",
    "Reads every metrics.json of a sweep output folder (points x evaluation datasets) and writes "
    "the paper's tables (industrial / medical, image / pixel level; rows datasets, columns "
    "methods, a mean row, best per row in bold, mean +- std over seeds), per-class tables, and a "
    "self-contained HTML page with training curves and heatmap thumbnails. Missing results are "
    "marked as missing. See docs/SWEEPS.md.",
    {},
    {flag_string("out", "", "output folder (default: DIR/report)"),
     flag_choice("aupro", "anomalyclip", {"anomalyclip", "mvtec"}, "AUPRO variant shown in the tables"),
     flag_int("thumbnails", "2", "heatmap pictures per (method, dataset) in the HTML page", 0)},
    "DIR", "sweep output folder (from 'tokenclip sweep run')", 1, 1, 61, run_report});

}  // namespace
}  // namespace tc::app
