#include "method/detector.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <cmath>

#include "method/losses.h"
#include "method/ot.h"
#include "method/scores.h"
#include "util/check.h"

namespace tc::method {

namespace detail_detector {

std::string module_safe(const std::string& name) {
  std::string s = name;
  for (char& c : s)
    if (c == '.') c = '_';
  return s;
}

}  // namespace detail_detector

DetectorImpl::DetectorImpl(clip::ClipModel clip_model, const MethodOptions& options,
                           const PromptTokens& tokens, uint64_t seed)
    : clip(std::move(clip_model)), opt_(options), tokens_(tokens) {
  TC_CHECK(clip, "Detector needs a CLIP model");
  const auto& cc = clip->config;
  opt_.validate(cc.text.layers);
  const int64_t T = cc.text.context, Dt = cc.text.width, D = cc.embed_dim;
  const int64_t n = opt_.prompt_length, Q = opt_.subspaces, nd = opt_.deep_prompt_length;
  TC_CHECK_USAGE(n + 2 <= T, "method.prompt_length = {}: at most {} fits the text context", n, T - 2);
  TC_CHECK_INPUT(int64_t(tokens_.normal.size()) == T && int64_t(tokens_.abnormal.size()) == T,
                 "prompt tokens: expected {} ids per prompt, got {} and {}", T,
                 tokens_.normal.size(), tokens_.abnormal.size());
  std::vector<int64_t> ids(tokens_.normal);
  ids.insert(ids.end(), tokens_.abnormal.begin(), tokens_.abnormal.end());
  ids_ = register_buffer("prompt_ids", torch::tensor(ids, torch::kLong).reshape({2, T}));
  register_module("clip", clip);

  if (opt_.text == "handwritten") {
    // No prompt learning: the hand-written prompts' ids, encoded by encode_text.
    TC_CHECK_INPUT(!tokens_.handwritten_normal.empty() && !tokens_.handwritten_abnormal.empty(),
                   "method.text = handwritten: no hand-written prompt tokens were given");
    std::vector<int64_t> hw;
    for (const auto* group : {&tokens_.handwritten_normal, &tokens_.handwritten_abnormal})
      for (const auto& v : *group) {
        TC_CHECK_INPUT(int64_t(v.size()) == T, "hand-written prompt: expected {} ids, got {}", T, v.size());
        hw.insert(hw.end(), v.begin(), v.end());
      }
    handwritten_ids_ = register_buffer("handwritten_ids", torch::tensor(hw, torch::kLong).reshape({-1, T}));
    return;
  }

  // Base (local) learner first: its values depend only on (seed, name) anyway.
  add_learnable("base.ctx_normal", rng_normal({n, Dt}, seed, "base.ctx_normal"));
  add_learnable("base.ctx_abnormal", rng_normal({n, Dt}, seed, "base.ctx_abnormal"));
  for (int i = 0; i + 1 < opt_.prompt_depth; ++i) {
    std::string name = "base.deep." + std::to_string(i);
    add_learnable(name, rng_normal({nd, Dt}, seed, name));
  }
  if (opt_.decouple_prompts) {
    add_learnable("global.ctx_normal", rng_normal({n, Dt}, seed, "global.ctx_normal"));
    add_learnable("global.ctx_abnormal", rng_normal({n, Dt}, seed, "global.ctx_abnormal"));
    for (int i = 0; i + 1 < opt_.prompt_depth; ++i) {
      std::string name = "global.deep." + std::to_string(i);
      add_learnable(name, rng_normal({nd, Dt}, seed, name));
    }
  }
  if (opt_.subspace_mode == "projection") {
    add_learnable("subspace.weight", rng_normal({Q * D, D}, seed, "subspace.weight"));
    add_learnable("subspace.bias", torch::zeros({Q * D}));
  } else {
    add_learnable("subspace.ctx_normal", rng_normal({Q, n, Dt}, seed, "subspace.ctx_normal"));
    add_learnable("subspace.ctx_abnormal", rng_normal({Q, n, Dt}, seed, "subspace.ctx_abnormal"));
  }
  if (opt_.ot_subspace_marginal == "learned") add_learnable("ot.nu_logits", torch::zeros({Q}));
}

torch::Tensor DetectorImpl::add_learnable(const std::string& name, torch::Tensor t) {
  t = register_parameter(detail_detector::module_safe(name), t, /*requires_grad=*/true);
  learnable_.emplace_back(name, t);
  return t;
}

torch::Tensor DetectorImpl::learnable(const std::string& name) const {
  for (const auto& kv : learnable_)
    if (kv.first == name) return kv.second;
  TC_RUNTIME_ERROR("detector has no learnable tensor '{}'", name);
}

PromptSet DetectorImpl::prompt_set(const std::string& learner) const {
  PromptSet s;
  s.ctx_normal = learnable(learner + ".ctx_normal").unsqueeze(0);
  s.ctx_abnormal = learnable(learner + ".ctx_abnormal").unsqueeze(0);
  for (int i = 0; i + 1 < opt_.prompt_depth; ++i)
    s.deep.push_back(learnable(learner + ".deep." + std::to_string(i)));
  return s;
}

TextFeatures DetectorImpl::encode_text() {
  auto& text = *clip->text;
  if (opt_.text == "handwritten") {
    // WinCLIP's prompt ensemble: each state = normalize(mean of the normalised embeddings).
    torch::NoGradGuard ng;
    const int64_t mn = int64_t(tokens_.handwritten_normal.size());
    torch::Tensor e = l2_normalize(text.encode(handwritten_ids_));
    torch::Tensor n = l2_normalize(e.narrow(0, 0, mn).mean(0));
    torch::Tensor a = l2_normalize(e.narrow(0, mn, e.size(0) - mn).mean(0));
    TextFeatures tf;
    tf.base = torch::stack({n, a}, 0);
    tf.global = tf.base;
    tf.subspace = tf.base.unsqueeze(0).expand({int64_t(opt_.subspaces), 2, tf.base.size(1)}).contiguous();
    return tf;
  }
  torch::Tensor emb;
  {
    torch::NoGradGuard ng;  // frozen token embeddings
    emb = text.embed_tokens(ids_);
  }
  torch::Tensor eot = ids_.argmax(-1);
  TextFeatures tf;
  tf.base = encode_prompt_set(text, emb, eot, prompt_set("base"), opt_.deep_prompt_fp16_round)[0];
  tf.global = opt_.decouple_prompts
                  ? encode_prompt_set(text, emb, eot, prompt_set("global"), opt_.deep_prompt_fp16_round)[0]
                  : tf.base;
  const int64_t Q = opt_.subspaces;
  if (opt_.subspace_mode == "projection") {
    tf.subspace = project_subspaces(tf.base, learnable("subspace.weight"), learnable("subspace.bias"),
                                    Q, opt_.subspace_residual);
  } else {
    PromptSet s;
    s.ctx_normal = learnable("subspace.ctx_normal");
    s.ctx_abnormal = learnable("subspace.ctx_abnormal");
    s.deep = prompt_set("base").deep;  // deep prompts shared with the base learner
    tf.subspace = encode_prompt_set(text, emb, eot, s, opt_.deep_prompt_fp16_round);
  }
  return tf;
}

FeatureBatch DetectorImpl::extract_features(const torch::Tensor& images) {
  torch::NoGradGuard ng;
  clip::VisualOutput v = clip->visual->forward(images);
  FeatureBatch fb;
  fb.global = v.global;
  fb.tokens = std::move(v.tokens);
  return fb;
}

DetectorOutput DetectorImpl::forward(const torch::Tensor& images, const Targets* targets) {
  return forward_features(extract_features(images), targets, nullptr);
}

DetectorOutput DetectorImpl::forward_features(const FeatureBatch& fb, const Targets* targets,
                                              const TextFeatures* text) {
  const auto& cc = clip->config;
  const int64_t L = int64_t(fb.tokens.size());
  TC_CHECK_INPUT(L == int64_t(cc.layers.size()) && L >= 1,
                 "features: {} token layers given, the backbone config returns {}", L, cc.layers.size());
  TC_CHECK_INPUT(fb.global.defined() && fb.global.dim() == 2 && fb.global.size(1) == cc.embed_dim,
                 "features: global must be [B,{}]", cc.embed_dim);
  for (const auto& t : fb.tokens)
    TC_CHECK_INPUT(t.dim() == 3 && t.size(0) == fb.global.size(0) && t.size(1) == 1 + cc.num_patches() &&
                       t.size(2) == cc.embed_dim,
                   "features: tokens must be [{},{},{}] per layer", fb.global.size(0),
                   1 + cc.num_patches(), cc.embed_dim);
  torch::Tensor log_nu;
  if (opt_.ot_subspace_marginal == "learned" && opt_.text != "handwritten") log_nu = torch::log_softmax(learnable("ot.nu_logits"), 0);
  return method_head(fb, text ? *text : encode_text(), opt_, cc.image_size, log_nu, targets);
}

DetectorOutput method_head(const FeatureBatch& fb, const TextFeatures& text,
                           const MethodOptions& opt_, int64_t S, const torch::Tensor& log_nu,
                           const Targets* targets) {
  const int64_t L = int64_t(fb.tokens.size()), Q = opt_.subspaces;
  const double tau = opt_.temperature;
  const int64_t B = fb.global.size(0);
  TC_CHECK(text.subspace.defined() && text.subspace.size(0) == Q, "subspace text must be [Q,2,D]");
  DetectorOutput out;
  out.text = text;
  const TextFeatures& tf = out.text;
  const bool need_dyn_maps = opt_.dyn_loss || opt_.map_source == "dyn";
  const bool with_loss = targets != nullptr;

  SinkhornOptions so{opt_.ot_eps, opt_.ot_tol, opt_.ot_max_iters, opt_.ot_backprop};

  for (int64_t l = 0; l < L; ++l) {
    torch::Tensor f = l2_normalize(fb.tokens[size_t(l)]);  // [B,1+N,D]
    out.base_probs.push_back(base_token_probs(f, tf.base, tau));
    out.base_maps.push_back(probs_to_map(out.base_probs.back(), S));

    torch::Tensor patches = f.slice(1, 1);  // CLS dropped
    torch::Tensor sims = subspace_similarities(patches, tf.subspace);  // [B,N,Q,2]
    torch::Tensor cost = opt_.ot_cost == "max" ? ot_cost_max(sims) : ot_cost_centre(patches, tf.subspace);
    torch::Tensor log_plan;
    int64_t iters = 0;
    double viol = 0.0;
    if (opt_.assign == "ot") {
      SinkhornResult r = sinkhorn_log(cost, log_nu, so);
      log_plan = r.log_plan;
      iters = r.iterations.max().item<int64_t>();
      viol = r.violation.max().item<double>();
    } else {
      log_plan = greedy_log_plan(cost, opt_.ot_eps, opt_.ot_backprop);
    }
    torch::Tensor A = topk_assignment(log_plan, opt_.topk);
    out.log_plan.push_back(log_plan);
    out.assignment.push_back(A);
    out.dyn_probs.push_back(dynamic_token_probs(A, sims, tau));
    if (need_dyn_maps) out.dyn_maps.push_back(probs_to_map(out.dyn_probs.back(), S));

    torch::NoGradGuard ng;
    torch::Tensor plan = log_plan.detach().exp();
    torch::Tensor Ad = A.detach();
    out.ot.transport_cost.push_back(
        (plan * cost.detach()).sum({1, 2}).mean().item<double>() /
        (opt_.assign == "ot" ? 1.0 : double(plan.size(1))));  // greedy rows sum to 1: mass N
    torch::Tensor mass = Ad.mean(at::IntArrayRef{0, 1}).to(torch::kDouble).cpu().contiguous();
    out.ot.mass.emplace_back(mass.data_ptr<double>(), mass.data_ptr<double>() + Q);
    torch::Tensor ent = -(Ad * torch::where(Ad > 0, Ad.log(), torch::zeros_like(Ad))).sum(-1);
    out.ot.entropy.push_back(ent.mean().item<double>());
    out.ot.max_iterations.push_back(iters);
    out.ot.max_violation.push_back(viol);
  }
  {
    torch::NoGradGuard ng;
    out.ot.gram = subspace_gram(tf.subspace.detach());
  }

  // Anomaly map (unblurred): sum over layers of P_a from the chosen source.
  for (int64_t l = 0; l < L; ++l) {
    torch::Tensor m = opt_.map_source == "base"
                          ? out.base_maps[size_t(l)].select(1, 1)
                          : out.dyn_maps[size_t(l)].select(1, 1) +
                                opt_.beta * out.base_maps[size_t(l)].select(1, 1);
    out.map = l == 0 ? m : out.map + m;
  }
  out.global_logits = global_logits(l2_normalize(fb.global), tf.global, tau);
  out.global_prob = torch::softmax(out.global_logits, -1).select(1, 1);
  out.image_score = combine_image_score(out.global_prob, out.map, opt_.gamma, L);

  if (with_loss) {
    TC_CHECK_INPUT(targets->masks.defined() && targets->masks.dim() == 3 &&
                       targets->masks.size(0) == B && targets->masks.size(1) == S &&
                       targets->masks.size(2) == S,
                   "targets: masks must be [{},{},{}]", B, S, S);
    TC_CHECK_INPUT(targets->labels.defined() && targets->labels.numel() == B,
                   "targets: labels must be [{}]", B);
    torch::Tensor mask = targets->masks.to(fb.global.device(), torch::kFloat);
    torch::Tensor labels = targets->labels.to(fb.global.device(), torch::kLong).reshape({B});
    LossTerms& lt = out.loss;
    lt.global = image_ce_loss(out.global_logits, labels);
    for (int64_t l = 0; l < L; ++l) {
      torch::Tensor b = local_loss(out.base_maps[size_t(l)], mask);
      lt.base_local = l == 0 ? b : lt.base_local + b;
      if (opt_.dyn_loss) {
        torch::Tensor d = local_loss(out.dyn_maps[size_t(l)], mask);
        lt.dyn_local = l == 0 ? d : lt.dyn_local + d;
      }
    }
    if (!opt_.dyn_loss) {
      // For the logs only: the dynamic terms on token-level maps, without gradient.
      torch::NoGradGuard ng;
      for (int64_t l = 0; l < L; ++l) {
        torch::Tensor d = local_loss(probs_to_map(out.dyn_probs[size_t(l)].detach(), S), mask);
        lt.dyn_local = l == 0 ? d : lt.dyn_local + d;
      }
    }
    lt.reg = orthogonality_loss(tf.subspace);
    torch::Tensor local = opt_.dyn_loss ? lt.base_local + lt.dyn_local : lt.base_local;
    lt.total = lt.global + opt_.lambda_loc * local;
    if (opt_.lambda_reg > 0 && Q > 1) lt.total = lt.total + opt_.lambda_reg * lt.reg;
    out.has_loss = true;
  }
  return out;
}

}  // namespace tc::method
