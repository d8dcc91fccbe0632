#include "method/method_support.h"

#include "config/config.h"

namespace tc::method::testing {

PromptTokens fake_prompt_tokens(int n) {
  PromptTokens t;
  t.normal.assign(77, 0);
  t.abnormal.assign(77, 0);
  t.normal[0] = t.abnormal[0] = 49406;
  for (int i = 1; i <= n; ++i) t.normal[i] = t.abnormal[i] = 343;  // "x"
  int p = n + 1;
  for (int w : {14115, 269}) t.normal[p++] = w;  // "object" "."
  t.normal[p] = 49407;
  p = n + 1;
  for (int w : {13568, 14115, 269}) t.abnormal[p++] = w;  // "damaged" "object" "."
  t.abnormal[p] = 49407;
  return t;
}

clip::ClipModel tiny_clip(uint64_t seed) {
  return clip::random_clip("tiny", seed, clip::LoadOptions{}).model;
}

std::string source_dir() {
  std::string f = __FILE__;  // .../tests/method/method_support.cpp
  return f.substr(0, f.rfind("/tests/"));
}

MethodOptions preset_options(const std::string& preset_file,
                             const std::vector<std::pair<std::string, std::string>>& overrides) {
  config::Config c = config::Config::for_sections({"method"});
  if (!preset_file.empty()) c.load_ini(source_dir() + "/configs/" + preset_file);
  for (const auto& kv : overrides) c.set("method." + kv.first, kv.second, "command line");
  return MethodOptions::from_config(c);
}

}  // namespace tc::method::testing
