// Presets (METHOD.md table) and the config checks shared by the model and the loaders.
#include <fmt/format.h>

#include <algorithm>

#include "clip/clip.h"
#include "util/check.h"

namespace tc::clip {

const char* activation_name(Activation a) { return a == Activation::GELU ? "gelu" : "quickgelu"; }

Activation parse_activation(const std::string& s) {
  if (s == "quickgelu" || s == "quick_gelu") return Activation::QuickGELU;
  if (s == "gelu") return Activation::GELU;
  TC_USAGE_ERROR("activation '{}' is not known; expected one of: quickgelu, gelu", s);
}

std::string ClipConfig::describe() const {
  std::string ls;
  for (size_t i = 0; i < layers.size(); ++i) ls += (i ? "," : "") + std::to_string(layers[i]);
  return fmt::format(
      "{}: visual {}x{} ({} heads, patch {}, native {}), text {}x{} ({} heads), embed {}, {}, "
      "S {} ({}x{} tokens), V-V {}, layers {{{}}}",
      preset, vision.layers, vision.width, vision.heads, vision.patch, vision.native_size,
      text.layers, text.width, text.heads, embed_dim, activation_name(activation), image_size,
      grid(), grid(), vv_from > 0 ? fmt::format("from block {}", vv_from) : std::string("off"), ls);
}

std::vector<std::string> preset_names() {
  return {"tiny", "ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-L-14-336"};
}

std::string canonical_preset(const std::string& name) {
  std::string n;
  for (char ch : name) n += (ch == '/' || ch == '@' || ch == '_') ? '-' : ch;
  if (n.size() > 2 && n.compare(n.size() - 2, 2, "px") == 0) n.resize(n.size() - 2);
  for (const auto& p : preset_names()) {
    if (p.size() != n.size()) continue;
    bool eq = std::equal(p.begin(), p.end(), n.begin(),
                         [](char a, char b) { return std::tolower(a) == std::tolower(b); });
    if (eq) return p;
  }
  TC_USAGE_ERROR("unknown CLIP preset '{}'; expected one of: tiny, ViT-B-32, ViT-B-16, ViT-L-14, "
                 "ViT-L-14-336",
                 name);
}

// S = the smallest multiple of the patch >= 512 (METHOD.md), except tiny (its native 128).
static int clip_default_size(int patch) { return (512 + patch - 1) / patch * patch; }

ClipConfig preset_config(const std::string& preset) {
  const std::string p = canonical_preset(preset);
  ClipConfig c;
  c.preset = p;
  c.activation = Activation::QuickGELU;
  if (p == "tiny") {
    c.vision = {6, 128, 4, 16, 128};
    c.text = {12, 64, 2, 77, 49408};
    c.embed_dim = 64;
    c.image_size = 128;
    c.vv_from = 2;
    c.layers = {6};
    return c;
  }
  if (p == "ViT-B-32" || p == "ViT-B-16") {
    int patch = p == "ViT-B-32" ? 32 : 16;
    c.vision = {12, 768, 12, patch, 224};
    c.text = {12, 512, 8, 77, 49408};
    c.embed_dim = 512;
    c.image_size = clip_default_size(patch);
    c.vv_from = 6;
    c.layers = {12};
    return c;
  }
  // ViT-L-14 and ViT-L-14-336 differ only in the stored position-embedding grid.
  c.vision = {24, 1024, 16, 14, p == "ViT-L-14-336" ? 336 : 224};
  c.text = {12, 768, 12, 77, 49408};
  c.embed_dim = 768;
  c.image_size = clip_default_size(14);
  c.vv_from = 6;
  c.layers = {24};
  return c;
}

void validate_config(const ClipConfig& c) {
  const int L = c.vision.layers, p = c.vision.patch;
  TC_CHECK_USAGE(p > 0 && c.image_size >= p && c.image_size % p == 0,
                 "model.image_size {}: expected a positive multiple of the patch size {} ({})",
                 c.image_size, p, c.preset);
  TC_CHECK_USAGE(c.vv_from <= L, "model.vv_from {}: expected 1..{} (visual blocks of {}) or off",
                 c.vv_from, L, c.preset);
  TC_CHECK_USAGE(!c.layers.empty(), "model.layers: expected at least one visual block");
  for (int l : c.layers)
    TC_CHECK_USAGE(l >= 1 && l <= L, "model.layers: block {} out of range; expected 1..{} ({})", l,
                   L, c.preset);
  TC_CHECK_USAGE(c.vision.heads > 0 && c.vision.width % c.vision.heads == 0,
                 "visual width {} is not divisible by {} heads", c.vision.width, c.vision.heads);
  TC_CHECK_USAGE(c.text.heads > 0 && c.text.width % c.text.heads == 0,
                 "text width {} is not divisible by {} heads", c.text.width, c.text.heads);
}

ClipConfig apply_options(ClipConfig c, const LoadOptions& o) {
  if (o.image_size > 0) c.image_size = o.image_size;
  if (o.vv_from < 0) c.vv_from = 0;
  else if (o.vv_from > 0) c.vv_from = o.vv_from;
  if (!o.layers.empty()) c.layers = o.layers;
  if (o.activation != "auto") c.activation = parse_activation(o.activation);
  validate_config(c);
  return c;
}

}  // namespace tc::clip
