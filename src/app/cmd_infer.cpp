// `tokenclip infer` (score image files of any size with a trained checkpoint: CSV + overlays)
// and `tokenclip calibrate` (image and pixel thresholds from normal images at a chosen
// false-alarm rate, stored next to the checkpoint for `infer --threshold auto`).
// docs/DEPLOY.md states the rules. Under MPI the batches are dealt to ranks round-robin and
// rank 0 writes the gathered results.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "app/command.h"
#include "app/setup.h"
#include "data/batch.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/image_paths.h"
#include "dist/dist.h"
#include "eval/render.h"
#include "util/check.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/progress.h"

namespace tc::app {
namespace detail_infer {

namespace fs = std::filesystem;

std::string calibration_path(const std::string& checkpoint) { return checkpoint + ".calibration.json"; }

// The threshold rule (docs/DEPLOY.md): with the n normal values sorted descending
// v(1) >= ... >= v(n) and k = floor(a * n), t = the next float above v(k+1). Then the
// fraction of normal values >= t is count(> v(k+1)) / n <= k / n <= a, and no smaller float
// keeps that guarantee (t' <= v(k+1) flags at least k+1 of them).
// `v` may be only the largest values of a larger set of `n` (at least its k+1 largest, e.g. each
// rank's top k+1 merged): the (k+1)-th largest is among them.
float false_alarm_threshold(std::vector<float>& v, double rate, size_t n) {
  const auto k = static_cast<size_t>(std::floor(rate * static_cast<double>(n) + 1e-9));
  TC_CHECK(k < n && k < v.size(), "false-alarm rate {} leaves no normal value unflagged", rate);
  auto nth = v.begin() + static_cast<long>(k);
  std::nth_element(v.begin(), nth, v.end(), std::greater<float>());
  return std::nextafter(*nth, std::numeric_limits<float>::infinity());
}

struct Calibration {
  double image_threshold = 0, pixel_threshold = 0;
  std::string path;
};

// Reads `<CKPT>.calibration.json` and checks it belongs to this checkpoint (file SHA-256).
// nullopt when missing (and !required); input errors name the file and the field.
std::optional<Calibration> read_calibration(const std::string& checkpoint, const std::string& ckpt_sha,
                                            bool required) {
  const std::string p = calibration_path(checkpoint);
  if (!file_exists(p)) {
    TC_CHECK_INPUT(!required,
                   "--threshold auto: no calibration '{}' next to the checkpoint; run `tokenclip calibrate "
                   "--checkpoint {} --normal NORMAL_IMAGES --false-alarm RATE` first, or give --threshold NUMBER",
                   p, checkpoint);
    return std::nullopt;
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(p));
  } catch (const nlohmann::json::exception& e) {
    TC_INPUT_ERROR("calibration '{}' is not valid JSON: {}", p, e.what());
  }
  auto field = [&](const char* name) -> const nlohmann::json& {
    if (!j.is_object() || !j.contains(name)) TC_INPUT_ERROR("calibration '{}' lacks the field '{}'", p, name);
    return j.at(name);
  };
  TC_CHECK_INPUT(field("format").is_string() && field("format").get<std::string>() == "tokenclip-calibration",
                 "calibration '{}': field 'format' is not \"tokenclip-calibration\"", p);
  const auto& sha = field("checkpoint_sha256");
  TC_CHECK_INPUT(sha.is_string(), "calibration '{}': field 'checkpoint_sha256' must be a string", p);
  if (sha.get<std::string>() != ckpt_sha) {
    TC_CHECK_INPUT(!required,
                   "--threshold auto: calibration '{}' belongs to another checkpoint (its checkpoint_sha256 {} "
                   "differs from {} of '{}'); calibrate this checkpoint again",
                   p, sha.get<std::string>(), ckpt_sha, checkpoint);
    tc::log::warn("calibration '{}' belongs to another checkpoint (sha256 differs); ignored", p);
    return std::nullopt;
  }
  Calibration c;
  c.path = p;
  for (auto [name, dst] : {std::pair{"image_threshold", &c.image_threshold}, std::pair{"pixel_threshold", &c.pixel_threshold}}) {
    const auto& v = field(name);
    TC_CHECK_INPUT(v.is_number(), "calibration '{}': field '{}' must be a number", p, name);
    *dst = v.get<double>();
  }
  return c;
}

// One decoded input image at its original size and the model's S x S version of it.
struct Loaded {
  std::string path;
  data::Image original;
  size_t index = 0;  // position in the input list (names the overlay, orders the CSV)
};

// Batches are dealt to ranks round-robin (batch g to rank g % world): the same batches as on
// one process, so every image gets the same numbers whatever the world size.
inline bool my_batch(size_t g, const dist::Communicator& c) { return static_cast<int>(g % size_t(c.world())) == c.rank(); }

// Floats of every rank, concatenated in rank order.
std::vector<float> gather_floats(dist::Communicator& c, const std::vector<float>& mine) {
  const auto all = c.allgather_strings(std::string(reinterpret_cast<const char*>(mine.data()), mine.size() * sizeof(float)));
  std::vector<float> out;
  for (const auto& a : all) {
    const size_t m = a.size() / sizeof(float), at = out.size();
    out.resize(at + m);
    std::memcpy(out.data() + at, a.data(), m * sizeof(float));
  }
  return out;
}

// uint8 [B,S,S,3] of the prepared images (Pillow-exact bicubic to S).
at::Tensor prepared_batch(const std::vector<const data::Image*>& imgs, int S) {
  auto t = torch::empty({static_cast<int64_t>(imgs.size()), S, S, 3}, torch::kUInt8);
  for (size_t i = 0; i < imgs.size(); ++i) {
    data::Image p = data::prepare_image(*imgs[i], S);
    std::memcpy(t[static_cast<int64_t>(i)].data_ptr<uint8_t>(), p.pixels.data(), p.pixels.size());
  }
  return t;
}

// The plain overlay at the original size: the image blended (alpha 0.5) with the jet-coloured
// map on the run's scale [vmin, vmax], and the boundary of the region at or above the pixel
// threshold drawn white. The colour bar and score are in the figure (figures/).
data::Image plain_overlay(const data::Image& im, const float* map, const uint8_t* region, float vmin, float vmax) {
  data::Image o = im;
  const int W = im.width, H = im.height;
  auto clamp01 = [](double v) { return std::min(1.0, std::max(0.0, v)); };
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const size_t i = static_cast<size_t>(y) * W + x;
      const double v = clamp01((map[i] - vmin) / std::max(1e-12f, vmax - vmin));
      const double rgb[3] = {clamp01(1.5 - std::fabs(4 * v - 3)), clamp01(1.5 - std::fabs(4 * v - 2)),
                             clamp01(1.5 - std::fabs(4 * v - 1))};
      bool edge = false;
      if (region && region[i]) {
        edge = (x > 0 && !region[i - 1]) || (x + 1 < W && !region[i + 1]) || (y > 0 && !region[i - W]) ||
               (y + 1 < H && !region[i + W]);
      }
      for (int c = 0; c < 3; ++c) {
        uint8_t& px = o.pixels[i * 3 + c];
        px = edge ? 255 : static_cast<uint8_t>(std::lround(0.5 * px + 0.5 * 255.0 * rgb[c]));
      }
    }
  return o;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

// ------------------------------------------------------------------------------ calibrate
int run_calibrate(Invocation& inv) {
  const auto& cfg = inv.cfg;
  Runtime rt = init_runtime(cfg);
  const std::string ckpt = cfg.get_string("checkpoint");
  const double rate = cfg.get_float("false-alarm");
  TC_CHECK_USAGE(rate > 0 && rate < 1, "--false-alarm {} must lie in (0, 1)", rate);
  const double sigma = cfg.get_float("eval.blur_sigma");
  const int64_t batch = cfg.get_int("batch") > 0 ? cfg.get_int("batch") : cfg.get_int("eval.batch");
  const auto sources = cfg.get_string_list("normal");
  TC_CHECK_USAGE(!sources.empty(), "calibrate needs --normal IMAGES_OR_DIRS_OR_H5 (repeatable)");

  const std::string ckpt_sha = sha256_file_hex(ckpt);
  Restored r = restore_detector(ckpt, cfg.get_string("weights"), cfg.get_string("bpe"), rt.device);
  const auto& cc = r.backbone.model->config;
  const int S = cc.image_size;

  // The normal images: files and directories (decoded + prepared), or datasets' label-0 images.
  struct DataPart { std::unique_ptr<data::DatasetReader> reader; std::vector<int64_t> idx; };
  std::vector<DataPart> parts;
  std::vector<std::string> files;
  nlohmann::json src_record = nlohmann::json::array();
  for (const auto& s : sources) {
    std::error_code ec;
    std::string ext = fs::path(s).extension().string();
    if (fs::is_regular_file(s, ec) && (ext == ".h5" || ext == ".hdf5")) {
      DataPart part;
      part.reader = std::make_unique<data::DatasetReader>(s);
      TC_CHECK_INPUT(part.reader->image_size() == S,
                     "--normal {}: the dataset holds {}x{} images but the checkpoint's model runs at S = {}", s,
                     part.reader->image_size(), part.reader->image_size(), S);
      for (int64_t i = 0; i < part.reader->size(); ++i)
        if (part.reader->labels()[static_cast<size_t>(i)] == 0) part.idx.push_back(i);
      TC_CHECK_INPUT(!part.idx.empty(), "--normal {}: the dataset holds no normal (label 0) image", s);
      src_record.push_back({{"dataset", s}, {"name", part.reader->meta().name},
                            {"content_hash", part.reader->meta().content_hash},
                            {"normal_images", part.idx.size()}});
      parts.push_back(std::move(part));
    } else {
      auto f = data::expand_image_paths({s}, "--normal");
      src_record.push_back({{"files", s}, {"images", f.size()}});
      files.insert(files.end(), f.begin(), f.end());
    }
  }
  int64_t n = static_cast<int64_t>(files.size());
  for (const auto& p : parts) n += static_cast<int64_t>(p.idx.size());
  TC_CHECK_USAGE(rate * static_cast<double>(n) >= 1.0 - 1e-9,
                 "--false-alarm {} cannot be resolved with {} normal image(s): the smallest resolvable rate is 1/n = {:.6g} "
                 "(give at least {} normal images for this rate)",
                 rate, n, 1.0 / static_cast<double>(n), static_cast<long long>(std::ceil(1.0 / rate - 1e-9)));

  // The work as batches (files first, then each dataset's normal images), dealt to ranks.
  struct Batch { int part = -1; size_t b0 = 0, b1 = 0; };  // part -1: files[b0, b1)
  std::vector<Batch> mine;
  size_t g = 0;
  int64_t my_count = 0;
  for (size_t b0 = 0; b0 < files.size(); b0 += static_cast<size_t>(batch), ++g)
    if (my_batch(g, *rt.comm)) mine.push_back({-1, b0, std::min(files.size(), b0 + static_cast<size_t>(batch))});
  for (size_t p = 0; p < parts.size(); ++p)
    for (size_t b0 = 0; b0 < parts[p].idx.size(); b0 += static_cast<size_t>(batch), ++g)
      if (my_batch(g, *rt.comm))
        mine.push_back({static_cast<int>(p), b0, std::min(parts[p].idx.size(), b0 + static_cast<size_t>(batch))});
  for (const auto& b : mine) my_count += static_cast<int64_t>(b.b1 - b.b0);

  torch::NoGradGuard no_grad;
  auto text = r.det->encode_text();
  std::vector<float> my_scores, pixels;
  my_scores.reserve(static_cast<size_t>(my_count));
  pixels.reserve(static_cast<size_t>(my_count) * S * S);
  Progress prog(rt.comm->world() > 1 ? "calibrate (rank 0's share)" : "calibrate", my_count, "img", rt.comm->rank() == 0);
  for (const auto& b : mine) {
    at::Tensor u8;
    if (b.part < 0) {
      std::vector<data::Image> imgs;
      for (size_t i = b.b0; i < b.b1; ++i) imgs.push_back(data::load_rgb(files[i]));  // a normal set must be intact
      std::vector<const data::Image*> ptrs;
      for (const auto& im : imgs) ptrs.push_back(&im);
      u8 = prepared_batch(ptrs, S);
    } else {
      const auto& p = parts[static_cast<size_t>(b.part)];
      std::vector<int64_t> idx(p.idx.begin() + static_cast<long>(b.b0), p.idx.begin() + static_cast<long>(b.b1));
      u8 = data::read_batch(*p.reader, idx, false).images;
    }
    auto res = score_images(r, text, data::normalize_clip(u8.to(rt.device)), sigma);
    const float* sp = res.scores.data_ptr<float>();
    my_scores.insert(my_scores.end(), sp, sp + res.count);
    const float* mp = res.maps.data_ptr<float>();
    pixels.insert(pixels.end(), mp, mp + res.maps.numel());
    prog.update(res.count);
  }
  prog.finish();

  // Image scores are few: gather them all. Pixels are n*S*S: each rank sends only its k+1
  // largest, which hold the global (k+1)-th largest.
  std::vector<float> scores = gather_floats(*rt.comm, my_scores);
  TC_CHECK_EQ(static_cast<int64_t>(scores.size()), n, "calibrate: scores gathered from the ranks");
  const size_t n_pix = static_cast<size_t>(n) * S * S;
  const size_t keep = std::min(pixels.size(), static_cast<size_t>(std::floor(rate * double(n_pix) + 1e-9)) + 1);
  if (keep > 0 && keep < pixels.size())
    std::nth_element(pixels.begin(), pixels.begin() + static_cast<long>(keep - 1), pixels.end(), std::greater<float>());
  pixels.resize(keep);
  std::vector<float> top_pixels = gather_floats(*rt.comm, pixels);

  std::vector<float> sorted_scores = scores;
  std::sort(sorted_scores.begin(), sorted_scores.end());
  const float t_img = false_alarm_threshold(scores, rate, scores.size());
  const float t_pix = false_alarm_threshold(top_pixels, rate, n_pix);
  int64_t flagged = 0;
  for (float s : sorted_scores) flagged += s >= t_img;
  if (rt.comm->rank() != 0) return 0;

  nlohmann::json j;
  j["format"] = "tokenclip-calibration";
  j["version"] = 1;
  j["checkpoint"] = ckpt;
  j["checkpoint_sha256"] = ckpt_sha;
  j["backbone_fingerprint"] = r.backbone.fingerprint;
  j["normal"] = src_record;
  j["n"] = n;
  j["pixels"] = static_cast<int64_t>(n) * S * S;
  j["image_size"] = S;
  j["blur_sigma"] = sigma;
  j["false_alarm"] = rate;
  j["rule"] = "t = next float above the (floor(a*n)+1)-th largest normal value; anomalous iff value >= t";
  j["image_threshold"] = t_img;
  j["pixel_threshold"] = t_pix;
  j["normal_flagged"] = flagged;
  j["normal_score_min"] = sorted_scores.front();
  j["normal_score_max"] = sorted_scores.back();
  j["date"] = utc_now_iso();
  const std::string out = calibration_path(ckpt);
  write_file_atomic(out, j.dump(2) + "\n");
  std::printf("calibrated %s on %lld normal image(s) at false-alarm %g: image threshold %.9g (%lld normal flagged), "
              "pixel threshold %.9g\nwrote %s\n",
              ckpt.c_str(), static_cast<long long>(n), rate, t_img, static_cast<long long>(flagged), t_pix, out.c_str());
  return 0;
}

// ------------------------------------------------------------------------------ infer
int run_infer(Invocation& inv) {
  const auto& cfg = inv.cfg;
  Runtime rt = init_runtime(cfg);
  const std::string ckpt = cfg.get_string("checkpoint");
  const std::string out_dir = cfg.get_string("out");
  const std::string thr_arg = cfg.text("threshold");  // "", "auto" or a number (checked with the flag)
  const double sigma = cfg.get_float("eval.blur_sigma");
  const int64_t batch = cfg.get_int("batch") > 0 ? cfg.get_int("batch") : cfg.get_int("eval.batch");
  const bool overlays = !cfg.get_bool("no-overlays");

  // Threshold: a number, auto (the calibration, required), or none given (the calibration if
  // one for this checkpoint exists, else no decisions).
  std::optional<double> t_img, t_pix;
  const std::string ckpt_sha = sha256_file_hex(ckpt);
  std::optional<Calibration> cal;
  if (thr_arg == "auto") {
    cal = read_calibration(ckpt, ckpt_sha, true);
  } else if (thr_arg.empty()) {
    cal = read_calibration(ckpt, ckpt_sha, false);
  } else {
    t_img = cfg.get_float("threshold");
    cal = read_calibration(ckpt, ckpt_sha, false);  // only for the pixel outline
  }
  if (cal) {
    if (!t_img) t_img = cal->image_threshold;
    t_pix = cal->pixel_threshold;
    tc::log::info("calibration {}: image threshold {:.9g}, pixel threshold {:.9g}{}", cal->path, cal->image_threshold,
                  cal->pixel_threshold, thr_arg.empty() || thr_arg == "auto" ? "" : " (outline only)");
  } else if (!t_img) {
    tc::log::info("no --threshold and no calibration for this checkpoint: decisions are left empty");
  }

  const auto paths = data::expand_image_paths(inv.args, "input");
  Restored r = restore_detector(ckpt, cfg.get_string("weights"), cfg.get_string("bpe"), rt.device);
  const auto& cc = r.backbone.model->config;
  const int S = cc.image_size, L = static_cast<int>(cc.layers.size());
  eval::RenderOptions ro;
  ro.scale = {0.f, static_cast<float>(L * (r.mopt.map_source == "dyn" ? 1.0 + r.mopt.beta : 1.0))};
  make_dirs(out_dir);
  if (overlays) {
    make_dirs(out_dir + "/overlays");
    make_dirs(out_dir + "/figures");
  }

  torch::NoGradGuard no_grad;
  auto text = r.det->encode_text();
  // Per image, in input order once gathered: its CSV row, or why it could not be read.
  std::vector<std::pair<size_t, std::string>> rows, failed;
  int64_t flagged = 0;
  double model_s = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const size_t nb = (paths.size() + static_cast<size_t>(batch) - 1) / static_cast<size_t>(batch);
  int64_t my_count = 0;
  for (size_t g = 0; g < nb; ++g)
    if (my_batch(g, *rt.comm))
      my_count += static_cast<int64_t>(std::min(paths.size(), (g + 1) * batch) - g * batch);
  Progress prog(rt.comm->world() > 1 ? "infer (rank 0's share)" : "infer", my_count, "img", rt.comm->rank() == 0);
  for (size_t g = 0; g < nb; ++g) {
    if (!my_batch(g, *rt.comm)) continue;
    const size_t b0 = g * static_cast<size_t>(batch), b1 = std::min(paths.size(), b0 + static_cast<size_t>(batch));
    std::vector<Loaded> ok;
    for (size_t i = b0; i < b1; ++i) {
      try {
        ok.push_back({paths[i], data::load_rgb(paths[i]), i});
      } catch (const std::exception& e) {  // tc::Error from the decoder; anything else alike
        failed.emplace_back(i, e.what());
        tc::log::warn("skipping '{}': {}", paths[i], e.what());
      }
    }
    if (!ok.empty()) {
      std::vector<const data::Image*> ptrs;
      for (const auto& l : ok) ptrs.push_back(&l.original);
      auto u8 = prepared_batch(ptrs, S);
      const auto m0 = std::chrono::steady_clock::now();
      auto res = score_images(r, text, data::normalize_clip(u8.to(rt.device)), sigma);
      model_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - m0).count();
      for (size_t k = 0; k < ok.size(); ++k) {
        const auto& im = ok[k].original;
        const float score = res.scores[static_cast<int64_t>(k)].item<float>();
        std::string decision;
        if (t_img) {
          decision = score >= *t_img ? "anomalous" : "normal";
          flagged += score >= *t_img;
        }
        std::string name;
        if (overlays) {
          // The S x S map back to the original size: bilinear, half-pixel centres (align_corners false).
          const std::vector<int64_t> size{im.height, im.width};
          auto m = at::upsample_bilinear2d(res.maps[static_cast<int64_t>(k)].unsqueeze(0).unsqueeze(0),
                                           at::IntArrayRef(size), false)
                       .squeeze(0).squeeze(0).contiguous();
          at::Tensor outline;
          if (t_pix) outline = m.ge(*t_pix).to(at::kByte).contiguous();
          name = eval::sanitize_filename(fmt::format("{:05d}_{}", ok[k].index, ok[k].path)) + ".png";
          eval::HeatmapFigure f;
          f.title = ok[k].path;
          f.image_rgb = im.pixels.data();
          f.img_h = im.height;
          f.img_w = im.width;
          f.map = m.data_ptr<float>();
          f.map_h = im.height;
          f.map_w = im.width;
          f.mask = t_pix ? outline.data_ptr<uint8_t>() : nullptr;
          f.score = score;
          f.threshold = t_img;
          if (eval::pictures_supported()) eval::write_heatmap_png(out_dir + "/figures/" + name, f, ro);
          data::save_png(out_dir + "/overlays/" + name,
                         plain_overlay(im, f.map, f.mask, ro.scale.vmin, ro.scale.vmax));
        }
        rows.emplace_back(ok[k].index, fmt::format("{},{},{},{:.9g},{},{}\n", csv_field(ok[k].path), im.width,
                                                   im.height, score, decision,
                                                   name.empty() ? "" : csv_field("overlays/" + name)));
      }
    }
    prog.update(static_cast<int64_t>(b1 - b0));
  }
  prog.finish();

  // Rows and failures of every rank, back in input order (records: index, length, bytes).
  auto pack = [](const std::vector<std::pair<size_t, std::string>>& v) {
    std::string o;
    for (const auto& [i, t] : v) o += fmt::format("{} {}\n", i, t.size()) + t;
    return o;
  };
  auto unpack = [](const std::vector<std::string>& all) {
    std::vector<std::pair<size_t, std::string>> v;
    for (const auto& a : all)
      for (size_t pos = 0; pos < a.size();) {
        const size_t nl = a.find('\n', pos);
        size_t i = 0, len = 0;
        TC_CHECK(nl != std::string::npos && std::sscanf(a.c_str() + pos, "%zu %zu", &i, &len) == 2,
                 "infer: malformed record from another rank");
        v.emplace_back(i, a.substr(nl + 1, len));
        pos = nl + 1 + len;
      }
    std::sort(v.begin(), v.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    return v;
  };
  rows = unpack(rt.comm->allgather_strings(pack(rows)));
  failed = unpack(rt.comm->allgather_strings(pack(failed)));
  rt.comm->allreduce_sum(&flagged, 1, dist::DType::I64);
  rt.comm->allreduce_max(&model_s, 1, dist::DType::F64);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto done = static_cast<int64_t>(rows.size());
  if (rt.comm->rank() == 0) {
    std::string csv = "path,width,height,score,decision,overlay\n";
    for (const auto& row : rows) csv += row.second;
    write_file_atomic(out_dir + "/scores.csv", csv);
    std::printf("scored %lld image(s) in %.2f s (%.1f img/s end to end, %.1f img/s model only%s, %d rank(s) x %d thread(s))",
                static_cast<long long>(done), wall, done / std::max(wall, 1e-9), done / std::max(model_s, 1e-9),
                rt.comm->world() > 1 ? " on the slowest rank" : "", rt.comm->world(), rt.threads);
    if (t_img) std::printf("; %lld anomalous at threshold %.9g", static_cast<long long>(flagged), *t_img);
    std::printf("\nwrote %s/scores.csv%s\n", out_dir.c_str(), overlays ? " and overlays/" : "");
    if (!failed.empty()) {
      std::fprintf(stderr, "%zu file(s) could not be read (the others were scored):\n", failed.size());
      for (const auto& [i, why] : failed) std::fprintf(stderr, "  %s: %s\n", paths[i].c_str(), why.c_str());
    }
  }
  rt.comm->barrier();  // scores.csv is complete before any rank reports success
  return failed.empty() ? 0 : 3;
}

}  // namespace detail_infer

TC_REGISTER_COMMAND(Command{
    "infer", "score image files of any size with a checkpoint: scores.csv, decisions, overlays",
    "Decodes each image (files, or directories searched recursively for png/jpg/jpeg/bmp/tif/tiff), resizes "
    "it to the model's S (Pillow bicubic), scores it, and writes OUT/scores.csv (path, width, height, "
    "score, decision, overlay) and OUT/overlays/NNNNN_<name>.png: the original image with the anomaly map "
    "resized back to its size (bilinear), colour scale [0, layers], outlined where the map reaches the "
    "calibrated pixel threshold. --threshold auto uses CKPT.calibration.json (see `calibrate`); a number "
    "uses that image threshold; without it, the calibration is used when present, else decisions stay "
    "empty. Unreadable files are listed at the end and make the exit code 3; the rest are still written.",
    {"eval", "runtime"},
    {flag_string("checkpoint", "", "checkpoint (tokenclip-checkpoint HDF5)", true),
     flag_string("out", "", "output directory", true),
     flag_float("threshold", "", "image threshold: a number, or 'auto' (CKPT.calibration.json)", -1e308, {"auto"}),
     flag_int("batch", "0", "images per forward pass (0 = eval.batch)", 0),
     flag_bool("no-overlays", "write scores.csv only"),
     flag_string("weights", "", "backbone weights (default: the path recorded in the checkpoint)"),
     flag_string("bpe", "", "CLIP vocabulary (needed with pretrained weights)")},
    "IMAGES_OR_DIRS", "image files or directories (recursive)", 1, -1, 32, detail_infer::run_infer});

TC_REGISTER_COMMAND(Command{
    "calibrate", "thresholds for a production line from normal images at a false-alarm rate",
    "Scores normal images (files, directories, or tokenclip datasets whose label-0 images are used) and "
    "sets the image threshold t to the next float above the (floor(a*n)+1)-th largest normal score, so "
    "that at most a fraction a of the normal images reach t (a >= 1/n required); the pixel threshold "
    "follows the same rule over all normal map pixels (S x S). Writes CKPT.calibration.json (with the "
    "checkpoint's SHA-256) for `infer --threshold auto`.",
    {"eval", "runtime"},
    {flag_string("checkpoint", "", "checkpoint (tokenclip-checkpoint HDF5)", true),
     flag_multi("normal", "normal image file, directory or tokenclip dataset (.h5); repeatable", true),
     flag_float("false-alarm", "0.005", "false-alarm rate a in (0, 1): fraction of normal images flagged at most", 0),
     flag_int("batch", "0", "images per forward pass (0 = eval.batch)", 0),
     flag_string("weights", "", "backbone weights (default: the path recorded in the checkpoint)"),
     flag_string("bpe", "", "CLIP vocabulary (needed with pretrained weights)")},
    "", "", 0, 0, 33, detail_infer::run_calibrate});

}  // namespace tc::app
