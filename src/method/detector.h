// The Detector: frozen CLIP + the learnable parts of the method (prompt learners, subspace
// heads, learned OT marginal) -> per-layer token probabilities, maps, image scores, loss
// terms and OT diagnostics (docs/METHOD.md sections 2-4; docs/METHOD_IMPL.md).
//
// The model knows nothing of files or MPI: checkpoint IO lives in checkpoint.h.
#pragma once

#include <torch/types.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "clip/clip.h"
#include "method/method_config.h"
#include "method/prompts.h"

namespace tc::method {

// Text features: computed once per step (training) or once per evaluation.
struct TextFeatures {
  torch::Tensor base;      // [2,D] t^B (n, a): local/base space; the image space when not decoupled
  torch::Tensor global;    // [2,D] t^G (same tensor as `base` when not decoupled)
  torch::Tensor subspace;  // [Q,2,D] t^q_c
};

// Precomputed frozen-CLIP features (a feature cache): unnormalised, as VisualOutput gives them.
struct FeatureBatch {
  torch::Tensor global;               // [B,D]
  std::vector<torch::Tensor> tokens;  // per layer [B,1+N,D]
};

struct Targets {
  torch::Tensor masks;   // [B,S,S] 0/1 (any dtype)
  torch::Tensor labels;  // [B] 0 normal / 1 anomalous
};

struct LossTerms {
  torch::Tensor total;       // L_global + lambda_loc (L_base + [L_dyn]) + [lambda_reg L_reg]
  torch::Tensor global;      // CE on the global logits
  torch::Tensor base_local;  // sum over layers of focal + 2 dice on P^base (unweighted)
  torch::Tensor dyn_local;   // the same on P^dyn (computed even when dyn_loss is off, for logs)
  torch::Tensor reg;         // orthogonality L_reg (0 for Q = 1)
};

// Per layer, averaged over the images of the batch (no gradient).
struct OtDiagnostics {
  std::vector<double> transport_cost;     // sum_iq plan_iq C_iq (plan mass 1)
  std::vector<std::vector<double>> mass;  // [layer][q] mean over tokens of A_iq (sums to 1)
  std::vector<double> entropy;            // mean over tokens of -sum_q A_iq log A_iq
  std::vector<int64_t> max_iterations;    // Sinkhorn iterations (max over images); 0 for greedy
  std::vector<double> max_violation;      // Sinkhorn marginal violation (max over images)
  torch::Tensor gram;                     // [2,Q,Q] G_c = T_c T_c^T of the subspace embeddings
};

struct DetectorOutput {
  TextFeatures text;
  std::vector<torch::Tensor> base_probs;  // per layer [B,N,2]
  std::vector<torch::Tensor> dyn_probs;   // per layer [B,N,2]
  std::vector<torch::Tensor> log_plan;    // per layer [B,N,Q] OT (or greedy) log-plan
  std::vector<torch::Tensor> assignment;  // per layer [B,N,Q] (rows sum to 1, k non-zeros)
  std::vector<torch::Tensor> base_maps;   // per layer [B,2,S,S] upsampled probabilities
  std::vector<torch::Tensor> dyn_maps;    // per layer [B,2,S,S] (when dyn_loss or map_source dyn)
  torch::Tensor map;            // [B,S,S] sum over layers per map_source, NOT blurred
  torch::Tensor global_logits;  // [B,2] <g, t^G_c> / tau
  torch::Tensor global_prob;    // [B] softmax(global_logits)[a]
  torch::Tensor image_score;    // [B] combine_image_score on the unblurred map (gamma 0: = global_prob)
  bool has_loss = false;
  LossTerms loss;
  OtDiagnostics ot;
};

class DetectorImpl : public torch::nn::Module {
 public:
  // `clip` must be frozen; `tokens` are the two prompts tokenised with the backbone's
  // tokenizer (make_prompt_tokens); learnable tensors are drawn from `seed`. With
  // method.text = handwritten nothing is learnable and the text features are the hand-written
  // prompts' (tokens.handwritten_*).
  DetectorImpl(clip::ClipModel clip, const MethodOptions& options, const PromptTokens& tokens,
               uint64_t seed);

  TextFeatures encode_text();
  // Frozen backbone features of normalised images [B,3,S,S] (no gradient).
  FeatureBatch extract_features(const torch::Tensor& images);
  DetectorOutput forward(const torch::Tensor& images, const Targets* targets = nullptr);
  // From a feature cache; `text` (from encode_text) may be passed to reuse it across batches.
  DetectorOutput forward_features(const FeatureBatch& features, const Targets* targets = nullptr,
                                  const TextFeatures* text = nullptr);

  // Learnable tensors with stable names, in a fixed order (base learner first, then the
  // global learner, subspace heads, OT marginal). See docs/FORMATS.md for the list.
  const std::vector<std::pair<std::string, torch::Tensor>>& learnable_parameters() const {
    return learnable_;
  }
  torch::Tensor learnable(const std::string& name) const;  // Runtime error when absent
  const MethodOptions& options() const { return opt_; }
  const PromptTokens& prompt_tokens() const { return tokens_; }
  int64_t image_size() const { return clip->config.image_size; }
  int64_t num_layers() const { return int64_t(clip->config.layers.size()); }

  clip::ClipModel clip{nullptr};

 private:
  torch::Tensor add_learnable(const std::string& name, torch::Tensor t);
  // The context and deep prompts of a learner ("base" or "global"), one prompt pair.
  PromptSet prompt_set(const std::string& learner) const;

  MethodOptions opt_;
  PromptTokens tokens_;
  torch::Tensor ids_;  // [2,77] int64 buffer
  torch::Tensor handwritten_ids_;  // [Mn+Ma,77] (method.text = handwritten)
  std::vector<std::pair<std::string, torch::Tensor>> learnable_;
};
TORCH_MODULE(Detector);

// The method on top of features and text features (what forward_features runs after the text
// tower): probabilities, OT assignment, maps of size S, scores, losses. `log_nu` is the log
// subspace marginal (empty = uniform). Exposed for the parity test and for benchmarks.
DetectorOutput method_head(const FeatureBatch& features, const TextFeatures& text,
                           const MethodOptions& options, int64_t image_size,
                           const torch::Tensor& log_nu = {}, const Targets* targets = nullptr);

}  // namespace tc::method
