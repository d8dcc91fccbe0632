// `tokenclip cache build`: the frozen image tower's outputs for a dataset, computed once.
// Sharded across ranks (each rank fills its own resumable part file), then rank 0 joins the
// parts into one complete file under a temporary name and renames it into place.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>

#include "app/command.h"
#include "app/setup.h"
#include "compat/torch_compat.h"
#include "data/batch.h"
#include "data/dataset.h"
#include "data/features.h"
#include "data/sampler.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/progress.h"

namespace tc::app {
namespace detail_cache {

std::string part_path(const std::string& out, int rank, int world) {
  return fmt::format("{}.part-{}-of-{}", out, rank, world);
}

int run_cache(Invocation& inv) {
  const auto& cfg = inv.cfg;
  TC_CHECK_USAGE(inv.args.at(0) == "build", "unknown cache action '{}': expected 'build'", inv.args[0]);
  Runtime rt = init_runtime(cfg);
  auto& comm = *rt.comm;
  const std::string out = cfg.get_string("out");
  data::DatasetReader reader(cfg.get_string("data"));
  auto backbone = load_backbone(cfg, cfg.get_string("weights"));
  auto& cc = backbone.model->config;
  TC_CHECK_INPUT(reader.image_size() == cc.image_size,
                 "dataset '{}' holds {}x{} images but the model runs at S = {}", reader.path(),
                 reader.image_size(), reader.image_size(), cc.image_size);
  backbone.model->to(rt.device);
  auto key = data::feature_key(backbone.fingerprint, cc.image_size, cc.layers, cc.vv_from,
                               reader.meta().content_hash);
  if (comm.rank() == 0) {  // effective config next to the cache: F.h5.config.ini
    std::filesystem::path p(out);
    write_effective_config(inv, p.has_parent_path() ? p.parent_path().string() : ".",
                           p.filename().string() + ".config.ini");
  }

  // This rank's shard, into its own resumable part file.
  auto shard = data::eval_shard(reader.size(), comm.rank(), comm.world());
  const std::string part = part_path(out, comm.rank(), comm.world());
  const int64_t batch = cfg.get_int("batch");
  {
    data::FeatureCacheWriter w(part, key, shard.size(), cc.embed_dim, 1 + cc.num_patches());
    auto pending = w.pending();
    if (static_cast<int64_t>(pending.size()) < shard.size())
      log::info("resuming: {} of {} rows of this shard already built", shard.size() - static_cast<int64_t>(pending.size()), shard.size());
    Progress prog("cache", static_cast<int64_t>(pending.size()), "img", comm.rank() == 0);
    compat::InferenceGuard guard;
    for (size_t i = 0; i < pending.size();) {
      // Contiguous runs of pending rows, at most `batch` long.
      size_t j = i + 1;
      while (j < pending.size() && pending[j] == pending[j - 1] + 1 && static_cast<int64_t>(j - i) < batch) ++j;
      std::vector<int64_t> idx;
      for (size_t k = i; k < j; ++k) idx.push_back(shard.begin + pending[k]);
      auto raw = data::read_batch(reader, idx, false);
      auto o = backbone.model->visual->forward(data::normalize_clip(raw.images.to(rt.device)));
      w.write(pending[i], data::FeatureRows{o.global, o.tokens});
      prog.update(static_cast<int64_t>(j - i));
      i = j;
    }
    prog.finish();
    w.close();
  }
  comm.barrier();
  if (comm.rank() == 0) {
    AtomicPath ap(out);
    if (comm.world() == 1) {
      std::filesystem::rename(part, ap.tmp());
    } else {
      data::FeatureCacheWriter all(ap.tmp(), key, reader.size(), cc.embed_dim, 1 + cc.num_patches());
      for (int r = 0; r < comm.world(); ++r) {
        auto s = data::eval_shard(reader.size(), r, comm.world());
        data::FeatureCacheReader pr(part_path(out, r, comm.world()), key);
        for (int64_t i = 0; i < s.size(); i += batch) {
          std::vector<int64_t> idx;
          for (int64_t k = i; k < std::min(s.size(), i + batch); ++k) idx.push_back(k);
          all.write(s.begin + i, pr.read(idx));
        }
      }
      all.close();
    }
    ap.commit();
    for (int r = 0; r < comm.world(); ++r) std::filesystem::remove(part_path(out, r, comm.world()));
    std::printf("wrote %s: %lld images, layers %zu, D %d, backbone %s%s\n", out.c_str(),
                static_cast<long long>(reader.size()), cc.layers.size(), cc.embed_dim,
                backbone.fingerprint.substr(0, 16).c_str(), backbone.random ? " (random-initialised)" : "");
  }
  comm.barrier();
  return 0;
}

}  // namespace detail_cache

TC_REGISTER_COMMAND(Command{
    "cache", "build the feature cache of the frozen image tower for a dataset",
    "tokenclip cache build --data D.h5 --out F.h5: computes the frozen image tower's global and "
    "per-layer token features of every image once, so training and evaluation can skip the image "
    "tower (train --cache F.h5). Sharded across MPI ranks; interrupted builds resume. The file is "
    "keyed by backbone fingerprint, image size, layers, V-V setting and the dataset's content "
    "hash; a run with another key refuses it.",
    {"model", "runtime"},
    {flag_string("data", "", "dataset (tokenclip-dataset HDF5)", true),
     flag_string("out", "", "feature cache file to write", true),
     flag_string("weights", "", "CLIP weights; none = random tiny CLIP"),
     flag_int("batch", "8", "images per forward pass", 1)},
    "ACTION", "build", 1, 1, 25, detail_cache::run_cache});

}  // namespace tc::app
