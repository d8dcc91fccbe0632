// The built-in synthetic benchmark (`tokenclip synth`): procedurally generated normal images of
// 12 industrial and 3 medical-like categories, with anomalies from the literature's recipes
// (DRAEM Perlin blend, CutPaste and scar, NSA Poisson patches) and drawn defects (scratch,
// crack, hole, stain, fold, thread, missing or misplaced part, lesions), each with an exact
// pixel mask. Three dataset files mirror the zero-shot protocol: train on
// `synth-industrial-a`, evaluate on `synth-industrial-b` (unseen categories and defect types)
// and `synth-medical`. Categories, recipes and the determinism guarantee: docs/SYNTH.md.
//
// Every image is a pure function of (seed, dataset, class, index): each draws from its own
// Philox stream, so any sample can be regenerated alone and generation order never matters.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace tc::data::synth {

enum class Kind { Texture, Object, Medical };

struct Category {
  std::string name;    // e.g. "stripes"
  std::string prompt;  // the object name a prompt would use, e.g. "striped fabric"
  Kind kind = Kind::Texture;
  bool gray = false;   // rendered in grayscale (replicated to RGB)
};
// All categories, industrial first. Throws a usage error for unknown names in find_category.
const std::vector<Category>& categories();
const Category& find_category(const std::string& name);

struct Options {
  std::string preset = "quickstart";  // "quickstart" | "full"
  uint64_t seed = 0;
  int size = 0;                       // 0 = the preset's size
  int threads = 1;                    // generation threads (output does not depend on it)
};

struct Preset {
  std::string name;
  int size = 128;          // S
  int n_good = 12;         // normal images per class
  int n_per_defect = 4;    // anomalous images per (class, defect type)
};
Preset resolve_preset(const Options& o);  // usage error naming the preset when unknown

// One entry of a dataset plan: which sample to make.
struct Item {
  int32_t class_id = 0;
  std::string defect;  // "good" or a defect type
  int32_t index = 0;   // index within the class (goods first, then each defect type)
};

struct DatasetPlan {
  std::string name;         // "synth-industrial-a", ...
  std::string role;         // "industrial (training source)", ...
  std::vector<std::string> classes;
  std::vector<std::vector<std::string>> defects;  // per class, the defect types used
  std::vector<Item> items;  // in file order: class by class, goods first
  int size = 0;
  uint64_t seed = 0;
  std::string preset;
};
std::vector<DatasetPlan> plan_benchmark(const Options& o);

// A generated sample and, for anomalous ones, the normal image the defect was applied to.
struct Generated {
  Sample sample;
  std::vector<uint8_t> normal_source;  // S*S*3; equals sample.image for normal samples
  std::vector<uint8_t> foreground;     // S*S: 1 on the object / organ (textures: everywhere)
  int attempts = 1;                    // defect attempts until the mask passed the area rule
};
Generated generate(const DatasetPlan& plan, int64_t item_index);
Sample generate_sample(const DatasetPlan& plan, int64_t item_index);

// Writes one file per plan to `<out_dir>/<name>.h5` (atomically, via DatasetWriter), with
// progress; returns the metas written (content hashes filled in).
std::vector<DatasetMeta> write_benchmark(const Options& o, const std::string& out_dir,
                                         bool show_progress = true);

// SHA-256 over the decoded arrays and labels of a sequence of samples (image, mask, label,
// class id, defect name, in order): the figure the determinism test pins.
std::string arrays_hash(const std::vector<Sample>& samples);

}  // namespace tc::data::synth
