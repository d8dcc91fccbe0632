#include "data/batch.h"

#include <ATen/ATen.h>

#include "util/check.h"

namespace tc::data {

Batch read_batch(const DatasetReader& reader, const std::vector<int64_t>& indices,
                 bool with_masks) {
  const int64_t B = static_cast<int64_t>(indices.size());
  const int64_t S = reader.image_size();
  Batch b;
  b.indices = indices;
  b.images = at::empty({B, S, S, 3}, at::kByte);
  if (with_masks) b.masks = at::empty({B, S, S}, at::kByte);
  b.labels = at::empty({B}, at::kLong);
  b.class_ids = at::empty({B}, at::kLong);
  b.has_mask = at::empty({B}, at::kBool);
  uint8_t* img = b.images.data_ptr<uint8_t>();
  uint8_t* msk = with_masks ? b.masks.data_ptr<uint8_t>() : nullptr;
  int64_t* lab = b.labels.data_ptr<int64_t>();
  int64_t* cls = b.class_ids.data_ptr<int64_t>();
  bool* hm = b.has_mask.data_ptr<bool>();
  for (int64_t i = 0; i < B; ++i) {
    const int64_t idx = indices[static_cast<size_t>(i)];
    TC_CHECK(idx >= 0 && idx < reader.size(), "sample index {} outside [0, {}) of '{}'", idx,
             reader.size(), reader.path());
    reader.read_image(idx, img + i * S * S * 3);
    if (msk) reader.read_mask(idx, msk + i * S * S);
    const size_t k = static_cast<size_t>(idx);
    lab[i] = reader.labels()[k];
    cls[i] = reader.class_ids()[k];
    hm[i] = reader.has_mask()[k] != 0;
  }
  return b;
}

at::Tensor normalize_clip(const at::Tensor& images_u8) {
  TC_CHECK(images_u8.dim() == 4 && images_u8.size(3) == 3 &&
               images_u8.scalar_type() == at::kByte,
           "normalize_clip expects uint8 [B,S,S,3], got {} {}", c10::str(images_u8.sizes()),
           c10::toString(images_u8.scalar_type()));
  auto opts = at::TensorOptions().dtype(at::kFloat).device(images_u8.device());
  auto mean = at::tensor(at::ArrayRef<float>(kClipMean, 3), at::kFloat).to(opts.device())
                  .view({1, 3, 1, 1});
  auto std = at::tensor(at::ArrayRef<float>(kClipStd, 3), at::kFloat).to(opts.device())
                 .view({1, 3, 1, 1});
  // Same operations, same order and precision as ToTensor (float / 255) + Normalize.
  auto x = images_u8.permute({0, 3, 1, 2}).to(at::kFloat).div(255);
  return x.sub(mean).div(std).contiguous();
}

}  // namespace tc::data
