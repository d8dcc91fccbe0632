// Object-agnostic learnable prompts (docs/METHOD.md section 2) and the subspace heads
// (section 4, item 2). The learnable tensors themselves live in the Detector's named list;
// these are the functions that turn them into text features.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tc::clip { class TextTransformerImpl; }

namespace tc::method {

// Token ids of the two prompt strings, each padded to the context length (77), and the EOT
// positions (argmax of the ids, as the reference takes them).
struct PromptTokens {
  std::vector<int64_t> normal, abnormal;
  // method.text = handwritten: the token ids of each hand-written prompt (77 each).
  std::vector<std::vector<int64_t>> handwritten_normal, handwritten_abnormal;
};

// "X X ... X object." and "X X ... X damaged object." (n X's), as the reference writes them.
std::string normal_prompt_text(int prompt_length);
std::string abnormal_prompt_text(int prompt_length);

// The learnable tensors of one prompt learner: contexts [P, n_ctx, Dt] (P pairs; the base
// and global learners have P = 1) and the deep prompts (depth - 1 tensors [n_deep, Dt]).
struct PromptSet {
  torch::Tensor ctx_normal, ctx_abnormal;
  std::vector<torch::Tensor> deep;
};

// Text features [P,2,D] (index 1: 0 normal, 1 abnormal), L2-normalised: the token embeddings
// of both prompts with positions 1..n_ctx replaced by each context, through the text tower
// with the deep prompts (rounded through fp16 when `fp16_round`, as the reference does).
// `prompt_embed` [2,77,Dt] is the token embedding of `tokens` (frozen), `eot` [2] int64.
torch::Tensor encode_prompt_set(clip::TextTransformerImpl& text, const torch::Tensor& prompt_embed,
                                const torch::Tensor& eot, const PromptSet& set, bool fp16_round);

// Projection-mode subspaces: t^q_c = normalize([t_c +] W_q t_c + b_q) for base features
// t [2,D] and a Linear D -> Q*D (weight [Q*D,D], bias [Q*D]) -> [Q,2,D].
torch::Tensor project_subspaces(const torch::Tensor& base_text, const torch::Tensor& weight,
                                const torch::Tensor& bias, int64_t Q, bool residual);

// Deterministic N(0, std) tensor from tc::Rng: the stream is keyed by (seed, FNV-1a of
// `name`), so a tensor's values depend only on the seed and its name (adding heads never
// changes the base tensors; identical across libtorch versions).
torch::Tensor rng_normal(const std::vector<int64_t>& shape, uint64_t seed, const std::string& name,
                         double std = 0.02);

}  // namespace tc::method
