// The [method] section as a typed option struct (docs/METHOD.md section 4, switch table).
// Torch-free, so commands and the sweep harness can validate a config without a model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tc::config { class Config; }

namespace tc::method {

struct MethodOptions {
  int prompt_length = 12;
  int prompt_depth = 9;
  int deep_prompt_length = 4;
  bool deep_prompt_fp16_round = true;
  bool decouple_prompts = true;
  int subspaces = 4;                      // Q
  std::string subspace_mode = "projection";  // projection | prompts
  bool subspace_residual = true;
  int topk = 2;
  std::string assign = "ot";              // ot | greedy
  double ot_eps = 0.1;
  double ot_tol = 1e-4;
  int ot_max_iters = 100;
  std::string ot_subspace_marginal = "uniform";  // uniform | learned
  bool ot_backprop = false;
  std::string ot_cost = "max";            // max | centre
  bool dyn_loss = true;
  std::string map_source = "dyn";         // dyn | base
  double lambda_loc = 4.0;
  double lambda_reg = 1.0;
  double beta = 0.0;
  double gamma = 0.0;
  double temperature = 0.07;
  // Where the text features come from: "learned" prompts (the method), or "handwritten"
  // prompts (WinCLIP-style, no prompt learning: each state is the normalised mean of the
  // normalised embeddings of its prompts; nothing is learnable, every subspace equals the base
  // space, so the map is the base map whatever Q is). A baseline for backbones.
  std::string text = "learned";
  // Defaults: WinCLIP-style state prompts (the schema's defaults, same words and order).
  std::vector<std::string> handwritten_normal = {"a photo of a flawless object", "a photo of a perfect object",
                                                 "a photo of an unblemished object", "a photo of a normal object"};
  std::vector<std::string> handwritten_abnormal = {"a photo of a damaged object", "a photo of a broken object",
                                                   "a photo of a defective object", "a photo of a flawed object"};

  // The reference base (configs/anomalyclip.ini).
  static MethodOptions anomalyclip();
  // Reads every method.* key of `cfg` (which must hold the [method] section) and validates.
  static MethodOptions from_config(const config::Config& cfg);
  // Cross-field checks (k <= Q, deep length <= prompt length, eps > 0, known modes); Usage
  // errors naming the keys. `text_layers` > 0 also checks prompt_depth against the tower.
  void validate(int text_layers = 0) const;
  // True when the detector reduces exactly to the base (METHOD.md section 4, item 11).
  bool is_base_reduction() const;
  // "key = value" lines of the [method] section, for checkpoints and logs.
  std::string to_ini() const;
};

}  // namespace tc::method
