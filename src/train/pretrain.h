// Contrastive image-text pretraining of a whole CLIP (`tokenclip pretrain`, docs/PRETRAIN.md),
// run by the same distributed loop as prompt training (trainer.h): this file supplies the
// model side (the TrainModel: every CLIP parameter is learnable, the loss of a local batch)
// and the loss functions.
//
// Loss of a global batch of n image-caption pairs:
//   L = L_clip + dense_weight * L_dense + state_weight * L_state
//   L_clip  = CLIP's symmetric InfoNCE: logits = s * I T^T with s = exp(logit_scale) (learned,
//             clamped to logit_scale_max after every update as CLIP does), CE over the rows
//             (image -> its caption) and over the columns (caption -> its image), averaged. I is
//             the standard image embedding ln_post(CLS) @ proj; with readout `both` the
//             detector's global feature (CLS @ proj without ln_post) gets the same loss too and
//             the two are averaged, so the feature the method reads is aligned with text.
//   L_dense = per image, the patch tokens the detector reads (V-V stream, ln_post @ proj) are
//             scored against two texts of that image, the object described as flawless and
//             with a defect: p_i = softmax(<f_i, t_normal>, <f_i, t_defect>) / tau (the
//             detector's fixed tau). With c_i the share of patch i inside the defect mask, the
//             image's loss is the mean of the cover-weighted CE towards "defect" over the
//             defect patches and the (1 - c)-weighted CE towards "normal" over the others
//             (a normal image: only the latter), with c = min(1, share / dense_cover_full): a
//             patch holding a few defect pixels is a defective patch (most defects cover a
//             small part of a 16 x 16 patch). Only images whose mask may be used count
//             (normal images and the defect types listed in `dense_defects`); the term is a
//             sum over those images divided by the batch size, so it is a per-sample mean.
//   L_state = the same two texts against the image's global feature(s) (the readout of the
//             contrastive term): CE of softmax(<g, t_normal>, <g, t_defect>) / tau towards
//             the image's label. This reads only what the caption says (is there a defect),
//             like the global branch of the detector, for every image of the batch.
//
// Distribution: each rank encodes its share; the embeddings are all-gathered in rank order
// (= the global batch order) with the local rows keeping their graph, so every rank computes
// the full n x n loss and its backward reaches exactly its own samples. The trainer averages
// gradients weighted by the local counts (sum_r n_r g_r / n); the local loss is therefore
// scaled by n / n_r in its gradient (not in its value, which stays L_clip for the logs), and
// the sum over ranks is the gradient of the single-process loss. The logit scale enters every
// rank's copy of the loss directly (not through a rank's samples), so its gradient is divided
// by the world size on each rank.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "clip/clip.h"
#include "train/trainer.h"

namespace tc::dist { class Communicator; }

namespace tc::train {

struct PretrainLossOptions {
  double dense_weight = 1.0;
  double dense_temperature = 0.07;  // also the state term's
  double dense_cover_full = 0.05;   // a patch with this share of defect pixels counts as defective
  double state_weight = 1.0;
  double logit_scale_max = 100.0;
  std::string readout = "both";  // embed | global | both
};

// Symmetric InfoNCE of L2-normalised image and text embeddings [n,D] at logit scale `scale`
// (a scalar tensor, exp of the learned log scale): (CE(s I T^T, diag) + CE(s T I^T, diag)) / 2.
at::Tensor clip_contrastive_loss(const at::Tensor& image, const at::Tensor& text, const at::Tensor& scale);

// The patch-text term of one batch (see above): tokens [b,N,D] and texts [b,D] L2-normalised,
// cover [b,N] in [0,1], use [b] 0/1. Returns sum over used images of their loss / b.
at::Tensor dense_patch_loss(const at::Tensor& tokens, const at::Tensor& normal_text,
                            const at::Tensor& defect_text, const at::Tensor& cover, const at::Tensor& use,
                            double temperature);

// Share of each patch (p x p pixels, row-major grid) inside the mask: masks [b,S,S] -> [b,N].
at::Tensor patch_cover(const at::Tensor& masks, int64_t patch);

// Rows of every rank, rank-major: `local` [n_r,C] with n_r = counts[rank]; the returned
// [sum n_r, C] holds the other ranks' rows as constants and `local` itself (with its graph) in
// this rank's place. Ranks pad to max(counts) rows for the fixed-size all-gather.
at::Tensor gather_rows(dist::Communicator& comm, const at::Tensor& local, const std::vector<int64_t>& counts);

// Token ids of the texts of every sample, [N_samples, 77] each (made by the caller's tokenizer).
struct CaptionIds {
  at::Tensor caption, normal, defect;  // int64
  std::vector<uint8_t> dense;          // per sample: its mask may be used by the dense term
};

// The CLIP as the trainer sees it: all parameters learnable (weight decay on matrices only,
// as CLIP: not on biases, norms, class embedding or the logit scale), the loss above.
class ClipPretrainModel final : public TrainModel {
 public:
  ClipPretrainModel(clip::ClipModel model, CaptionIds ids, dist::Communicator& comm, int64_t global_batch,
                    PretrainLossOptions options);
  std::vector<NamedTensor> learnable() override;
  StepLoss forward_loss(const TrainBatch& batch) override;
  void after_update() override;  // clamps the logit scale

 private:
  clip::ClipModel model_;
  CaptionIds ids_;
  dist::Communicator& comm_;
  std::vector<int64_t> counts_;  // samples of each rank in every (full) global batch
  int64_t global_batch_;
  PretrainLossOptions opt_;
};

// Cosine learning rate with linear warmup (CLIP's): lr * (s+1)/warmup for s < warmup, then
// lr * (1 + cos(pi * (s - warmup) / (total - warmup))) / 2.
double cosine_lr(int64_t step, double lr, int64_t warmup, int64_t total);

}  // namespace tc::train
