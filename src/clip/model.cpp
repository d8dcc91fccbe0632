// The CLIP towers. Attention is written out (q k^T, softmax, v) rather than taken from
// torch::nn::MultiheadAttention because the V-V path needs v v^T from the same in_proj, and
// because it keeps one code path for both towers and both libtorch versions.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/irange.h>

#include <cmath>
#include <limits>

#include "clip/clip.h"
#include "compat/torch_compat.h"
#include "util/check.h"
#include "util/rng.h"

namespace tc::clip {

namespace detail_model {

constexpr double kLnEps = 1e-5;

std::string shape_str(at::IntArrayRef s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return at::layer_norm(x, {x.size(-1)}, w, b, kLnEps);
}

}  // namespace detail_model

// ------------------------------------------------------------------------- block

ResidualBlockImpl::ResidualBlockImpl(int width_, int heads_, Activation act_)
    : width(width_), heads(heads_), act(act_) {
  const int64_t W = width;
  ln_1_w = register_parameter("ln_1_weight", torch::ones({W}));
  ln_1_b = register_parameter("ln_1_bias", torch::zeros({W}));
  in_proj_weight = register_parameter("attn_in_proj_weight", torch::zeros({3 * W, W}));
  in_proj_bias = register_parameter("attn_in_proj_bias", torch::zeros({3 * W}));
  out_proj_w = register_parameter("attn_out_proj_weight", torch::zeros({W, W}));
  out_proj_b = register_parameter("attn_out_proj_bias", torch::zeros({W}));
  ln_2_w = register_parameter("ln_2_weight", torch::ones({W}));
  ln_2_b = register_parameter("ln_2_bias", torch::zeros({W}));
  c_fc_w = register_parameter("mlp_c_fc_weight", torch::zeros({4 * W, W}));
  c_fc_b = register_parameter("mlp_c_fc_bias", torch::zeros({4 * W}));
  c_proj_w = register_parameter("mlp_c_proj_weight", torch::zeros({W, 4 * W}));
  c_proj_b = register_parameter("mlp_c_proj_bias", torch::zeros({W}));
}

torch::Tensor ResidualBlockImpl::attention(const torch::Tensor& a, const torch::Tensor& mask,
                                           torch::Tensor* vv) {
  const int64_t B = a.size(0), T = a.size(1), H = heads, hd = width / heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  // [B,T,3W] -> three [B,H,T,hd]
  auto qkv = at::linear(a, in_proj_weight, in_proj_bias).view({B, T, 3, H, hd}).permute({2, 0, 3, 1, 4});
  auto q = qkv[0], k = qkv[1], v = qkv[2];
  auto heads_out = [&](const at::Tensor& x, const at::Tensor& y, const at::Tensor& val) {
    auto logits = at::matmul(x * scale, y.transpose(-2, -1));  // q scaled first, as torch's MHA does
    if (mask.defined()) logits = logits + mask;
    auto o = at::matmul(at::softmax(logits, -1), val);  // [B,H,T,hd]
    return at::linear(o.permute({0, 2, 1, 3}).reshape({B, T, width}), out_proj_w, out_proj_b);
  };
  if (vv) *vv = heads_out(v, v, v);
  return heads_out(q, k, v);
}

torch::Tensor ResidualBlockImpl::mlp(const torch::Tensor& x) {
  auto h = at::linear(x, c_fc_w, c_fc_b);
  h = act == Activation::QuickGELU ? h * at::sigmoid(1.702 * h) : at::gelu(h);
  return at::linear(h, c_proj_w, c_proj_b);
}

torch::Tensor ResidualBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  auto h = x + attention(detail_model::layer_norm(x, ln_1_w, ln_1_b), mask, nullptr);
  return h + mlp(detail_model::layer_norm(h, ln_2_w, ln_2_b));
}

torch::Tensor ResidualBlockImpl::forward_vv(const torch::Tensor& h_prev, const torch::Tensor& z_prev,
                                            torch::Tensor* z_out) {
  // Both paths read LN1 of the ORIGINAL stream; z gets no MLP (METHOD.md section 1).
  at::Tensor vv;
  auto qk = attention(detail_model::layer_norm(h_prev, ln_1_w, ln_1_b), {}, &vv);
  *z_out = (z_prev.defined() ? z_prev : h_prev) + vv;
  auto h = h_prev + qk;
  return h + mlp(detail_model::layer_norm(h, ln_2_w, ln_2_b));
}

// ------------------------------------------------------------------------- visual

VisionTransformerImpl::VisionTransformerImpl(const ClipConfig& c) : config(c) {
  const int64_t W = c.vision.width, p = c.vision.patch, g0 = c.vision.native_size / c.vision.patch;
  TC_CHECK(g0 > 0 && g0 * p == c.vision.native_size, "native size {} vs patch {}",
           c.vision.native_size, p);
  conv1_w = register_parameter("conv1_weight", torch::zeros({W, 3, p, p}));
  class_embedding = register_parameter("class_embedding", torch::zeros({W}));
  positional_embedding = register_parameter("positional_embedding", torch::zeros({1 + g0 * g0, W}));
  ln_pre_w = register_parameter("ln_pre_weight", torch::ones({W}));
  ln_pre_b = register_parameter("ln_pre_bias", torch::zeros({W}));
  for (int i = 0; i < c.vision.layers; ++i)
    blocks.push_back(register_module("resblock" + std::to_string(i),
                                     ResidualBlock(c.vision.width, c.vision.heads, c.activation)));
  ln_post_w = register_parameter("ln_post_weight", torch::ones({W}));
  ln_post_b = register_parameter("ln_post_bias", torch::zeros({W}));
  proj = register_parameter("proj", torch::zeros({W, (int64_t)c.embed_dim}));
  pos_embed_used = register_buffer("pos_embed_used", torch::zeros({1, W}));
  set_image_size(c.image_size);
}

namespace detail_model {

// The stored position embedding [1+g0*g0,W] at a g x g grid: the grid part resized bilinearly
// (align_corners false, no antialias), the CLS row kept. Differentiable.
at::Tensor resize_pos_embed(const at::Tensor& pe, int64_t g0, int64_t g) {
  if (g == g0) return pe;
  const int64_t W = pe.size(1);
  auto grid = pe.narrow(0, 1, g0 * g0).reshape({1, g0, g0, W}).permute({0, 3, 1, 2});
  auto r = at::upsample_bilinear2d(grid, {g, g}, /*align_corners=*/false);
  return at::cat({pe.narrow(0, 0, 1), r.permute({0, 2, 3, 1}).reshape({g * g, W})}, 0);
}

}  // namespace detail_model

void VisionTransformerImpl::set_image_size(int S) {
  const int64_t p = config.vision.patch, g0 = config.vision.native_size / p;
  TC_CHECK_USAGE(S >= p && S % p == 0, "image size {}: expected a positive multiple of the patch size {}",
                 S, p);
  config.image_size = S;
  at::NoGradGuard ng;
  at::Tensor used = detail_model::resize_pos_embed(positional_embedding.detach(), g0, S / p).clone();
  pos_embed_used.set_data(used.contiguous());
}

void VisionTransformerImpl::set_precision(const std::string& p) {
  TC_CHECK_USAGE(p == "fp32" || p == "bf16" || p == "fp16",
                 "precision '{}': expected one of fp32, bf16, fp16", p);
  precision = p;
}

VisualOutput VisionTransformerImpl::forward(const torch::Tensor& images) {
  const auto& c = config;
  const int64_t S = c.image_size, W = c.vision.width;
  TC_CHECK_INPUT(images.dim() == 4 && images.size(1) == 3 && images.size(2) == S && images.size(3) == S,
                 "image tower input: expected [B,3,{},{}], got {}", S, S, detail_model::shape_str(images.sizes()));
  at::ScalarType ac = at::kFloat;
  if (images.is_cuda() && precision == "bf16") ac = at::kBFloat16;
  if (images.is_cuda() && precision == "fp16") ac = at::kHalf;
  compat::CudaAutocast autocast(ac);

  const int64_t B = images.size(0);
  auto x = at::conv2d(images.to(conv1_w.scalar_type()), conv1_w, {}, {c.vision.patch, c.vision.patch});
  x = x.flatten(2).transpose(1, 2);  // [B,N,W]
  x = at::cat({class_embedding.view({1, 1, W}).expand({B, 1, W}).to(x.scalar_type()), x}, 1);
  // Frozen (the detector, evaluation): the embedding resized once at load. Trained
  // (pretraining): resized from the live parameter so that its gradient flows.
  const at::Tensor pe = positional_embedding.requires_grad()
                            ? detail_model::resize_pos_embed(positional_embedding, c.vision.native_size / c.vision.patch,
                                                             S / c.vision.patch)
                            : pos_embed_used;
  x = x + pe.to(x.scalar_type());
  at::Tensor h = detail_model::layer_norm(x, ln_pre_w, ln_pre_b), z;

  auto ln_post_proj = [&](const at::Tensor& t) {
    return at::matmul(detail_model::layer_norm(t, ln_post_w, ln_post_b), proj).to(at::kFloat);
  };
  VisualOutput out;
  out.tokens.resize(c.layers.size());
  for (int l = 1; l <= c.vision.layers; ++l) {
    auto& blk = blocks[static_cast<size_t>(l - 1)];
    const bool vv = c.vv_on() && l >= c.vv_from;
    if (vv) h = blk->forward_vv(h, z, &z);
    else h = blk->forward(h);
    for (size_t i = 0; i < c.layers.size(); ++i)
      if (c.layers[i] == l) out.tokens[i] = ln_post_proj(vv ? z : h);
  }
  auto cls = h.select(1, 0);
  out.global = at::matmul(cls, proj).to(at::kFloat);
  out.embed = ln_post_proj(cls);
  return out;
}

// ------------------------------------------------------------------------- text

TextTransformerImpl::TextTransformerImpl(const ClipConfig& c) : config(c) {
  const int64_t W = c.text.width, T = c.text.context;
  token_embedding = register_parameter("token_embedding", torch::zeros({(int64_t)c.text.vocab, W}));
  positional_embedding = register_parameter("positional_embedding", torch::zeros({T, W}));
  for (int i = 0; i < c.text.layers; ++i)
    blocks.push_back(register_module("resblock" + std::to_string(i),
                                     ResidualBlock(c.text.width, c.text.heads, c.activation)));
  ln_final_w = register_parameter("ln_final_weight", torch::ones({W}));
  ln_final_b = register_parameter("ln_final_bias", torch::zeros({W}));
  text_projection = register_parameter("text_projection", torch::zeros({W, (int64_t)c.embed_dim}));
  causal_mask = register_buffer(
      "causal_mask", torch::full({T, T}, -std::numeric_limits<float>::infinity()).triu(1));
}

torch::Tensor TextTransformerImpl::embed_tokens(const torch::Tensor& ids) {
  TC_CHECK_INPUT(ids.dim() == 2 && ids.size(1) == config.text.context,
                 "token ids: expected [M,{}], got {}", config.text.context, detail_model::shape_str(ids.sizes()));
  return at::embedding(token_embedding, ids.to(token_embedding.device(), at::kLong));
}

torch::Tensor TextTransformerImpl::forward_embeddings(const torch::Tensor& x_in, const torch::Tensor& eot,
                                                      const std::vector<torch::Tensor>& deep) {
  const int64_t T = config.text.context, W = config.text.width;
  TC_CHECK_INPUT(x_in.dim() == 3 && x_in.size(1) == T && x_in.size(2) == W,
                 "text tower input: expected [M,{},{}], got {}", T, W, detail_model::shape_str(x_in.sizes()));
  const int64_t M = x_in.size(0);
  TC_CHECK_INPUT(eot.dim() == 1 && eot.size(0) == M, "EOT index: expected [{}], got {}", M, detail_model::shape_str(eot.sizes()));
  TC_CHECK_INPUT((int64_t)deep.size() <= config.text.layers - 1,
                 "deep prompts: {} tensors, at most {} (text blocks - 1)", deep.size(), config.text.layers - 1);
  auto x = x_in + positional_embedding;
  for (int i = 0; i < config.text.layers; ++i) {
    // Deep prompt i replaces positions 1..n before block i+2 (1-based), AnomalyCLIP's rule.
    if (i >= 1 && static_cast<size_t>(i - 1) < deep.size()) {
      const auto& d = deep[static_cast<size_t>(i - 1)];
      TC_CHECK_INPUT(d.dim() == 2 && d.size(1) == W && d.size(0) >= 1 && d.size(0) <= T - 1,
                     "deep prompt {}: expected [n,{}] with 1 <= n <= {}, got {}", i - 1, W, T - 1, detail_model::shape_str(d.sizes()));
      const int64_t n = d.size(0);
      x = at::cat({x.narrow(1, 0, 1), d.to(x.scalar_type()).unsqueeze(0).expand({M, n, W}),
                   x.narrow(1, 1 + n, T - 1 - n)}, 1);
    }
    x = blocks[static_cast<size_t>(i)]->forward(x, causal_mask);
  }
  x = detail_model::layer_norm(x, ln_final_w, ln_final_b);
  auto idx = eot.to(at::kLong).to(x.device()).view({M, 1, 1}).expand({M, 1, W});
  return at::matmul(x.gather(1, idx).squeeze(1), text_projection);
}

torch::Tensor TextTransformerImpl::encode(const torch::Tensor& ids) {
  auto eot = ids.argmax(-1);
  return forward_embeddings(embed_tokens(ids), eot, {});
}

torch::Tensor TextTransformerImpl::encode_prefix(const torch::Tensor& ids) {
  const int64_t M = ids.size(0), W = config.text.width;
  auto eot = ids.argmax(-1);
  const int64_t T = M > 0 ? eot.max().item<int64_t>() + 1 : 1;
  auto x = embed_tokens(ids).narrow(1, 0, T) + positional_embedding.narrow(0, 0, T);
  const auto mask = causal_mask.narrow(0, 0, T).narrow(1, 0, T);
  for (auto& blk : blocks) x = blk->forward(x, mask);
  x = detail_model::layer_norm(x, ln_final_w, ln_final_b);
  auto idx = eot.to(at::kLong).to(x.device()).view({M, 1, 1}).expand({M, 1, W});
  return at::matmul(x.gather(1, idx).squeeze(1), text_projection);
}

// ------------------------------------------------------------------------- whole model

ClipModelImpl::ClipModelImpl(const ClipConfig& c) : config(c) {
  validate_config(c);
  visual = register_module("visual", VisionTransformer(c));
  text = register_module("text", TextTransformer(c));
  logit_scale = register_parameter("logit_scale", torch::full({}, std::log(1.0 / 0.07)));
}

namespace detail_model {
void add_block(std::vector<std::pair<std::string, torch::Tensor>>& out, const std::string& pre,
               ResidualBlock& b) {
  out.emplace_back(pre + "attn.in_proj_weight", b->in_proj_weight);
  out.emplace_back(pre + "attn.in_proj_bias", b->in_proj_bias);
  out.emplace_back(pre + "attn.out_proj.weight", b->out_proj_w);
  out.emplace_back(pre + "attn.out_proj.bias", b->out_proj_b);
  out.emplace_back(pre + "ln_1.weight", b->ln_1_w);
  out.emplace_back(pre + "ln_1.bias", b->ln_1_b);
  out.emplace_back(pre + "mlp.c_fc.weight", b->c_fc_w);
  out.emplace_back(pre + "mlp.c_fc.bias", b->c_fc_b);
  out.emplace_back(pre + "mlp.c_proj.weight", b->c_proj_w);
  out.emplace_back(pre + "mlp.c_proj.bias", b->c_proj_b);
  out.emplace_back(pre + "ln_2.weight", b->ln_2_w);
  out.emplace_back(pre + "ln_2.bias", b->ln_2_b);
}
}  // namespace detail_model

std::vector<std::pair<std::string, torch::Tensor>> ClipModelImpl::openai_named_parameters() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  auto& v = *visual;
  out.emplace_back("visual.class_embedding", v.class_embedding);
  out.emplace_back("visual.positional_embedding", v.positional_embedding);
  out.emplace_back("visual.proj", v.proj);
  out.emplace_back("visual.conv1.weight", v.conv1_w);
  out.emplace_back("visual.ln_pre.weight", v.ln_pre_w);
  out.emplace_back("visual.ln_pre.bias", v.ln_pre_b);
  for (size_t i = 0; i < v.blocks.size(); ++i)
    detail_model::add_block(out, "visual.transformer.resblocks." + std::to_string(i) + ".", v.blocks[i]);
  out.emplace_back("visual.ln_post.weight", v.ln_post_w);
  out.emplace_back("visual.ln_post.bias", v.ln_post_b);
  auto& t = *text;
  out.emplace_back("positional_embedding", t.positional_embedding);
  out.emplace_back("text_projection", t.text_projection);
  out.emplace_back("logit_scale", logit_scale);
  for (size_t i = 0; i < t.blocks.size(); ++i)
    detail_model::add_block(out, "transformer.resblocks." + std::to_string(i) + ".", t.blocks[i]);
  out.emplace_back("token_embedding.weight", t.token_embedding);
  out.emplace_back("ln_final.weight", t.ln_final_w);
  out.emplace_back("ln_final.bias", t.ln_final_b);
  return out;
}

void ClipModelImpl::freeze() {
  for (auto& p : parameters()) p.set_requires_grad(false);
  eval();
}

// ------------------------------------------------------------------------- random init

namespace detail_model {

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : s) { h ^= ch; h *= 1099511628211ull; }
  return h;
}

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

}  // namespace detail_model

void init_random(ClipModel& model, uint64_t seed) {
  using detail_model::ends_with;
  const auto& c = model->config;
  at::NoGradGuard ng;
  for (auto& [name, t] : model->openai_named_parameters()) {
    const bool vis = name.rfind("visual.", 0) == 0;
    const double W = vis ? c.vision.width : c.text.width;
    const double L = vis ? c.vision.layers : c.text.layers;
    // OpenAI's initialize_parameters for the text tower; the same rule for the visual blocks.
    const double attn_std = 1.0 / std::sqrt(W), proj_std = attn_std / std::sqrt(2.0 * L),
                 fc_std = 1.0 / std::sqrt(2.0 * W);
    double std = 0, fill = 0;
    bool normal = true;
    if (name == "logit_scale") { normal = false; fill = std::log(1.0 / 0.07); }
    else if (ends_with(name, "ln_1.weight") || ends_with(name, "ln_2.weight") || ends_with(name, "ln_pre.weight") ||
             ends_with(name, "ln_post.weight") || ends_with(name, "ln_final.weight")) { normal = false; fill = 1; }
    else if (ends_with(name, "bias")) { normal = false; fill = 0; }
    else if (name == "token_embedding.weight") std = 0.02;
    else if (name == "positional_embedding") std = 0.01;
    else if (ends_with(name, "in_proj_weight")) std = attn_std;
    else if (ends_with(name, "out_proj.weight") || ends_with(name, "c_proj.weight")) std = proj_std;
    else if (ends_with(name, "c_fc.weight")) std = fc_std;
    else if (name == "visual.conv1.weight") std = 1.0 / std::sqrt(3.0 * c.vision.patch * c.vision.patch);
    else std = attn_std;  // class/positional embedding, proj, text_projection: width^-0.5
    if (!normal) { t.fill_(fill); continue; }
    Rng rng(seed, detail_model::fnv1a64(name));
    std::vector<float> buf(static_cast<size_t>(t.numel()));
    for (auto& f : buf) f = static_cast<float>(rng.normal() * std);
    t.copy_(torch::from_blob(buf.data(), t.sizes(), torch::kFloat));
  }
  model->visual->set_image_size(c.image_size);
}

}  // namespace tc::clip
