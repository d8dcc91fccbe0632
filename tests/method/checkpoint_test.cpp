// Checkpoint round trip, refusals, atomic replacement, and the AnomalyCLIP key mapping.
#include <gtest/gtest.h>

#include <H5Cpp.h>
#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <limits>

#include "method/checkpoint.h"
#include "method/detector.h"
#include "method/method_support.h"
#include "util/check.h"

namespace {

using namespace tc::method;
namespace fs = std::filesystem;

std::string tmp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("tc_method_ckpt_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

CheckpointMeta some_meta() {
  CheckpointMeta m;
  m.config = "[method]\nsubspaces = 4\n";
  m.backbone_path = "/w/ViT-L-14-336px.pt";
  m.backbone_preset = "ViT-L-14-336";
  m.backbone_fingerprint = "abc123";
  m.dataset_name = "mvtec";
  m.dataset_hash = "def456";
  m.origin = "test";
  return m;
}

TEST(Checkpoint, RoundTripKeepsNamesOrderValuesAndMeta) {
  auto dir = tmp_dir("rt");
  auto clip = tc::method::testing::tiny_clip();
  Detector d(clip, MethodOptions{}, tc::method::testing::fake_prompt_tokens(), 111);
  save_checkpoint(dir + "/c.h5", d->learnable_parameters(), some_meta(), [](H5::H5File& f) {
    f.createGroup("optimizer");  // room for the trainer's groups
  });
  Checkpoint c = read_checkpoint(dir + "/c.h5");
  ASSERT_EQ(c.learnable.size(), d->learnable_parameters().size());
  for (size_t i = 0; i < c.learnable.size(); ++i) {
    EXPECT_EQ(c.learnable[i].first, d->learnable_parameters()[i].first);
    EXPECT_TRUE(torch::equal(c.learnable[i].second, d->learnable_parameters()[i].second));
  }
  EXPECT_EQ(c.meta.backbone_fingerprint, "abc123");
  EXPECT_EQ(c.meta.dataset_name, "mvtec");
  EXPECT_EQ(c.meta.config, some_meta().config);
  H5::H5File f(dir + "/c.h5", H5F_ACC_RDONLY);
  EXPECT_TRUE(f.nameExists("optimizer"));
  // Loading into a detector drawn from another seed makes it produce the same outputs.
  Detector e(clip, MethodOptions{}, tc::method::testing::fake_prompt_tokens(), 7);
  torch::manual_seed(1);
  torch::Tensor img = torch::randn({1, 3, 128, 128});
  EXPECT_FALSE(torch::equal(e->forward(img).map, d->forward(img).map));
  load_learnable(*e, c, dir + "/c.h5");
  // Exact: the file holds the tensors bit for bit and both forwards run the same code on the
  // same input in one process.
  EXPECT_TRUE(torch::equal(e->forward(img).map, d->forward(img).map));
  fs::remove_all(dir);
}

TEST(Checkpoint, RefusesWhatDoesNotFit) {
  auto dir = tmp_dir("refuse");
  auto clip = tc::method::testing::tiny_clip();
  Detector base(clip, MethodOptions::anomalyclip(), tc::method::testing::fake_prompt_tokens(), 1);
  Detector tok(clip, MethodOptions{}, tc::method::testing::fake_prompt_tokens(), 1);
  save_checkpoint(dir + "/base.h5", base->learnable_parameters(), some_meta());
  save_checkpoint(dir + "/tok.h5", tok->learnable_parameters(), some_meta());
  try {
    load_learnable(*tok, read_checkpoint(dir + "/base.h5"), "base.h5");
    ADD_FAILURE();
  } catch (const tc::Error& e) {
    EXPECT_EQ(e.kind(), tc::ErrorKind::Input);
    EXPECT_NE(std::string(e.what()).find("'global.ctx_normal' missing"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'subspace.weight' has shape [64,64], expected [256,64]"),
              std::string::npos) << e.what();
  }
  try {
    load_learnable(*base, read_checkpoint(dir + "/tok.h5"), "tok.h5");
    ADD_FAILURE();
  } catch (const tc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'global.deep.0' is not a tensor of this method config"),
              std::string::npos) << e.what();
  }
  // Not HDF5 / another HDF5 format.
  std::ofstream(dir + "/junk.h5") << "not hdf5";
  EXPECT_THROW(read_checkpoint(dir + "/junk.h5"), tc::Error);
  {
    H5::H5File f(dir + "/other.h5", H5F_ACC_TRUNC);
    H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
    f.createAttribute("format", t, H5::DataSpace(H5S_SCALAR)).write(t, std::string("tokenclip-dataset"));
  }
  try {
    read_checkpoint(dir + "/other.h5");
    ADD_FAILURE();
  } catch (const tc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected 'tokenclip-checkpoint'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_checkpoint(dir + "/absent.h5"), tc::Error);
  fs::remove_all(dir);
}

TEST(Checkpoint, FailedWriteLeavesThePreviousFile) {
  auto dir = tmp_dir("atomic");
  NamedTensorList a = {{"x", torch::ones({2})}};
  save_checkpoint(dir + "/c.h5", a, some_meta());
  NamedTensorList b = {{"x", torch::zeros({2})}};
  EXPECT_THROW(save_checkpoint(dir + "/c.h5", b, some_meta(),
                               [](H5::H5File&) { TC_RUNTIME_ERROR("disk full (simulated)"); }),
               tc::Error);
  EXPECT_TRUE(torch::equal(read_checkpoint(dir + "/c.h5").learnable[0].second, torch::ones({2})));
  int files = 0;
  for (auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);  // no temporary left behind
  fs::remove_all(dir);
}

// Every tensor read from a checkpoint is checked: a NaN or Inf stops the load, naming the file,
// the tensor and the first bad value (infer/calibrate/eval/train all load through here).
TEST(Checkpoint, RefusesNonFiniteTensors) {
  auto dir = tmp_dir("finite");
  for (double bad : {std::nan(""), -std::numeric_limits<double>::infinity()}) {
    at::Tensor x = torch::ones({2, 3});
    x[1][2] = bad;
    save_checkpoint(dir + "/c.h5", {{"a", torch::zeros({4})}, {"b", x}}, some_meta());
    try {
      read_checkpoint(dir + "/c.h5");
      ADD_FAILURE() << "read a checkpoint holding " << bad;
    } catch (const tc::Error& e) {
      EXPECT_EQ(e.kind(), tc::ErrorKind::Input);
      const std::string want = fmt::format("{}/c.h5: tensor 'learnable/b' holds 1 non-finite value(s) of 6 "
                                           "(the first, at flat index 5, is {})", dir, bad);
      EXPECT_NE(e.message().find(want), std::string::npos) << e.message() << "\nwanted: " << want;
    }
  }
  fs::remove_all(dir);
}

std::map<std::string, at::Tensor> fake_anomalyclip(int n = 12, int w = 64, int deep = 8) {
  std::map<std::string, at::Tensor> t;
  t["prompt_learner.ctx_pos"] = torch::full({1, 1, n, w}, 1.0);
  t["prompt_learner.ctx_neg"] = torch::full({1, 1, n, w}, 2.0);
  for (int i = 0; i < deep; ++i)
    t["prompt_learner.compound_prompts_text." + std::to_string(i)] = torch::full({4, w}, 10.0 + i);
  for (int i = 0; i < deep; ++i)
    t["prompt_learner.compound_prompt_projections." + std::to_string(i) + ".weight"] = torch::zeros({3, 3});
  t["prompt_learner.token_prefix_pos"] = torch::zeros({1, 1, 1, w});
  t["prompt_learner.token_suffix_neg"] = torch::zeros({1, 1, 64, w});
  t["prompt_learner.tokenized_prompts_pos"] = torch::zeros({1, 77}, torch::kLong);
  return t;
}

TEST(ImportAnomalyClip, MapsNormalAbnormalAndDeepPrompts) {
  auto out = import_anomalyclip_tensors(fake_anomalyclip(), "ac.pth", 64, 12, 9, 4);
  ASSERT_EQ(out.size(), 10u);
  EXPECT_EQ(out[0].first, "base.ctx_normal");  // ctx_pos is the NORMAL context
  EXPECT_EQ(out[0].second.sizes(), (std::vector<int64_t>{12, 64}));
  EXPECT_EQ(out[0].second[0][0].item<float>(), 1.0f);
  EXPECT_EQ(out[1].first, "base.ctx_abnormal");
  EXPECT_EQ(out[1].second[0][0].item<float>(), 2.0f);
  EXPECT_EQ(out[9].first, "base.deep.7");
  EXPECT_EQ(out[9].second[0][0].item<float>(), 17.0f);
  // Into an anomalyclip detector of the tiny backbone: everything but the (unused) head.
  Checkpoint c;
  c.learnable = out;
  auto clip = tc::method::testing::tiny_clip();
  Detector d(clip, MethodOptions::anomalyclip(), tc::method::testing::fake_prompt_tokens(), 1);
  c.learnable.emplace_back("subspace.weight", d->learnable("subspace.weight").detach().clone());
  c.learnable.emplace_back("subspace.bias", d->learnable("subspace.bias").detach().clone());
  load_learnable(*d, c, "ac.pth");
  EXPECT_EQ(d->learnable("base.ctx_abnormal")[3][5].item<float>(), 2.0f);
}

TEST(ImportAnomalyClip, RefusesMissingMisshapedAndUnknownTensors) {
  auto t = fake_anomalyclip();
  t.erase("prompt_learner.ctx_neg");
  t["prompt_learner.compound_prompts_text.2"] = torch::zeros({4, 32});
  t["prompt_learner.something_else"] = torch::zeros({1});
  try {
    import_anomalyclip_tensors(t, "bad.pth", 64, 12, 9, 4);
    ADD_FAILURE();
  } catch (const tc::Error& e) {
    std::string w = e.what();
    EXPECT_EQ(e.kind(), tc::ErrorKind::Input);
    EXPECT_NE(w.find("bad.pth"), std::string::npos);
    EXPECT_NE(w.find("'ctx_neg' is missing"), std::string::npos) << w;
    EXPECT_NE(w.find("'compound_prompts_text.2' has shape [4,32], expected [4,64]"), std::string::npos) << w;
    EXPECT_NE(w.find("'something_else'"), std::string::npos) << w;
  }
  // Wrong depth and wrong context length.
  EXPECT_THROW(import_anomalyclip_tensors(fake_anomalyclip(12, 64, 5), "d.pth", 64, 12, 9, 4), tc::Error);
  EXPECT_THROW(import_anomalyclip_tensors(fake_anomalyclip(8, 64, 8), "n.pth", 64, 12, 9, 4), tc::Error);
}

TEST(ImportAnomalyClip, RefusesNonFiniteTensors) {
  auto t = fake_anomalyclip();
  t["prompt_learner.compound_prompts_text.3"][2][7] = INFINITY;
  try {
    import_anomalyclip_tensors(t, "inf.pth", 64, 12, 9, 4);
    ADD_FAILURE();
  } catch (const tc::Error& e) {
    EXPECT_EQ(e.kind(), tc::ErrorKind::Input);
    EXPECT_NE(e.message().find("inf.pth: tensor 'compound_prompts_text.3' holds 1 non-finite value(s) of 256"),
              std::string::npos) << e.message();
  }
}

}  // namespace
