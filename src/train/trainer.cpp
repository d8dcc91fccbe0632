#include "train/trainer.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/sampler.h"
#include "dist/dist.h"
#include "train/stop_signal.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/progress.h"

namespace tc::train {
namespace detail_trainer {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// What each rank reports after a step: "count|stop|name=value;...", its local sample count (the
// weight of its scalars), the stop signal it received (0: none) and its scalars.
std::string encode_step(const Scalars& s, int64_t count, int stop_signal) {
  std::string out = fmt::format("{}|{}|", count, stop_signal);
  for (const auto& [k, v] : s) out += fmt::format("{}={:.17g};", k, v);
  return out;
}

struct StepReport {
  Scalars scalars;      // weighted mean over ranks (ranks without samples contribute nothing)
  int stop_signal = 0;  // the first rank's signal: one rank's request stops every rank
};

StepReport combine_step(const std::vector<std::string>& per_rank) {
  StepReport r;
  std::vector<std::string> order;
  std::map<std::string, std::pair<double, double>> acc;  // sum(v * n), sum(n)
  for (const auto& enc : per_rank) {
    auto bar = enc.find('|'), bar2 = enc.find('|', bar + 1);
    double n = std::stod(enc.substr(0, bar));
    int stop = std::stoi(enc.substr(bar + 1, bar2 - bar - 1));
    if (r.stop_signal == 0) r.stop_signal = stop;
    if (n <= 0) continue;
    std::istringstream in(enc.substr(bar2 + 1));
    std::string item;
    while (std::getline(in, item, ';')) {
      auto eq = item.find('=');
      if (eq == std::string::npos) continue;
      std::string k = item.substr(0, eq);
      double v = std::stod(item.substr(eq + 1));
      if (!acc.count(k)) order.push_back(k);
      acc[k].first += v * n;
      acc[k].second += n;
    }
  }
  for (const auto& k : order) r.scalars.emplace_back(k, acc[k].first / acc[k].second);
  return r;
}

std::string checkpoint_name(int64_t epoch, int64_t step_in_epoch, bool end_of_epoch) {
  return end_of_epoch ? fmt::format("epoch-{:04d}.h5", epoch)
                      : fmt::format("epoch-{:04d}-step-{:06d}.h5", epoch, step_in_epoch);
}

// Points `link_path` at `target` atomically: a hard link under a temporary name renamed over
// the old one (a copy where hard links are not supported), so `checkpoint.h5` is always a
// complete file and the previous one survives any failure (a failed copy leaves no temporary).
void replace_with_link(const std::string& target, const std::string& link_path) {
  AtomicPath ap(link_path);
  std::error_code ec;
  fs::remove(ap.tmp(), ec);
  fs::create_hard_link(target, ap.tmp(), ec);
  if (ec) {
    ec.clear();
    fs::copy_file(target, ap.tmp(), fs::copy_options::overwrite_existing, ec);
    if (ec) TC_RUNTIME_ERROR("cannot copy checkpoint '{}' to '{}': {}", target, ap.tmp(), ec.message());
  }
  ap.commit();
}

// One JSON line appended to the log; a failed write (disk full) ends the run like a failed
// checkpoint would, rather than leaving a log with silent gaps.
void append_line(std::ofstream& log, const std::string& path, const nlohmann::json& j) {
  log << j.dump() << "\n";
  log.flush();
  if (!log) TC_RUNTIME_ERROR("cannot append to '{}' (disk full?)", path);
}

// Keeps the log consistent with the state we resume from: drops lines of steps that were
// done after the checkpoint (they will be redone).
void truncate_log(const std::string& path, int64_t global_step) {
  if (!file_exists(path)) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      auto j = nlohmann::json::parse(line);
      if (j.value("global_step", int64_t{0}) > global_step) continue;
    } catch (const std::exception&) {
      continue;  // a torn last line from the interrupted run
    }
    kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

}  // namespace detail_trainer

TrainSummary run_training(TrainModel& model, BatchSource& source, int64_t dataset_size,
                          dist::Communicator& comm, const TrainOptions& opt, const CheckpointIO& io) {
  using namespace detail_trainer;
  const int rank = comm.rank(), world = comm.world();
  TC_CHECK_GT(dataset_size, 0, "training dataset size");
  make_dirs(opt.out_dir + "/checkpoints");
  const std::string latest = opt.out_dir + "/checkpoint.h5";
  const std::string log_path = opt.out_dir + "/log.jsonl";

  FlatParams flat(model.learnable());
  Adam adam(flat.numel(), opt.adam);
  if (opt.adam.weight_decay != 0) adam.set_weight_decay_mask(flat.decay_mask());

  // Initial state: rank 0's values everywhere (or the checkpoint's, identical on all ranks).
  TrainState state;
  if (opt.resume) {
    TC_CHECK_INPUT(file_exists(latest), "--resume: no checkpoint at '{}' (nothing to resume)", latest);
    state = io.load(latest);
    if (state.exp_avg.defined()) adam.load_state(state.exp_avg, state.exp_avg_sq, state.adam_step);
    log::info("resuming from {}: epoch {}, step {} of the epoch, {} steps done", latest,
              state.epoch + 1, state.step_in_epoch, state.global_step);
    if (rank == 0) truncate_log(log_path, state.global_step);
  } else {
    at::Tensor v = flat.values().contiguous();
    broadcast_flat(comm, v, 0);
    flat.set_values(v);
  }

  data::SamplerOptions so;
  so.size = dataset_size;
  so.global_batch = opt.global_batch;
  so.seed = opt.seed;
  so.shuffle = opt.shuffle;
  so.rank = rank;
  so.world = world;
  data::ShardedSampler sampler(so);
  const int64_t steps_per_epoch = sampler.steps_per_epoch();
  int64_t total_steps = steps_per_epoch * opt.epochs;
  if (opt.max_steps > 0) total_steps = std::min(total_steps, opt.max_steps);

  std::ofstream log_file;
  if (rank == 0) {
    log_file.open(log_path, std::ios::app);
    TC_CHECK(log_file.good(), "cannot open '{}' for appending", log_path);
  }
  log::info("training: {} samples, global batch {} over {} rank(s), {} steps/epoch, {} epochs, "
            "{} learnable values",
            dataset_size, opt.global_batch, world, steps_per_epoch, opt.epochs, flat.numel());

  auto save = [&](int64_t epoch, int64_t step_in_epoch, bool end_of_epoch) {
    TrainState s;
    s.epoch = end_of_epoch ? epoch + 1 : epoch;
    s.step_in_epoch = end_of_epoch ? 0 : step_in_epoch;
    s.global_step = state.global_step;
    s.exp_avg = adam.exp_avg();
    s.exp_avg_sq = adam.exp_avg_sq();
    s.adam_step = adam.steps();
    if (rank == 0) {
      std::string final_path =
          opt.out_dir + "/checkpoints/" + checkpoint_name(epoch + 1, step_in_epoch, end_of_epoch);
      AtomicPath ap(final_path);
      io.save(ap.tmp(), s);
      ap.commit();
      replace_with_link(final_path, latest);
      log::info("checkpoint: {} (step {})", final_path, s.global_step);
    }
    comm.barrier();
  };

  StopSignals signals;  // SIGTERM/SIGUSR1 from here on: step checkpoint, then return
  Progress progress("train", total_steps, "step", rank == 0);
  progress.resume_at(state.global_step);
  TrainSummary summary;
  auto t_start = Clock::now();
  int64_t images_done = 0;
  // A resumed run that already reached --max-steps has nothing left to do.
  bool stop = opt.max_steps > 0 && state.global_step >= opt.max_steps;

  for (int64_t epoch = state.epoch; epoch < opt.epochs && !stop; ++epoch) {
    auto steps = sampler.epoch_steps(epoch);
    int64_t first = epoch == state.epoch ? state.step_in_epoch : 0;
    double epoch_loss = 0;
    int64_t epoch_steps = 0;
    for (int64_t s = first; s < static_cast<int64_t>(steps.size()); ++s) {
      const data::Step& st = steps[static_cast<size_t>(s)];
      const int64_t count = static_cast<int64_t>(st.indices.size());
      auto t0 = Clock::now();

      // Forward and backward on this rank's share.
      Scalars local;
      double t_data = 0, t_fwd = 0, t_bwd = 0;
      for (auto& p : flat.params())
        if (p.tensor.grad().defined()) p.tensor.mutable_grad().zero_();
      if (count > 0) {
        TrainBatch batch = source.load(st.indices);
        t_data = seconds_since(t0);
        auto t1 = Clock::now();
        StepLoss out = model.forward_loss(batch);
        t_fwd = seconds_since(t1);
        auto t2 = Clock::now();
        out.loss.backward();
        t_bwd = seconds_since(t2);
        local.emplace_back("loss", out.loss.item<double>());
        for (auto& kv : out.terms) local.push_back(kv);
        for (auto& kv : out.diagnostics) local.push_back(kv);
      }
      at::Tensor grad = flat.grads();
      auto t3 = Clock::now();
      allreduce_weighted_mean(comm, grad, count, st.global_batch);
      double t_comm = seconds_since(t3);
      local.emplace_back("time_data_s", t_data);
      local.emplace_back("time_forward_s", t_fwd);
      local.emplace_back("time_backward_s", t_bwd);
      local.emplace_back("time_allreduce_s", t_comm);
      StepReport report = combine_step(comm.allgather_strings(encode_step(local, count, StopSignals::received())));
      const Scalars& global = report.scalars;

      // Every rank holds the same reduced gradient, so all ranks stop together on non-finite
      // values; the last checkpoint is left as it was.
      if (!at::isfinite(grad).all().item<bool>()) {
        std::string terms;
        for (const auto& [k, v] : global)
          if (k.rfind("time_", 0) != 0) terms += fmt::format(" {}={:.6g}", k, v);
        TC_FAIL_HINT(ErrorKind::Runtime,
                     fmt::format("the last good checkpoint is {} (if any); lower train.lr or check the data", latest),
                     "non-finite gradient at step {} (epoch {}, step {} of the epoch); terms:{}",
                     state.global_step + 1, epoch + 1, s + 1, terms);
      }
      at::Tensor values = flat.values();
      if (opt.lr_schedule) adam.set_lr(opt.lr_schedule(state.global_step));
      adam.step(values, grad);
      flat.set_values(values);
      model.after_update();
      ++state.global_step;
      images_done += st.global_batch;

      double step_s = seconds_since(t0);
      double loss = 0;
      for (const auto& [k, v] : global)
        if (k == "loss") loss = v;
      epoch_loss += loss;
      ++epoch_steps;
      summary.last_loss = loss;
      if (rank == 0 && (state.global_step % opt.log_every_steps == 0)) {
        nlohmann::json j;
        j["kind"] = "step";
        j["epoch"] = epoch + 1;
        j["step"] = s + 1;
        j["global_step"] = state.global_step;
        j["batch"] = st.global_batch;
        for (const auto& [k, v] : global) j[k] = v;
        if (opt.lr_schedule) j["lr"] = adam.options().lr;
        j["step_s"] = step_s;
        j["images_per_s"] = step_s > 0 ? static_cast<double>(st.global_batch) / step_s : 0.0;
        append_line(log_file, log_path, j);
      }
      progress.update(1, fmt::format("epoch {}/{} loss {:.4f}", epoch + 1, opt.epochs, loss));

      bool at_cap = opt.max_steps > 0 && state.global_step >= opt.max_steps;
      bool last_of_epoch = s + 1 == static_cast<int64_t>(steps.size());
      // A stop request after the last step changes nothing: the run is complete.
      bool stop_now = report.stop_signal != 0 && !at_cap && state.global_step < total_steps;
      if (stop_now) {  // logged before the save, whose barrier is the last collective of the run
        summary.stopped_by = report.stop_signal;
        if (rank == 0)
          append_line(log_file, log_path, {{"kind", "stop"}, {"signal", signal_name(report.stop_signal)},
                                           {"epoch", epoch + 1}, {"step", s + 1},
                                           {"global_step", state.global_step}});
      }
      if (last_of_epoch) {
        save(epoch, s + 1, true);
      } else if ((opt.save_every_steps > 0 && state.global_step % opt.save_every_steps == 0) || at_cap ||
                 stop_now) {
        save(epoch, s + 1, false);
      }
      if (at_cap || stop_now) {
        stop = true;
        break;
      }
    }
    if (rank == 0 && epoch_steps > 0 && !stop) {  // an interrupted epoch gets no summary line
      nlohmann::json j;
      j["kind"] = "epoch";
      j["epoch"] = epoch + 1;
      j["global_step"] = state.global_step;
      j["mean_loss"] = epoch_loss / static_cast<double>(epoch_steps);
      append_line(log_file, log_path, j);
      log::info("epoch {}/{}: mean loss {:.5f}", epoch + 1, opt.epochs, epoch_loss / epoch_steps);
    }
  }
  progress.finish();
  summary.steps = state.global_step;
  summary.seconds = seconds_since(t_start);
  summary.images_per_s = summary.seconds > 0 ? static_cast<double>(images_done) / summary.seconds : 0;
  summary.checkpoint = latest;
  return summary;
}

}  // namespace tc::train
