// The feature cache (HDF5, format "tokenclip-features", version 1; docs/FORMATS.md).
//
// The image tower is frozen and the recipe uses no augmentation, so its outputs can be
// computed once per (backbone, image size, layers, V-V setting, dataset) and reused by every
// epoch and every sweep point. The key is stored in the file and a reader refuses a cache whose
// key differs from what the run needs, naming the field.
//
//   global        float32 [N,D]      h_L[CLS] @ proj (no ln_post), unnormalised
//   tokens/<l>    float32 [N,1+P,D]  ln_post(z_l) @ proj per layer l, unnormalised
//   done          uint8   [N]        1 once row i is written (resumable builds)
//   attributes: format, version, backbone_fingerprint, image_size, layers ("6,12"), vv_from,
//               dataset_hash, dtype ("float32"), size
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tc::data {

inline constexpr const char* kFeaturesFormat = "tokenclip-features";
inline constexpr int kFeaturesVersion = 1;

struct FeatureKey {
  std::string backbone_fingerprint;
  int image_size = 0;
  std::vector<int> layers;
  int vv_from = 0;
  std::string dataset_hash;
};
FeatureKey feature_key(const std::string& fingerprint, int image_size, const std::vector<int>& layers,
                       int vv_from, const std::string& dataset_hash);

struct FeatureRows {
  at::Tensor global;               // [b,D]
  std::vector<at::Tensor> tokens;  // per layer [b,1+P,D]
};

class FeatureCacheReader {
 public:
  // Input error naming the file and the first differing key field on any mismatch, and when
  // the cache is incomplete (rows not yet built).
  FeatureCacheReader(const std::string& path, const FeatureKey& expected);
  ~FeatureCacheReader();
  FeatureRows read(const std::vector<int64_t>& indices) const;
  int64_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes rows into a (possibly partial) cache file; reopening a file with the same key resumes
// it (rows already marked done are kept), a different key starts over.
class FeatureCacheWriter {
 public:
  FeatureCacheWriter(const std::string& path, const FeatureKey& key, int64_t rows, int embed_dim,
                     int tokens_per_image);
  ~FeatureCacheWriter();
  std::vector<int64_t> pending() const;  // rows not yet done, ascending
  // Rows [row, row + b) from a batch (global [b,D], tokens per layer [b,T,D]); marked done.
  void write(int64_t row, const FeatureRows& rows);
  void close();  // flushes; the file stays where it is

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads the key stored in a cache file (for `tokenclip info` and error messages).
FeatureKey read_feature_key(const std::string& path);

}  // namespace tc::data
