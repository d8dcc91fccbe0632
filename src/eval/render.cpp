// Heatmap and assignment-map pictures with OpenCV imgproc/imgcodecs (no highgui). A build
// without OpenCV (TOKENCLIP_OPENCV=OFF) keeps everything else here and refuses to draw.
#include "eval/render.h"

#include <algorithm>
#include <cmath>
#if TOKENCLIP_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

#include "util/check.h"
#include "util/fs.h"
#include "util/hash.h"

namespace tc::eval {

bool pictures_supported() { return TOKENCLIP_HAVE_OPENCV != 0; }

#if TOKENCLIP_HAVE_OPENCV
namespace detail_render {

const cv::Scalar kBackground(40, 40, 40);
const cv::Scalar kText(235, 235, 235);
// Ground-truth contour: white over a black halo, visible on photos and on every jet colour
// (a plain green line vanishes in jet's green band).
const cv::Scalar kContour(255, 255, 255);
const cv::Scalar kContourHalo(0, 0, 0);
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr int kGap = 8;

// Hershey fonts draw ASCII only.
std::string ascii(std::string_view s) {
  std::string o;
  for (unsigned char c : s) o += (c >= 32 && c < 127) ? char(c) : '?';
  return o;
}

// Draws text, cutting it from the front ("...tail") when wider than max_w.
void text(cv::Mat& img, std::string s, cv::Point org, double scale, int max_w,
          const cv::Scalar& color = kText) {
  s = ascii(s);
  int base = 0;
  while (s.size() > 4 && cv::getTextSize(s, kFont, scale, 1, &base).width > max_w) s = "..." + s.substr(4);
  cv::putText(img, s, org, kFont, scale, color, 1, cv::LINE_AA);
}

cv::Mat input_panel(const uint8_t* rgb, int h, int w, int panel) {
  if (!rgb || h <= 0 || w <= 0) return cv::Mat(panel, panel, CV_8UC3, cv::Scalar(90, 90, 90));
  cv::Mat src(h, w, CV_8UC3, const_cast<uint8_t*>(rgb)), bgr, out;
  cv::cvtColor(src, bgr, cv::COLOR_RGB2BGR);
  const bool shrink = h > panel || w > panel;
  cv::resize(bgr, out, cv::Size(panel, panel), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

// Map values -> 0..255 under the run-wide scale -> jet colours.
cv::Mat colorize(const cv::Mat& values, const HeatmapScale& s) {
  cv::Mat u8(values.rows, values.cols, CV_8UC1);
  const double span = double(s.vmax) - double(s.vmin);
  for (int y = 0; y < values.rows; ++y)
    for (int x = 0; x < values.cols; ++x) {
      double t = (double(values.at<float>(y, x)) - s.vmin) / span;
      t = std::clamp(t, 0.0, 1.0);
      u8.at<uint8_t>(y, x) = static_cast<uint8_t>(std::lround(t * 255.0));
    }
  cv::Mat color;
  cv::applyColorMap(u8, color, cv::COLORMAP_JET);
  return color;
}

std::string format_value(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

std::string encode_png(const cv::Mat& img) {
  std::vector<uint8_t> buf;
  TC_CHECK(cv::imencode(".png", img, buf), "PNG encoding of a {}x{} picture failed", img.cols, img.rows);
  return std::string(buf.begin(), buf.end());
}

}  // namespace detail_render
#endif

HeatmapScale heatmap_scale_from(const std::vector<const float*>& maps, size_t pixels_per_map) {
  float lo = INFINITY, hi = -INFINITY;
  for (const float* m : maps)
    for (size_t i = 0; i < pixels_per_map; ++i)
      if (std::isfinite(m[i])) {
        lo = std::min(lo, m[i]);
        hi = std::max(hi, m[i]);
      }
  if (!std::isfinite(lo)) return {};
  if (!(hi > lo)) hi = lo + 1e-6f;
  return {lo, hi};
}

void subspace_color(int q, uint8_t rgb[3]) {
  // Tableau 10: distinct under common colour-vision deficiencies and on photos.
  static const uint8_t kPalette[10][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
                                          {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127},
                                          {188, 189, 34}, {23, 190, 207}};
  const int k = ((q % 10) + 10) % 10;
  for (int c = 0; c < 3; ++c) rgb[c] = kPalette[k][c];
}

#if TOKENCLIP_HAVE_OPENCV
std::string render_heatmap_png(const HeatmapFigure& f, const RenderOptions& o) {
  using namespace detail_render;
  TC_CHECK(f.map && f.map_h > 0 && f.map_w > 0, "heatmap figure '{}' without an anomaly map", f.title);
  TC_CHECK(o.scale.vmax > o.scale.vmin, "heatmap scale [{}, {}] is empty", o.scale.vmin, o.scale.vmax);
  const int P = std::max(64, o.panel);
  const int header = 44, caption = 18, bar_w = 18, tick_w = 64;
  const int W = kGap + P + kGap + P + kGap + bar_w + tick_w;
  const int H = header + caption + P + kGap;
  cv::Mat canvas(H, W, CV_8UC3, kBackground);

  // Panels.
  cv::Mat img = input_panel(f.image_rgb, f.img_h, f.img_w, P);
  cv::Mat map(f.map_h, f.map_w, CV_32FC1, const_cast<float*>(f.map)), map_p;
  cv::resize(map, map_p, cv::Size(P, P), 0, 0, cv::INTER_LINEAR);
  cv::Mat heat = colorize(map_p, o.scale), overlay;
  cv::addWeighted(heat, o.alpha, img, 1.0 - o.alpha, 0.0, overlay);
  if (f.mask) {
    cv::Mat mask(f.map_h, f.map_w, CV_8UC1, const_cast<uint8_t*>(f.mask)), bin, bin_p;
    cv::threshold(mask, bin, 0, 255, cv::THRESH_BINARY);
    cv::resize(bin, bin_p, cv::Size(P, P), 0, 0, cv::INTER_NEAREST);
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(bin_p, contours, cv::RETR_LIST, cv::CHAIN_APPROX_NONE);
    const int thick = P >= 384 ? 2 : 1;
    for (cv::Mat* panel : {&img, &overlay}) {
      cv::drawContours(*panel, contours, -1, kContourHalo, thick + 2, cv::LINE_8);
      cv::drawContours(*panel, contours, -1, kContour, thick, cv::LINE_8);
    }
  }
  const int top = header + caption;
  img.copyTo(canvas(cv::Rect(kGap, top, P, P)));
  overlay.copyTo(canvas(cv::Rect(2 * kGap + P, top, P, P)));
  text(canvas, f.mask ? "input + ground truth" : "input (no mask)", {kGap, top - 5}, 0.42, P);
  text(canvas, "anomaly map", {2 * kGap + P, top - 5}, 0.42, P);

  // Colour bar with ticks at 0, 1/4, ..., 1 of the scale.
  const int bx = 3 * kGap + 2 * P;
  cv::Mat ramp(P, 1, CV_32FC1);
  for (int r = 0; r < P; ++r)
    ramp.at<float>(r, 0) = float(o.scale.vmax - (double(o.scale.vmax) - o.scale.vmin) * r / (P - 1));
  cv::Mat ramp_c = colorize(ramp, o.scale), ramp_w;
  cv::resize(ramp_c, ramp_w, cv::Size(bar_w, P), 0, 0, cv::INTER_NEAREST);
  ramp_w.copyTo(canvas(cv::Rect(bx, top, bar_w, P)));
  cv::rectangle(canvas, cv::Rect(bx, top, bar_w, P), kText, 1);
  for (int t = 0; t <= 4; ++t) {
    const int y = top + (P - 1) * t / 4;
    const double v = double(o.scale.vmax) - (double(o.scale.vmax) - o.scale.vmin) * t / 4.0;
    cv::line(canvas, {bx + bar_w, y}, {bx + bar_w + 4, y}, kText, 1);
    text(canvas, format_value(v), {bx + bar_w + 7, std::clamp(y + 4, top + 9, top + P + 4)}, 0.38, tick_w - 8);
  }

  // Header: the entry, then score / threshold / decision / label.
  text(canvas, f.title, {kGap, 17}, 0.5, W - 2 * kGap);
  std::string line;
  if (f.score) line += "score " + format_value(*f.score);
  if (f.score && f.threshold)
    line += " (thr " + format_value(*f.threshold) + ": " + (*f.score >= *f.threshold ? "anomalous" : "normal") + ")";
  if (f.label) line += std::string(line.empty() ? "" : "   ") + "label: " + (*f.label ? "anomalous" : "normal");
  if (line.empty()) line = "score n/a";
  text(canvas, line, {kGap, 37}, 0.45, W - 2 * kGap);
  return encode_png(canvas);
}

void write_heatmap_png(const std::string& path, const HeatmapFigure& f, const RenderOptions& o) {
  write_file_atomic(path, render_heatmap_png(f, o));
}

std::string render_assignment_png(const AssignmentFigure& f, int panel, double alpha) {
  using namespace detail_render;
  TC_CHECK(f.weights && f.grid_h > 0 && f.grid_w > 0 && f.subspaces > 0,
           "assignment figure '{}' needs weights of shape [grid_h*grid_w, subspaces]", f.title);
  const int P = std::max(64, panel), Q = f.subspaces;
  // Argmax subspace per token (first on ties) and the share of tokens per subspace.
  cv::Mat grid(f.grid_h, f.grid_w, CV_8UC3);
  std::vector<int64_t> count(size_t(Q), 0);
  for (int t = 0; t < f.grid_h * f.grid_w; ++t) {
    const float* w = f.weights + size_t(t) * Q;
    int best = 0;
    for (int q = 1; q < Q; ++q)
      if (w[q] > w[best]) best = q;
    ++count[size_t(best)];
    uint8_t rgb[3];
    subspace_color(best, rgb);
    grid.at<cv::Vec3b>(t / f.grid_w, t % f.grid_w) = cv::Vec3b(rgb[2], rgb[1], rgb[0]);
  }
  cv::Mat col;
  cv::resize(grid, col, cv::Size(P, P), 0, 0, cv::INTER_NEAREST);  // token cells stay crisp
  cv::Mat img = input_panel(f.image_rgb, f.img_h, f.img_w, P), blend;
  if (f.image_rgb) cv::addWeighted(col, alpha, img, 1.0 - alpha, 0.0, blend);
  else blend = col;

  const int header = 26, legend_w = 170, row_h = 20;
  const int W = kGap + P + kGap + legend_w;
  const int H = header + std::max(P, Q * row_h + 4) + kGap;
  cv::Mat canvas(H, W, CV_8UC3, kBackground);
  blend.copyTo(canvas(cv::Rect(kGap, header, P, P)));
  text(canvas, f.title.empty() ? std::string("token assignment") : f.title + " - token assignment", {kGap, 17}, 0.5,
       W - 2 * kGap);
  const int total = f.grid_h * f.grid_w;
  for (int q = 0; q < Q; ++q) {
    const int y = header + 2 + q * row_h;
    uint8_t rgb[3];
    subspace_color(q, rgb);
    cv::rectangle(canvas, cv::Rect(2 * kGap + P, y, 14, 14), cv::Scalar(rgb[2], rgb[1], rgb[0]), cv::FILLED);
    std::string name = q < int(f.names.size()) ? f.names[size_t(q)] : "subspace " + std::to_string(q + 1);
    char pct[32];
    std::snprintf(pct, sizeof pct, " %.1f%%", 100.0 * double(count[size_t(q)]) / total);
    text(canvas, name + pct, {2 * kGap + P + 20, y + 12}, 0.42, legend_w - 24);
  }
  return encode_png(canvas);
}

void write_assignment_png(const std::string& path, const AssignmentFigure& f, int panel, double alpha) {
  write_file_atomic(path, render_assignment_png(f, panel, alpha));
}

#else
std::string render_heatmap_png(const HeatmapFigure& f, const RenderOptions&) {
  TC_USAGE_ERROR("cannot draw the picture '{}': this build has no OpenCV (TOKENCLIP_OPENCV=OFF); "
                 "rebuild with OpenCV for pictures", f.title);
}
void write_heatmap_png(const std::string& path, const HeatmapFigure& f, const RenderOptions& o) {
  write_file_atomic(path, render_heatmap_png(f, o));
}
std::string render_assignment_png(const AssignmentFigure& f, int, double) {
  TC_USAGE_ERROR("cannot draw the picture '{}': this build has no OpenCV (TOKENCLIP_OPENCV=OFF); "
                 "rebuild with OpenCV for pictures", f.title);
}
void write_assignment_png(const std::string& path, const AssignmentFigure& f, int panel, double alpha) {
  write_file_atomic(path, render_assignment_png(f, panel, alpha));
}
#endif

std::vector<size_t> pick_figure_images(const std::vector<float>& scores, const std::vector<uint8_t>& labels,
                                       size_t per_kind) {
  TC_CHECK_EQ(scores.size(), labels.size(), "picture selection: scores and labels");
  std::vector<size_t> anom, norm;
  for (size_t i = 0; i < scores.size(); ++i) (labels[i] ? anom : norm).push_back(i);
  auto by_score_desc = [&](size_t a, size_t b) { return scores[a] > scores[b] || (scores[a] == scores[b] && a < b); };
  std::stable_sort(anom.begin(), anom.end(), by_score_desc);
  std::stable_sort(norm.begin(), norm.end(), by_score_desc);
  std::vector<size_t> out;
  std::vector<bool> taken(scores.size(), false);
  auto take = [&](size_t i) {
    if (!taken[i]) {
      taken[i] = true;
      out.push_back(i);
    }
  };
  for (size_t k = 0; k < per_kind && k < anom.size(); ++k) take(anom[k]);                    // detections
  for (size_t k = 0; k < per_kind && k < anom.size(); ++k) take(anom[anom.size() - 1 - k]);  // misses
  for (size_t k = 0; k < per_kind && k < norm.size(); ++k) take(norm[k]);                    // false alarms
  for (size_t k = 0; k < per_kind && k < norm.size(); ++k) take(norm[norm.size() - 1 - k]);  // clean normals
  return out;
}

std::string sanitize_filename(std::string_view name, size_t max_len) {
  std::string o;
  for (unsigned char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '_';
    const char out = ok ? char(c) : '_';
    if (out == '_' && !o.empty() && o.back() == '_') continue;  // collapse runs
    o += out;
  }
  size_t k = 0;
  while (k < o.size() && (o[k] == '.' || o[k] == '_')) ++k;  // no hidden files, no "..", no "_x"
  o = o.substr(k);
  while (!o.empty() && o.back() == '_') o.pop_back();
  if (o.empty()) o = "unnamed";
  max_len = std::max<size_t>(max_len, 16);
  if (o.size() > max_len) o = o.substr(0, max_len - 9) + "_" + sha256_hex(std::string(name)).substr(0, 8);
  return o;
}

}  // namespace tc::eval
