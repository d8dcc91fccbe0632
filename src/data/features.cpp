#include "data/features.h"

#include <ATen/ATen.h>
#include <H5Cpp.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "util/check.h"
#include "util/h5.h"

namespace tc::data {
namespace detail_features {

std::string join_ints(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

FeatureKey key_of(H5::H5File& f, const std::string& path) {
  std::string format = h5::attr_str(f, "format");
  TC_CHECK_INPUT(format == kFeaturesFormat, "'{}' is a '{}' file, not a feature cache ('{}')", path,
                 format, kFeaturesFormat);
  int64_t version = h5::attr_i64(f, "version");
  TC_CHECK_INPUT(version == kFeaturesVersion, "feature cache '{}': version {}, this build reads {}", path,
                 version, kFeaturesVersion);
  FeatureKey k;
  k.backbone_fingerprint = h5::attr_str(f, "backbone_fingerprint");
  k.image_size = static_cast<int>(h5::attr_i64(f, "image_size"));
  std::string layers = h5::attr_str(f, "layers");
  size_t pos = 0;
  while (pos < layers.size()) {
    size_t c = layers.find(',', pos);
    const std::string item = layers.substr(pos, c == std::string::npos ? std::string::npos : c - pos);
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(item.c_str(), &end, 10);
    TC_CHECK_INPUT(!item.empty() && *end == '\0' && errno == 0 && v >= 1 && v <= 100000,
                   "feature cache '{}': attribute 'layers' is '{}', expected comma-separated block numbers",
                   path, layers.size() > 80 ? layers.substr(0, 80) + "..." : layers);
    k.layers.push_back(static_cast<int>(v));
    pos = c == std::string::npos ? layers.size() : c + 1;
  }
  k.vv_from = static_cast<int>(h5::attr_i64(f, "vv_from"));
  k.dataset_hash = h5::attr_str(f, "dataset_hash");
  return k;
}

// The first differing field, or "" when the keys match.
std::string key_difference(const FeatureKey& have, const FeatureKey& want) {
  if (have.backbone_fingerprint != want.backbone_fingerprint)
    return fmt::format("backbone fingerprint {} (this run: {})", have.backbone_fingerprint, want.backbone_fingerprint);
  if (have.image_size != want.image_size)
    return fmt::format("image size {} (this run: {})", have.image_size, want.image_size);
  if (have.layers != want.layers)
    return fmt::format("layers {} (this run: {})", join_ints(have.layers), join_ints(want.layers));
  if (have.vv_from != want.vv_from)
    return fmt::format("V-V from block {} (this run: {})", have.vv_from, want.vv_from);
  if (have.dataset_hash != want.dataset_hash)
    return fmt::format("dataset content hash {} (this run: {})", have.dataset_hash, want.dataset_hash);
  return {};
}

at::Tensor read_rows(H5::DataSet& ds, const std::vector<int64_t>& idx) {
  auto fsp = ds.getSpace();
  int nd = fsp.getSimpleExtentNdims();
  std::vector<hsize_t> dims(static_cast<size_t>(nd));
  fsp.getSimpleExtentDims(dims.data());
  std::vector<int64_t> shape(dims.begin(), dims.end());
  shape[0] = static_cast<int64_t>(idx.size());
  at::Tensor out = at::empty(shape, at::kFloat);
  std::vector<hsize_t> count = dims, start(static_cast<size_t>(nd), 0);
  count[0] = 1;
  H5::DataSpace msp(nd, count.data());
  int64_t row_elems = out.numel() / std::max<int64_t>(1, shape[0]);
  for (size_t i = 0; i < idx.size(); ++i) {
    start[0] = static_cast<hsize_t>(idx[i]);
    fsp.selectHyperslab(H5S_SELECT_SET, count.data(), start.data());
    ds.read(out.data_ptr<float>() + static_cast<int64_t>(i) * row_elems, H5::PredType::NATIVE_FLOAT, msp, fsp);
  }
  return out;
}

void write_rows(H5::DataSet& ds, int64_t row, const at::Tensor& t_in) {
  at::Tensor t = t_in.detach().to(at::kCPU).to(at::kFloat).contiguous();
  auto fsp = ds.getSpace();
  int nd = fsp.getSimpleExtentNdims();
  std::vector<hsize_t> dims(static_cast<size_t>(nd)), start(static_cast<size_t>(nd), 0);
  fsp.getSimpleExtentDims(dims.data());
  TC_CHECK_EQ(static_cast<int64_t>(t.dim()), static_cast<int64_t>(nd), "feature rows rank");
  std::vector<hsize_t> count = dims;
  count[0] = static_cast<hsize_t>(t.size(0));
  for (int d = 1; d < nd; ++d)
    TC_CHECK_EQ(static_cast<int64_t>(dims[d]), t.size(d), "feature row shape (dim {})", d);
  start[0] = static_cast<hsize_t>(row);
  fsp.selectHyperslab(H5S_SELECT_SET, count.data(), start.data());
  H5::DataSpace msp(nd, count.data());
  ds.write(t.data_ptr<float>(), H5::PredType::NATIVE_FLOAT, msp, fsp);
}

}  // namespace detail_features

using namespace detail_features;

FeatureKey feature_key(const std::string& fingerprint, int image_size, const std::vector<int>& layers,
                       int vv_from, const std::string& dataset_hash) {
  return FeatureKey{fingerprint, image_size, layers, vv_from, dataset_hash};
}

// ---------------------------------------------------------------- reader

struct FeatureCacheReader::Impl {
  std::string path;
  H5::H5File file;
  mutable H5::DataSet global;
  mutable std::vector<H5::DataSet> tokens;
  int64_t n = 0;
};

FeatureCacheReader::FeatureCacheReader(const std::string& path, const FeatureKey& expected)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  TC_CHECK_INPUT(std::filesystem::exists(path), "feature cache '{}' does not exist (build it with "
                                                "'tokenclip cache build')", path);
  h5::check_hdf5_file(path, "feature cache", "a feature cache made by 'tokenclip cache build'");
  try {
    H5::Exception::dontPrint();
    impl_->file = H5::H5File(path, H5F_ACC_RDONLY);
    FeatureKey have = key_of(impl_->file, path);
    std::string diff = key_difference(have, expected);
    TC_CHECK_INPUT(diff.empty(), "feature cache '{}' was built for another run: {}; rebuild it with "
                                 "'tokenclip cache build'", path, diff);
    impl_->n = h5::attr_i64(impl_->file, "size");
    impl_->global = impl_->file.openDataSet("global");
    for (int l : have.layers) impl_->tokens.push_back(impl_->file.openDataSet("tokens/" + std::to_string(l)));
    std::vector<uint8_t> done(static_cast<size_t>(impl_->n));
    if (impl_->n > 0) impl_->file.openDataSet("done").read(done.data(), H5::PredType::NATIVE_UINT8);
    int64_t missing = std::count(done.begin(), done.end(), uint8_t{0});
    TC_CHECK_INPUT(missing == 0, "feature cache '{}' is incomplete ({} of {} rows missing); finish it "
                                 "with 'tokenclip cache build' (it resumes)", path, missing, impl_->n);
  } catch (const H5::Exception& e) {
    TC_INPUT_ERROR("feature cache '{}': {}", path, e.getDetailMsg());
  }
}

FeatureCacheReader::~FeatureCacheReader() = default;
int64_t FeatureCacheReader::size() const { return impl_->n; }

FeatureRows FeatureCacheReader::read(const std::vector<int64_t>& idx) const {
  for (int64_t i : idx)
    TC_CHECK(i >= 0 && i < impl_->n, "feature cache row {} out of range [0, {})", i, impl_->n);
  FeatureRows r;
  try {
    r.global = read_rows(impl_->global, idx);
    for (auto& ds : impl_->tokens) r.tokens.push_back(read_rows(ds, idx));
  } catch (const H5::Exception& e) {
    TC_INPUT_ERROR("feature cache '{}': read failed: {}", impl_->path, e.getDetailMsg());
  }
  return r;
}

FeatureKey read_feature_key(const std::string& path) {
  H5::Exception::dontPrint();
  try {
    H5::H5File f(path, H5F_ACC_RDONLY);
    return key_of(f, path);
  } catch (const H5::Exception& e) {
    TC_INPUT_ERROR("feature cache '{}': {}", path, e.getDetailMsg());
  }
}

// ---------------------------------------------------------------- writer

struct FeatureCacheWriter::Impl {
  std::string path;
  H5::H5File file;
  H5::DataSet global, done;
  std::vector<H5::DataSet> tokens;
  std::vector<uint8_t> done_flags;
  int64_t n = 0;
};

FeatureCacheWriter::FeatureCacheWriter(const std::string& path, const FeatureKey& key, int64_t rows,
                                       int embed_dim, int tokens_per_image)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->n = rows;
  H5::Exception::dontPrint();
  bool resumed = false;
  try {
    if (std::filesystem::exists(path)) {
      try {
        H5::H5File f(path, H5F_ACC_RDWR);
        if (key_difference(key_of(f, path), key).empty() && h5::attr_i64(f, "size") == rows) {
          impl_->file = f;
          resumed = true;
        }
      } catch (const tc::Error&) {
        // not a cache of ours: start over below
      } catch (const H5::Exception&) {
      }
    }
    hsize_t n = static_cast<hsize_t>(rows), D = static_cast<hsize_t>(embed_dim),
            T = static_cast<hsize_t>(tokens_per_image);
    if (!resumed) {
      impl_->file = H5::H5File(path, H5F_ACC_TRUNC);
      auto& f = impl_->file;
      h5::put_attr_str(f, "format", kFeaturesFormat);
      h5::put_attr_i64(f, "version", kFeaturesVersion);
      h5::put_attr_str(f, "backbone_fingerprint", key.backbone_fingerprint);
      h5::put_attr_i64(f, "image_size", key.image_size);
      h5::put_attr_str(f, "layers", join_ints(key.layers));
      h5::put_attr_i64(f, "vv_from", key.vv_from);
      h5::put_attr_str(f, "dataset_hash", key.dataset_hash);
      h5::put_attr_str(f, "dtype", "float32");
      h5::put_attr_i64(f, "size", rows);
      hsize_t d2[2] = {n, D}, c2[2] = {1, D};
      H5::DSetCreatPropList p2;
      if (rows > 0) p2.setChunk(2, c2);
      f.createDataSet("global", H5::PredType::IEEE_F32LE, H5::DataSpace(2, d2), p2);
      auto g = f.createGroup("tokens");
      for (int l : key.layers) {
        hsize_t d3[3] = {n, T, D}, c3[3] = {1, T, D};
        H5::DSetCreatPropList p3;
        if (rows > 0) p3.setChunk(3, c3);
        g.createDataSet(std::to_string(l), H5::PredType::IEEE_F32LE, H5::DataSpace(3, d3), p3);
      }
      std::vector<uint8_t> zeros(static_cast<size_t>(rows), 0);
      auto ds = f.createDataSet("done", H5::PredType::STD_U8LE, H5::DataSpace(1, &n));
      if (rows > 0) ds.write(zeros.data(), H5::PredType::NATIVE_UINT8);
    }
    impl_->global = impl_->file.openDataSet("global");
    for (int l : key.layers) impl_->tokens.push_back(impl_->file.openDataSet("tokens/" + std::to_string(l)));
    impl_->done = impl_->file.openDataSet("done");
    impl_->done_flags.assign(static_cast<size_t>(rows), 0);
    if (rows > 0) impl_->done.read(impl_->done_flags.data(), H5::PredType::NATIVE_UINT8);
  } catch (const H5::Exception& e) {
    h5::discard_writes(impl_->file);  // rows already flushed stay; a failed close would crash HDF5
    TC_RUNTIME_ERROR("feature cache '{}': cannot create: {}", path, e.getDetailMsg());
  }
}

FeatureCacheWriter::~FeatureCacheWriter() {
  try {
    close();
  } catch (...) {
  }
}

std::vector<int64_t> FeatureCacheWriter::pending() const {
  std::vector<int64_t> p;
  for (int64_t i = 0; i < impl_->n; ++i)
    if (!impl_->done_flags[static_cast<size_t>(i)]) p.push_back(i);
  return p;
}

void FeatureCacheWriter::write(int64_t row, const FeatureRows& rows) {
  int64_t b = rows.global.size(0);
  TC_CHECK(row >= 0 && row + b <= impl_->n, "feature rows [{}, {}) outside [0, {})", row, row + b, impl_->n);
  TC_CHECK_EQ(rows.tokens.size(), impl_->tokens.size(), "token layers in a feature batch");
  try {
    write_rows(impl_->global, row, rows.global);
    for (size_t l = 0; l < rows.tokens.size(); ++l) write_rows(impl_->tokens[l], row, rows.tokens[l]);
    // Rows are flushed before they are marked done, so an interruption never leaves a row
    // marked done with missing data.
    impl_->file.flush(H5F_SCOPE_GLOBAL);
    for (int64_t i = row; i < row + b; ++i) impl_->done_flags[static_cast<size_t>(i)] = 1;
    auto fsp = impl_->done.getSpace();
    hsize_t start = static_cast<hsize_t>(row), count = static_cast<hsize_t>(b);
    fsp.selectHyperslab(H5S_SELECT_SET, &count, &start);
    H5::DataSpace msp(1, &count);
    impl_->done.write(impl_->done_flags.data() + row, H5::PredType::NATIVE_UINT8, msp, fsp);
    impl_->file.flush(H5F_SCOPE_GLOBAL);
  } catch (const H5::Exception& e) {
    h5::discard_writes(impl_->file);  // rows flushed before stay done; these are redone next time
    TC_RUNTIME_ERROR("feature cache '{}': write failed: {}", impl_->path, e.getDetailMsg());
  }
}

void FeatureCacheWriter::close() {
  if (impl_ && impl_->file.getId() >= 0) {
    h5::flush_file(impl_->file, impl_->path);
    impl_->global.close();
    impl_->done.close();
    for (auto& t : impl_->tokens) t.close();
    impl_->file.close();
  }
}

}  // namespace tc::data
