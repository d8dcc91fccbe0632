// A training run's folder (`train --out`): config.ini, log.jsonl, checkpoint.h5 and
// checkpoints/. What may be done with a folder that already holds a run, and which config keys
// a resumed run must share with its checkpoint. Nothing here writes except clear_run().
#pragma once

#include <string>
#include <vector>

namespace tc::config { class Config; }

namespace tc::train {

// The run files present in `dir` (names relative to it, in a fixed order); empty: no run.
std::vector<std::string> run_files(const std::string& dir);

// Before anything is written: a folder holding a run is refused (Usage error naming the run
// and the ways out) unless it is resumed (`resume`) or replaced (`overwrite`); the two flags
// exclude each other. --resume needs OUT/checkpoint.h5 (Input error without one).
void check_out_dir(const std::string& dir, bool resume, bool overwrite);

// --overwrite: removes the earlier run's files (only those), so that its log lines and
// checkpoints do not mix with the new run's. Called once every check has passed.
void clear_run(const std::string& dir);

// The recipe: the keys of [model], [method] and [train] that decide what a run learns. Not in
// it: train.save_every_steps and train.log_every_steps (how often it records), [runtime] (where
// it runs) and the command's flags (--max-steps, --data, ...: data is checked by its hash).
bool is_recipe_key(const std::string& key);
// "key: VALUE in the checkpoint, VALUE now" for every recipe key whose values differ.
std::vector<std::string> recipe_differences(const config::Config& checkpoint, const config::Config& now);

}  // namespace tc::train
