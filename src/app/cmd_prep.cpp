// `tokenclip prep LAYOUT --root DIR --out FILE.h5`: converts a public dataset folder into the
// project's dataset file: scan (data/layouts.h), decode, resize to S x S with Pillow's
// algorithm, binarise/resize masks, write through DatasetWriter (atomic: an interrupted or
// failed run leaves no output).
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <thread>

#include "app/command.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/layouts.h"
#include "util/check.h"
#include "util/log.h"
#include "util/progress.h"

namespace tc::app {
namespace {

namespace fs = std::filesystem;

// One source item after decoding, or why it could not be.
struct PrepItem {
  data::Sample sample;
  std::exception_ptr error;
  std::string error_text;  // for --on-bad-image skip
  bool mask_vanished = false;  // anomalous with a mask that is empty at S x S
  bool fatal = false;          // refused even with --on-bad-image skip
};

std::string prep_resolve(const std::string& root, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute() || fs::exists(p)) return p;
  return (fs::path(root) / p).string();
}

// Decode + resize one item. Throws tc::Error (Input) naming the file on bad input.
void prep_one(const data::SourceItem& it, const std::string& root, int S, int threshold,
              int32_t class_id, PrepItem& out) {
  const std::string img_path = prep_resolve(root, it.image_path);
  data::Image rgb = data::load_rgb(img_path);
  data::Sample& s = out.sample;
  s.image = data::prepare_image(rgb, S).pixels;
  s.label = static_cast<uint8_t>(it.label ? 1 : 0);
  s.class_id = class_id;
  s.has_mask = static_cast<uint8_t>(it.has_mask ? 1 : 0);
  s.defect = it.defect;
  s.source_path = it.rel_path.empty() ? it.image_path : it.rel_path;
  s.mask.assign(static_cast<size_t>(S) * S, 0);
  // Normal images have no anomalous pixel whatever a stray mask file says.
  if (it.has_mask && it.label && !it.mask_path.empty()) {
    const std::string mask_path = prep_resolve(root, it.mask_path);
    data::Image m = data::load_gray(mask_path);
    // A mask that does not fit its image is a broken dataset, not a bad file: always refused.
    out.fatal = m.width != rgb.width || m.height != rgb.height;
    TC_CHECK_INPUT(m.width == rgb.width && m.height == rgb.height,
                   "mask '{}' is {}x{} but its image '{}' is {}x{} (expected the same size)",
                   mask_path, m.width, m.height, img_path, rgb.width, rgb.height);
    s.mask = data::prepare_mask(m, S, threshold);
    out.mask_vanished = std::none_of(s.mask.begin(), s.mask.end(), [](uint8_t v) { return v; });
  }
}

int run_prep(Invocation& inv) {
  const auto& cfg = inv.cfg;
  const std::string layout = inv.args.at(0);
  const data::LayoutInfo& info = data::layout_info(layout);  // Usage error with suggestion
  const std::string root = cfg.get_string("root"), out = cfg.get_string("out");
  const int S = static_cast<int>(cfg.get_int("size"));
  const bool skip_bad = cfg.get_string("on-bad-image") == "skip";
  // The name is what the protocol guard compares. A public layout names its dataset; user data
  // (`folder`) is named after its root folder, so that two of them do not collide as "folder".
  std::string name = cfg.get_string("name");
  if (name.empty() && info.domain == "user") {
    fs::path p = fs::absolute(root).lexically_normal();
    if (!p.has_filename()) p = p.parent_path();  // "line3/" -> "line3"
    name = p.filename().string();
  }
  if (name.empty()) name = layout;
  int threads = static_cast<int>(cfg.get_int("threads"));
  if (threads <= 0) threads = std::max(1u, std::thread::hardware_concurrency());
  TC_CHECK_USAGE(fs::path(out).has_filename(), "--out '{}' must name a file", out);

  data::ScanOptions opt;
  opt.split = cfg.get_string("split");
  opt.normal_dir = cfg.get_string("normal-dir");
  opt.anomalous_dir = cfg.get_string("anomalous-dir");
  opt.mask_dir = cfg.get_string("mask-dir");
  opt.mask_suffix = cfg.get_string("mask-suffix");
  opt.visa_csv = cfg.get_string("visa-csv");

  auto t0 = std::chrono::steady_clock::now();
  data::ScanResult scan = data::scan_layout(layout, root, opt);
  TC_CHECK_INPUT(!scan.items.empty(), "layout '{}' found no images under '{}' (split {})",
                 layout, root, opt.split);
  for (const auto& w : scan.warnings) log::warn("scan: {}", w);

  // Class ids in the scan's (sorted) order of first appearance.
  data::DatasetMeta meta;
  std::map<std::string, int32_t> class_ids;
  for (const auto& it : scan.items)
    if (!class_ids.count(it.class_name)) {
      class_ids[it.class_name] = static_cast<int32_t>(meta.class_names.size());
      meta.class_names.push_back(it.class_name);
    }
  meta.name = name;
  meta.domain = info.domain;
  meta.image_size = S;
  meta.layout = layout;
  meta.source = fmt::format("{} (split {})", fs::absolute(root).lexically_normal().string(),
                            opt.split);
  meta.mask_rule = info.level == "image" ? "none" : fmt::format("> {}", info.mask_threshold);

  log::info("prep {}: {} images in {} classes from '{}' -> '{}' at {}x{} ({} threads)", layout,
            scan.items.size(), meta.class_names.size(), root, out, S, S, threads);

  data::DatasetWriter writer(out, meta);
  const size_t n = scan.items.size();
  Progress progress("prep", static_cast<int64_t>(n), "img");
  std::vector<std::string> skipped;
  int64_t vanished = 0;
  // Per class: normal, anomalous, anomalous with a mask.
  std::vector<std::array<int64_t, 3>> per_class(meta.class_names.size(), {0, 0, 0});

  // Decode and resize a block of items in parallel, then append them in order.
  const size_t block = static_cast<size_t>(threads) * 4;
  std::vector<PrepItem> items;
  for (size_t b0 = 0; b0 < n; b0 += block) {
    const size_t b1 = std::min(n, b0 + block);
    items.assign(b1 - b0, PrepItem{});
    std::atomic<size_t> next{b0};
    auto work = [&] {
      for (size_t i = next++; i < b1; i = next++) {
        const auto& it = scan.items[i];
        PrepItem& p = items[i - b0];
        try {
          prep_one(it, root, S, info.mask_threshold, class_ids.at(it.class_name), p);
        } catch (const Error& e) {
          p.error = std::current_exception();
          p.error_text = e.message();
        } catch (const std::exception& e) {
          p.error = std::current_exception();
          p.error_text = e.what();
        }
      }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads && static_cast<size_t>(t) < b1 - b0; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();

    for (size_t i = b0; i < b1; ++i) {
      PrepItem& p = items[i - b0];
      if (p.error) {
        if (!skip_bad || p.fatal) std::rethrow_exception(p.error);
        skipped.push_back(p.error_text);
        log::warn("skipped: {}", p.error_text);
      } else {
        writer.append(p.sample);
        auto& c = per_class[static_cast<size_t>(p.sample.class_id)];
        ++c[p.sample.label ? 1 : 0];
        if (p.sample.label && p.sample.has_mask) ++c[2];
        vanished += p.mask_vanished;
      }
      progress.update(1);
    }
  }
  TC_CHECK_INPUT(writer.size() > 0, "every image under '{}' was unreadable; nothing written",
                 root);
  data::DatasetMeta done = writer.finish();
  progress.finish();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Summary (stdout).
  std::printf("wrote %s: dataset '%s' (%s, layout %s, split %s), %lld images at %dx%d\n",
              out.c_str(), done.name.c_str(), done.domain.c_str(), layout.c_str(),
              opt.split.c_str(), static_cast<long long>(done.size), S, S);
  std::printf("%-24s %8s %10s %12s\n", "class", "normal", "anomalous", "with mask");
  int64_t tn = 0, ta = 0, tm = 0;
  for (size_t c = 0; c < per_class.size(); ++c) {
    std::printf("%-24s %8lld %10lld %12lld\n", done.class_names[c].c_str(),
                static_cast<long long>(per_class[c][0]), static_cast<long long>(per_class[c][1]),
                static_cast<long long>(per_class[c][2]));
    tn += per_class[c][0];
    ta += per_class[c][1];
    tm += per_class[c][2];
  }
  std::printf("%-24s %8lld %10lld %12lld\n", "total", static_cast<long long>(tn),
              static_cast<long long>(ta), static_cast<long long>(tm));
  std::printf("mask rule: %s; content hash: %s\n", done.mask_rule.c_str(),
              done.content_hash.c_str());
  std::printf("time: %.1f s (%.1f img/s)\n", secs, secs > 0 ? static_cast<double>(n) / secs : 0.0);
  for (size_t c = 0; c < per_class.size(); ++c)
    if (per_class[c][0] + per_class[c][1] == 0)
      std::printf("warning: class '%s' has no images left\n", done.class_names[c].c_str());
  if (vanished)
    std::printf("warning: %lld anomalous image(s) have a mask that is empty at %dx%d\n",
                static_cast<long long>(vanished), S, S);
  if (!scan.warnings.empty()) {
    std::printf("%zu scan warning(s):\n", scan.warnings.size());
    for (const auto& w : scan.warnings) std::printf("  %s\n", w.c_str());
  }
  if (!skipped.empty()) {
    std::printf("%zu image(s) skipped (--on-bad-image skip):\n", skipped.size());
    for (const auto& s : skipped) std::printf("  %s\n", s.c_str());
  }
  return 0;
}

std::string prep_description() {
  std::string s =
      "Scans ROOT in the given layout, decodes every image (grayscale replicated, alpha dropped, "
      "16-bit scaled by 1/257), resizes it to SIZE x SIZE with Pillow's bicubic algorithm, "
      "binarises masks with the layout's rule and resizes them with Pillow's bilinear algorithm "
      "(then > 0.5), and writes one HDF5 file (docs/FORMATS.md). The output appears only when "
      "complete. The dataset name (which the protocol guard compares) defaults to the layout name, "
      "and for `folder` to the name of the ROOT folder; --name sets it. "
      "Layouts:";
  for (const auto& l : data::layouts()) s += " " + l.name;
  return s + ".";
}

TC_REGISTER_COMMAND(Command{
    "prep", "convert a public dataset folder into a tokenclip dataset file (HDF5)",
    prep_description(),
    {},
    {flag_string("root", "", "the dataset folder as downloaded", true),
     flag_string("out", "", "output dataset file (.h5)", true),
     flag_int("size", "518", "image side S after resizing", 1),
     flag_choice("split", "test", {"test", "train", "all"}, "which split to convert"),
     flag_string("name", "", "dataset name; empty: the layout name (`folder`: the ROOT folder's name)"),
     flag_choice("on-bad-image", "fail", {"fail", "skip"},
                 "unreadable image or mask: stop with an error, or skip it and list it"),
     flag_int("threads", "0", "decoding threads (0: all cores)", 0),
     flag_string("normal-dir", "good", "`folder` layout: sub-folder of normal images"),
     flag_string("anomalous-dir", "anomalous", "`folder` layout: sub-folder of anomalous images"),
     flag_string("mask-dir", "masks", "`folder` layout: sub-folder of masks"),
     flag_string("mask-suffix", "_mask", "`folder` layout: mask file = <image stem><suffix>.*"),
     flag_string("visa-csv", "", "`visa` layout: the split file; empty: ROOT/split_csv/1cls.csv")},
    "LAYOUT", "dataset layout (listed above)", 1, 1, 10, run_prep});

}  // namespace
}  // namespace tc::app
