// The captioned synthetic corpus (`tokenclip synth --corpus captions`): image-caption pairs
// from the benchmark's generators, for contrastive pretraining of the demo CLIP
// (`tokenclip pretrain`, docs/PRETRAIN.md).
//
// All 15 categories, normal and defective with every defect type that applies, drawn from
// generator streams the benchmark never uses: the dataset name in every stream key is
// "synth-captions" (the benchmark's are synth-industrial-a/-b and synth-medical) and each
// category is rendered in several styles, one per corpus seed (seed, seed + 1, ...), whose
// class constants (palette, period, layout) differ from the evaluation sets' (seed 0 by
// default). Captions vary their wording and name the object, its colour (measured on the
// image), the defect and where it is. Like web text for a real CLIP, the corpus names the
// evaluation sets' categories and defect types; it never holds their images.
//
// File: a tokenclip-dataset (docs/FORMATS.md) with three more string columns of length N:
// `caption` (the image's caption), `caption_normal` (the object described as flawless) and
// `caption_defect` (the object with a defect: the image's own for defective images, one that
// applies to the category for normal ones), and the attribute `captions_version`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/synth.h"

namespace tc::data::synth {

inline constexpr const char* kCaptionCorpusName = "synth-captions";
inline constexpr const char* kCaptionsVersion = "captions-v1";

struct CorpusOptions {
  uint64_t seed = 1;            // first generator seed; style s uses seed + s
  int styles = 4;               // renderings (generator seeds) of every category
  int per_class = 200;          // images per category and style
  double normal_fraction = 0.4; // share of normal images; the rest cycles over the defect types
  int size = 128;               // S
  int threads = 1;              // generation threads (the output does not depend on it)
};

// What one caption says, and the three texts.
struct Captions {
  std::string caption, normal, defect;
};

struct CorpusItem {
  int style = 0;        // generator seed = options.seed + style
  int32_t class_id = 0;  // index into categories()
  std::string defect;   // "good" or a defect type
  int32_t index = 0;    // index within (style, class)
};

struct CorpusPlan {
  CorpusOptions options;
  std::vector<std::string> classes;  // all categories, in categories() order
  std::vector<CorpusItem> items;     // style by style, class by class, normal images first
};
// Usage errors for out-of-range options.
CorpusPlan plan_corpus(const CorpusOptions& o);

struct CaptionedSample {
  Sample sample;
  Captions captions;
};
CaptionedSample generate_captioned(const CorpusPlan& plan, int64_t item_index);

// The caption texts of one generated sample (exposed for tests): the colour is named from the
// image's foreground, the location from the mask's centre.
Captions make_captions(const Category& cat, const std::string& defect, const std::vector<uint8_t>& image,
                       const std::vector<uint8_t>& foreground, const std::vector<uint8_t>& mask, int S,
                       uint64_t seed, const std::string& key);

// Helpers of make_captions, for the tests.
std::string colour_name(double r, double g, double b);  // r, g, b in [0, 1]
// Where the mask's centre lies in a 3 x 3 grid: "top left", "top", ..., "centre", ...;
// "" for an empty mask.
std::string location_name(const std::vector<uint8_t>& mask, int S);

// Writes `path` atomically; returns the dataset meta (content hash filled in).
DatasetMeta write_corpus(const CorpusOptions& o, const std::string& path, bool show_progress = true);

// The caption columns of a corpus file; Input errors name the file and the missing or
// malformed column.
struct CaptionColumns {
  std::vector<std::string> caption, normal, defect;
  std::string version;
};
CaptionColumns read_caption_columns(const std::string& path);

}  // namespace tc::data::synth
