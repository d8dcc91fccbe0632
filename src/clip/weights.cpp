// Weight loading: format detection, HF -> OpenAI name mapping, architecture inference, model
// construction with per-tensor checks, and load_clip / random_clip.
#include "clip/weights.h"

#include <torch/script.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>

#include "clip/safetensors.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/log.h"

namespace tc::clip {

namespace detail_weights {

std::string shape_text(at::IntArrayRef s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

// "a, b, c and 12 more"
std::string name_list(const std::vector<std::string>& v, size_t show = 12) {
  std::string r;
  for (size_t i = 0; i < v.size() && i < show; ++i) r += (i ? ", " : "") + v[i];
  if (v.size() > show) r += fmt::format(" and {} more", v.size() - show);
  return r;
}

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

std::string dir_of(const std::string& path) {
  auto k = path.find_last_of('/');
  return k == std::string::npos ? std::string(".") : path.substr(0, k);
}

// Names some formats carry besides parameters; never loaded.
bool ignorable(const std::string& n) {
  return n == "input_resolution" || n == "context_length" || n == "vocab_size" ||
         n.find("position_ids") != std::string::npos || n == "attn_mask" ||
         (n.size() > 10 && n.compare(n.size() - 10, 10, ".attn_mask") == 0);
}

int count_blocks(const NamedTensors& t, const std::string& prefix) {
  int n = 0;
  while (t.count(prefix + std::to_string(n) + ".ln_1.weight")) ++n;
  return n;
}

const at::Tensor& need(const NamedTensors& t, const std::string& name, const std::string& origin) {
  auto it = t.find(name);
  TC_CHECK_INPUT(it != t.end(), "{}: tensor '{}' is missing; cannot infer the CLIP architecture",
                 origin, name);
  return it->second;
}

}  // namespace detail_weights

std::string detect_weight_format(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  TC_CHECK_INPUT(f.good(), "weights '{}': cannot open the file (does it exist?)", path);
  unsigned char head[16] = {0};
  f.read(reinterpret_cast<char*>(head), sizeof head);
  const auto got = f.gcount();
  if (got >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) return "openai-torchscript";
  if (got >= 8 && std::memcmp(head, "\x89HDF\r\n\x1a\n", 8) == 0) return "tokenclip-hdf5";
  if (got >= 9 && head[8] == '{') {
    auto st = SafetensorsFile::open(path);
    bool hf = false, oc = false;
    for (const auto& n : st.names()) {
      if (detail_weights::starts_with(n, "vision_model.") || detail_weights::starts_with(n, "text_model.")) hf = true;
      if (n == "visual.conv1.weight") oc = true;
    }
    if (hf) return "hf-safetensors";
    if (oc) return "openclip-safetensors";
    TC_INPUT_ERROR("weights '{}': a safetensors file, but with neither Hugging Face CLIP names "
                   "(vision_model.*, text_model.*) nor open_clip names (visual.conv1.weight, ...)", path);
  }
  TC_INPUT_ERROR("weights '{}': unknown format; expected an OpenAI TorchScript archive (.pt), a "
                 "safetensors file (Hugging Face or open_clip) or a tokenclip HDF5 weight file", path);
}

// ------------------------------------------------------------------ HF <-> OpenAI names

NamedTensors hf_to_openai(const NamedTensors& hf, const std::string& origin) {
  using detail_weights::starts_with;
  NamedTensors out;
  std::vector<std::string> unknown;
  // q/k/v parts collected per block, concatenated afterwards in q, k, v order (OpenAI's in_proj).
  std::map<std::string, std::map<std::string, at::Tensor>> qkv;
  static const std::regex layer_re(R"(^(vision|text)_model\.encoder\.layers\.(\d+)\.(.+)$)");
  static const std::map<std::string, std::string> block_map = {
      {"self_attn.out_proj.weight", "attn.out_proj.weight"}, {"self_attn.out_proj.bias", "attn.out_proj.bias"},
      {"layer_norm1.weight", "ln_1.weight"}, {"layer_norm1.bias", "ln_1.bias"},
      {"layer_norm2.weight", "ln_2.weight"}, {"layer_norm2.bias", "ln_2.bias"},
      {"mlp.fc1.weight", "mlp.c_fc.weight"}, {"mlp.fc1.bias", "mlp.c_fc.bias"},
      {"mlp.fc2.weight", "mlp.c_proj.weight"}, {"mlp.fc2.bias", "mlp.c_proj.bias"}};
  static const std::map<std::string, std::string> flat_map = {
      {"vision_model.embeddings.class_embedding", "visual.class_embedding"},
      {"vision_model.embeddings.patch_embedding.weight", "visual.conv1.weight"},
      {"vision_model.embeddings.position_embedding.weight", "visual.positional_embedding"},
      {"vision_model.pre_layrnorm.weight", "visual.ln_pre.weight"},
      {"vision_model.pre_layrnorm.bias", "visual.ln_pre.bias"},
      {"vision_model.post_layernorm.weight", "visual.ln_post.weight"},
      {"vision_model.post_layernorm.bias", "visual.ln_post.bias"},
      {"text_model.embeddings.token_embedding.weight", "token_embedding.weight"},
      {"text_model.embeddings.position_embedding.weight", "positional_embedding"},
      {"text_model.final_layer_norm.weight", "ln_final.weight"},
      {"text_model.final_layer_norm.bias", "ln_final.bias"},
      {"logit_scale", "logit_scale"}};
  for (const auto& [n, t] : hf) {
    if (detail_weights::ignorable(n)) continue;
    if (auto it = flat_map.find(n); it != flat_map.end()) { out[it->second] = t; continue; }
    if (n == "visual_projection.weight") { out["visual.proj"] = t.t().contiguous(); continue; }
    if (n == "text_projection.weight") { out["text_projection"] = t.t().contiguous(); continue; }
    std::smatch m;
    if (std::regex_match(n, m, layer_re)) {
      const std::string pre = (m[1] == "vision" ? "visual.transformer.resblocks." : "transformer.resblocks.") +
                              m[2].str() + ".";
      const std::string rest = m[3];
      if (auto it = block_map.find(rest); it != block_map.end()) { out[pre + it->second] = t; continue; }
      static const std::regex qkv_re(R"(^self_attn\.([qkv])_proj\.(weight|bias)$)");
      std::smatch q;
      if (std::regex_match(rest, q, qkv_re)) {
        qkv[pre + "attn.in_proj_" + q[2].str()][q[1]] = t;
        continue;
      }
    }
    unknown.push_back(n);
  }
  TC_CHECK_INPUT(unknown.empty(), "{}: unexpected tensors for a Hugging Face CLIP file: {}", origin,
                 detail_weights::name_list(unknown));
  std::vector<std::string> partial;
  for (auto& [name, parts] : qkv) {
    if (parts.size() != 3) { partial.push_back(name + " (q/k/v incomplete)"); continue; }
    out[name] = at::cat({parts["q"], parts["k"], parts["v"]}, 0);
  }
  TC_CHECK_INPUT(partial.empty(), "{}: missing q/k/v projections: {}", origin, detail_weights::name_list(partial));
  return out;
}

NamedTensors openai_to_hf(const NamedTensors& oa) {
  NamedTensors out;
  static const std::regex blk(R"(^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$)");
  static const std::map<std::string, std::string> inv_block = {
      {"attn.out_proj.weight", "self_attn.out_proj.weight"}, {"attn.out_proj.bias", "self_attn.out_proj.bias"},
      {"ln_1.weight", "layer_norm1.weight"}, {"ln_1.bias", "layer_norm1.bias"},
      {"ln_2.weight", "layer_norm2.weight"}, {"ln_2.bias", "layer_norm2.bias"},
      {"mlp.c_fc.weight", "mlp.fc1.weight"}, {"mlp.c_fc.bias", "mlp.fc1.bias"},
      {"mlp.c_proj.weight", "mlp.fc2.weight"}, {"mlp.c_proj.bias", "mlp.fc2.bias"}};
  static const std::map<std::string, std::string> inv_flat = {
      {"visual.class_embedding", "vision_model.embeddings.class_embedding"},
      {"visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight"},
      {"visual.positional_embedding", "vision_model.embeddings.position_embedding.weight"},
      {"visual.ln_pre.weight", "vision_model.pre_layrnorm.weight"},
      {"visual.ln_pre.bias", "vision_model.pre_layrnorm.bias"},
      {"visual.ln_post.weight", "vision_model.post_layernorm.weight"},
      {"visual.ln_post.bias", "vision_model.post_layernorm.bias"},
      {"token_embedding.weight", "text_model.embeddings.token_embedding.weight"},
      {"positional_embedding", "text_model.embeddings.position_embedding.weight"},
      {"ln_final.weight", "text_model.final_layer_norm.weight"},
      {"ln_final.bias", "text_model.final_layer_norm.bias"},
      {"logit_scale", "logit_scale"}};
  for (const auto& [n, t] : oa) {
    if (auto it = inv_flat.find(n); it != inv_flat.end()) { out[it->second] = t; continue; }
    if (n == "visual.proj") { out["visual_projection.weight"] = t.t().contiguous(); continue; }
    if (n == "text_projection") { out["text_projection.weight"] = t.t().contiguous(); continue; }
    std::smatch m;
    TC_CHECK(std::regex_match(n, m, blk), "no Hugging Face name for '{}'", n);
    const std::string pre = std::string(m[1].matched ? "vision_model" : "text_model") + ".encoder.layers." +
                            m[2].str() + ".";
    const std::string rest = m[3];
    if (auto it = inv_block.find(rest); it != inv_block.end()) { out[pre + it->second] = t; continue; }
    const bool w = rest == "attn.in_proj_weight";
    TC_CHECK(w || rest == "attn.in_proj_bias", "no Hugging Face name for '{}'", n);
    auto parts = t.chunk(3, 0);
    const char* kind = w ? "weight" : "bias";
    out[pre + "self_attn.q_proj." + kind] = parts[0].contiguous();
    out[pre + "self_attn.k_proj." + kind] = parts[1].contiguous();
    out[pre + "self_attn.v_proj." + kind] = parts[2].contiguous();
  }
  return out;
}

// ------------------------------------------------------------------ architecture

ClipConfig infer_config(const NamedTensors& t, const std::string& origin, int vision_heads, int text_heads) {
  using detail_weights::need;
  ClipConfig c;
  const auto& conv = need(t, "visual.conv1.weight", origin);
  const auto& vpos = need(t, "visual.positional_embedding", origin);
  TC_CHECK_INPUT(conv.dim() == 4 && conv.size(1) == 3 && conv.size(2) == conv.size(3),
                 "{}: visual.conv1.weight has shape {}; expected [W,3,p,p]", origin,
                 detail_weights::shape_text(conv.sizes()));
  c.vision.width = static_cast<int>(conv.size(0));
  c.vision.patch = static_cast<int>(conv.size(2));
  TC_CHECK_INPUT(vpos.dim() == 2 && vpos.size(0) >= 2, "{}: visual.positional_embedding has shape {}; expected [1+g*g,W]",
                 origin, detail_weights::shape_text(vpos.sizes()));
  const int64_t g0 = std::llround(std::sqrt(double(vpos.size(0) - 1)));
  TC_CHECK_INPUT(g0 * g0 == vpos.size(0) - 1, "{}: visual.positional_embedding has {} rows; expected 1 + a square",
                 origin, vpos.size(0));
  c.vision.native_size = static_cast<int>(g0) * c.vision.patch;
  c.vision.layers = detail_weights::count_blocks(t, "visual.transformer.resblocks.");
  c.text.layers = detail_weights::count_blocks(t, "transformer.resblocks.");
  TC_CHECK_INPUT(c.vision.layers > 0 && c.text.layers > 0, "{}: no transformer blocks found (visual {}, text {})",
                 origin, c.vision.layers, c.text.layers);
  const auto& proj = need(t, "visual.proj", origin);
  TC_CHECK_INPUT(proj.dim() == 2, "{}: visual.proj has shape {}; expected [W,D]", origin,
                 detail_weights::shape_text(proj.sizes()));
  c.embed_dim = static_cast<int>(proj.size(1));
  const auto& lnf = need(t, "ln_final.weight", origin);
  c.text.width = static_cast<int>(lnf.size(0));
  c.text.context = static_cast<int>(need(t, "positional_embedding", origin).size(0));
  c.text.vocab = static_cast<int>(need(t, "token_embedding.weight", origin).size(0));

  c.preset = "custom";
  for (const auto& name : preset_names()) {
    auto p = preset_config(name);
    if (p.vision.layers == c.vision.layers && p.vision.width == c.vision.width && p.vision.patch == c.vision.patch &&
        p.vision.native_size == c.vision.native_size && p.text.layers == c.text.layers &&
        p.text.width == c.text.width && p.embed_dim == c.embed_dim && p.text.context == c.text.context) {
      ClipConfig r = p;
      r.text.vocab = c.text.vocab;
      if (vision_heads > 0) r.vision.heads = vision_heads;
      if (text_heads > 0) r.text.heads = text_heads;
      if (r.vision.heads != p.vision.heads || r.text.heads != p.text.heads) r.preset = "custom";
      return r;
    }
  }
  c.vision.heads = vision_heads > 0 ? vision_heads : std::max(1, c.vision.width / 64);
  c.text.heads = text_heads > 0 ? text_heads : std::max(1, c.text.width / 64);
  const int p = c.vision.patch;
  c.image_size = (512 + p - 1) / p * p;
  c.vv_from = std::min(6, c.vision.layers);  // METHOD.md: the last L-5 blocks
  c.layers = {c.vision.layers};
  return c;
}

ClipModel model_from_tensors(const NamedTensors& oa, const ClipConfig& config, const std::string& origin) {
  ClipModel model(config);
  std::vector<std::string> missing, wrong, unexpected;
  std::set<std::string> used;
  {
    at::NoGradGuard ng;
    for (auto& [name, p] : model->openai_named_parameters()) {
      auto it = oa.find(name);
      if (it == oa.end()) { missing.push_back(name); continue; }
      used.insert(name);
      if (it->second.sizes() != p.sizes()) {
        wrong.push_back(fmt::format("{} is {}, expected {}", name, detail_weights::shape_text(it->second.sizes()),
                                    detail_weights::shape_text(p.sizes())));
        continue;
      }
      TC_CHECK_INPUT(it->second.is_floating_point(), "{}: tensor '{}' has a non-float dtype", origin, name);
      p.copy_(it->second.to(at::kFloat));
    }
  }
  for (const auto& [n, t] : oa)
    if (!used.count(n) && !detail_weights::ignorable(n)) unexpected.push_back(n);
  std::string msg;
  if (!missing.empty()) msg += fmt::format("; missing tensors: {}", detail_weights::name_list(missing));
  if (!wrong.empty()) msg += fmt::format("; wrongly shaped tensors: {}", detail_weights::name_list(wrong));
  if (!unexpected.empty()) msg += fmt::format("; unexpected tensors: {}", detail_weights::name_list(unexpected));
  TC_CHECK_INPUT(msg.empty(), "{}: weights do not fit CLIP {} ({}){}", origin, config.preset, config.describe(), msg);
  model->visual->set_image_size(config.image_size);
  model->freeze();
  return model;
}

// ------------------------------------------------------------------ readers

NamedTensors read_torchscript_params(const std::string& path) {
  torch::jit::Module m;
  try {
    m = torch::jit::load(path, torch::kCPU);
  } catch (const c10::Error& e) {
    TC_INPUT_ERROR("weights '{}': a zip archive that torch::jit::load cannot read as TorchScript ({}); "
                   "expected one of OpenAI's released CLIP archives (e.g. ViT-L-14-336px.pt)",
                   path, std::string(e.what_without_backtrace()).substr(0, 300));
  }
  NamedTensors out;
  for (const auto& p : m.named_parameters(/*recurse=*/true)) out[p.name] = p.value.detach().clone();
  for (const auto& b : m.named_buffers(/*recurse=*/true))
    if (!out.count(b.name)) out[b.name] = b.value.detach().clone();
  return out;
}

NamedTensors read_safetensors_params(const std::string& path) {
  auto st = SafetensorsFile::open(path);
  NamedTensors out;
  for (const auto& n : st.names()) {
    if (detail_weights::ignorable(n)) continue;
    out[n] = st.to_tensor(n);
  }
  return out;
}

// ------------------------------------------------------------------ load_clip / random_clip

namespace detail_weights {

// config.json of a Hugging Face checkpoint: activation and head counts.
struct HfConfig {
  bool found = false;
  std::string act;
  int vision_heads = 0, text_heads = 0;
};

HfConfig read_hf_config(const std::string& weights_path) {
  HfConfig r;
  const std::string cfg = dir_of(weights_path) + "/config.json";
  if (!file_exists(cfg)) return r;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(cfg));
  } catch (const nlohmann::json::exception& e) {
    TC_INPUT_ERROR("{}: not valid JSON ({})", cfg, e.what());
  }
  r.found = true;
  std::string va, ta;
  for (const char* part : {"vision_config", "text_config"}) {
    if (!j.contains(part) || !j[part].is_object()) continue;
    const auto& s = j[part];
    std::string act = s.value("hidden_act", std::string("quick_gelu"));  // HF's default for CLIP
    (std::string(part) == "vision_config" ? va : ta) = act;
    int h = s.value("num_attention_heads", 0);
    (std::string(part) == "vision_config" ? r.vision_heads : r.text_heads) = h;
  }
  if (va.empty()) va = ta.empty() ? "quick_gelu" : ta;
  if (ta.empty()) ta = va;
  TC_CHECK_INPUT(va == ta, "{}: vision_config.hidden_act '{}' differs from text_config.hidden_act '{}'; "
                 "one activation for both towers is supported", cfg, va, ta);
  TC_CHECK_INPUT(va == "quick_gelu" || va == "gelu", "{}: hidden_act '{}' is not supported; expected "
                 "quick_gelu or gelu", cfg, va);
  r.act = va == "quick_gelu" ? "quickgelu" : "gelu";
  return r;
}

ClipConfig resolve(ClipConfig arch, const LoadOptions& o, const std::string& origin, Activation act) {
  if (o.preset != "auto" && !o.preset.empty()) {
    const std::string want = canonical_preset(o.preset);
    TC_CHECK_INPUT(want == arch.preset, "{}: the weights are {} ({}), but preset {} was requested", origin,
                   arch.preset, arch.describe(), want);
  }
  arch.activation = act;
  ClipConfig c = apply_options(arch, o);
  return c;
}

}  // namespace detail_weights

LoadedClip load_clip(const std::string& path, const LoadOptions& o) {
  LoadedClip r;
  r.path = path;
  r.format = detect_weight_format(path);
  NamedTensors oa;
  int vh = 0, th = 0;
  std::string act = o.activation;
  bool random = false;
  std::string fingerprint;
  if (r.format == "openai-torchscript") {
    oa = read_torchscript_params(path);
    if (act == "auto") act = "quickgelu";  // every OpenAI release uses QuickGELU
  } else if (r.format == "hf-safetensors") {
    oa = hf_to_openai(read_safetensors_params(path), path);
    auto hc = detail_weights::read_hf_config(path);
    vh = hc.vision_heads;
    th = hc.text_heads;
    if (act == "auto") {
      TC_CHECK_INPUT(hc.found, "weights '{}': Hugging Face file without config.json next to it, so the "
                     "activation is unknown; add config.json or set model.activation (quickgelu for "
                     "openai/clip-vit-*)", path);
      act = hc.act;
    }
  } else if (r.format == "openclip-safetensors") {
    oa = read_safetensors_params(path);
    TC_CHECK_INPUT(act != "auto", "weights '{}': open_clip safetensors do not record their activation; set "
                   "model.activation explicitly (gelu for LAION/DataComp models, quickgelu for OpenAI-trained "
                   "ones)", path);
  } else {
    H5WeightsInfo info;
    oa = read_weights_h5(path, &info);
    vh = info.vision_heads;
    th = info.text_heads;
    if (act == "auto") act = info.activation;
    random = info.random;
    if (random) fingerprint = info.source_fingerprint;
  }
  ClipConfig arch = infer_config(oa, path, vh, th);
  ClipConfig cfg = detail_weights::resolve(arch, o, path, parse_activation(act));
  r.model = model_from_tensors(oa, cfg, path);
  r.model->visual->set_precision(o.precision);
  r.random = random;
  r.fingerprint = fingerprint.empty() ? sha256_file_hex(path) : fingerprint;
  log::info("CLIP {} from {} ({}{})", cfg.describe(), path, r.format, random ? ", RANDOM weights" : "");
  return r;
}

LoadedClip random_clip(const std::string& preset, uint64_t seed, const LoadOptions& o) {
  ClipConfig base = preset_config(preset);
  if (o.preset != "auto" && !o.preset.empty())
    TC_CHECK_USAGE(canonical_preset(o.preset) == base.preset, "random weights for preset {} but preset {} requested",
                   base.preset, o.preset);
  LoadedClip r;
  ClipConfig cfg = apply_options(base, o);
  r.model = ClipModel(cfg);
  init_random(r.model, seed);
  r.model->freeze();
  r.model->visual->set_precision(o.precision);
  r.path = "";
  r.format = "random";
  r.random = true;
  r.fingerprint = fmt::format("random-{}-seed-{}", base.preset, seed);
  return r;
}

}  // namespace tc::clip
