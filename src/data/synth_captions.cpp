// The captioned corpus: plan, captions, file. See synth_captions.h and docs/SYNTH.md.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")

#include "data/synth_captions.h"

#include <fmt/format.h>
#include <hdf5.h>

#include <algorithm>
#include <cmath>

#include "data/synth_detail.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/h5.h"
#include "util/progress.h"

namespace tc::data::synth {
namespace detail_captions {

// Words of one category: names of the object, and its kind of surface.
struct Lexicon {
  const char* category;
  std::vector<std::string> nouns;
};

const std::vector<Lexicon>& lexicon() {
  static const std::vector<Lexicon> l = {
      {"stripes", {"striped fabric", "fabric with stripes", "striped textile"}},
      {"mesh", {"metal mesh", "wire mesh", "metal grid"}},
      {"wood", {"wooden surface", "wood", "wood grain"}},
      {"leather", {"leather", "leather surface", "grained leather"}},
      {"carpet", {"carpet", "carpet texture", "rug"}},
      {"marble", {"marble tile", "marble", "marble surface"}},
      {"woven", {"woven fabric", "woven textile", "weave"}},
      {"disc", {"bottle cap", "metal cap", "cap"}},
      {"screw", {"screw", "metal screw", "bolt"}},
      {"pill", {"pill", "capsule", "tablet"}},
      {"hexnut", {"hexnut", "hex nut", "metal nut"}},
      {"pcb", {"printed circuit board", "circuit board", "pcb"}},
      {"brain", {"brain scan", "brain mri", "head scan"}},
      {"chest", {"chest scan", "chest ct", "lung scan"}},
      {"cells", {"cell tissue", "histology slide", "tissue sample"}},
  };
  return l;
}

const Lexicon& lexicon_of(const std::string& category) {
  for (const auto& l : lexicon())
    if (category == l.category) return l;
  TC_RUNTIME_ERROR("captions: no words for category '{}'", category);
}

// Adjectives and nouns of a defect type.
struct DefectWords {
  const char* defect;
  std::vector<std::string> adjectives, nouns;
};

const std::vector<DefectWords>& defect_words() {
  static const std::vector<DefectWords> d = {
      {"draem", {"blotched", "discoloured", "contaminated"}, {"blotch", "discoloured patch", "contamination"}},
      {"cutpaste", {"patched", "tampered"}, {"pasted patch", "foreign patch", "misplaced patch"}},
      {"scar", {"scarred", "scuffed"}, {"scar", "scuff mark"}},
      {"nsa", {"blemished", "irregular"}, {"irregular patch", "blemish"}},
      {"scratch", {"scratched", "scraped"}, {"scratch", "scrape"}},
      {"stain", {"stained", "spotted"}, {"stain", "spot"}},
      {"crack", {"cracked", "fractured"}, {"crack", "fracture"}},
      {"hole", {"holed", "punctured"}, {"hole", "puncture"}},
      {"fold", {"folded", "wrinkled"}, {"fold", "wrinkle"}},
      {"thread", {"contaminated", "soiled"}, {"loose thread", "stray fibre", "thread"}},
      {"missing_part", {"broken", "incomplete"}, {"missing part", "missing piece"}},
      {"misplaced", {"misaligned", "misassembled"}, {"misplaced part", "misaligned part"}},
      {"lesion", {"abnormal", "diseased"}, {"lesion", "abnormal region"}},
      {"nodule", {"abnormal", "diseased"}, {"nodule", "small nodule"}},
      {"cyst", {"abnormal", "diseased"}, {"cyst", "dark cyst"}},
  };
  return d;
}

const DefectWords& words_of(const std::string& defect) {
  for (const auto& w : defect_words())
    if (defect == w.defect) return w;
  TC_RUNTIME_ERROR("captions: no words for defect type '{}'", defect);
}

const std::vector<std::string>& generic_defective() {
  static const std::vector<std::string> v = {"damaged", "defective", "flawed", "faulty", "anomalous"};
  return v;
}
const std::vector<std::string>& generic_normal() {
  static const std::vector<std::string> v = {"flawless", "perfect", "intact", "normal", "good", "clean",
                                             "unblemished"};
  return v;
}

const std::string& pick(Rng& r, const std::vector<std::string>& v) { return v[r.below(v.size())]; }

std::string article(const std::string& word) {
  return (!word.empty() && std::string("aeiou").find(word[0]) != std::string::npos) ? "an" : "a";
}
std::string with_article(const std::string& phrase) { return article(phrase) + " " + phrase; }

// The training-style defect types (the family a category of any split can take), from which a
// normal image's competing defect text is drawn.
std::string defect_for_normal(const Category& cat, Rng& r) {
  std::vector<std::string> apply;
  for (const auto& d : detail::all_defects())
    if (detail::defect_applies(d, cat)) apply.push_back(d);
  return apply[r.below(apply.size())];
}

// A phrase naming a defect on an object: "a scratch on the wooden surface" and the like.
std::string defect_phrase(Rng& r, const std::string& defect, const std::string& noun) {
  const DefectWords& w = words_of(defect);
  switch (r.below(3)) {
    case 0: return fmt::format("a photo of {} {}", with_article(pick(r, w.adjectives)), noun);
    case 1: return fmt::format("{} on the {}", with_article(pick(r, w.nouns)), noun);
    default: return fmt::format("a photo of {} {}", with_article(pick(r, generic_defective())), noun);
  }
}

std::string normal_phrase(Rng& r, const std::string& noun) {
  switch (r.below(3)) {
    case 0: return fmt::format("a photo of {} {}", with_article(pick(r, generic_normal())), noun);
    case 1: return fmt::format("a photo of {} without defects", with_article(noun));
    default: return fmt::format("{} {}", with_article(pick(r, generic_normal())), noun);
  }
}

}  // namespace detail_captions

namespace dc = detail_captions;

std::string colour_name(double r, double g, double b) {
  double h, s, v;
  detail::rgb_to_hsv(r, g, b, h, s, v);
  if (s < 0.18 || v < 0.12) {
    if (v < 0.2) return "black";
    if (v < 0.45) return "dark gray";
    if (v < 0.75) return "gray";
    return "white";
  }
  const double deg = h * 360.0;
  std::string hue;
  if (deg < 15 || deg >= 345) hue = "red";
  else if (deg < 45) hue = v < 0.65 ? "brown" : "orange";
  else if (deg < 70) hue = v < 0.55 ? "brown" : (s < 0.35 ? "beige" : "yellow");
  else if (deg < 165) hue = "green";
  else if (deg < 200) hue = "teal";
  else if (deg < 260) hue = "blue";
  else if (deg < 300) hue = "purple";
  else hue = "pink";
  if (hue != "brown" && hue != "beige" && v < 0.4) return "dark " + hue;
  return hue;
}

std::string location_name(const std::vector<uint8_t>& mask, int S) {
  double sx = 0, sy = 0, n = 0;
  for (int y = 0; y < S; ++y)
    for (int x = 0; x < S; ++x)
      if (mask[size_t(y) * S + x]) {
        sx += x + 0.5;
        sy += y + 0.5;
        n += 1;
      }
  if (n == 0) return "";
  const int col = std::min(2, int(3.0 * (sx / n) / S)), row = std::min(2, int(3.0 * (sy / n) / S));
  static const char* names[3][3] = {{"top left", "top", "top right"},
                                    {"left", "centre", "right"},
                                    {"bottom left", "bottom", "bottom right"}};
  return names[row][col];
}

Captions make_captions(const Category& cat, const std::string& defect, const std::vector<uint8_t>& image,
                       const std::vector<uint8_t>& fg, const std::vector<uint8_t>& mask, int S,
                       uint64_t seed, const std::string& key) {
  using namespace dc;
  Rng r = detail::make_rng(seed, key + "|captions");
  const size_t N = size_t(S) * S;
  // Colour: mean of the foreground outside the defect.
  double c[3] = {0, 0, 0}, n = 0;
  for (size_t i = 0; i < N; ++i) {
    if ((!fg.empty() && !fg[i]) || (!mask.empty() && mask[i])) continue;
    for (int k = 0; k < 3; ++k) c[k] += image[i * 3 + size_t(k)];
    n += 1;
  }
  const std::string colour = n > 0 ? colour_name(c[0] / n / 255, c[1] / n / 255, c[2] / n / 255) : "gray";
  const std::string noun = pick(r, lexicon_of(cat.name).nouns);
  const std::string obj = r.bernoulli(0.2) ? std::string("object") : noun;  // object-agnostic wording

  Captions out;
  if (defect == "good") {
    switch (r.below(7)) {
      case 0: out.caption = fmt::format("a photo of {} {}", with_article(pick(r, generic_normal())), noun); break;
      case 1: out.caption = fmt::format("a photo of {} {}", with_article(colour), noun); break;
      case 2: out.caption = fmt::format("{} {} {}", with_article(pick(r, generic_normal())), colour, noun); break;
      case 3: out.caption = fmt::format("a close-up photo of {} without defects", with_article(noun)); break;
      case 4: out.caption = fmt::format("a photo of {} object", with_article(pick(r, generic_normal()))); break;
      case 5: out.caption = fmt::format("{}, {}, no defects", noun, pick(r, generic_normal())); break;
      default: out.caption = fmt::format("{} {} in perfect condition", with_article(colour), noun); break;
    }
    out.normal = normal_phrase(r, obj);
    out.defect = defect_phrase(r, defect_for_normal(cat, r), obj);
    return out;
  }
  const DefectWords& w = words_of(defect);
  const std::string loc = location_name(mask, S);
  size_t area = 0;
  for (uint8_t m : mask) area += m;
  const double frac = double(area) / double(N);
  const std::string size = frac < 0.01 ? "small " : (frac > 0.05 ? "large " : "");
  const std::string dnoun = size + pick(r, w.nouns);
  const std::string adj = pick(r, w.adjectives), generic = pick(r, generic_defective());
  const std::string where = loc.empty() ? "" : (loc == "centre" ? "in the centre" : "at the " + loc);
  switch (r.below(8)) {
    case 0: out.caption = fmt::format("a photo of {} {}", with_article(adj), noun); break;
    case 1: out.caption = fmt::format("{} {}, {}", with_article(adj), noun, loc); break;
    case 2: out.caption = fmt::format("a photo of {} {} with {} {}", with_article(colour), noun, with_article(dnoun), where); break;
    case 3: out.caption = fmt::format("{} {}: {} {}", with_article(generic), noun, dnoun, where); break;
    case 4: out.caption = fmt::format("a close-up photo of {} on {}", with_article(dnoun), with_article(noun)); break;
    case 5: out.caption = fmt::format("{} object with {}", with_article(generic), with_article(dnoun)); break;
    case 6: out.caption = fmt::format("{} on {} {}, {}", dnoun, colour, noun, loc); break;
    default: out.caption = fmt::format("a photo of {} {}", with_article(generic), noun); break;
  }
  out.normal = normal_phrase(r, obj);
  out.defect = defect_phrase(r, defect, obj);
  return out;
}

CorpusPlan plan_corpus(const CorpusOptions& o) {
  TC_CHECK_USAGE(o.size >= 32 && o.size <= 1024, "synth captions: --size {} out of range (expected 32..1024)", o.size);
  TC_CHECK_USAGE(o.styles >= 1 && o.styles <= 64, "synth captions: --styles {} out of range (expected 1..64)", o.styles);
  TC_CHECK_USAGE(o.per_class >= 2, "synth captions: --per-class {} (expected >= 2)", o.per_class);
  TC_CHECK_USAGE(o.normal_fraction > 0 && o.normal_fraction < 1,
                 "synth captions: normal fraction {} (expected in (0, 1))", o.normal_fraction);
  CorpusPlan p;
  p.options = o;
  for (const auto& c : categories()) p.classes.push_back(c.name);
  for (int s = 0; s < o.styles; ++s) {
    for (size_t ci = 0; ci < p.classes.size(); ++ci) {
      const Category& cat = categories()[ci];
      std::vector<std::string> defs;
      for (const auto& d : detail::all_defects())
        if (detail::defect_applies(d, cat)) defs.push_back(d);
      const int n_good = std::max(1, int(std::lround(o.per_class * o.normal_fraction)));
      int32_t idx = 0;
      for (int i = 0; i < o.per_class; ++i) {
        std::string d = i < n_good ? "good" : defs[size_t(i - n_good) % defs.size()];
        p.items.push_back({s, int32_t(ci), d, idx++});
      }
    }
  }
  return p;
}

CaptionedSample generate_captioned(const CorpusPlan& plan, int64_t i) {
  TC_CHECK(i >= 0 && i < int64_t(plan.items.size()), "corpus item {} of {}", i, plan.items.size());
  const CorpusItem& it = plan.items[size_t(i)];
  // One benchmark plan per (style, item): the generator's streams are keyed by the corpus name.
  DatasetPlan dp;
  dp.name = kCaptionCorpusName;
  dp.classes = plan.classes;
  dp.size = plan.options.size;
  dp.seed = plan.options.seed + uint64_t(it.style);
  dp.preset = "captions";
  dp.items = {{it.class_id, it.defect, it.index}};
  Generated g = generate(dp, 0);
  CaptionedSample out;
  out.sample = std::move(g.sample);
  out.sample.source_path = fmt::format("style{}/{}", it.style, out.sample.source_path);
  const Category& cat = categories()[size_t(it.class_id)];
  std::string key = fmt::format("{}|{}|{}", dp.name, cat.name, it.index);
  out.captions = make_captions(cat, it.defect, out.sample.image, g.foreground, out.sample.mask, dp.size,
                               dp.seed, key);
  return out;
}

DatasetMeta write_corpus(const CorpusOptions& o, const std::string& path, bool show_progress) {
  CorpusPlan plan = plan_corpus(o);
  DatasetMeta m;
  m.name = kCaptionCorpusName;
  m.domain = "synthetic";
  m.image_size = o.size;
  m.class_names = plan.classes;
  m.layout = "synth";
  m.source = fmt::format("tokenclip synth --corpus captions: image-caption pairs for pretraining; seeds {}..{}, "
                         "{} per class and style, normal fraction {}, size {}, {}",
                         o.seed, o.seed + uint64_t(o.styles) - 1, o.per_class, o.normal_fraction, o.size,
                         kCaptionsVersion);
  m.mask_rule = "exact (generated)";
  const int64_t n = int64_t(plan.items.size());
  std::vector<std::string> cap, nor, def;
  cap.reserve(size_t(n));
  AtomicPath ap(path);
  {
    DatasetWriter w(ap.tmp(), m);
    Progress prog("synth captions", n, "img", show_progress);
    detail::generate_in_order(
        n, o.threads, [&](int64_t i) { return generate_captioned(plan, i); },
        [&](const CaptionedSample& cs) {
          w.append(cs.sample);
          cap.push_back(cs.captions.caption);
          nor.push_back(cs.captions.normal);
          def.push_back(cs.captions.defect);
          prog.update(1, "synth-captions");
        });
    m = w.finish();
    prog.finish();
  }
  // The caption columns go into the finished dataset file before it takes its final name.
  h5::Id f(H5Fopen(ap.tmp().c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
  if (!f.valid()) TC_RUNTIME_ERROR("{}: cannot reopen the corpus to add its captions", ap.tmp());
  h5::write_string_column(f.get(), "caption", cap, path);
  h5::write_string_column(f.get(), "caption_normal", nor, path);
  h5::write_string_column(f.get(), "caption_defect", def, path);
  h5::put_attr_str(f.get(), "captions_version", kCaptionsVersion);
  if (f.close_checked() < 0) TC_RUNTIME_ERROR("{}: closing the corpus failed", ap.tmp());
  ap.commit();
  return m;
}

CaptionColumns read_caption_columns(const std::string& path) {
  h5::Id f = h5::open_read(path, "caption corpus", "a tokenclip-dataset with captions (tokenclip synth --corpus captions)");
  CaptionColumns c;
  TC_CHECK_INPUT(h5::has_attr(f.get(), "captions_version"),
                 "{}: attribute 'captions_version' is missing: not a caption corpus (make one with `tokenclip synth "
                 "--corpus captions`)", path);
  c.version = h5::attr_str(f.get(), "captions_version");
  const int64_t N = h5::attr_i64(f.get(), "size");
  auto column = [&](const char* name) {
    h5::Quiet quiet;
    TC_CHECK_INPUT(H5Lexists(f.get(), name, H5P_DEFAULT) > 0, "{}: dataset '{}' is missing (expected {} captions)",
                   path, name, N);
    h5::Id d(H5Dopen2(f.get(), name, H5P_DEFAULT), H5Dclose);
    h5::Id space(H5Dget_space(d.get()), H5Sclose);
    h5::Id type(H5Dget_type(d.get()), H5Tclose);
    hsize_t dims[2] = {0, 0};
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank == 1) H5Sget_simple_extent_dims(space.get(), dims, nullptr);
    TC_CHECK_INPUT(rank == 1 && int64_t(dims[0]) == N && H5Tget_class(type.get()) == H5T_STRING,
                   "{}: dataset '{}' must be {} variable-length strings", path, name, N);
    return h5::read_string_column(d.get(), size_t(N), path, name);
  };
  c.caption = column("caption");
  c.normal = column("caption_normal");
  c.defect = column("caption_defect");
  for (int64_t i = 0; i < N; ++i)
    TC_CHECK_INPUT(!c.caption[size_t(i)].empty(), "{}: caption {} is empty", path, i);
  return c;
}

}  // namespace tc::data::synth

#pragma GCC pop_options
