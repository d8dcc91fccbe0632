// CLIP in libtorch: the visual ViT (with the V-V attention path of METHOD.md section 1) and
// the text transformer (with deep-prompt insertion, section 2), presets, and loading.
//
// Parameter names inside ClipModel follow OpenAI's CLIP ("visual.transformer.resblocks.3.
// attn.in_proj_weight", ...), with the text tower under "text." (OpenAI's "token_embedding.
// weight" is our "text.token_embedding.weight"). Loaders map every other naming onto OpenAI's.
// The model knows nothing of files or MPI: loaders live in weights.h, MPI in the commands.
// Layout and formats: docs/CLIP.md.
#pragma once

#include <torch/types.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tc::clip {

enum class Activation { QuickGELU, GELU };
const char* activation_name(Activation a);           // "quickgelu" | "gelu"
Activation parse_activation(const std::string& s);    // Usage error on anything else

struct VisionConfig {
  int layers = 0, width = 0, heads = 0, patch = 0;
  int native_size = 0;  // size of the stored pos-embedding grid * patch (224, 336, 128)
};
struct TextConfig {
  int layers = 0, width = 0, heads = 0, context = 77, vocab = 49408;
};
struct ClipConfig {
  std::string preset;  // "tiny", "ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-L-14-336", "custom"
  VisionConfig vision;
  TextConfig text;
  int embed_dim = 0;
  Activation activation = Activation::QuickGELU;
  int image_size = 0;       // S actually used (pos-embedding interpolated to S/patch)
  int vv_from = 0;          // 1-based first V-V block, <= 0 means off
  std::vector<int> layers;  // 1-based blocks whose tokens are returned

  int grid() const { return image_size / vision.patch; }           // S / patch
  int num_patches() const { return grid() * grid(); }              // N
  bool vv_on() const { return vv_from > 0; }
  std::string describe() const;  // one line for logs
};

// Names accepted by preset_config (the canonical spellings above; "ViT-L/14@336px",
// "ViT-L-14-336px", "ViT-B/16" ... are accepted as aliases).
std::vector<std::string> preset_names();
std::string canonical_preset(const std::string& name);  // Usage error naming the choices
// Per-preset defaults of METHOD.md (input size, V-V from block, layers).
ClipConfig preset_config(const std::string& preset);
// Checks image_size (a multiple of the patch), vv_from and layers against the architecture;
// Usage error naming the field and the allowed range.
void validate_config(const ClipConfig& c);

struct VisualOutput {
  torch::Tensor global;               // [B,D] h_L[CLS] @ proj, WITHOUT ln_post (the method's global)
  torch::Tensor embed;                // [B,D] ln_post(h_L[CLS]) @ proj (standard CLIP image embedding)
  std::vector<torch::Tensor> tokens;  // per config.layers: [B,1+N,D] ln_post(z_l) @ proj
                                      // (z = V-V stream for layers inside it, else h), unnormalised
};

// One pre-LN transformer block with OpenAI's parameter names (ln_1, attn.in_proj_weight,
// attn.in_proj_bias, attn.out_proj.{weight,bias}, ln_2, mlp.c_fc, mlp.c_proj).
class ResidualBlockImpl : public torch::nn::Module {
 public:
  ResidualBlockImpl(int width, int heads, Activation act);
  // Standard block; `mask` is an additive [T,T] attention mask or undefined.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask = {});
  // V-V block: returns h_l (QK path + MLP) and writes z_l = z_prev + VV(LN1(h_prev)). When
  // `z_prev` is undefined this is the first V-V block and z starts from h_prev.
  torch::Tensor forward_vv(const torch::Tensor& h_prev, const torch::Tensor& z_prev, torch::Tensor* z_out);

  // Multi-head attention of LN1-normalised `a` [B,T,W]: softmax(q k^T s) v, and when `vv`
  // is non-null also softmax(v v^T s) v; both through out_proj.
  torch::Tensor attention(const torch::Tensor& a, const torch::Tensor& mask, torch::Tensor* vv);
  torch::Tensor mlp(const torch::Tensor& x);

  int width, heads;
  Activation act;
  torch::Tensor ln_1_w, ln_1_b, ln_2_w, ln_2_b;
  torch::Tensor in_proj_weight, in_proj_bias, out_proj_w, out_proj_b;
  torch::Tensor c_fc_w, c_fc_b, c_proj_w, c_proj_b;
};
TORCH_MODULE(ResidualBlock);

class VisionTransformerImpl : public torch::nn::Module {
 public:
  explicit VisionTransformerImpl(const ClipConfig& config);
  // images: [B,3,S,S] normalised float (S = config.image_size). Runs under the caller's grad
  // mode; with precision bf16/fp16 on CUDA the tower runs under autocast, outputs are float32.
  VisualOutput forward(const torch::Tensor& images);
  // Re-derives the interpolated position embedding for a new S (bilinear, align_corners
  // false, CLS row kept); called by the constructor and by the loaders after filling weights.
  void set_image_size(int image_size);
  void set_precision(const std::string& precision);  // "fp32" | "bf16" | "fp16"

  ClipConfig config;
  std::string precision = "fp32";
  torch::Tensor conv1_w;                 // [W,3,p,p], no bias ("conv1.weight")
  torch::Tensor class_embedding;         // [W]
  torch::Tensor positional_embedding;    // [1+g0*g0, W] as stored (g0 = native_size/patch)
  torch::Tensor pos_embed_used;          // buffer [1+g*g, W] interpolated to image_size
  torch::Tensor ln_pre_w, ln_pre_b, ln_post_w, ln_post_b;
  torch::Tensor proj;                    // [W,D]
  std::vector<ResidualBlock> blocks;     // "transformer.resblocks.i"
};
TORCH_MODULE(VisionTransformer);

class TextTransformerImpl : public torch::nn::Module {
 public:
  explicit TextTransformerImpl(const ClipConfig& config);
  torch::Tensor embed_tokens(const torch::Tensor& ids /*[M,77] int64*/);  // [M,77,Dt]
  // x: [M,77,Dt] token embeddings (positional embedding is added inside); eot: [M] int64 index
  // of EOT; deep: empty or (depth-1) tensors [n,Dt] that overwrite positions 1..n before
  // blocks 2..depth. Returns [M,D] ln_final(x[eot]) @ text_projection, unnormalised.
  // Differentiable with respect to x and deep (the prompt learners train through it).
  torch::Tensor forward_embeddings(const torch::Tensor& x, const torch::Tensor& eot,
                                   const std::vector<torch::Tensor>& deep);
  // Plain CLIP text embedding of token ids (EOT = argmax of ids, as OpenAI does).
  torch::Tensor encode(const torch::Tensor& ids);
  // The same embedding computed on the first T' = (last EOT + 1) positions only: under the
  // causal mask later positions cannot reach the EOT token, so the result equals encode() up
  // to rounding, at a fraction of the cost for short texts (pretraining's captions).
  torch::Tensor encode_prefix(const torch::Tensor& ids);

  ClipConfig config;
  torch::Tensor token_embedding;       // [V,Dt] ("token_embedding.weight")
  torch::Tensor positional_embedding;  // [77,Dt]
  torch::Tensor ln_final_w, ln_final_b;
  torch::Tensor text_projection;       // [Dt,D]
  torch::Tensor causal_mask;           // buffer [77,77]: 0 on and below the diagonal, -inf above
  std::vector<ResidualBlock> blocks;   // "transformer.resblocks.i"
};
TORCH_MODULE(TextTransformer);

class ClipModelImpl : public torch::nn::Module {
 public:
  explicit ClipModelImpl(const ClipConfig& config);
  ClipConfig config;
  VisionTransformer visual{nullptr};
  TextTransformer text{nullptr};
  torch::Tensor logit_scale;  // [] (kept for round trips; the method uses a fixed tau)

  // Canonical (OpenAI) names -> parameters, e.g. "visual.proj", "token_embedding.weight",
  // "transformer.resblocks.0.ln_1.weight", "logit_scale".
  std::vector<std::pair<std::string, torch::Tensor>> openai_named_parameters();
  // Freezes every parameter (requires_grad false) and switches to eval mode.
  void freeze();
};
TORCH_MODULE(ClipModel);

// Deterministic random weights for `config` (any preset), OpenAI-style initialisation, drawn
// from tc::Rng so that they are identical across libtorch versions and machines: each
// parameter has its own stream keyed by (seed, FNV-1a of its canonical name).
void init_random(ClipModel& model, uint64_t seed);

struct LoadOptions {
  std::string preset = "auto";    // "auto" or a preset name; a mismatch with the weights is an error
  int image_size = 0;             // 0 = preset default
  int vv_from = 0;                // 0 = preset default, < 0 = V-V path off
  std::vector<int> layers;        // empty = preset default
  std::string activation = "auto";  // auto | quickgelu | gelu
  std::string precision = "fp32";   // image tower: fp32 | bf16 | fp16 (autocast, CUDA only)
};
struct LoadedClip {
  ClipModel model{nullptr};
  std::string path;
  std::string format;       // openai-torchscript|hf-safetensors|openclip-safetensors|tokenclip-hdf5|random
  std::string fingerprint;  // sha256 of the weight file; "random-tiny-seed-N" for random
  bool random = false;
};
// Format detected from content (zip archive, safetensors header, HDF5 signature).
LoadedClip load_clip(const std::string& path, const LoadOptions& opts);
// Deterministic random weights for a preset (meant for `tiny`: tests, machines without weights).
LoadedClip random_clip(const std::string& preset, uint64_t seed, const LoadOptions& opts);

// Applies LoadOptions (image_size, vv_from, layers) on top of an architecture's defaults.
ClipConfig apply_options(ClipConfig base, const LoadOptions& opts);

}  // namespace tc::clip
