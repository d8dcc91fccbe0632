// Pictures for chosen images (PNG, written atomically):
//  - heatmap figure: input with the ground-truth contour | jet overlay of the anomaly map (with the
//    contour) | colour bar with tick labels; a header with the entry's name, the image score,
//    the threshold and the label;
//  - assignment map: the subspace each patch token is assigned to (argmax of the assignment
//    weights), one fixed colour per subspace, blended over the input, with a legend.
// The colour scale is fixed for a run (HeatmapScale), so colours compare across pictures.
// OpenCV (imgproc + imgcodecs) stays inside render.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tc::eval {

// Run-wide colour scale of anomaly maps: vmin -> blue, vmax -> red (values outside clipped).
// The test-time map is a sum over layers of probabilities (METHOD.md section 3), so use
// [0, number of layers] or heatmap_scale_from() over the run's maps, not the [0, 1] default.
// False in builds without OpenCV (TOKENCLIP_OPENCV=OFF): the render_* / write_* functions
// then throw a usage error, and callers skip pictures with a warning.
bool pictures_supported();

struct HeatmapScale {
  float vmin = 0.f;
  float vmax = 1.f;
};
// A robust run-wide scale from sample maps: [min, max] over all values (vmax > vmin enforced).
HeatmapScale heatmap_scale_from(const std::vector<const float*>& maps, size_t pixels_per_map);

struct HeatmapFigure {
  std::string title;                 // e.g. the dataset entry ("bottle/test/broken_large/000.png")
  const uint8_t* image_rgb = nullptr;  // img_h x img_w x 3, RGB interleaved (nullptr: grey panel)
  int img_h = 0, img_w = 0;
  const float* map = nullptr;        // map_h x map_w anomaly map (required)
  int map_h = 0, map_w = 0;
  const uint8_t* mask = nullptr;     // map_h x map_w ground truth (nonzero = anomalous) or nullptr
  std::optional<double> score;       // image score
  std::optional<double> threshold;   // image threshold (e.g. the F1-max one); shows the decision
  std::optional<int> label;          // 0 / 1 ground-truth image label
};

struct RenderOptions {
  HeatmapScale scale;
  double alpha = 0.5;   // heatmap weight in the overlay
  int panel = 256;      // panel side in pixels (maps and images are resized for display only)
};

// PNG bytes of the figure / written to `path` atomically.
std::string render_heatmap_png(const HeatmapFigure& f, const RenderOptions& o = {});
void write_heatmap_png(const std::string& path, const HeatmapFigure& f, const RenderOptions& o = {});

struct AssignmentFigure {
  std::string title;
  const float* weights = nullptr;  // [grid_h * grid_w, subspaces] row-major assignment weights
  int grid_h = 0, grid_w = 0, subspaces = 0;
  const uint8_t* image_rgb = nullptr;  // optional background, img_h x img_w x 3 RGB
  int img_h = 0, img_w = 0;
  std::vector<std::string> names;  // optional subspace names (default "subspace q")
};
std::string render_assignment_png(const AssignmentFigure& f, int panel = 256, double alpha = 0.55);
void write_assignment_png(const std::string& path, const AssignmentFigure& f, int panel = 256,
                          double alpha = 0.55);

// Which images of a class get pictures: up to `per_kind` each of the highest-scored anomalous
// images, the lowest-scored anomalous ones (misses), the highest-scored normal ones (false
// alarms) and the lowest-scored normal ones; no index twice; ties broken by index, so the
// choice is deterministic. Returned in that order.
std::vector<size_t> pick_figure_images(const std::vector<float>& scores,
                                       const std::vector<uint8_t>& labels, size_t per_kind = 2);

// Fixed palette (RGB) used for subspaces: colour of subspace q (cycles after 10).
void subspace_color(int q, uint8_t rgb[3]);

// A file name derived from a dataset entry: only [A-Za-z0-9._-] kept (others, including path
// separators, become '_', runs collapsed), no leading dots (no hidden files, no ".."), never
// empty; names longer than max_len are cut and get 8 hex digits of their SHA-256 so that they
// stay distinct.
std::string sanitize_filename(std::string_view name, size_t max_len = 100);

}  // namespace tc::eval
