// Evaluation metrics on raw buffers (no torch): image and pixel AUROC, AP, F1-max, and AUPRO in
// its two named variants (docs/METHOD.md section 5, docs/METRICS.md).
//
// Definitions follow the references exactly:
//  - AUROC: trapezoid over sklearn's roc_curve points; tied scores form one point.
//  - AP: sklearn average_precision_score, sum_n (R_n - R_{n-1}) P_n over distinct thresholds,
//    curve starting at recall 0, no interpolation.
//  - F1-max: max of 2PR/(P+R) over the PR-curve points (distinct thresholds); the threshold is
//    recorded: predict anomalous when score >= threshold.
//  - AUPRO `mvtec`: the official MVTec AD evaluation (every distinct score a threshold, FPR
//    limit 0.3 with interpolation at the cut, divided by the limit).
//  - AUPRO `anomalyclip`: AnomalyCLIP's cal_pro_score (200 evenly spaced thresholds from the
//    class's min to max, strict '>', FPR < limit kept, FPRs min-max rescaled, trapezoid).
// Both AUPRO variants use 8-connected ground-truth regions; every region weighs the same.
//
// A metric that is undefined (one label only, no ground-truth region, degenerate curve) is
// std::nullopt, never 0 or 1. Every computation is sort-based, O(P log P) in the number of
// pixels of one class; memory is bounded by one class (about 2 x 4 bytes per pixel besides
// the caller's maps and masks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tc::eval {

// AUROC, AP and F1-max of one binary scoring problem (the images of a class, or all pixels
// of all images of a class). Values are fractions in [0, 1] (tables print x100).
struct BinaryMetrics {
  std::optional<double> auroc;
  std::optional<double> ap;
  std::optional<double> f1_max;
  std::optional<double> f1_threshold;  // score >= threshold -> anomalous, at F1-max
  int64_t n_pos = 0;                   // anomalous samples (images or pixels)
  int64_t n_neg = 0;                   // normal samples
};

enum class AuproVariant { AnomalyClip, Mvtec };
const char* aupro_variant_name(AuproVariant v);  // "anomalyclip" | "mvtec"
// Parses "anomalyclip" | "mvtec" | "both" (config key eval.aupro); usage error otherwise.
std::vector<AuproVariant> parse_aupro_variants(std::string_view s);

// One class of one dataset, as borrowed pointers (nothing is copied).
struct ClassData {
  std::string name;
  std::vector<float> image_scores;    // one per image
  std::vector<uint8_t> image_labels;  // one per image, 0 normal / 1 anomalous
  // Pixel level (optional): `maps[i]` is a height x width float map of image i; `masks[i]` a
  // height x width uint8 mask (nonzero = anomalous; binarise resized masks first, e.g. > 0.5
  // of the [0, 1] mask as AnomalyCLIP does) or nullptr for an all-zero mask (normal images of
  // sets that have masks only for anomalous images). `has_masks = false` (image-only
  // sets) disables the pixel metrics.
  int height = 0, width = 0;
  std::vector<const float*> maps;
  std::vector<const uint8_t*> masks;
  bool has_masks = false;

  // Convenience for contiguous [n, h, w] buffers; `masks` may be nullptr (no masks at all).
  void set_pixels(const float* maps_nhw, const uint8_t* masks_nhw, int64_t n, int h, int w);
};

struct MetricsOptions {
  bool pixel = true;                 // compute pixel metrics when maps and masks are present
  bool aupro_anomalyclip = true;
  bool aupro_mvtec = true;
  double pro_fpr_limit = 0.3;        // both variants
  int pro_steps = 200;               // anomalyclip variant
  bool progress = false;             // tc::Progress over the images of the class
  int threads = 0;                   // pixel workers: 0 = auto (2 from 1 Mpixel on), 1 or 2
};

struct ClassMetrics {
  std::string name;
  int64_t n_images = 0, n_anomalous_images = 0;
  BinaryMetrics image;
  bool has_pixel = false;  // pixel metrics were computed (maps + masks given)
  BinaryMetrics pixel;
  std::optional<double> aupro_anomalyclip, aupro_mvtec;
  int64_t n_regions = 0;   // 8-connected ground-truth regions over all images
  double seconds = 0;      // wall time of compute_class_metrics
};

// Pixel-level results of one class.
struct PixelMetrics {
  BinaryMetrics pixel;  // AUROC / AP / F1-max over all pixels
  std::optional<double> aupro_anomalyclip, aupro_mvtec;
  int64_t n_regions = 0;
};

// Streaming form of the pixel metrics: feed the images of one class one at a time (e.g. straight
// from the evaluation loop, without keeping the maps), then finish(). Holds 4 bytes per normal
// pixel and 8 per anomalous pixel, and as much again while sorting in finish().
class PixelAccumulator {
 public:
  // `name` and `first_image` only label error messages ("class 'x', image i").
  PixelAccumulator(int height, int width, std::string name = {}, int64_t first_image = 0);
  void reserve(int64_t images);  // optional: allocate for this many images at once
  void reserve_pixels(int64_t normal, int64_t anomalous);
  // `mask` nullptr = all-zero mask. Input error on a non-finite score.
  void add(const float* map, const uint8_t* mask);
  int64_t images() const { return n_images_; }
  // Computes everything (sorting on up to `opts.threads` threads, auto = 2) and empties the
  // accumulator.
  PixelMetrics finish(const MetricsOptions& opts = {});
  // Several accumulators of the same class (e.g. filled by different threads).
  static PixelMetrics finish(std::vector<PixelAccumulator>& parts, const MetricsOptions& opts = {});

 private:
  int h_, w_;
  std::string name_;
  int64_t first_image_, n_images_ = 0;
  std::vector<uint32_t> neg_;       // order-preserving keys of normal pixels
  std::vector<uint64_t> pos_;       // key << 32 | region id of anomalous pixels
  std::vector<double> inv_area_;    // region id -> 1 / area
  std::vector<int32_t> labels_, area_;
};

// Assembles a class result from image scores/labels and (optionally) streamed pixel metrics.
ClassMetrics class_metrics_from(std::string name, const std::vector<float>& image_scores,
                                const std::vector<uint8_t>& image_labels,
                                const std::optional<PixelMetrics>& pixel);

// Image-level (or any flat) metrics. Scores must be finite (input error otherwise).
BinaryMetrics binary_metrics(const float* scores, const uint8_t* labels, size_t n);

// Everything for one class. Validates sizes and finiteness (input errors naming the class,
// the field and the image index).
ClassMetrics compute_class_metrics(const ClassData& data, const MetricsOptions& opts = {});

// Per-class results plus the unweighted mean over classes. The mean of a metric is taken over
// the classes where it is defined, and is nullopt when none is; thresholds have no mean.
struct DatasetMetrics {
  std::string dataset;
  std::vector<AuproVariant> aupro_variants;  // the variants that were computed
  std::vector<ClassMetrics> classes;
  ClassMetrics mean;  // name "mean"; counts are sums; thresholds nullopt
};
DatasetMetrics aggregate(std::vector<ClassMetrics> classes, std::vector<AuproVariant> variants,
                         std::string dataset = {});

// ---------------------------------------------------------------- lower-level building blocks

// 8-connected components of `mask != 0` (h x w). Writes labels 1..count in raster order of each
// component's first pixel (0 = background) into `labels` (h*w) and returns count.
int32_t label_regions_8(const uint8_t* mask, int h, int w, int32_t* labels);

// AUPRO over n maps/masks of h x w (masks[i] may be nullptr = all zero).
std::optional<double> aupro_mvtec(const std::vector<const float*>& maps,
                                  const std::vector<const uint8_t*>& masks, int h, int w,
                                  double fpr_limit = 0.3);
std::optional<double> aupro_anomalyclip(const std::vector<const float*>& maps,
                                        const std::vector<const uint8_t*>& masks, int h, int w,
                                        int steps = 200, double fpr_limit = 0.3);

// The official MVTec AD `generic_util.trapezoid(x, y, x_max)`: drops non-finite points; when
// x_max is not an x value, adds the partial trapezoid up to x_max with linear interpolation.
// x must be sorted ascending. nullopt when nothing finite remains.
std::optional<double> trapezoid_mvtec(const std::vector<double>& x, const std::vector<double>& y,
                                      std::optional<double> x_max = std::nullopt);

// The thresholds AnomalyCLIP's cal_pro_score compares float32 maps against: numpy 1.x
// `np.arange(min, max, (max - min) / steps)` with float32 min/max (usually `steps` values,
// sometimes steps + 1 from rounding), each rounded to float32 as numpy does for
// `float32_array > float64_scalar`. Empty when max == min.
std::vector<float> anomalyclip_thresholds(float min_value, float max_value, int steps = 200);

}  // namespace tc::eval
