// `tokenclip eval` (a checkpoint on a dataset: maps, scores, metrics, pictures) and
// `tokenclip score` (metrics again from dumped maps, without the model).
//
// eval: images are sharded contiguously across ranks (no padding, no duplicates); rank 0
// consumes its own results as they come, then every other rank's in rank order, so it sees the
// dataset in file order and finishes each class's pixel metrics as soon as the class is
// complete (memory bounded by one class). Pictures are rendered by rank 0 at the end,
// recomputing the few chosen images.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "app/command.h"
#include "app/setup.h"
#include "compat/torch_compat.h"
#include "data/batch.h"
#include "data/dataset.h"
#include "data/features.h"
#include "data/sampler.h"
#include "eval/blur.h"
#include "eval/evaluate.h"
#include "eval/render.h"
#include "eval/report_metrics.h"
#include "method/checkpoint.h"
#include "method/method_config.h"
#include "method/scores.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/progress.h"

namespace tc::app {
namespace detail_eval {

// One image's results as a flat float record (for sending to rank 0).
std::vector<float> pack(const ImageResults& r, int64_t i, bool dump) {
  std::vector<float> v;
  auto append = [&](const at::Tensor& t) {
    const float* p = t.data_ptr<float>();
    v.insert(v.end(), p, p + t.numel());
  };
  append(r.maps[i]);
  v.push_back(r.scores[i].item<float>());
  v.push_back(r.global_prob[i].item<float>());
  if (dump) {
    for (const auto& t : r.token_probs) append(t[i].contiguous());
    for (const auto& t : r.assignment) append(t[i].contiguous());
  }
  return v;
}

int run_eval(Invocation& inv) {
  const auto& cfg = inv.cfg;
  Runtime rt = init_runtime(cfg);
  auto& comm = *rt.comm;
  const std::string out_dir = cfg.get_string("out");
  const bool dump = cfg.get_bool("dump-maps");
  const double sigma = cfg.get_float("eval.blur_sigma");
  auto variants = eval::parse_aupro_variants(
      cfg.get_string("aupro").empty() ? cfg.get_string("eval.aupro") : cfg.get_string("aupro"));

  data::DatasetReader reader(cfg.get_string("data"));
  const auto& dmeta = reader.meta();
  auto ckmeta = method::read_checkpoint_meta(cfg.get_string("checkpoint"));
  // The protocol guard: zero-shot means never scoring the data that trained the prompts.
  if (!ckmeta.dataset_name.empty() && ckmeta.dataset_name == dmeta.name)
    TC_FAIL_HINT(ErrorKind::Usage,
                 fmt::format("datasets are told apart by name only; if '{}' is another dataset than the one "
                             "that trained the checkpoint, give it its own name: tokenclip prep LAYOUT --root "
                             "DIR --out FILE --name NEW_NAME (for `folder` the default name is the ROOT "
                             "folder's name)",
                             reader.path()),
                 "checkpoint '{}' was trained on dataset '{}'; evaluating it on '{}' ({}) is not zero-shot "
                 "(the protocol trains on one dataset and evaluates on the others)",
                 cfg.get_string("checkpoint"), ckmeta.dataset_name, dmeta.name, reader.path());

  Restored r = restore_detector(inv.cfg.get_string("checkpoint"), inv.cfg.get_string("weights"),
                                inv.cfg.get_string("bpe"), rt.device);
  const auto& cc = r.backbone.model->config;
  TC_CHECK_INPUT(dmeta.image_size == cc.image_size,
                 "dataset '{}' holds {}x{} images but the checkpoint's model runs at S = {}; convert the data "
                 "with --size {}",
                 reader.path(), dmeta.image_size, dmeta.image_size, cc.image_size, cc.image_size);
  const int S = cc.image_size, N = cc.num_patches(), L = static_cast<int>(cc.layers.size());
  const int Q = r.mopt.subspaces;
  if (comm.rank() == 0) write_effective_config(inv, out_dir);

  torch::NoGradGuard no_grad;
  auto text = r.det->encode_text();
  const int64_t batch = cfg.get_int("eval.batch");
  const size_t record = static_cast<size_t>(S) * S + 2 + (dump ? static_cast<size_t>(L) * N * (2 + Q) : 0);

  std::unique_ptr<eval::DatasetEvaluator> evaluator;
  std::unique_ptr<eval::MapsWriter> maps;
  if (comm.rank() == 0) {
    evaluator = std::make_unique<eval::DatasetEvaluator>(reader, variants);
    if (dump) {
      eval::MapsMeta mm;
      mm.dataset_name = dmeta.name;
      mm.dataset_hash = dmeta.content_hash;
      mm.checkpoint = cfg.get_string("checkpoint");
      mm.image_size = S;
      mm.size = reader.size();
      mm.blur_sigma = sigma;
      mm.layers = cc.layers;
      mm.tokens = N;
      mm.subspaces = Q;
      make_dirs(out_dir);
      maps = std::make_unique<eval::MapsWriter>(out_dir + "/maps.h5", mm);
    }
  }
  // Rank 0's consumer of one image record, in dataset order.
  auto consume = [&](int64_t index, const float* rec) {
    const float* map = rec;
    float score = rec[static_cast<size_t>(S) * S], gprob = rec[static_cast<size_t>(S) * S + 1];
    evaluator->add(index, map, score);
    if (maps) {
      std::vector<const float*> probs, assign;
      const float* p = rec + static_cast<size_t>(S) * S + 2;
      for (int l = 0; l < L; ++l, p += static_cast<size_t>(N) * 2) probs.push_back(p);
      for (int l = 0; l < L; ++l, p += static_cast<size_t>(N) * Q) assign.push_back(p);
      maps->write(index, map, score, gprob, probs, assign);
    }
  };

  auto shard = data::eval_shard(reader.size(), comm.rank(), comm.world());
  std::vector<std::vector<float>> held;  // other ranks keep their records until rank 0 asks
  Progress prog("eval", shard.size(), "img", comm.rank() == 0);
  for (int64_t b0 = shard.begin; b0 < shard.end; b0 += batch) {
    std::vector<int64_t> idx;
    for (int64_t i = b0; i < std::min(shard.end, b0 + batch); ++i) idx.push_back(i);
    auto raw = data::read_batch(reader, idx, false);
    auto res = score_images(r, text, data::normalize_clip(raw.images.to(rt.device)), sigma);
    for (int64_t i = 0; i < res.count; ++i) {
      auto rec = pack(res, i, dump);
      if (comm.rank() == 0)
        consume(idx[static_cast<size_t>(i)], rec.data());
      else
        held.push_back(std::move(rec));
    }
    prog.update(res.count);
  }
  prog.finish();
  // Rank-ordered collection on rank 0.
  std::vector<float> buf(record);
  for (int src = 1; src < comm.world(); ++src) {
    auto s = data::eval_shard(reader.size(), src, comm.world());
    for (int64_t i = s.begin; i < s.end; ++i) {
      if (comm.rank() == 0) {
        comm.recv(buf.data(), record * sizeof(float), src);
        consume(i, buf.data());
      } else if (comm.rank() == src) {
        comm.send(held[static_cast<size_t>(i - s.begin)].data(), record * sizeof(float), 0);
      }
    }
  }
  held.clear();

  if (comm.rank() == 0) {
    if (maps) maps->close();
    auto metrics = evaluator->finish();
    nlohmann::json extra;
    extra["data"] = {{"path", reader.path()}, {"name", dmeta.name}, {"domain", dmeta.domain},
                     {"content_hash", dmeta.content_hash}, {"size", reader.size()}};
    extra["checkpoint"] = {{"path", cfg.get_string("checkpoint")},
                           {"train_dataset", ckmeta.dataset_name},
                           {"train_dataset_hash", ckmeta.dataset_hash},
                           {"origin", ckmeta.origin}};
    extra["backbone"] = {{"path", r.backbone.path}, {"preset", cc.preset}, {"format", r.backbone.format},
                         {"fingerprint", r.backbone.fingerprint}, {"random", r.backbone.random}};
    extra["eval"] = {{"blur_sigma", sigma}, {"image_size", S}, {"ranks", comm.world()},
                     {"map_source", r.mopt.map_source}, {"layers", cc.layers}};
    extra["config"] = r.cfg.to_ini(false);
    eval::write_metrics_json(out_dir + "/metrics.json", metrics, extra);
    auto pct = [](const std::optional<double>& v) { return v ? fmt::format("{:.1f}", 100 * *v) : std::string("n/a"); };
    std::printf("%s on %s (%lld images, %s%s): image AUROC %s AP %s | pixel AUROC %s AUPRO(%s) %s\n",
                cfg.get_string("checkpoint").c_str(), dmeta.name.c_str(), static_cast<long long>(reader.size()),
                eval::dataset_level(reader).describe().c_str(), r.backbone.random ? ", random backbone" : "",
                pct(metrics.mean.image.auroc).c_str(), pct(metrics.mean.image.ap).c_str(),
                pct(metrics.mean.pixel.auroc).c_str(), eval::aupro_variant_name(variants.front()),
                pct(variants.front() == eval::AuproVariant::Mvtec ? metrics.mean.aupro_mvtec
                                                                  : metrics.mean.aupro_anomalyclip).c_str());
    std::printf("wrote %s/metrics.json\n", out_dir.c_str());

    // Pictures: recompute the chosen images (few) and render them on one colour scale.
    // none | anomalous | all | N per class (N >= 0, validated with the flag)
    std::string vis = cfg.word("visualize");
    const int64_t vis_n = vis.empty() ? cfg.get_int("visualize") : 0;
    if (vis.empty()) vis = vis_n == 0 ? "none" : "best-worst";
    if (vis != "none" && !eval::pictures_supported()) {
      tc::log::warn("--visualize {}: no pictures written, this build has no OpenCV "
                    "(TOKENCLIP_OPENCV=OFF); maps and metrics are unaffected", cfg.text("visualize"));
      vis = "none";
    }
    if (vis != "none") {
      std::vector<int64_t> chosen;
      const auto& scores = evaluator->scores();
      for (size_t c = 0; c < dmeta.class_names.size(); ++c) {
        std::vector<int64_t> members;
        std::vector<float> s;
        std::vector<uint8_t> l;
        for (int64_t i = 0; i < reader.size(); ++i)
          if (reader.class_ids()[static_cast<size_t>(i)] == static_cast<int32_t>(c)) {
            members.push_back(i);
            s.push_back(scores[static_cast<size_t>(i)]);
            l.push_back(reader.labels()[static_cast<size_t>(i)]);
          }
        if (vis == "all") {
          chosen.insert(chosen.end(), members.begin(), members.end());
        } else if (vis == "anomalous") {
          for (size_t k = 0; k < members.size(); ++k)
            if (l[k]) chosen.push_back(members[k]);
        } else {
          const size_t n = static_cast<size_t>(vis_n);
          auto picks = eval::pick_figure_images(s, l, (n + 3) / 4);
          for (size_t k = 0; k < picks.size() && k < n; ++k) chosen.push_back(members[picks[k]]);
        }
      }
      eval::RenderOptions ro;
      ro.scale = {0.f, static_cast<float>(L * (r.mopt.map_source == "dyn" ? 1.0 + r.mopt.beta : 1.0))};
      const std::string pic_dir = out_dir + "/pictures";
      make_dirs(pic_dir);
      for (size_t b0 = 0; b0 < chosen.size(); b0 += static_cast<size_t>(batch)) {
        std::vector<int64_t> idx(chosen.begin() + static_cast<long>(b0),
                                 chosen.begin() + static_cast<long>(std::min(chosen.size(), b0 + batch)));
        auto raw = data::read_batch(reader, idx, true);
        auto res = score_images(r, text, data::normalize_clip(raw.images.to(rt.device)), sigma);
        for (size_t k = 0; k < idx.size(); ++k) {
          const int64_t i = idx[k];
          const int32_t cls = reader.class_ids()[static_cast<size_t>(i)];
          std::optional<double> thr;
          for (const auto& cm : metrics.classes)
            if (cm.name == dmeta.class_names[static_cast<size_t>(cls)]) thr = cm.image.f1_threshold;
          auto img = raw.images[static_cast<int64_t>(k)].contiguous();
          auto mask = raw.masks[static_cast<int64_t>(k)].contiguous();
          std::string name = eval::sanitize_filename(fmt::format("{:05d}_{}", i, reader.source_paths()[static_cast<size_t>(i)]));
          eval::HeatmapFigure f;
          f.title = fmt::format("{} [{}]", reader.source_paths()[static_cast<size_t>(i)], dmeta.name);
          f.image_rgb = img.data_ptr<uint8_t>();
          f.img_h = f.img_w = S;
          f.map = res.maps[static_cast<int64_t>(k)].data_ptr<float>();
          f.map_h = f.map_w = S;
          f.mask = reader.has_mask()[static_cast<size_t>(i)] ? mask.data_ptr<uint8_t>() : nullptr;
          f.score = res.scores[static_cast<int64_t>(k)].item<float>();
          f.threshold = thr;
          f.label = reader.labels()[static_cast<size_t>(i)];
          eval::write_heatmap_png(pic_dir + "/" + name + ".png", f, ro);
          if (!res.assignment.empty() && Q > 1) {
            auto a = res.assignment.back()[static_cast<int64_t>(k)].contiguous();
            eval::AssignmentFigure af;
            af.title = f.title + " (last layer)";
            af.weights = a.data_ptr<float>();
            af.grid_h = af.grid_w = cc.grid();
            af.subspaces = Q;
            af.image_rgb = img.data_ptr<uint8_t>();
            af.img_h = af.img_w = S;
            eval::write_assignment_png(pic_dir + "/" + name + ".assign.png", af);
          }
        }
      }
      std::printf("wrote %zu picture(s) under %s\n", chosen.size(), pic_dir.c_str());
    }
  }
  comm.barrier();
  return 0;
}

int run_score(Invocation& inv) {
  const auto& cfg = inv.cfg;
  data::DatasetReader reader(cfg.get_string("data"));
  eval::MapsReader maps(cfg.get_string("maps"));
  const auto& mm = maps.meta();
  TC_CHECK_INPUT(mm.dataset_hash == reader.meta().content_hash,
                 "maps file '{}' was computed on data with content hash {}, but '{}' has {}",
                 cfg.get_string("maps"), mm.dataset_hash, reader.path(), reader.meta().content_hash);
  auto variants = eval::parse_aupro_variants(
      cfg.get_string("aupro").empty() ? cfg.get_string("eval.aupro") : cfg.get_string("aupro"));
  eval::DatasetEvaluator ev(reader, variants);
  auto scores = maps.scores();
  std::vector<float> map(static_cast<size_t>(mm.image_size) * mm.image_size);
  Progress prog("score", reader.size(), "img");
  for (int64_t i = 0; i < reader.size(); ++i) {
    maps.read_map(i, map.data());
    ev.add(i, map.data(), scores[static_cast<size_t>(i)]);
    prog.update(1);
  }
  prog.finish();
  auto metrics = ev.finish();
  nlohmann::json extra;
  extra["data"] = {{"path", reader.path()}, {"name", reader.meta().name}, {"content_hash", reader.meta().content_hash},
                   {"size", reader.size()}};
  extra["maps"] = {{"path", cfg.get_string("maps")}, {"checkpoint", mm.checkpoint}, {"blur_sigma", mm.blur_sigma}};
  eval::write_metrics_json(cfg.get_string("out"), metrics, extra);
  std::printf("wrote %s\n", cfg.get_string("out").c_str());
  return 0;
}

}  // namespace detail_eval

TC_REGISTER_COMMAND(Command{
    "eval", "zero-shot evaluation of a checkpoint on a dataset: metrics, maps, pictures",
    "Scores every image of a dataset with a trained checkpoint (backbone from the checkpoint's record "
    "unless --weights overrides it; a different fingerprint is refused), computes per-class and mean "
    "image AUROC/AP/F1-max and pixel AUROC/AP/F1-max/AUPRO, and writes OUT/metrics.json. Under MPI the "
    "images are sharded across ranks. Refuses the dataset that trained the checkpoint.",
    {"eval", "runtime"},
    {flag_string("checkpoint", "", "checkpoint (tokenclip-checkpoint HDF5)", true),
     flag_string("data", "", "dataset to evaluate (tokenclip-dataset HDF5)", true),
     flag_string("out", "", "output directory", true),
     flag_string("weights", "", "backbone weights (default: the path recorded in the checkpoint)"),
     flag_string("bpe", "", "CLIP vocabulary (needed with pretrained weights)"),
     flag_bool("dump-maps", "write OUT/maps.h5: blurred maps, scores, token probabilities, assignments"),
     flag_int("visualize", "none", "pictures: none, anomalous, all, or N per class (best/worst picks)", 0,
              {"none", "anomalous", "all"}),
     flag_choice("aupro", "", {"anomalyclip", "mvtec", "both"}, "AUPRO variant(s); when not given, eval.aupro decides")},
    "", "", 0, 0, 30, detail_eval::run_eval});

TC_REGISTER_COMMAND(Command{
    "score", "recompute metrics from dumped maps (eval --dump-maps) without the model",
    "Reads OUT/maps.h5 written by 'tokenclip eval --dump-maps' and the dataset it was computed on, and "
    "writes the metrics again (e.g. with another AUPRO variant).",
    {"eval"},
    {flag_string("maps", "", "maps file (tokenclip-maps HDF5)", true),
     flag_string("data", "", "the dataset the maps were computed on", true),
     flag_string("out", "", "metrics JSON file to write", true),
     flag_choice("aupro", "", {"anomalyclip", "mvtec", "both"}, "AUPRO variant(s); when not given, eval.aupro decides")},
    "", "", 0, 0, 31, detail_eval::run_score});

}  // namespace tc::app
