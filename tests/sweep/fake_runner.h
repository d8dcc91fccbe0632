// A model-free stand-in for train/eval, for tests of the sweep harness (test builds only).
//
// It writes outputs of the documented shapes without a model (checkpoint placeholder,
// config.ini, log.jsonl, metrics.json, pictures). Linking fake_runner.cpp registers it as the
// point runner "builtin-fake" (sweep::register_point_runner), so that a sweep file with
// `train_command = eval_command = builtin-fake` runs on it in a test build of the command
// (tests' tokenclip_fake). Options ([fake] section of the sweep file): steps, sleep_s, fail
// (point ids, indices or train datasets, comma separated), fail_eval (datasets), image_only /
// pixel_only (datasets), classes (per dataset, default 3).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "sweep/runner.h"

namespace tc::sweep::testing {

std::unique_ptr<PointRunner> make_fake_runner(const std::map<std::string, std::string>& options);

}  // namespace tc::sweep::testing
