#include "method/checkpoint.h"

#include <H5Cpp.h>
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cstdlib>
#include <set>
#include <sstream>

#include "method/detector.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/h5.h"

namespace tc::method {

namespace detail_ckpt {

std::string shape_str(at::IntArrayRef s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

H5::H5File open_ro(const std::string& path) {
  h5::check_hdf5_file(path, "checkpoint file", "a tokenclip-checkpoint");
  H5::H5File f(path, H5F_ACC_RDONLY);
  std::string fmt_ = h5::attr_str(f, "format");
  TC_CHECK_INPUT(fmt_ == kCheckpointFormat, "{}: attribute 'format' is '{}', expected '{}'", path,
                 fmt_, kCheckpointFormat);
  int64_t ver = h5::attr_i64(f, "version");
  TC_CHECK_INPUT(ver == kCheckpointVersion, "{}: checkpoint version {} is not supported (expected {})",
                 path, ver, kCheckpointVersion);
  return f;
}

// The root string attributes that hold CheckpointMeta, in the order they are written.
struct MetaAttr {
  const char* name;
  std::string CheckpointMeta::*field;
};
constexpr MetaAttr kMetaAttrs[] = {
    {"config", &CheckpointMeta::config},
    {"backbone_path", &CheckpointMeta::backbone_path},
    {"backbone_preset", &CheckpointMeta::backbone_preset},
    {"backbone_fingerprint", &CheckpointMeta::backbone_fingerprint},
    {"dataset_name", &CheckpointMeta::dataset_name},
    {"dataset_hash", &CheckpointMeta::dataset_hash},
    {"origin", &CheckpointMeta::origin},
};

CheckpointMeta read_meta(const H5::H5File& f) {
  CheckpointMeta m;
  for (const auto& a : kMetaAttrs) m.*a.field = h5::attr_str(f, a.name);
  return m;
}

}  // namespace detail_ckpt

void save_checkpoint(const std::string& path, const NamedTensorList& learnable,
                     const CheckpointMeta& meta, const std::function<void(H5::H5File&)>& extra) {
  AtomicPath ap(path);
  try {
    H5::H5File f(ap.tmp(), H5F_ACC_TRUNC);
    h5::DiscardOnUnwind discard(f);
    h5::put_attr_str(f, "format", kCheckpointFormat);
    h5::put_attr_i64(f, "version", kCheckpointVersion);
    for (const auto& a : detail_ckpt::kMetaAttrs) h5::put_attr_str(f, a.name, meta.*a.field);
    H5::Group g = f.createGroup("learnable");
    std::string names;
    for (const auto& kv : learnable) {
      TC_CHECK(kv.first.find('/') == std::string::npos && !kv.first.empty(), "tensor name '{}'", kv.first);
      at::Tensor t = kv.second.detach().to(at::kCPU, at::kFloat).contiguous();
      std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
      H5::DataSpace space(int(dims.size()), dims.data());
      if (dims.empty()) space = H5::DataSpace(H5S_SCALAR);
      H5::DataSet ds = g.createDataSet(kv.first, H5::PredType::IEEE_F32LE, space);
      ds.write(t.data_ptr<float>(), H5::PredType::NATIVE_FLOAT);
      names += kv.first + "\n";
    }
    h5::put_attr_str(g, "names", names);
    if (extra) extra(f);
    h5::flush_file(f, path);
    f.close();
  } catch (const H5::Exception& e) {
    TC_RUNTIME_ERROR("{}: writing the checkpoint failed (disk full or an I/O error?): {}", path, e.getDetailMsg());
  } catch (const Error& e) {  // from `extra` or an attribute writer: say which file
    TC_RUNTIME_ERROR("{}: writing the checkpoint failed: {}", path, e.message());
  }
  ap.commit();
}

CheckpointMeta read_checkpoint_meta(const std::string& path) {
  try {
    H5::H5File f = detail_ckpt::open_ro(path);
    return detail_ckpt::read_meta(f);
  } catch (const H5::Exception& e) {
    TC_INPUT_ERROR("{}: unreadable checkpoint: {}", path, e.getDetailMsg());
  }
}

Checkpoint read_checkpoint(const std::string& path) {
  Checkpoint c;
  try {
    H5::H5File f = detail_ckpt::open_ro(path);
    c.meta = detail_ckpt::read_meta(f);
    TC_CHECK_INPUT(f.nameExists("learnable"), "{}: group 'learnable' is missing", path);
    H5::Group g = f.openGroup("learnable");
    std::istringstream names(h5::attr_str(g, "names"));
    std::string name;
    while (std::getline(names, name)) {
      if (name.empty()) continue;
      TC_CHECK_INPUT(g.nameExists(name), "{}: tensor 'learnable/{}' listed in 'names' is missing", path, name);
      H5::DataSet ds = g.openDataSet(name);
      TC_CHECK_INPUT(ds.getTypeClass() == H5T_FLOAT, "{}: tensor 'learnable/{}': expected float data", path, name);
      H5::DataSpace sp = ds.getSpace();
      std::vector<hsize_t> dims(size_t(sp.getSimpleExtentNdims()));
      if (!dims.empty()) sp.getSimpleExtentDims(dims.data());
      std::vector<int64_t> shape(dims.begin(), dims.end());
      at::Tensor t = at::empty(shape, at::kFloat);
      ds.read(t.data_ptr<float>(), H5::PredType::NATIVE_FLOAT);
      check_finite(t, path, "learnable/" + name);
      c.learnable.emplace_back(name, t);
    }
  } catch (const H5::Exception& e) {
    TC_INPUT_ERROR("{}: unreadable checkpoint: {}", path, e.getDetailMsg());
  }
  return c;
}

void check_finite(const at::Tensor& t, const std::string& file, const std::string& tensor) {
  at::Tensor bad = at::logical_not(at::isfinite(t)).reshape({-1});
  const int64_t n = bad.sum().item<int64_t>();
  if (n == 0) return;
  const int64_t first = bad.nonzero()[0][0].item<int64_t>();
  TC_FAIL_HINT(ErrorKind::Input, "the file is damaged or its training diverged: use an earlier checkpoint",
               "{}: tensor '{}' holds {} non-finite value(s) of {} (the first, at flat index {}, is {})",
               file, tensor, n, t.numel(), first, t.reshape({-1})[first].item<double>());
}

void load_learnable(DetectorImpl& det, const Checkpoint& ckpt, const std::string& origin,
                    bool allow_extra) {
  std::map<std::string, at::Tensor> have(ckpt.learnable.begin(), ckpt.learnable.end());
  std::vector<std::string> problems;
  for (const auto& kv : det.learnable_parameters()) {
    auto it = have.find(kv.first);
    if (it == have.end()) {
      problems.push_back(fmt::format("'{}' missing (expected {})", kv.first,
                                     detail_ckpt::shape_str(kv.second.sizes())));
    } else if (it->second.sizes() != kv.second.sizes()) {
      problems.push_back(fmt::format("'{}' has shape {}, expected {}", kv.first,
                                     detail_ckpt::shape_str(it->second.sizes()),
                                     detail_ckpt::shape_str(kv.second.sizes())));
    }
    if (it != have.end()) have.erase(it);
  }
  if (!allow_extra)
    for (const auto& kv : have)
      problems.push_back(fmt::format("'{}' is not a tensor of this method config", kv.first));
  if (!problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += "\n  " + p;
    TC_INPUT_ERROR("{}: learnable tensors do not fit the detector ({} problem(s)):{}", origin,
                   problems.size(), all);
  }
  at::NoGradGuard ng;
  std::map<std::string, at::Tensor> src(ckpt.learnable.begin(), ckpt.learnable.end());
  for (const auto& kv : det.learnable_parameters()) {
    at::Tensor dst = kv.second;
    dst.copy_(src.at(kv.first).to(dst.device(), dst.scalar_type()));
  }
}

NamedTensorList import_anomalyclip_tensors(const std::map<std::string, at::Tensor>& in,
                                           const std::string& origin, int width, int n_ctx,
                                           int depth, int deep_len) {
  // Strip the optional "prompt_learner." prefix.
  std::map<std::string, at::Tensor> t;
  for (const auto& kv : in) {
    std::string k = kv.first;
    const std::string pre = "prompt_learner.";
    if (k.rfind(pre, 0) == 0) k = k.substr(pre.size());
    t[k] = kv.second;
  }
  std::vector<std::string> problems;
  auto ignorable = [](const std::string& k) {
    for (const char* p : {"compound_prompt_projections.", "token_prefix", "token_suffix",
                          "tokenized_prompts"})
      if (k.rfind(p, 0) == 0) return true;
    return false;
  };
  NamedTensorList out;
  // Contexts: [1,1,n,Dt] (also accepted: [n,Dt]).
  auto ctx = [&](const char* key, const char* to) {
    auto it = t.find(key);
    if (it == t.end()) {
      problems.push_back(fmt::format("'{}' is missing (the {} context)", key,
                                     std::string(key) == "ctx_pos" ? "normal" : "abnormal"));
      return;
    }
    at::Tensor x = it->second;
    bool ok = (x.dim() == 4 && x.size(0) == 1 && x.size(1) == 1) || x.dim() == 2;
    if (ok) x = x.reshape({x.size(-2), x.size(-1)});
    if (ok && n_ctx > 0 && x.size(0) != n_ctx) ok = false;
    if (ok && width > 0 && x.size(1) != width) ok = false;
    if (!ok) {
      problems.push_back(fmt::format("'{}' has shape {}, expected [1,1,{},{}]", key,
                                     detail_ckpt::shape_str(it->second.sizes()),
                                     n_ctx > 0 ? std::to_string(n_ctx) : "n",
                                     width > 0 ? std::to_string(width) : "Dt"));
      return;
    }
    check_finite(x, origin, key);
    out.emplace_back(to, x.to(at::kFloat).contiguous().clone());
  };
  ctx("ctx_pos", "base.ctx_normal");
  ctx("ctx_neg", "base.ctx_abnormal");
  // Deep prompts: compound_prompts_text.0 .. depth-2.
  int found = 0;
  while (t.count("compound_prompts_text." + std::to_string(found))) ++found;
  if (depth > 0 && found != depth - 1)
    problems.push_back(fmt::format("{} deep prompts 'compound_prompts_text.*' found, expected {} (depth {})",
                                   found, depth - 1, depth));
  for (int i = 0; i < found; ++i) {
    const std::string key = "compound_prompts_text." + std::to_string(i);
    at::Tensor x = t.at(key);
    bool ok = x.dim() == 2 && (width <= 0 || x.size(1) == width) &&
              (deep_len <= 0 || x.size(0) == deep_len);
    if (!ok) {
      problems.push_back(fmt::format("'{}' has shape {}, expected [{},{}]", key,
                                     detail_ckpt::shape_str(x.sizes()),
                                     deep_len > 0 ? std::to_string(deep_len) : "m",
                                     width > 0 ? std::to_string(width) : "Dt"));
      continue;
    }
    check_finite(x, origin, key);
    out.emplace_back("base.deep." + std::to_string(i), x.to(at::kFloat).contiguous().clone());
  }
  for (const auto& kv : t) {
    if (kv.first == "ctx_pos" || kv.first == "ctx_neg" || ignorable(kv.first)) continue;
    if (kv.first.rfind("compound_prompts_text.", 0) == 0) {
      const std::string idx = kv.first.substr(std::string("compound_prompts_text.").size());
      bool numeric = !idx.empty() && idx.size() < 9 && idx.find_first_not_of("0123456789") == std::string::npos;
      if (numeric && std::atoi(idx.c_str()) < found) continue;
    }
    problems.push_back(fmt::format("'{}' is not an AnomalyCLIP prompt tensor", kv.first));
  }
  // Widths must agree among the tensors.
  if (problems.empty() && !out.empty()) {
    const int64_t w = out.front().second.size(1);
    for (const auto& kv : out)
      if (kv.second.size(1) != w)
        problems.push_back(fmt::format("'{}' has width {}, the contexts have {}", kv.first,
                                       kv.second.size(1), w));
  }
  if (!problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += "\n  " + p;
    TC_INPUT_ERROR("{}: not a usable AnomalyCLIP prompt checkpoint ({} problem(s)):{}", origin,
                   problems.size(), all);
  }
  return out;
}

}  // namespace tc::method
