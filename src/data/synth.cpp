// The synthetic benchmark's datasets: presets, the protocol split (A: training source, B:
// unseen categories and defect types, medical), sample generation and file writing.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "data/synth.h"
#include "data/synth_detail.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/progress.h"

namespace tc::data::synth {

namespace plan_impl {

// Bumped whenever any generator change alters output for a given seed (recorded in `source`).
constexpr const char* kGeneratorVersion = "synth-v1";

struct Split {
  const char* name;
  const char* role;
  std::vector<std::string> classes;
  std::vector<std::string> defects;  // candidates; each class takes those that apply to it
};

const std::vector<Split>& splits() {
  static const std::vector<Split> s = {
      {"synth-industrial-a", "industrial, training source (categories A, training-style defects)",
       {"stripes", "mesh", "wood", "disc", "pill", "pcb"},
       {"draem", "cutpaste", "scar", "nsa", "scratch", "stain"}},
      {"synth-industrial-b", "industrial, unseen categories and defect types (categories B)",
       {"leather", "carpet", "marble", "woven", "screw", "hexnut"},
       {"crack", "hole", "fold", "thread", "missing_part", "misplaced"}},
      {"synth-medical", "medical-like grayscale scans with lesion-like anomalies",
       {"brain", "chest", "cells"},
       {"lesion", "nodule", "cyst"}},
  };
  return s;
}

}  // namespace plan_impl

Preset resolve_preset(const Options& o) {
  Preset p;
  if (o.preset == "quickstart") p = {"quickstart", 128, 12, 4};
  else if (o.preset == "full") p = {"full", 256, 150, 30};
  else TC_USAGE_ERROR("synth: unknown preset '{}' (expected quickstart or full)", o.preset);
  if (o.size != 0) {
    TC_CHECK_USAGE(o.size >= 32 && o.size <= 1024, "synth: --size {} out of range (expected 32..1024)", o.size);
    p.size = o.size;
  }
  return p;
}

std::vector<DatasetPlan> plan_benchmark(const Options& o) {
  Preset pr = resolve_preset(o);
  std::vector<DatasetPlan> out;
  for (const auto& sp : plan_impl::splits()) {
    DatasetPlan d;
    d.name = sp.name;
    d.role = sp.role;
    d.size = pr.size;
    d.seed = o.seed;
    d.preset = pr.name;
    for (size_t ci = 0; ci < sp.classes.size(); ++ci) {
      const Category& cat = find_category(sp.classes[ci]);
      d.classes.push_back(cat.name);
      std::vector<std::string> defs;
      for (const auto& df : sp.defects)
        if (detail::defect_applies(df, cat)) defs.push_back(df);
      d.defects.push_back(defs);
      int32_t idx = 0;
      for (int i = 0; i < pr.n_good; ++i) d.items.push_back({int32_t(ci), "good", idx++});
      for (const auto& df : defs)
        for (int i = 0; i < pr.n_per_defect; ++i) d.items.push_back({int32_t(ci), df, idx++});
    }
    out.push_back(std::move(d));
  }
  return out;
}

Generated generate(const DatasetPlan& plan, int64_t item_index) {
  TC_CHECK(item_index >= 0 && item_index < int64_t(plan.items.size()), "item {} of {}", item_index,
           plan.items.size());
  const Item& it = plan.items[size_t(item_index)];
  const Category& cat = find_category(plan.classes[size_t(it.class_id)]);
  const int S = plan.size;
  std::string key = fmt::format("{}|{}|{}", plan.name, cat.name, it.index);
  detail::Canvas canvas = detail::render_normal(cat, plan.seed, key, S);
  Generated g;
  g.normal_source = detail::quantize(canvas);
  g.foreground = canvas.fg;
  Sample& s = g.sample;
  s.class_id = it.class_id;
  s.has_mask = 1;
  s.defect = it.defect;
  s.source_path = fmt::format("{}/{}/{:04d}", cat.name, it.defect, it.index);
  if (it.defect == "good") {
    s.image = g.normal_source;
    s.mask.assign(size_t(S) * S, 0);
    s.label = 0;
    return g;
  }
  detail::DefectResult d = detail::apply_defect(it.defect, cat, plan.seed, key, canvas, g.normal_source);
  s.image = std::move(d.image);
  s.mask = std::move(d.mask);
  s.label = 1;
  g.attempts = d.attempts;
  return g;
}

Sample generate_sample(const DatasetPlan& plan, int64_t item_index) {
  return generate(plan, item_index).sample;
}

std::string arrays_hash(const std::vector<Sample>& samples) {
  Sha256 h;
  for (const auto& s : samples) {
    h.update(s.image.data(), s.image.size());
    h.update(s.mask.data(), s.mask.size());
    h.update(&s.label, 1);
    uint8_t cid[4];
    for (int i = 0; i < 4; ++i) cid[i] = uint8_t(uint32_t(s.class_id) >> (8 * i));  // little-endian
    h.update(cid, 4);
    h.update(s.defect);
    h.update("\0", 1);
  }
  return h.hex();
}

std::vector<DatasetMeta> write_benchmark(const Options& o, const std::string& out_dir,
                                         bool show_progress) {
  auto plans = plan_benchmark(o);
  make_dirs(out_dir);
  int64_t total = 0;
  for (const auto& p : plans) total += int64_t(p.items.size());
  Progress prog("synth", total, "img", show_progress);
  std::vector<DatasetMeta> metas;
  for (const auto& p : plans) {
    DatasetMeta m;
    m.name = p.name;
    m.domain = "synthetic";
    m.image_size = p.size;
    m.class_names = p.classes;
    m.layout = "synth";
    m.source = fmt::format("tokenclip synth: {}; preset={} seed={} size={} generator={}", p.role,
                           p.preset, p.seed, p.size, plan_impl::kGeneratorVersion);
    m.mask_rule = "exact (generated)";
    DatasetWriter w(out_dir + "/" + p.name + ".h5", m);
    detail::generate_in_order(
        int64_t(p.items.size()), o.threads, [&](int64_t i) { return generate_sample(p, i); },
        [&](const Sample& smp) {
          w.append(smp);
          prog.update(1, p.name);
        });
    metas.push_back(w.finish());
  }
  prog.finish();
  return metas;
}

}  // namespace tc::data::synth

#pragma GCC pop_options
