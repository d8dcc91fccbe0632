// Hidden debug commands for the Python parity tests of the CLIP readers:
//   tokenclip debug-tokenize --texts T.json --out O.json [--bpe V]
//   tokenclip debug-torch-zip FILE [--out F.safetensors]
#include <ATen/ATen.h>

#include <fmt/ranges.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "app/command.h"
#include "clip/safetensors.h"
#include "clip/tokenizer.h"
#include "clip/torch_zip.h"
#include "util/check.h"
#include "util/fs.h"

namespace tc::app {
namespace {

int run_debug_tokenize(Invocation& inv) {
  const std::string bpe = inv.cfg.get_string("bpe");
  clip::Tokenizer tok = bpe.empty() ? clip::Tokenizer::byte_fallback() : clip::Tokenizer::load(bpe);
  nlohmann::json texts;
  const std::string in = inv.cfg.get_string("texts");
  try {
    texts = nlohmann::json::parse(read_file(in));
  } catch (const nlohmann::json::exception& e) {
    TC_INPUT_ERROR("texts file '{}': not valid JSON: {}", in, e.what());
  }
  TC_CHECK_INPUT(texts.is_array(), "texts file '{}': expected a JSON array of strings", in);
  nlohmann::json out = {{"kind", tok.kind()}, {"sot", tok.sot()}, {"eot", tok.eot()}};
  for (const auto& t : texts) {
    const std::string s = t.get<std::string>();
    out["clean"].push_back(clip::clean_text(s));
    out["pre"].push_back(clip::pre_tokenize(clip::clean_text(s)));
    out["ids"].push_back(tok.encode_text(s));
    out["padded"].push_back(tok.encode(s, clip::kContextLength, true));
  }
  write_file_atomic(inv.cfg.get_string("out"), out.dump());
  return 0;
}

int run_debug_torch_zip(Invocation& inv) {
  const std::string path = inv.args.at(0);
  auto ck = clip::load_torch_checkpoint(path);
  for (const auto& [name, t] : ck.tensors)
    std::printf("%s %s [%s] %.9g\n", name.c_str(), c10::toString(t.scalar_type()),
                fmt::format("{}", fmt::join(t.sizes(), ",")).c_str(),
                t.numel() ? t.to(at::kDouble).sum().item<double>() : 0.0);
  for (const auto& [name, v] : ck.other) std::printf("%s = %s\n", name.c_str(), v.c_str());
  const std::string out = inv.cfg.get_string("out");
  if (!out.empty()) clip::write_safetensors(out, ck.tensors);
  return 0;
}

TC_REGISTER_COMMAND(Command{
    "debug-tokenize", "(debug) tokenize texts from a JSON file with the CLIP tokenizer",
    "Writes the cleaned text, the pre-tokens, the BPE ids and the padded ids of each text of a JSON "
    "array to a JSON file (used by the Python parity test).",
    {},
    {flag_string("bpe", "", "BPE vocabulary (empty: byte-level fallback)"),
     flag_string("texts", "", "JSON array of texts", true),
     flag_string("out", "", "output JSON file", true)},
    "", "", 0, 0, 9998, run_debug_tokenize});

TC_REGISTER_COMMAND(Command{
    "debug-torch-zip", "(debug) list the tensors of a torch.save checkpoint",
    "Reads a Python torch.save zip checkpoint with the restricted unpickler and prints each tensor's "
    "dotted name, dtype, shape and sum; --out also writes them to a safetensors file.",
    {},
    {flag_string("out", "", "also write the tensors to this safetensors file")},
    "FILE", "the checkpoint (.pth / .pt)", 1, 1, 9999, run_debug_torch_zip});

}  // namespace
}  // namespace tc::app
