// Distributed contrastive pretraining: each rank encodes its share, the embeddings are
// all-gathered with the local rows keeping their graph, the local loss's gradient is scaled by
// n / n_r; the count-weighted all-reduce must then give the gradient of the single-process
// loss over the whole batch, for any world size and uneven shares (7 samples: 4/3, 3/2/2).
// The reference is computed on every rank by one process holding the whole batch.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "clip/clip.h"
#include "data/sampler.h"
#include "dist/dist.h"
#include "train/optim.h"
#include "train/pretrain.h"

namespace {

using namespace tc::train;

tc::clip::ClipConfig small_config() {
  tc::clip::ClipConfig c;
  c.preset = "custom";
  c.vision = {2, 32, 2, 8, 16};
  c.text = {2, 32, 2, 77, 40};
  c.embed_dim = 16;
  c.image_size = 16;  // 2 x 2 patches
  c.vv_from = 2;
  c.layers = {2};
  return c;
}

struct Data {
  at::Tensor images, masks, labels;
  CaptionIds ids;
};

Data make_data(int64_t n) {
  torch::manual_seed(11);  // identical on every rank
  Data d;
  d.images = torch::randn({n, 3, 16, 16});
  d.masks = (torch::rand({n, 16, 16}) > 0.8).to(torch::kFloat);
  d.labels = torch::arange(n) % 2;
  auto ids = [&](int64_t offset) {
    auto t = torch::zeros({n, 77}, torch::kLong);
    for (int64_t i = 0; i < n; ++i) {
      int64_t len = 2 + (i + offset) % 4;
      t[i][0] = 38;  // SOT
      for (int64_t k = 1; k <= len; ++k) t[i][k] = (i * 7 + k * 3 + offset) % 37 + 1;
      t[i][len + 1] = 39;  // EOT (the largest id)
    }
    return t;
  };
  d.ids.caption = ids(0);
  d.ids.normal = ids(1);
  d.ids.defect = ids(2);
  for (int64_t i = 0; i < n; ++i) d.ids.dense.push_back(i % 3 != 2);  // some images without masks
  return d;
}

// The flat gradient of one step's loss on samples [begin, end), and the logged terms.
std::pair<at::Tensor, StepLoss> grad_of(tc::dist::Communicator& comm, const Data& d, int64_t global,
                                        int64_t begin, int64_t end) {
  tc::clip::ClipModel m(small_config());
  tc::clip::init_random(m, 5);
  PretrainLossOptions o;
  o.dense_weight = 0.7;
  ClipPretrainModel pm(m, d.ids, comm, global, o);
  TrainBatch b;
  b.size = end - begin;
  for (int64_t i = begin; i < end; ++i) b.indices.push_back(i);
  b.images = d.images.slice(0, begin, end);
  b.masks = d.masks.slice(0, begin, end);
  b.labels = d.labels.slice(0, begin, end);
  StepLoss s = pm.forward_loss(b);
  s.loss.backward();
  FlatParams flat(pm.learnable());
  return {flat.grads(), s};
}

}  // namespace

TEST(PretrainDist, GatheredLossGradientEqualsFullBatch) {
  auto mpi = tc::dist::make_communicator("mpi");
  auto single = tc::dist::make_communicator("single");
  const int64_t n = 7;
  Data d = make_data(n);
  auto [ref, ref_loss] = grad_of(*single, d, n, 0, n);

  auto share = tc::data::split_range(n, mpi->rank(), mpi->world());
  auto [g, s] = grad_of(*mpi, d, n, share.begin, share.end);
  g = g.contiguous();
  allreduce_weighted_mean(*mpi, g, share.size(), n);
  const double scale = ref.abs().max().item<double>();
  EXPECT_GT(scale, 1e-3);
  EXPECT_LT((g - ref).abs().max().item<double>(), 1e-5 * scale) << "rank " << mpi->rank() << " of " << mpi->world();
  // Every parameter gets a gradient (the positional embeddings included: they are trained).
  EXPECT_GT(ref.abs().gt(0).sum().item<int64_t>(), ref.numel() * 9 / 10);
  // The contrastive term's value is the whole batch's on every rank.
  EXPECT_NEAR(s.terms[0].second, ref_loss.terms[0].second, 1e-5);
}
