// `tokenclip convert-weights --weights IN --out OUT.h5`: any supported CLIP weight file (or
// random tiny weights) -> the project's portable HDF5 weight file, float32, with the facts
// shapes cannot carry (activation, head counts) and the source's format and fingerprint.
#include <cstdio>

#include "app/command.h"
#include "clip/clip.h"
#include "clip/weights.h"
#include "util/check.h"
#include "util/log.h"

namespace tc::app {
namespace detail_convert {

int run_convert(Invocation& inv) {
  const auto& c = inv.cfg;
  clip::LoadOptions o;
  o.preset = c.get_string("model.preset");
  o.activation = c.get_string("model.activation");
  const std::string in = c.get_string("weights"), out = c.get_string("out");
  clip::LoadedClip m;
  uint64_t seed = 0;
  if (in.empty() || in == "random") {
    TC_CHECK_USAGE(o.preset == "auto" || o.preset == "tiny",
                   "no --weights given: only the tiny preset has random weights (model.preset is {})", o.preset);
    seed = static_cast<uint64_t>(c.get_int("model.init_seed"));
    m = clip::random_clip("tiny", seed, o);
    log::warn("writing RANDOM tiny CLIP weights (seed {})", seed);
  } else {
    m = clip::load_clip(in, o);
  }
  const auto& cfg = m.model->config;
  clip::H5WeightsInfo info;
  info.preset = cfg.preset;
  info.activation = clip::activation_name(cfg.activation);
  info.vision_heads = cfg.vision.heads;
  info.text_heads = cfg.text.heads;
  info.source_format = m.format;
  info.source_fingerprint = m.fingerprint;
  info.source_path = m.path;
  info.random = m.random;
  info.init_seed = seed;
  clip::save_weights_h5(out, m.model, info);
  std::printf("wrote %s: CLIP %s, %s, from %s (%s)\n", out.c_str(), cfg.preset.c_str(), info.activation.c_str(),
              m.random ? "random weights" : m.path.c_str(), m.format.c_str());
  return 0;
}

}  // namespace detail_convert

namespace {
TC_REGISTER_COMMAND(Command{
    "convert-weights", "convert CLIP weights to the portable tokenclip HDF5 weight file",
    "Reads OpenAI's TorchScript archives (.pt), Hugging Face safetensors (config.json next to the "
    "file gives the activation), open_clip safetensors (set --model.activation) or a tokenclip HDF5 "
    "file, checks every tensor, and writes all parameters as float32 under OpenAI's names with the "
    "activation, head counts and the source fingerprint. Without --weights, writes the tiny preset's "
    "deterministic random weights (seed model.init_seed), marked as random.",
    {"model"},
    {flag_string("weights", "", "input weight file; empty = random tiny"),
     flag_string("out", "", "output HDF5 file", true)},
    "", "", 0, 0, 42, detail_convert::run_convert});
}  // namespace
}  // namespace tc::app
