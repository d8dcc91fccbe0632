#include "train/pretrain.h"

#include <ATen/ATen.h>
#include <torch/nn/functional.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "data/sampler.h"
#include "dist/dist.h"
#include "util/check.h"

namespace tc::train {
namespace detail_pretrain {

at::Tensor l2n(const at::Tensor& x) { return x / x.norm(2, -1, true).clamp_min(1e-12); }

bool takes_decay(const std::string& name, const at::Tensor& t) {
  if (t.dim() < 2 || name == "logit_scale") return false;
  return name.find("ln_") == std::string::npos && name.find("bias") == std::string::npos;
}

// Rows `idx` of an id table, as a tensor on `device`.
at::Tensor rows(const at::Tensor& table, const std::vector<int64_t>& idx, const at::Device& device) {
  return table.index_select(0, at::tensor(idx, at::kLong)).to(device);
}

}  // namespace detail_pretrain

namespace dp = detail_pretrain;

at::Tensor clip_contrastive_loss(const at::Tensor& image, const at::Tensor& text, const at::Tensor& scale) {
  TC_CHECK(image.dim() == 2 && image.sizes() == text.sizes(), "contrastive loss: image and text must be [n,D] alike");
  const int64_t n = image.size(0);
  at::Tensor logits = scale * at::matmul(image, text.t());  // [n,n]: row i = image i
  at::Tensor target = at::arange(n, at::TensorOptions().dtype(at::kLong).device(image.device()));
  return (at::cross_entropy_loss(logits, target) + at::cross_entropy_loss(logits.t(), target)) / 2;
}

at::Tensor dense_patch_loss(const at::Tensor& tokens, const at::Tensor& normal_text, const at::Tensor& defect_text,
                            const at::Tensor& cover, const at::Tensor& use, double tau) {
  TC_CHECK(tokens.dim() == 3 && cover.dim() == 2 && cover.size(0) == tokens.size(0) && cover.size(1) == tokens.size(1),
           "dense loss: tokens [b,N,D] and cover [b,N] must agree");
  const int64_t b = tokens.size(0);
  if (b == 0) return at::zeros({}, tokens.options());
  at::Tensor ln = (tokens * normal_text.unsqueeze(1)).sum(-1) / tau;  // [b,N]
  at::Tensor ld = (tokens * defect_text.unsqueeze(1)).sum(-1) / tau;
  at::Tensor lse = at::logsumexp(at::stack({ln, ld}, -1), -1);
  at::Tensor c = cover.to(tokens.scalar_type()), nc = 1 - c;
  at::Tensor def_sum = c.sum(1), nor_sum = nc.sum(1);
  at::Tensor def_term = -(c * (ld - lse)).sum(1) / def_sum.clamp_min(1e-6);
  at::Tensor nor_term = -(nc * (ln - lse)).sum(1) / nor_sum.clamp_min(1e-6);
  at::Tensor per_image = at::where(def_sum > 0, (def_term + nor_term) / 2, nor_term);
  return (per_image * use.to(per_image.scalar_type())).sum() / static_cast<double>(b);
}

at::Tensor patch_cover(const at::Tensor& masks, int64_t patch) {
  TC_CHECK(masks.dim() == 3 && masks.size(1) % patch == 0 && masks.size(2) % patch == 0,
           "patch cover: masks [b,S,S] with S a multiple of the patch {}", patch);
  at::Tensor m = masks.to(at::kFloat).unsqueeze(1);
  return at::avg_pool2d(m, {patch, patch}, {patch, patch}).flatten(1);  // [b, g*g], row-major
}

at::Tensor gather_rows(dist::Communicator& comm, const at::Tensor& local, const std::vector<int64_t>& counts) {
  const int world = comm.world(), rank = comm.rank();
  TC_CHECK(static_cast<int>(counts.size()) == world, "gather: {} counts for {} ranks", counts.size(), world);
  TC_CHECK(local.dim() == 2 && local.size(0) == counts[static_cast<size_t>(rank)],
           "gather: rank {} holds {} rows, expected {}", rank, local.size(0), counts[static_cast<size_t>(rank)]);
  if (world == 1) return local;
  const int64_t C = local.size(1), max_n = *std::max_element(counts.begin(), counts.end());
  // Host buffers: the communicator's gather reads host memory on every backend.
  at::Tensor mine = at::zeros({max_n, C}, at::kFloat);
  mine.narrow(0, 0, local.size(0)).copy_(local.detach().to(at::kCPU, at::kFloat));
  at::Tensor all = at::empty({world, max_n, C}, at::kFloat);
  comm.allgather(mine.data_ptr<float>(), static_cast<size_t>(max_n * C) * sizeof(float), all.data_ptr<float>());
  std::vector<at::Tensor> parts;
  for (int r = 0; r < world; ++r) {
    if (r == rank) parts.push_back(local);
    else parts.push_back(all[r].narrow(0, 0, counts[static_cast<size_t>(r)]).to(local.device(), local.scalar_type()));
  }
  return at::cat(parts, 0);
}

double cosine_lr(int64_t step, double lr, int64_t warmup, int64_t total) {
  if (warmup > 0 && step < warmup) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const int64_t span = std::max<int64_t>(1, total - warmup);
  const double e = std::min(1.0, static_cast<double>(step - warmup) / static_cast<double>(span));
  return 0.5 * (1.0 + std::cos(M_PI * e)) * lr;
}

ClipPretrainModel::ClipPretrainModel(clip::ClipModel model, CaptionIds ids, dist::Communicator& comm,
                                     int64_t global_batch, PretrainLossOptions options)
    : model_(std::move(model)), ids_(std::move(ids)), comm_(comm), global_batch_(global_batch), opt_(options) {
  TC_CHECK_USAGE(opt_.readout == "embed" || opt_.readout == "global" || opt_.readout == "both",
                 "pretrain.readout '{}': expected embed, global or both", opt_.readout);
  TC_CHECK_USAGE(global_batch_ >= comm.world(), "pretrain.global_batch {} is smaller than the {} ranks",
                 global_batch_, comm.world());
  counts_ = data::split_counts(global_batch_, comm.world());
  for (auto& p : model_->parameters()) p.set_requires_grad(true);
  model_->train();
}

std::vector<NamedTensor> ClipPretrainModel::learnable() {
  std::vector<NamedTensor> out;
  for (auto& [name, t] : model_->openai_named_parameters()) out.push_back({name, t, dp::takes_decay(name, t)});
  return out;
}

StepLoss ClipPretrainModel::forward_loss(const TrainBatch& batch) {
  const int64_t b = batch.size;
  TC_CHECK(b == counts_[static_cast<size_t>(comm_.rank())], "pretraining batch of {} samples on rank {}, expected {}",
           b, comm_.rank(), counts_[static_cast<size_t>(comm_.rank())]);
  const auto device = batch.images.device();
  clip::VisualOutput vis = model_->visual->forward(batch.images);
  at::Tensor text = dp::l2n(model_->text->encode_prefix(dp::rows(ids_.caption, batch.indices, device)));
  const int64_t D = text.size(1);

  // One gather for every embedding of the contrastive term.
  std::vector<at::Tensor> mine;
  if (opt_.readout != "global") mine.push_back(dp::l2n(vis.embed));
  if (opt_.readout != "embed") mine.push_back(dp::l2n(vis.global));
  mine.push_back(text);
  at::Tensor all = gather_rows(comm_, at::cat(mine, 1), counts_);
  at::Tensor all_text = all.narrow(1, static_cast<int64_t>(mine.size() - 1) * D, D);
  // Every rank computes the same loss from the same scale: its gradient must count once over
  // the ranks (the features' count once each, through their own rank).
  at::Tensor scale = model_->logit_scale.exp();
  if (comm_.world() > 1) scale = scale.detach() + (scale - scale.detach()) / static_cast<double>(comm_.world());
  at::Tensor clip_loss;
  for (size_t k = 0; k + 1 < mine.size(); ++k) {
    at::Tensor l = clip_contrastive_loss(all.narrow(1, static_cast<int64_t>(k) * D, D), all_text, scale);
    clip_loss = k == 0 ? l : clip_loss + l;
  }
  clip_loss = clip_loss / static_cast<double>(mine.size() - 1);
  // Gradient scaled by n / n_r, value unchanged (see the header).
  const double s = static_cast<double>(global_batch_) / static_cast<double>(b);
  at::Tensor loss = s * clip_loss - (s - 1.0) * clip_loss.detach();

  // The two state texts of every image (flawless / with a defect), for the state and dense terms.
  at::Tensor dense = at::zeros({}, text.options()), state = at::zeros({}, text.options());
  at::Tensor t_normal, t_defect;
  if (opt_.dense_weight > 0 || opt_.state_weight > 0) {
    at::Tensor t = dp::l2n(model_->text->encode_prefix(
        at::cat({dp::rows(ids_.normal, batch.indices, device), dp::rows(ids_.defect, batch.indices, device)}, 0)));
    t_normal = t.narrow(0, 0, b);
    t_defect = t.narrow(0, b, b);
  }
  if (opt_.state_weight > 0) {
    at::Tensor label = batch.labels.to(device, at::kLong).reshape({b});
    for (size_t k = 0; k + 1 < mine.size(); ++k) {
      at::Tensor g = mine[k];  // this rank's rows of the readout
      at::Tensor logits = at::stack({(g * t_normal).sum(-1), (g * t_defect).sum(-1)}, 1) / opt_.dense_temperature;
      state = state + at::cross_entropy_loss(logits, label);
    }
    state = state / static_cast<double>(mine.size() - 1);
    loss = loss + opt_.state_weight * state;
  }

  // Patch-text term on the images whose masks may be used.
  std::vector<int64_t> used_pos;
  for (int64_t i = 0; i < b; ++i)
    if (ids_.dense[static_cast<size_t>(batch.indices[static_cast<size_t>(i)])]) used_pos.push_back(i);
  if (opt_.dense_weight > 0 && !used_pos.empty()) {
    const int64_t u = static_cast<int64_t>(used_pos.size());
    at::Tensor pos = at::tensor(used_pos, at::kLong).to(device);
    at::Tensor tok = dp::l2n(vis.tokens.back().index_select(0, pos).narrow(1, 1, vis.tokens.back().size(1) - 1));
    at::Tensor cover = (patch_cover(batch.masks.index_select(0, pos), model_->config.vision.patch) /
                        opt_.dense_cover_full).clamp_max(1.0);
    dense = dense_patch_loss(tok, t_normal.index_select(0, pos), t_defect.index_select(0, pos), cover,
                             at::ones({u}, tok.options()), opt_.dense_temperature) *
            (static_cast<double>(u) / static_cast<double>(b));
    loss = loss + opt_.dense_weight * dense;
  }

  StepLoss out;
  out.loss = loss;
  out.terms = {{"loss_clip", clip_loss.item<double>()}, {"loss_dense", dense.item<double>()},
               {"loss_state", state.item<double>()}};
  {
    at::NoGradGuard ng;
    // Retrieval accuracy of this rank's images among all captions of the batch.
    const int64_t off = std::accumulate(counts_.begin(), counts_.begin() + comm_.rank(), int64_t{0});
    at::Tensor sims = at::matmul(mine[0].detach(), all_text.detach().t());
    at::Tensor hit = sims.argmax(1).eq(at::arange(off, off + b, at::TensorOptions().dtype(at::kLong).device(device)));
    out.diagnostics = {{"logit_scale", scale.item<double>()},
                       {"i2t_acc", hit.to(at::kFloat).mean().item<double>()},
                       {"dense_images", static_cast<double>(used_pos.size()) / static_cast<double>(b)}};
  }
  return out;
}

void ClipPretrainModel::after_update() {
  at::NoGradGuard ng;
  model_->logit_scale.clamp_(0.0, std::log(opt_.logit_scale_max));
}

}  // namespace tc::train
