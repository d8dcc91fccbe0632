// Dataset-level evaluation on top of the metrics: per-class accumulation of image scores and
// blurred maps fed in any order, finished class by class (memory bounded by one class when
// images arrive in file order), and the maps file (`tokenclip eval --dump-maps`, read back by
// `tokenclip score`). Torch-free: `eval`, `score` and tests share it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eval/metrics.h"

namespace tc::data { class DatasetReader; }

namespace tc::eval {

// What the dataset supports: image metrics need both labels present (else they come out
// undefined by themselves); pixel metrics need masks (image-only sets have none).
struct DatasetLevel {
  bool pixel = false;  // any sample has a mask
  std::string describe() const;
};
DatasetLevel dataset_level(const data::DatasetReader& reader);

class DatasetEvaluator {
 public:
  DatasetEvaluator(const data::DatasetReader& reader, std::vector<AuproVariant> variants,
                   MetricsOptions opts = {});
  ~DatasetEvaluator();
  // Image `index` of the dataset: its blurred S x S map and its image score. Each index once.
  void add(int64_t index, const float* map, float score);
  DatasetMetrics finish();
  const std::vector<float>& scores() const { return scores_; }

 private:
  void finish_class(int32_t cls);
  const data::DatasetReader& reader_;
  std::vector<AuproVariant> variants_;
  MetricsOptions opts_;
  DatasetLevel level_;
  int S_ = 0;
  std::vector<float> scores_;
  std::vector<uint8_t> seen_;
  std::vector<int64_t> remaining_;  // per class: images not yet added
  std::map<int32_t, std::unique_ptr<PixelAccumulator>> acc_;
  std::map<int32_t, std::optional<PixelMetrics>> pixel_;
  std::vector<uint8_t> mask_buf_;
};

// ---------------------------------------------------------------- maps file

inline constexpr const char* kMapsFormat = "tokenclip-maps";
inline constexpr int kMapsVersion = 1;

struct MapsMeta {
  std::string dataset_name, dataset_hash, checkpoint;
  int image_size = 0;
  int64_t size = 0;
  double blur_sigma = 4.0;
  std::vector<int> layers;  // 1-based visual blocks of the token outputs
  int tokens = 0;           // P patch tokens per image
  int subspaces = 0;        // Q
};

// `maps` float32 [N,S,S] (after blur), `scores` [N], `global_prob` [N], per layer l:
// `token_probs/<l>` float32 [N,P,2] (the map source's probabilities, normal/abnormal) and
// `assignment/<l>` float32 [N,P,Q]. Rows are written in any order; the file appears under its
// name only when close() completes (temporary name + rename).
class MapsWriter {
 public:
  MapsWriter(const std::string& path, const MapsMeta& meta);
  ~MapsWriter();
  void write(int64_t index, const float* map, float score, float global_prob,
             const std::vector<const float*>& token_probs, const std::vector<const float*>& assignment);
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class MapsReader {
 public:
  explicit MapsReader(const std::string& path);  // Input errors name the file and field
  ~MapsReader();
  const MapsMeta& meta() const;
  void read_map(int64_t index, float* out) const;  // S*S floats
  std::vector<float> scores() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tc::eval
