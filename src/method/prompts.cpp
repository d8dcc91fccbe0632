#include "method/prompts.h"

#include <ATen/ATen.h>

#include "clip/clip.h"
#include "method/scores.h"
#include "util/check.h"
#include "util/rng.h"

namespace tc::method {

namespace detail_prompts {

std::string x_run(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += i ? " X" : "X";
  return s;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace detail_prompts

std::string normal_prompt_text(int n) { return detail_prompts::x_run(n) + " object."; }
std::string abnormal_prompt_text(int n) { return detail_prompts::x_run(n) + " damaged object."; }

torch::Tensor rng_normal(const std::vector<int64_t>& shape, uint64_t seed, const std::string& name,
                         double std) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  std::vector<float> v(static_cast<size_t>(n));
  Rng r(seed, detail_prompts::fnv1a(name));
  for (auto& x : v) x = static_cast<float>(r.normal(0.0, std));
  return torch::from_blob(v.data(), shape, torch::kFloat).clone();
}

torch::Tensor encode_prompt_set(clip::TextTransformerImpl& text, const torch::Tensor& prompt_embed,
                                const torch::Tensor& eot, const PromptSet& set, bool fp16_round) {
  TC_CHECK(set.ctx_normal.dim() == 3 && set.ctx_abnormal.sizes() == set.ctx_normal.sizes(),
           "contexts must be [P,n_ctx,Dt] and alike");
  const int64_t P = set.ctx_normal.size(0), n = set.ctx_normal.size(1), W = prompt_embed.size(2),
                T = prompt_embed.size(1);
  TC_CHECK(n + 2 <= T, "prompt length {} does not fit the context {}", n, T);
  // Order of the text batch: n_0, a_0, n_1, a_1, ... (the reference: normal then abnormal).
  torch::Tensor ctx = torch::stack({set.ctx_normal, set.ctx_abnormal}, 1).reshape({2 * P, n, W});
  torch::Tensor emb = prompt_embed.repeat({P, 1, 1});  // [2P,T,W], row 2p+c = prompt c
  torch::Tensor x = torch::cat({emb.narrow(1, 0, 1), ctx, emb.narrow(1, 1 + n, T - 1 - n)}, 1);
  std::vector<torch::Tensor> deep;
  deep.reserve(set.deep.size());
  for (const auto& d : set.deep)
    deep.push_back(fp16_round ? d.to(torch::kHalf).to(d.scalar_type()) : d);
  torch::Tensor f = text.forward_embeddings(x, eot.repeat({P}), deep);  // [2P,D]
  return l2_normalize(f.reshape({P, 2, f.size(1)}));
}

torch::Tensor project_subspaces(const torch::Tensor& base_text, const torch::Tensor& weight,
                                const torch::Tensor& bias, int64_t Q, bool residual) {
  const int64_t D = base_text.size(1);
  TC_CHECK(weight.size(0) == Q * D && weight.size(1) == D, "subspace weight must be [Q*D,D]");
  torch::Tensor h = at::linear(base_text, weight, bias).reshape({base_text.size(0), Q, D});
  if (residual) h = base_text.unsqueeze(1) + h;
  return l2_normalize(h).transpose(0, 1);  // [Q,2,D]
}

}  // namespace tc::method
