#include "clip/clip_ref_support.h"

#include <cmath>

#include "util/rng.h"

namespace tc::clip::testref {
namespace {

torch::Tensor ref_ln(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  auto mu = x.mean(-1, true);
  auto var = (x - mu).pow(2).mean(-1, true);
  return (x - mu) / (var + 1e-5).sqrt() * w + b;
}

torch::Tensor ref_softmax(const torch::Tensor& s) {
  auto e = (s - std::get<0>(s.max(-1, true))).exp();
  return e / e.sum(-1, true);
}

// One attention of `a` [B,T,W] with explicit per-head loop; vv=true uses v for q and k.
torch::Tensor ref_attn(const Params& P, const std::string& pre, const torch::Tensor& a, int heads,
                       bool vv, bool causal) {
  const auto& Win = P.at(pre + "attn.in_proj_weight");
  const auto& bin = P.at(pre + "attn.in_proj_bias");
  const int64_t W = a.size(2), T = a.size(1), hd = W / heads;
  auto q = torch::matmul(a, Win.narrow(0, 0, W).t()) + bin.narrow(0, 0, W);
  auto k = torch::matmul(a, Win.narrow(0, W, W).t()) + bin.narrow(0, W, W);
  auto v = torch::matmul(a, Win.narrow(0, 2 * W, W).t()) + bin.narrow(0, 2 * W, W);
  if (vv) { q = v; k = v; }
  std::vector<torch::Tensor> outs;
  for (int h = 0; h < heads; ++h) {
    auto qh = q.narrow(2, h * hd, hd), kh = k.narrow(2, h * hd, hd), vh = v.narrow(2, h * hd, hd);
    auto s = torch::matmul(qh, kh.transpose(1, 2)) / std::sqrt(double(hd));
    if (causal) {
      auto m = torch::ones({T, T}, torch::kBool).triu(1);
      s = s.masked_fill(m, -1e300);
    }
    outs.push_back(torch::matmul(ref_softmax(s), vh));
  }
  auto o = torch::cat(outs, 2);
  return torch::matmul(o, P.at(pre + "attn.out_proj.weight").t()) + P.at(pre + "attn.out_proj.bias");
}

torch::Tensor ref_mlp(const Params& P, const std::string& pre, const torch::Tensor& x, Activation act) {
  auto h = torch::matmul(x, P.at(pre + "mlp.c_fc.weight").t()) + P.at(pre + "mlp.c_fc.bias");
  if (act == Activation::QuickGELU) h = h / (1 + (-1.702 * h).exp());
  else h = 0.5 * h * (1 + torch::erf(h / std::sqrt(2.0)));
  return torch::matmul(h, P.at(pre + "mlp.c_proj.weight").t()) + P.at(pre + "mlp.c_proj.bias");
}

}  // namespace

Params params_of(ClipModel& m) {
  Params p;
  for (auto& [n, t] : m->openai_named_parameters()) p[n] = t.detach().to(torch::kDouble).clone();
  return p;
}

void perturb(ClipModel& m, uint64_t seed) {
  torch::NoGradGuard ng;
  uint64_t stream = 0;
  for (auto& [n, t] : m->openai_named_parameters()) {
    Rng r(seed, stream++);
    std::vector<float> buf(static_cast<size_t>(t.numel()));
    const bool lnw = n.find("ln_") != std::string::npos && n.find(".weight") != std::string::npos;
    const double w = t.dim() >= 2 ? std::sqrt(t.size(-1)) : 1.0;
    for (auto& f : buf) {
      double g = r.normal();
      if (lnw) f = float(1.0 + 0.2 * g);
      else if (n == "token_embedding.weight" || n.find("positional") != std::string::npos ||
               n == "visual.class_embedding") f = float(0.5 * g);
      else if (t.dim() == 1) f = float(0.1 * g);  // biases
      else f = float(g / w);
    }
    t.copy_(torch::from_blob(buf.data(), t.sizes(), torch::kFloat));
  }
  m->visual->set_image_size(m->config.image_size);
}

RefVisual ref_visual(const Params& P, const ClipConfig& c, const torch::Tensor& images_f,
                     const torch::Tensor& pos) {
  auto images = images_f.to(torch::kDouble);
  const int64_t B = images.size(0), p = c.vision.patch, g = images.size(2) / p, W = c.vision.width;
  // Patch embedding as an explicit unfold + matmul (no conv).
  auto patches = images.reshape({B, 3, g, p, g, p}).permute({0, 2, 4, 1, 3, 5}).reshape({B, g * g, 3 * p * p});
  auto x = torch::matmul(patches, P.at("visual.conv1.weight").reshape({W, 3 * p * p}).t());
  x = torch::cat({P.at("visual.class_embedding").view({1, 1, W}).expand({B, 1, W}), x}, 1);
  x = x + pos.to(torch::kDouble);
  auto h = ref_ln(x, P.at("visual.ln_pre.weight"), P.at("visual.ln_pre.bias"));
  torch::Tensor z;
  RefVisual out;
  out.tokens.resize(c.layers.size());
  auto post = [&](const torch::Tensor& t) {
    return torch::matmul(ref_ln(t, P.at("visual.ln_post.weight"), P.at("visual.ln_post.bias")), P.at("visual.proj"));
  };
  for (int l = 1; l <= c.vision.layers; ++l) {
    std::string pre = "visual.transformer.resblocks." + std::to_string(l - 1) + ".";
    auto a = ref_ln(h, P.at(pre + "ln_1.weight"), P.at(pre + "ln_1.bias"));
    bool in_vv = c.vv_from > 0 && l >= c.vv_from;
    if (in_vv) {
      auto zz = ref_attn(P, pre, a, c.vision.heads, true, false);
      z = (l == c.vv_from ? h : z) + zz;
    }
    h = h + ref_attn(P, pre, a, c.vision.heads, false, false);
    h = h + ref_mlp(P, pre, ref_ln(h, P.at(pre + "ln_2.weight"), P.at(pre + "ln_2.bias")), c.activation);
    for (size_t i = 0; i < c.layers.size(); ++i)
      if (c.layers[i] == l) out.tokens[i] = post(in_vv ? z : h);
  }
  auto cls = h.select(1, 0);
  out.global = torch::matmul(cls, P.at("visual.proj"));
  out.embed = post(cls);
  return out;
}

torch::Tensor ref_text(const Params& P, const ClipConfig& c, const torch::Tensor& x_emb,
                       const torch::Tensor& eot, const std::vector<torch::Tensor>& deep) {
  auto x = x_emb.to(torch::kDouble) + P.at("positional_embedding");
  const int64_t M = x.size(0);
  for (int l = 1; l <= c.text.layers; ++l) {
    if (l >= 2 && size_t(l - 2) < deep.size()) {
      auto d = deep[size_t(l - 2)].to(torch::kDouble);
      x = x.clone();
      for (int64_t m = 0; m < M; ++m) x[m].narrow(0, 1, d.size(0)).copy_(d);
    }
    std::string pre = "transformer.resblocks." + std::to_string(l - 1) + ".";
    x = x + ref_attn(P, pre, ref_ln(x, P.at(pre + "ln_1.weight"), P.at(pre + "ln_1.bias")), c.text.heads, false, true);
    x = x + ref_mlp(P, pre, ref_ln(x, P.at(pre + "ln_2.weight"), P.at(pre + "ln_2.bias")), c.activation);
  }
  x = ref_ln(x, P.at("ln_final.weight"), P.at("ln_final.bias"));
  std::vector<torch::Tensor> rows;
  for (int64_t m = 0; m < M; ++m) rows.push_back(x[m][eot[m].item<int64_t>()]);
  return torch::matmul(torch::stack(rows), P.at("text_projection"));
}

double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  auto bd = b.to(torch::kDouble);
  return (a.to(torch::kDouble) - bd).abs().max().item<double>() / std::max(1e-30, bd.abs().max().item<double>());
}

}  // namespace tc::clip::testref
