// `tokenclip synth --out DIR [--preset quickstart|full] [--seed N] [--size S]`: writes the
// built-in synthetic benchmark (docs/SYNTH.md): synth-industrial-a.h5 (training source),
// synth-industrial-b.h5 (unseen categories and defect types) and synth-medical.h5.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "app/command.h"
#include "data/synth.h"
#include "data/synth_captions.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/log.h"

namespace tc::app {
namespace {

// `--corpus captions`: the image-caption corpus for `tokenclip pretrain` (one file).
int run_captions(Invocation& inv) {
  const auto& cfg = inv.cfg;
  data::synth::CorpusOptions o;
  // The corpus never shares generator seeds with the benchmark (seed 0 by default): its
  // categories come in other styles than the evaluation sets'.
  o.seed = cfg.is_default("seed") ? 1000 : static_cast<uint64_t>(cfg.get_int("seed"));
  o.size = cfg.get_int("size") > 0 ? static_cast<int>(cfg.get_int("size")) : 128;
  o.styles = static_cast<int>(cfg.get_int("styles"));
  o.per_class = static_cast<int>(cfg.get_int("per-class"));
  o.threads = static_cast<int>(cfg.get_int("threads"));
  if (o.threads <= 0) o.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::string out = cfg.get_string("out");
  auto plan = data::synth::plan_corpus(o);  // usage errors before any work
  make_dirs(out);
  const std::string path = out + "/" + data::synth::kCaptionCorpusName + ".h5";
  log::info("synth captions: {} images ({} categories x {} styles x {}), S = {}, seeds {}..{}, {} threads -> {}",
            plan.items.size(), plan.classes.size(), o.styles, o.per_class, o.size, o.seed,
            o.seed + uint64_t(o.styles) - 1, o.threads, path);
  auto t0 = std::chrono::steady_clock::now();
  auto meta = data::synth::write_corpus(o, path, true);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  write_effective_config(inv, out, "synth_captions_config.ini");
  std::printf("wrote %s: %lld image-caption pairs in %.1f s (content hash %s)\n", path.c_str(),
              static_cast<long long>(meta.size), secs, meta.content_hash.c_str());
  return 0;
}

int run_synth(Invocation& inv) {
  const auto& cfg = inv.cfg;
  if (cfg.get_string("corpus") == "captions") return run_captions(inv);
  data::synth::Options o;
  o.preset = cfg.get_string("preset");
  o.seed = static_cast<uint64_t>(cfg.get_int("seed"));
  o.size = static_cast<int>(cfg.get_int("size"));
  o.threads = static_cast<int>(cfg.get_int("threads"));
  if (o.threads <= 0) o.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::string out = cfg.get_string("out");
  auto plans = data::synth::plan_benchmark(o);  // usage errors (preset, size) before any work
  log::info("synth: preset {} (S = {}), seed {}, {} threads -> {}", o.preset, plans[0].size,
            o.seed, o.threads, out);
  auto t0 = std::chrono::steady_clock::now();
  auto metas = data::synth::write_benchmark(o, out, true);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  nlohmann::json summary = nlohmann::json::array();
  std::printf("%-20s %-7s %-8s %-9s %s\n", "dataset", "images", "normal", "anomalous", "classes (defect types)");
  for (size_t k = 0; k < plans.size(); ++k) {
    const auto& p = plans[k];
    int64_t normal = 0;
    for (const auto& it : p.items) normal += it.defect == "good";
    std::string classes;
    nlohmann::json cls = nlohmann::json::array();
    for (size_t c = 0; c < p.classes.size(); ++c) {
      std::string defs;
      for (const auto& d : p.defects[c]) defs += (defs.empty() ? "" : ",") + d;
      classes += fmt::format("{}{} ({})", c ? "; " : "", p.classes[c], defs);
      cls.push_back({{"name", p.classes[c]},
                     {"prompt", data::synth::find_category(p.classes[c]).prompt},
                     {"defects", p.defects[c]}});
    }
    std::printf("%-20s %-7lld %-8lld %-9lld %s\n", p.name.c_str(), static_cast<long long>(p.items.size()),
                static_cast<long long>(normal), static_cast<long long>(p.items.size() - normal),
                classes.c_str());
    summary.push_back({{"name", p.name},
                       {"file", p.name + ".h5"},
                       {"role", p.role},
                       {"image_size", p.size},
                       {"images", p.items.size()},
                       {"normal", normal},
                       {"anomalous", int64_t(p.items.size()) - normal},
                       {"classes", cls},
                       {"content_hash", metas[k].content_hash}});
  }
  nlohmann::json doc = {{"preset", o.preset}, {"seed", o.seed}, {"datasets", summary}};
  write_file_atomic(out + "/synth_summary.json", doc.dump(2) + "\n");
  write_effective_config(inv, out, "synth_config.ini");
  std::printf("wrote %zu dataset files to %s in %.1f s (summary: %s/synth_summary.json)\n",
              metas.size(), out.c_str(), secs, out.c_str());
  return 0;
}

TC_REGISTER_COMMAND(Command{
    "synth", "write the built-in synthetic benchmark (no downloads)",
    "Generates three dataset files in DIR: synth-industrial-a.h5 (training source: stripes, "
    "mesh, wood, disc, pill, pcb with DRAEM, CutPaste, scar, NSA-Poisson, scratch and stain "
    "anomalies), synth-industrial-b.h5 (unseen categories leather, carpet, marble, woven, "
    "screw, hexnut with unseen defect types: crack, hole, fold, thread, missing or misplaced "
    "part) and synth-medical.h5 (grayscale brain, chest and cell scans with lesion, nodule and "
    "cyst anomalies). Exact masks. The same seed gives identical images, masks and labels on "
    "any machine; the thread count never changes the output. With --corpus captions it writes "
    "instead the captioned pretraining corpus (docs/PRETRAIN.md). See docs/SYNTH.md.",
    {},
    {flag_string("out", "", "output folder (created)", true),
     flag_choice("preset", "quickstart", {"quickstart", "full"},
                 "quickstart: S = 128, a few dozen images per class; full: S = 256, MVTec-sized"),
     flag_int("seed", "0", "generator seed", 0),
     flag_int("size", "0", "image side S (32..1024); 0 = the preset's", 0),
     flag_int("threads", "0", "generation threads (0: all cores)", 0),
     flag_choice("corpus", "benchmark", {"benchmark", "captions"},
                 "benchmark: the three evaluation files; captions: DIR/synth-captions.h5, image-caption "
                 "pairs of all categories for `tokenclip pretrain` (seeds 1000.. unless --seed is given)"),
     flag_int("per-class", "200", "captions: images per category and style", 2),
     flag_int("styles", "4", "captions: renderings (generator seeds) of every category", 1)},
    "", "", 0, 0, 12, run_synth});

}  // namespace
}  // namespace tc::app
