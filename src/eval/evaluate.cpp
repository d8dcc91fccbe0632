#include "eval/evaluate.h"

#include <H5Cpp.h>

#include <algorithm>
#include <cmath>

#include "data/dataset.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/h5.h"

namespace tc::eval {

std::string DatasetLevel::describe() const { return pixel ? "image + pixel" : "image only"; }

DatasetLevel dataset_level(const data::DatasetReader& reader) {
  DatasetLevel l;
  for (uint8_t m : reader.has_mask()) l.pixel = l.pixel || m;
  return l;
}

DatasetEvaluator::DatasetEvaluator(const data::DatasetReader& reader, std::vector<AuproVariant> variants,
                                   MetricsOptions opts)
    : reader_(reader), variants_(std::move(variants)), opts_(opts), level_(dataset_level(reader)),
      S_(reader.image_size()) {
  opts_.aupro_anomalyclip = std::count(variants_.begin(), variants_.end(), AuproVariant::AnomalyClip) > 0;
  opts_.aupro_mvtec = std::count(variants_.begin(), variants_.end(), AuproVariant::Mvtec) > 0;
  opts_.pixel = level_.pixel;
  const int64_t n = reader.size();
  scores_.assign(static_cast<size_t>(n), std::nanf(""));
  seen_.assign(static_cast<size_t>(n), 0);
  remaining_.assign(reader.meta().class_names.size(), 0);
  for (int32_t c : reader.class_ids()) remaining_[static_cast<size_t>(c)]++;
  mask_buf_.resize(static_cast<size_t>(S_) * static_cast<size_t>(S_));
}

DatasetEvaluator::~DatasetEvaluator() = default;

void DatasetEvaluator::add(int64_t index, const float* map, float score) {
  TC_CHECK(index >= 0 && index < reader_.size(), "image index {} outside the dataset", index);
  TC_CHECK(!seen_[static_cast<size_t>(index)], "image {} evaluated twice", index);
  seen_[static_cast<size_t>(index)] = 1;
  scores_[static_cast<size_t>(index)] = score;
  const int32_t cls = reader_.class_ids()[static_cast<size_t>(index)];
  if (level_.pixel) {
    auto& acc = acc_[cls];
    if (!acc)
      acc = std::make_unique<PixelAccumulator>(S_, S_, reader_.meta().class_names[static_cast<size_t>(cls)], index);
    if (reader_.has_mask()[static_cast<size_t>(index)]) {
      reader_.read_mask(index, mask_buf_.data());
      acc->add(map, mask_buf_.data());
    } else {
      acc->add(map, nullptr);  // normal image of a set with masks for anomalies only
    }
  }
  if (--remaining_[static_cast<size_t>(cls)] == 0) finish_class(cls);
}

void DatasetEvaluator::finish_class(int32_t cls) {
  if (!level_.pixel) return;
  auto it = acc_.find(cls);
  if (it == acc_.end()) return;
  pixel_[cls] = it->second->finish(opts_);
  acc_.erase(it);  // frees the class's pixels: memory stays bounded by one class
}

DatasetMetrics DatasetEvaluator::finish() {
  const int64_t missing = std::count(seen_.begin(), seen_.end(), uint8_t{0});
  TC_CHECK_EQ(missing, int64_t{0}, "images of '{}' never evaluated", reader_.path());
  std::vector<ClassMetrics> classes;
  const auto& names = reader_.meta().class_names;
  for (size_t c = 0; c < names.size(); ++c) {
    std::vector<float> s;
    std::vector<uint8_t> l;
    for (int64_t i = 0; i < reader_.size(); ++i)
      if (reader_.class_ids()[static_cast<size_t>(i)] == static_cast<int32_t>(c)) {
        s.push_back(scores_[static_cast<size_t>(i)]);
        l.push_back(reader_.labels()[static_cast<size_t>(i)]);
      }
    if (s.empty()) continue;
    std::optional<PixelMetrics> px;
    if (level_.pixel) px = pixel_[static_cast<int32_t>(c)];
    classes.push_back(class_metrics_from(names[c], s, l, px));
  }
  return aggregate(std::move(classes), variants_, reader_.meta().name);
}

// ---------------------------------------------------------------- maps file

namespace detail_maps {

H5::DataSet make(H5::H5Location& g, const std::string& name, std::vector<hsize_t> dims) {
  std::vector<hsize_t> chunk = dims;
  chunk[0] = 1;
  H5::DSetCreatPropList p;
  if (dims[0] > 0) p.setChunk(static_cast<int>(chunk.size()), chunk.data());
  return g.createDataSet(name, H5::PredType::IEEE_F32LE, H5::DataSpace(static_cast<int>(dims.size()), dims.data()), p);
}

void write_row(H5::DataSet& ds, int64_t row, const float* data) {
  auto fsp = ds.getSpace();
  int nd = fsp.getSimpleExtentNdims();
  std::vector<hsize_t> dims(static_cast<size_t>(nd)), start(static_cast<size_t>(nd), 0);
  fsp.getSimpleExtentDims(dims.data());
  std::vector<hsize_t> count = dims;
  count[0] = 1;
  start[0] = static_cast<hsize_t>(row);
  fsp.selectHyperslab(H5S_SELECT_SET, count.data(), start.data());
  H5::DataSpace msp(nd, count.data());
  ds.write(data, H5::PredType::NATIVE_FLOAT, msp, fsp);
}

}  // namespace detail_maps

struct MapsWriter::Impl {
  std::unique_ptr<AtomicPath> path;
  H5::H5File file;
  H5::DataSet maps, scores, global;
  std::vector<H5::DataSet> probs, assign;
  MapsMeta meta;
  bool committed = false;
  ~Impl() {
    if (!committed && file.getId() >= 0) h5::discard_writes(file);  // the temporary goes anyway
  }
};

MapsWriter::MapsWriter(const std::string& path, const MapsMeta& meta) : impl_(std::make_unique<Impl>()) {
  using namespace detail_maps;
  impl_->path = std::make_unique<AtomicPath>(path);
  impl_->meta = meta;
  try {
    H5::Exception::dontPrint();
    impl_->file = H5::H5File(impl_->path->tmp(), H5F_ACC_TRUNC);
    auto& f = impl_->file;
    h5::put_attr_str(f, "format", kMapsFormat);
    h5::put_attr_f64(f, "version", kMapsVersion);
    h5::put_attr_str(f, "dataset_name", meta.dataset_name);
    h5::put_attr_str(f, "dataset_hash", meta.dataset_hash);
    h5::put_attr_str(f, "checkpoint", meta.checkpoint);
    h5::put_attr_f64(f, "image_size", meta.image_size);
    h5::put_attr_f64(f, "size", static_cast<double>(meta.size));
    h5::put_attr_f64(f, "blur_sigma", meta.blur_sigma);
    std::string layers;
    for (size_t i = 0; i < meta.layers.size(); ++i) layers += (i ? "," : "") + std::to_string(meta.layers[i]);
    h5::put_attr_str(f, "layers", layers);
    hsize_t N = static_cast<hsize_t>(meta.size), S = static_cast<hsize_t>(meta.image_size),
            P = static_cast<hsize_t>(meta.tokens), Q = static_cast<hsize_t>(std::max(1, meta.subspaces));
    impl_->maps = make(f, "maps", {N, S, S});
    impl_->scores = make(f, "scores", {N});
    impl_->global = make(f, "global_prob", {N});
    auto gp = f.createGroup("token_probs");
    auto ga = f.createGroup("assignment");
    for (int l : meta.layers) {
      impl_->probs.push_back(make(gp, std::to_string(l), {N, P, 2}));
      impl_->assign.push_back(make(ga, std::to_string(l), {N, P, Q}));
    }
  } catch (const H5::Exception& e) {
    TC_RUNTIME_ERROR("maps file '{}': cannot create: {}", path, e.getDetailMsg());
  }
}

MapsWriter::~MapsWriter() = default;

void MapsWriter::write(int64_t index, const float* map, float score, float global_prob,
                       const std::vector<const float*>& token_probs,
                       const std::vector<const float*>& assignment) {
  using namespace detail_maps;
  try {
    write_row(impl_->maps, index, map);
    write_row(impl_->scores, index, &score);
    write_row(impl_->global, index, &global_prob);
    for (size_t l = 0; l < impl_->probs.size() && l < token_probs.size(); ++l)
      if (token_probs[l]) write_row(impl_->probs[l], index, token_probs[l]);
    for (size_t l = 0; l < impl_->assign.size() && l < assignment.size(); ++l)
      if (assignment[l]) write_row(impl_->assign[l], index, assignment[l]);
  } catch (const H5::Exception& e) {
    TC_RUNTIME_ERROR("maps file '{}': write failed: {}", impl_->path->final_path(), e.getDetailMsg());
  }
}

void MapsWriter::close() {
  h5::flush_file(impl_->file, impl_->path->final_path());
  impl_->maps.close();
  impl_->scores.close();
  impl_->global.close();
  for (auto& d : impl_->probs) d.close();
  for (auto& d : impl_->assign) d.close();
  impl_->file.close();
  impl_->path->commit();
  impl_->committed = true;
}

struct MapsReader::Impl {
  std::string path;
  H5::H5File file;
  mutable H5::DataSet maps;
  MapsMeta meta;
};

MapsReader::MapsReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  using namespace detail_maps;
  impl_->path = path;
  h5::check_hdf5_file(path, "maps file", "a tokenclip maps file");
  try {
    H5::Exception::dontPrint();
    impl_->file = H5::H5File(path, H5F_ACC_RDONLY);
    auto& f = impl_->file;
    std::string format = h5::attr_str(f, "format");
    TC_CHECK_INPUT(format == kMapsFormat, "'{}' is a '{}' file, not a maps file ('{}')", path, format, kMapsFormat);
    TC_CHECK_INPUT(static_cast<int>(h5::attr_f64(f, "version")) == kMapsVersion,
                   "maps file '{}': unsupported version", path);
    auto& m = impl_->meta;
    m.dataset_name = h5::attr_str(f, "dataset_name");
    m.dataset_hash = h5::attr_str(f, "dataset_hash");
    m.checkpoint = h5::attr_str(f, "checkpoint");
    m.image_size = static_cast<int>(h5::attr_f64(f, "image_size"));
    m.size = static_cast<int64_t>(h5::attr_f64(f, "size"));
    m.blur_sigma = h5::attr_f64(f, "blur_sigma");
    impl_->maps = f.openDataSet("maps");
    hsize_t dims[3] = {0, 0, 0};
    auto sp = impl_->maps.getSpace();
    TC_CHECK_INPUT(sp.getSimpleExtentNdims() == 3, "maps file '{}': 'maps' must be [N,S,S]", path);
    sp.getSimpleExtentDims(dims);
    TC_CHECK_INPUT(static_cast<int64_t>(dims[0]) == m.size && static_cast<int>(dims[1]) == m.image_size &&
                       static_cast<int>(dims[2]) == m.image_size,
                   "maps file '{}': 'maps' is [{},{},{}], expected [{},{},{}]", path, dims[0], dims[1],
                   dims[2], m.size, m.image_size, m.image_size);
  } catch (const H5::Exception& e) {
    TC_INPUT_ERROR("maps file '{}': {}", path, e.getDetailMsg());
  }
}

MapsReader::~MapsReader() = default;
const MapsMeta& MapsReader::meta() const { return impl_->meta; }

void MapsReader::read_map(int64_t index, float* out) const {
  auto fsp = impl_->maps.getSpace();
  hsize_t S = static_cast<hsize_t>(impl_->meta.image_size);
  hsize_t start[3] = {static_cast<hsize_t>(index), 0, 0}, count[3] = {1, S, S};
  fsp.selectHyperslab(H5S_SELECT_SET, count, start);
  H5::DataSpace msp(3, count);
  impl_->maps.read(out, H5::PredType::NATIVE_FLOAT, msp, fsp);
}

std::vector<float> MapsReader::scores() const {
  std::vector<float> s(static_cast<size_t>(impl_->meta.size));
  if (!s.empty()) impl_->file.openDataSet("scores").read(s.data(), H5::PredType::NATIVE_FLOAT);
  return s;
}

}  // namespace tc::eval
