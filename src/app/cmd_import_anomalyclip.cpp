// `tokenclip import-anomalyclip FILE.pth --out CKPT.h5 [--weights W]`: converts a prompt
// checkpoint released with the AnomalyCLIP reference code into a tokenclip checkpoint of the
// `anomalyclip` preset (docs/METHOD.md section 2 has the key mapping).
#include <ATen/ATen.h>

#include <cstdio>

#include "app/command.h"
#include "app/setup.h"
#include "clip/clip.h"
#include "clip/torch_zip.h"
#include "method/checkpoint.h"
#include "method/method_config.h"
#include "method/prompts.h"
#include "util/check.h"
#include "util/log.h"

namespace tc::app {
namespace detail_import_ac {

int run_import(Invocation& inv) {
  const auto& c = inv.cfg;
  const std::string in = inv.args.at(0), out = c.get_string("out"), weights = c.get_string("weights");
  clip::TorchCheckpoint tc_in = clip::load_torch_checkpoint(in);
  method::MethodOptions o = method::MethodOptions::anomalyclip();
  method::CheckpointMeta meta;
  int width = 0, embed = 0;
  if (!weights.empty()) {
    // The full [model] setting: the tower is built as eval will build it, so a layer or V-V
    // block the backbone does not have is refused here, not at evaluation.
    clip::LoadedClip m = clip::load_clip(weights, clip_load_options(c));
    width = m.model->config.text.width;
    embed = m.model->config.embed_dim;
    meta.backbone_path = m.path;
    meta.backbone_preset = m.model->config.preset;
    meta.backbone_fingerprint = m.fingerprint;
    TC_CHECK_USAGE(o.prompt_depth <= m.model->config.text.layers, "prompt depth {} exceeds the text tower",
                   o.prompt_depth);
  }
  // Lengths and depth come from the file (checked for consistency); the width against the
  // backbone when one is given.
  auto tensors = method::import_anomalyclip_tensors(tc_in.tensors, in, width);
  const at::Tensor& ctx = tensors.front().second;
  o.prompt_length = int(ctx.size(0));
  o.prompt_depth = 1;
  for (const auto& kv : tensors)
    if (kv.first.rfind("base.deep.", 0) == 0) {
      ++o.prompt_depth;
      o.deep_prompt_length = int(kv.second.size(0));
    }
  o.validate();
  width = int(ctx.size(1));
  if (embed == 0) embed = width;  // OpenAI CLIP: text width = joint width for every preset
  // The anomalyclip preset still carries a (loss-free) Q = 1 subspace head: drawn from the seed
  // exactly as a fresh detector would draw it.
  const uint64_t seed = static_cast<uint64_t>(c.get_int("seed"));
  tensors.emplace_back("subspace.weight", method::rng_normal({embed, embed}, seed, "subspace.weight"));
  tensors.emplace_back("subspace.bias", at::zeros({embed}));
  // [model] as given (image size, layers, V-V start the prompts were trained with): eval and
  // infer build the backbone from the checkpoint's config, so it must hold the setting.
  meta.config = c.to_ini(false) + "\n" + o.to_ini();
  meta.origin = "import-anomalyclip " + in;
  method::save_checkpoint(out, tensors, meta);
  std::printf("wrote %s: AnomalyCLIP prompts (context %d x %d, depth %d, deep length %d)%s\n", out.c_str(),
              o.prompt_length, width, o.prompt_depth, o.deep_prompt_length,
              weights.empty() ? " (no --weights: backbone not recorded)" : "");
  return 0;
}

}  // namespace detail_import_ac

namespace {
TC_REGISTER_COMMAND(Command{
    "import-anomalyclip", "import a prompt checkpoint released with the AnomalyCLIP reference code",
    "Reads torch.save({'prompt_learner': state_dict}) files of the AnomalyCLIP code: ctx_pos (the "
    "normal context), ctx_neg (the abnormal context) and compound_prompts_text.* (deep prompts); "
    "compound_prompt_projections.*, token_prefix_*, token_suffix_* and tokenized_prompts_* are "
    "ignored. A missing or misshaped tensor is refused with its name. Writes a tokenclip checkpoint "
    "of the anomalyclip preset; with --weights the backbone's path, preset and fingerprint are "
    "recorded and the prompt width is checked against its text tower. The [model] setting the "
    "prompts were trained with (image_size, layers, vv_from, ...; from --config or --model.KEY) "
    "is recorded in the checkpoint's config, which eval and infer use.",
    {"model"},
    {flag_string("out", "", "output checkpoint (.h5)", true),
     flag_string("weights", "", "CLIP weights the prompts were trained with (recorded, width checked)"),
     flag_int("seed", "111", "seed of the unused Q = 1 subspace head", 0)},
    "FILE.pth", "AnomalyCLIP prompt checkpoint", 1, 1, 60, detail_import_ac::run_import});
}  // namespace
}  // namespace tc::app
