#include "method/method_config.h"

#include <fmt/format.h>

#include "config/config.h"
#include "util/check.h"

namespace tc::method {

MethodOptions MethodOptions::anomalyclip() {
  MethodOptions o;
  o.decouple_prompts = false;
  o.subspaces = 1;
  o.topk = 1;
  o.dyn_loss = false;
  o.map_source = "base";
  o.lambda_reg = 0.0;
  return o;
}

MethodOptions MethodOptions::from_config(const config::Config& c) {
  MethodOptions o;
  o.prompt_length = int(c.get_int("method.prompt_length"));
  o.prompt_depth = int(c.get_int("method.prompt_depth"));
  o.deep_prompt_length = int(c.get_int("method.deep_prompt_length"));
  o.deep_prompt_fp16_round = c.get_bool("method.deep_prompt_fp16_round");
  o.decouple_prompts = c.get_bool("method.decouple_prompts");
  o.subspaces = int(c.get_int("method.subspaces"));
  o.subspace_mode = c.get_string("method.subspace_mode");
  o.subspace_residual = c.get_bool("method.subspace_residual");
  o.topk = int(c.get_int("method.topk"));
  o.assign = c.get_string("method.assign");
  o.ot_eps = c.get_float("method.ot_eps");
  o.ot_tol = c.get_float("method.ot_tol");
  o.ot_max_iters = int(c.get_int("method.ot_max_iters"));
  o.ot_subspace_marginal = c.get_string("method.ot_subspace_marginal");
  o.ot_backprop = c.get_bool("method.ot_backprop");
  o.ot_cost = c.get_string("method.ot_cost");
  o.dyn_loss = c.get_bool("method.dyn_loss");
  o.map_source = c.get_string("method.map_source");
  o.lambda_loc = c.get_float("method.lambda_loc");
  o.lambda_reg = c.get_float("method.lambda_reg");
  o.beta = c.get_float("method.beta");
  o.gamma = c.get_float("method.gamma");
  o.temperature = c.get_float("method.temperature");
  o.text = c.get_string("method.text");
  o.handwritten_normal = c.get_string_list("method.handwritten_normal");
  o.handwritten_abnormal = c.get_string_list("method.handwritten_abnormal");
  // The cross-field rule, with where each value came from (file:line or command line).
  TC_CHECK_USAGE(o.topk <= o.subspaces,
                 "method.topk = {} ({}) exceeds method.subspaces = {} ({}): expected 1 .. Q",
                 o.topk, c.source("method.topk"), o.subspaces, c.source("method.subspaces"));
  TC_CHECK_USAGE(o.deep_prompt_length <= o.prompt_length,
                 "method.deep_prompt_length = {} ({}) exceeds method.prompt_length = {} ({})",
                 o.deep_prompt_length, c.source("method.deep_prompt_length"), o.prompt_length,
                 c.source("method.prompt_length"));
  o.validate();
  return o;
}

void MethodOptions::validate(int text_layers) const {
  auto one_of = [](const std::string& key, const std::string& v,
                   std::initializer_list<const char*> allowed) {
    std::string list;
    for (const char* a : allowed) {
      if (v == a) return;
      list += list.empty() ? a : fmt::format(", {}", a);
    }
    TC_USAGE_ERROR("method.{} = '{}': expected one of {}", key, v, list);
  };
  one_of("subspace_mode", subspace_mode, {"projection", "prompts"});
  one_of("assign", assign, {"ot", "greedy"});
  one_of("ot_subspace_marginal", ot_subspace_marginal, {"uniform", "learned"});
  one_of("ot_cost", ot_cost, {"max", "centre"});
  one_of("map_source", map_source, {"dyn", "base"});
  one_of("text", text, {"learned", "handwritten"});
  if (text == "handwritten")
    TC_CHECK_USAGE(!handwritten_normal.empty() && !handwritten_abnormal.empty(),
                   "method.text = handwritten needs at least one prompt in method.handwritten_normal ({}) and in "
                   "method.handwritten_abnormal ({})", handwritten_normal.size(), handwritten_abnormal.size());
  TC_CHECK_USAGE(prompt_length >= 1, "method.prompt_length = {}: expected >= 1", prompt_length);
  TC_CHECK_USAGE(deep_prompt_length >= 1 && deep_prompt_length <= prompt_length,
                 "method.deep_prompt_length = {}: expected 1 .. method.prompt_length ({})",
                 deep_prompt_length, prompt_length);
  TC_CHECK_USAGE(prompt_depth >= 1, "method.prompt_depth = {}: expected >= 1", prompt_depth);
  if (text_layers > 0)
    TC_CHECK_USAGE(prompt_depth <= text_layers,
                   "method.prompt_depth = {}: expected 1 .. {} (text blocks of the backbone)",
                   prompt_depth, text_layers);
  TC_CHECK_USAGE(subspaces >= 1, "method.subspaces = {}: expected >= 1", subspaces);
  TC_CHECK_USAGE(topk >= 1 && topk <= subspaces,
                 "method.topk = {}: expected 1 .. method.subspaces ({}); k > Q keeps nothing "
                 "meaningful", topk, subspaces);
  TC_CHECK_USAGE(ot_eps > 0, "method.ot_eps = {}: expected > 0", ot_eps);
  TC_CHECK_USAGE(ot_tol > 0, "method.ot_tol = {}: expected > 0", ot_tol);
  TC_CHECK_USAGE(ot_max_iters >= 1, "method.ot_max_iters = {}: expected >= 1", ot_max_iters);
  TC_CHECK_USAGE(temperature > 0, "method.temperature = {}: expected > 0", temperature);
  TC_CHECK_USAGE(lambda_loc >= 0 && lambda_reg >= 0,
                 "method.lambda_loc = {}, method.lambda_reg = {}: expected >= 0", lambda_loc,
                 lambda_reg);
  TC_CHECK_USAGE(beta >= 0, "method.beta = {}: expected >= 0", beta);
  TC_CHECK_USAGE(gamma >= 0 && gamma <= 1, "method.gamma = {}: expected in [0, 1]", gamma);
}

bool MethodOptions::is_base_reduction() const {
  return !decouple_prompts && !dyn_loss && lambda_reg == 0.0 && map_source == "base";
}

std::string MethodOptions::to_ini() const {
  auto b = [](bool v) { return v ? "true" : "false"; };
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  };
  return fmt::format(
      "[method]\nprompt_length = {}\nprompt_depth = {}\ndeep_prompt_length = {}\n"
      "deep_prompt_fp16_round = {}\ndecouple_prompts = {}\nsubspaces = {}\nsubspace_mode = {}\n"
      "subspace_residual = {}\ntopk = {}\nassign = {}\not_eps = {}\not_tol = {}\n"
      "ot_max_iters = {}\not_subspace_marginal = {}\not_backprop = {}\not_cost = {}\n"
      "dyn_loss = {}\nmap_source = {}\nlambda_loc = {}\nlambda_reg = {}\nbeta = {}\ngamma = {}\n"
      "temperature = {}\ntext = {}\nhandwritten_normal = {}\nhandwritten_abnormal = {}\n",
      prompt_length, prompt_depth, deep_prompt_length, b(deep_prompt_fp16_round),
      b(decouple_prompts), subspaces, subspace_mode, b(subspace_residual), topk, assign, ot_eps,
      ot_tol, ot_max_iters, ot_subspace_marginal, b(ot_backprop), ot_cost, b(dyn_loss), map_source,
      lambda_loc, lambda_reg, beta, gamma, temperature, text, list(handwritten_normal),
      list(handwritten_abnormal));
}

}  // namespace tc::method
