// The dataset file (format "tokenclip-dataset", version 1): writer and reader over the HDF5 C
// API. Schema and content-hash definition: docs/FORMATS.md ("Dataset").
#include "data/dataset.h"

#include <hdf5.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "util/check.h"
#include "util/fs.h"
#include "util/h5.h"
#include "util/hash.h"

namespace tc::data {
namespace detail_dataset {

// Dataset creation properties without object timestamps: the same samples then give
// byte-identical files (synth's determinism promise).
h5::Id untimed_dcpl() {
  h5::Id dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_obj_track_times(dcpl.get(), false);
  return dcpl;
}

// A 1-D dataset written in one go (N is known by then).
template <typename T>
void write_column(hid_t file, const char* name, const std::vector<T>& v, hid_t file_type,
                  hid_t mem_type, const std::string& path) {
  hsize_t n = v.size();
  h5::Id space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  h5::Id dcpl = untimed_dcpl();
  h5::Id d(H5Dcreate2(file, name, file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
        H5Dclose);
  if (!d.valid()) TC_RUNTIME_ERROR("{}: cannot create dataset '{}'", path, name);
  if (H5Dwrite(d.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)
    TC_RUNTIME_ERROR("{}: cannot write dataset '{}'", path, name);
}

// The chunk cache must hold one whole chunk (one image), else every read goes around it.
h5::Id image_access_plist(size_t chunk_bytes) {
  h5::Id dapl(H5Pcreate(H5P_DATASET_ACCESS), H5Pclose);
  size_t bytes = std::max<size_t>(size_t{1} << 20, 2 * chunk_bytes + 4096);
  H5Pset_chunk_cache(dapl.get(), 521, bytes, 1.0);
  return dapl;
}

// Streamed per-image dataset [0, S, S(, 3)] -> [unlimited, ...], one image per chunk, gzip 4
// with the byte shuffle filter.
h5::Id create_image_stack(hid_t file, const char* name, int rank, const hsize_t* inner,
                       const std::string& path) {
  hsize_t dims[4] = {0, 0, 0, 0}, maxdims[4] = {H5S_UNLIMITED, 0, 0, 0}, chunk[4] = {1, 0, 0, 0};
  size_t chunk_bytes = 1;
  for (int i = 1; i < rank; ++i) {
    dims[i] = maxdims[i] = chunk[i] = inner[i - 1];
    chunk_bytes *= inner[i - 1];
  }
  h5::Id space(H5Screate_simple(rank, dims, maxdims), H5Sclose);
  h5::Id dcpl = untimed_dcpl();
  H5Pset_chunk(dcpl.get(), rank, chunk);
  H5Pset_shuffle(dcpl.get());
  H5Pset_deflate(dcpl.get(), 4);
  h5::Id dapl = image_access_plist(chunk_bytes);
  h5::Id d(H5Dcreate2(file, name, H5T_STD_U8LE, space.get(), H5P_DEFAULT, dcpl.get(), dapl.get()),
        H5Dclose);
  if (!d.valid()) TC_RUNTIME_ERROR("{}: cannot create dataset '{}'", path, name);
  return d;
}

// Writes one image at row `index` of a stack, growing it by one.
void append_to_stack(hid_t d, int rank, const hsize_t* inner, hsize_t index, const uint8_t* data,
                     const std::string& path, const char* name) {
  hsize_t dims[4] = {index + 1, 0, 0, 0}, start[4] = {index, 0, 0, 0}, count[4] = {1, 0, 0, 0};
  for (int i = 1; i < rank; ++i) dims[i] = count[i] = inner[i - 1];
  if (H5Dset_extent(d, dims) < 0) TC_RUNTIME_ERROR("{}: cannot extend dataset '{}'", path, name);
  h5::Id fspace(H5Dget_space(d), H5Sclose);
  H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  h5::Id mspace(H5Screate_simple(rank, count, nullptr), H5Sclose);
  if (H5Dwrite(d, H5T_NATIVE_UINT8, mspace.get(), fspace.get(), H5P_DEFAULT, data) < 0)
    TC_RUNTIME_ERROR("{}: cannot write image {} of dataset '{}' (disk full?)", path, index, name);
}

void hash_int32_le(Sha256& h, int32_t v) {
  uint32_t u = static_cast<uint32_t>(v);
  uint8_t b[4] = {uint8_t(u), uint8_t(u >> 8), uint8_t(u >> 16), uint8_t(u >> 24)};
  h.update(b, 4);
}

void hash_sample(Sha256& h, const uint8_t* image, size_t image_bytes, const uint8_t* mask,
                 size_t mask_bytes, uint8_t label, int32_t class_id, uint8_t has_mask) {
  h.update(image, image_bytes);
  h.update(mask, mask_bytes);
  h.update(&label, 1);
  hash_int32_le(h, class_id);
  h.update(&has_mask, 1);
}

void hash_class_names(Sha256& h, const std::vector<std::string>& names) {
  for (const auto& n : names) {
    hash_int32_le(h, static_cast<int32_t>(n.size()));
    h.update(n);
  }
}

const std::set<std::string>& known_domains() {
  static const std::set<std::string> d = {"industrial", "medical", "synthetic", "user"};
  return d;
}

std::string type_name(hid_t t) {
  switch (H5Tget_class(t)) {
    case H5T_INTEGER:
      return fmt::format("{}int{}", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "",
                         8 * H5Tget_size(t));
    case H5T_FLOAT: return fmt::format("float{}", 8 * H5Tget_size(t));
    case H5T_STRING: return H5Tis_variable_str(t) > 0 ? "variable-length string" : "fixed-length string";
    default: return "another type";
  }
}

std::string dims_str(const std::vector<hsize_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

// Opens dataset `name`, checking it exists, its element type and its shape; a 0 in `shape`
// means "any length" (used for N before N is known).
h5::Id open_checked(hid_t file, const char* name, const std::string& path,
                 const std::vector<hsize_t>& shape, H5T_class_t cls, size_t size, bool is_signed,
                 const char* expected_type, hid_t dapl = H5P_DEFAULT) {
  TC_CHECK_INPUT(H5Lexists(file, name, H5P_DEFAULT) > 0,
                 "{}: missing dataset '{}' (expected {} {})", path, name, expected_type,
                 dims_str(shape));
  h5::Id d(H5Dopen2(file, name, dapl), H5Dclose);
  TC_CHECK_INPUT(d.valid(), "{}: '{}' is not a dataset (expected {} {})", path, name,
                 expected_type, dims_str(shape));
  h5::Id t(H5Dget_type(d.get()), H5Tclose);
  bool ok = H5Tget_class(t.get()) == cls;
  if (ok && cls == H5T_INTEGER)
    ok = H5Tget_size(t.get()) == size && (H5Tget_sign(t.get()) == H5T_SGN_2) == is_signed;
  if (ok && cls == H5T_STRING) ok = H5Tis_variable_str(t.get()) > 0;
  TC_CHECK_INPUT(ok, "{}: dataset '{}' has type {} (expected {})", path, name,
                 type_name(t.get()), expected_type);
  h5::Id space(H5Dget_space(d.get()), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 0)));
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  bool shape_ok = dims.size() == shape.size();
  for (size_t i = 0; shape_ok && i < dims.size(); ++i)
    shape_ok = shape[i] == 0 || shape[i] == dims[i];
  TC_CHECK_INPUT(shape_ok, "{}: dataset '{}' has shape {} (expected {})", path, name,
                 dims_str(dims), dims_str(shape));
  return d;
}

template <typename T>
std::vector<T> read_column(hid_t d, hid_t mem_type, size_t n, const std::string& path,
                           const char* name) {
  std::vector<T> v(n);
  if (n && H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)
    TC_INPUT_ERROR("{}: cannot read dataset '{}' (corrupt file?)", path, name);
  return v;
}

}  // namespace detail_dataset

namespace dd = detail_dataset;

// ------------------------------------------------------------------------------------ writer

struct DatasetWriter::Impl {
  explicit Impl(const std::string& p) : path(p), atomic(p) {}
  ~Impl() {
    if (!finished && file.valid()) h5::discard_writes(file.get());  // the temporary goes anyway
  }
  std::string path;
  tc::AtomicPath atomic;  // declared before the handles: removed after they are closed
  DatasetMeta meta;
  h5::Id file, images, masks;
  hsize_t img_inner[3] = {0, 0, 3}, mask_inner[2] = {0, 0};
  std::vector<uint8_t> labels, has_mask;
  std::vector<int32_t> class_ids;
  std::vector<std::string> defects, sources;
  std::vector<uint8_t> zero_mask;
  Sha256 hash;
  bool finished = false;
};

DatasetWriter::DatasetWriter(const std::string& path, DatasetMeta meta) {
  TC_CHECK(meta.image_size > 0, "image_size must be positive, got {}", meta.image_size);
  TC_CHECK(!meta.class_names.empty(), "a dataset needs at least one class name");
  TC_CHECK(!meta.name.empty(), "a dataset needs a name");
  TC_CHECK(dd::known_domains().count(meta.domain),
           "domain must be industrial, medical, synthetic or user; got '{}'", meta.domain);
  std::set<std::string> seen;
  for (const auto& c : meta.class_names) {
    TC_CHECK(!c.empty(), "empty class name in dataset '{}'", meta.name);
    TC_CHECK(seen.insert(c).second, "class name '{}' listed twice", c);
  }
  auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) tc::make_dirs(dir.string());

  impl_ = std::make_unique<Impl>(path);
  auto& m = *impl_;
  m.meta = std::move(meta);
  hsize_t S = static_cast<hsize_t>(m.meta.image_size);
  m.img_inner[0] = m.img_inner[1] = S;
  m.mask_inner[0] = m.mask_inner[1] = S;
  m.zero_mask.assign(S * S, 0);

  h5::Quiet quiet;
  m.file = h5::Id(H5Fcreate(m.atomic.tmp().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                   H5Fclose);
  if (!m.file.valid())
    TC_RUNTIME_ERROR("cannot create dataset file '{}' (temporary '{}')", path, m.atomic.tmp());
  m.images = dd::create_image_stack(m.file.get(), "images", 4, m.img_inner, path);
  m.masks = dd::create_image_stack(m.file.get(), "masks", 3, m.mask_inner, path);
}

DatasetWriter::~DatasetWriter() = default;

int64_t DatasetWriter::size() const { return static_cast<int64_t>(impl_->labels.size()); }

void DatasetWriter::append(const Sample& s) {
  auto& m = *impl_;
  TC_CHECK(!m.finished, "append after finish on '{}'", m.path);
  const size_t S = static_cast<size_t>(m.meta.image_size);
  const int64_t index = size();
  TC_CHECK(s.image.size() == S * S * 3, "sample {} ('{}'): image has {} bytes, expected {}x{}x3",
           index, s.source_path, s.image.size(), S, S);
  TC_CHECK(s.mask.empty() || s.mask.size() == S * S,
           "sample {} ('{}'): mask has {} bytes, expected {}x{}", index, s.source_path,
           s.mask.size(), S, S);
  TC_CHECK(s.class_id >= 0 && s.class_id < static_cast<int32_t>(m.meta.class_names.size()),
           "sample {} ('{}'): class_id {} outside [0, {})", index, s.source_path, s.class_id,
           m.meta.class_names.size());
  TC_CHECK(s.label <= 1 && s.has_mask <= 1, "sample {} ('{}'): label {} / has_mask {} not 0/1",
           index, s.source_path, s.label, s.has_mask);
  const uint8_t* mask = s.mask.empty() ? m.zero_mask.data() : s.mask.data();
  bool any = false;
  for (size_t i = 0; i < S * S; ++i) {
    TC_CHECK(mask[i] <= 1, "sample {} ('{}'): mask value {} at pixel {} (expected 0/1)", index,
             s.source_path, mask[i], i);
    any = any || mask[i];
  }
  // A mask only means something when it exists, and a normal image has no anomalous pixel.
  TC_CHECK(!any || (s.has_mask && s.label == 1),
           "sample {} ('{}'): non-empty mask on a {} image", index, s.source_path,
           s.has_mask ? "normal" : "has_mask=0");

  h5::Quiet quiet;
  hsize_t idx = static_cast<hsize_t>(index);
  dd::append_to_stack(m.images.get(), 4, m.img_inner, idx, s.image.data(), m.path, "images");
  dd::append_to_stack(m.masks.get(), 3, m.mask_inner, idx, mask, m.path, "masks");
  dd::hash_sample(m.hash, s.image.data(), S * S * 3, mask, S * S, s.label, s.class_id,
                  s.has_mask);
  m.labels.push_back(s.label);
  m.class_ids.push_back(s.class_id);
  m.has_mask.push_back(s.has_mask);
  m.defects.push_back(s.defect);
  m.sources.push_back(s.source_path);
}

DatasetMeta DatasetWriter::finish() {
  auto& m = *impl_;
  TC_CHECK(!m.finished, "finish called twice on '{}'", m.path);
  TC_CHECK_INPUT(!m.labels.empty(), "{}: no samples to write (a dataset needs at least one)",
                 m.path);
  h5::Quiet quiet;
  hid_t f = m.file.get();
  const auto& p = m.path;
  dd::write_column(f, "label", m.labels, H5T_STD_U8LE, H5T_NATIVE_UINT8, p);
  dd::write_column(f, "class_id", m.class_ids, H5T_STD_I32LE, H5T_NATIVE_INT32, p);
  dd::write_column(f, "has_mask", m.has_mask, H5T_STD_U8LE, H5T_NATIVE_UINT8, p);
  h5::write_string_column(f, "class_names", m.meta.class_names, p);
  h5::write_string_column(f, "defect", m.defects, p);
  h5::write_string_column(f, "source_path", m.sources, p);

  dd::hash_class_names(m.hash, m.meta.class_names);
  m.meta.content_hash = m.hash.hex();
  m.meta.size = static_cast<int64_t>(m.labels.size());

  h5::put_attr_str(f, "format", kDatasetFormat);
  h5::put_attr_i32(f, "version", kDatasetVersion);
  h5::put_attr_str(f, "name", m.meta.name);
  h5::put_attr_str(f, "domain", m.meta.domain);
  h5::put_attr_i32(f, "image_size", m.meta.image_size);
  h5::put_attr_str(f, "layout", m.meta.layout);
  h5::put_attr_str(f, "source", m.meta.source);
  h5::put_attr_str(f, "mask_rule", m.meta.mask_rule);
  h5::put_attr_str(f, "content_hash", m.meta.content_hash);
  h5::put_attr_i64(f, "size", m.meta.size);

  h5::flush_file(f, p);
  m.images.reset();
  m.masks.reset();
  if (m.file.close_checked() < 0) TC_RUNTIME_ERROR("{}: closing the HDF5 file failed", p);
  m.atomic.commit();
  m.finished = true;
  return m.meta;
}

// ------------------------------------------------------------------------------------ reader

struct DatasetReader::Impl {
  std::string path;
  DatasetMeta meta;
  h5::Id file, images, masks;
  h5::Id img_fspace, mask_fspace, img_mspace, mask_mspace;
  std::vector<uint8_t> labels, has_mask;
  std::vector<int32_t> class_ids;
  std::vector<std::string> defects, sources;
};

DatasetReader::DatasetReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.path = path;
  m.file = h5::open_read(path, "dataset file",
                         "a tokenclip-dataset file made by `tokenclip prep` or `tokenclip synth`");
  h5::Quiet quiet;
  hid_t f = m.file.get();

  TC_CHECK_INPUT(h5::has_attr(f, "format"),
                 "{}: missing attribute 'format' (expected \"{}\")", path, kDatasetFormat);
  std::string format = h5::attr_str(f, "format");
  TC_CHECK_INPUT(format == kDatasetFormat, "{}: attribute 'format' is \"{}\" (expected \"{}\")",
                 path, format, kDatasetFormat);
  int64_t version = h5::attr_i64(f, "version");
  TC_CHECK_INPUT(version == kDatasetVersion,
                 "{}: attribute 'version' is {} (expected {}; this build reads only version {})",
                 path, version, kDatasetVersion, kDatasetVersion);

  auto& meta = m.meta;
  meta.name = h5::attr_str(f, "name");
  meta.domain = h5::attr_str(f, "domain");
  int64_t S = h5::attr_i64(f, "image_size");
  TC_CHECK_INPUT(S > 0 && S <= 65536, "{}: attribute 'image_size' is {} (expected 1..65536)",
                 path, S);
  meta.image_size = static_cast<int>(S);
  meta.layout = h5::attr_str(f, "layout");
  meta.source = h5::attr_str(f, "source");
  meta.mask_rule = h5::attr_str(f, "mask_rule");
  meta.content_hash = h5::attr_str(f, "content_hash");
  meta.size = h5::attr_i64(f, "size");
  TC_CHECK_INPUT(meta.size > 0, "{}: attribute 'size' is {} (expected a positive count)", path,
                 meta.size);

  const hsize_t N = static_cast<hsize_t>(meta.size), s = static_cast<hsize_t>(S);
  size_t img_bytes = static_cast<size_t>(s * s * 3);
  h5::Id img_dapl = dd::image_access_plist(img_bytes);
  h5::Id mask_dapl = dd::image_access_plist(static_cast<size_t>(s * s));
  m.images = dd::open_checked(f, "images", path, {N, s, s, 3}, H5T_INTEGER, 1, false, "uint8",
                              img_dapl.get());
  m.masks = dd::open_checked(f, "masks", path, {N, s, s}, H5T_INTEGER, 1, false, "uint8",
                             mask_dapl.get());
  {
    auto d = dd::open_checked(f, "label", path, {N}, H5T_INTEGER, 1, false, "uint8");
    m.labels = dd::read_column<uint8_t>(d.get(), H5T_NATIVE_UINT8, N, path, "label");
  }
  {
    auto d = dd::open_checked(f, "class_id", path, {N}, H5T_INTEGER, 4, true, "int32");
    m.class_ids = dd::read_column<int32_t>(d.get(), H5T_NATIVE_INT32, N, path, "class_id");
  }
  {
    auto d = dd::open_checked(f, "has_mask", path, {N}, H5T_INTEGER, 1, false, "uint8");
    m.has_mask = dd::read_column<uint8_t>(d.get(), H5T_NATIVE_UINT8, N, path, "has_mask");
  }
  {
    auto d = dd::open_checked(f, "class_names", path, {0}, H5T_STRING, 0, false,
                              "variable-length UTF-8 string");
    h5::Id sp(H5Dget_space(d.get()), H5Sclose);
    size_t C = static_cast<size_t>(H5Sget_simple_extent_npoints(sp.get()));
    TC_CHECK_INPUT(C > 0, "{}: dataset 'class_names' is empty (expected at least one class)",
                   path);
    meta.class_names = h5::read_string_column(d.get(), C, path, "class_names");
    // Two entries of one name would give one class two rows in every per-class result.
    std::map<std::string, size_t> first;
    for (size_t c = 0; c < C; ++c) {
      auto [it, fresh] = first.emplace(meta.class_names[c], c);
      TC_CHECK_INPUT(fresh, "{}: class_names[{}] and class_names[{}] are both '{}' (expected each class "
                     "once; rebuild the dataset with prep, or merge the classes' images under one name)",
                     path, it->second, c, meta.class_names[c]);
    }
  }
  {
    auto d = dd::open_checked(f, "defect", path, {N}, H5T_STRING, 0, false,
                              "variable-length UTF-8 string");
    m.defects = h5::read_string_column(d.get(), N, path, "defect");
  }
  {
    auto d = dd::open_checked(f, "source_path", path, {N}, H5T_STRING, 0, false,
                              "variable-length UTF-8 string");
    m.sources = h5::read_string_column(d.get(), N, path, "source_path");
  }
  const int64_t C = static_cast<int64_t>(meta.class_names.size());
  for (hsize_t i = 0; i < N; ++i) {
    TC_CHECK_INPUT(m.labels[i] <= 1, "{}: label[{}] is {} (expected 0 or 1)", path, i,
                   m.labels[i]);
    TC_CHECK_INPUT(m.has_mask[i] <= 1, "{}: has_mask[{}] is {} (expected 0 or 1)", path, i,
                   m.has_mask[i]);
    TC_CHECK_INPUT(m.class_ids[i] >= 0 && m.class_ids[i] < C,
                   "{}: class_id[{}] is {} (expected 0..{}, one per entry of 'class_names')",
                   path, i, m.class_ids[i], C - 1);
  }

  hsize_t one_img[4] = {1, s, s, 3}, one_mask[3] = {1, s, s};
  m.img_fspace = h5::Id(H5Dget_space(m.images.get()), H5Sclose);
  m.mask_fspace = h5::Id(H5Dget_space(m.masks.get()), H5Sclose);
  m.img_mspace = h5::Id(H5Screate_simple(4, one_img, nullptr), H5Sclose);
  m.mask_mspace = h5::Id(H5Screate_simple(3, one_mask, nullptr), H5Sclose);
}

DatasetReader::~DatasetReader() = default;
DatasetReader::DatasetReader(DatasetReader&&) noexcept = default;
DatasetReader& DatasetReader::operator=(DatasetReader&&) noexcept = default;

const DatasetMeta& DatasetReader::meta() const { return impl_->meta; }
const std::string& DatasetReader::path() const { return impl_->path; }
int64_t DatasetReader::size() const { return impl_->meta.size; }
int DatasetReader::image_size() const { return impl_->meta.image_size; }
const std::vector<uint8_t>& DatasetReader::labels() const { return impl_->labels; }
const std::vector<int32_t>& DatasetReader::class_ids() const { return impl_->class_ids; }
const std::vector<uint8_t>& DatasetReader::has_mask() const { return impl_->has_mask; }
const std::vector<std::string>& DatasetReader::defects() const { return impl_->defects; }
const std::vector<std::string>& DatasetReader::source_paths() const { return impl_->sources; }

namespace detail_dataset {
// `count` is {1, S, S, 3}; a 3-D mask space uses its first three entries.
void read_one(hid_t d, hid_t fspace, hid_t mspace, hsize_t index, hsize_t S, uint8_t* out,
              const std::string& path, const char* name) {
  hsize_t start[4] = {index, 0, 0, 0}, count[4] = {1, S, S, 3};
  H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, nullptr, count, nullptr);
  if (H5Dread(d, H5T_NATIVE_UINT8, mspace, fspace, H5P_DEFAULT, out) < 0)
    TC_INPUT_ERROR("{}: cannot read {}[{}] (corrupt file?)", path, name, index);
}
}  // namespace detail_dataset

void DatasetReader::read_image(int64_t index, uint8_t* out) const {
  auto& m = *impl_;
  TC_CHECK(index >= 0 && index < m.meta.size, "image index {} outside [0, {}) of '{}'", index,
           m.meta.size, m.path);
  h5::Quiet quiet;
  dd::read_one(m.images.get(), m.img_fspace.get(), m.img_mspace.get(),
               static_cast<hsize_t>(index), static_cast<hsize_t>(m.meta.image_size), out, m.path,
               "images");
}

void DatasetReader::read_mask(int64_t index, uint8_t* out) const {
  auto& m = *impl_;
  TC_CHECK(index >= 0 && index < m.meta.size, "mask index {} outside [0, {}) of '{}'", index,
           m.meta.size, m.path);
  h5::Quiet quiet;
  dd::read_one(m.masks.get(), m.mask_fspace.get(), m.mask_mspace.get(),
               static_cast<hsize_t>(index), static_cast<hsize_t>(m.meta.image_size), out, m.path,
               "masks");
  // Cheap next to the decompression, and a 0/255 mask from a foreign writer would otherwise
  // silently count as 255 anomalous pixels per pixel in the metrics.
  const size_t n = static_cast<size_t>(m.meta.image_size) * m.meta.image_size;
  const uint8_t* bad = std::find_if(out, out + n, [](uint8_t v) { return v > 1; });
  TC_CHECK_INPUT(bad == out + n, "{}: masks[{}] holds the value {} (expected 0 or 1)", m.path,
                 index, *bad);
}

Sample DatasetReader::read(int64_t index) const {
  const auto& m = *impl_;
  const size_t S = static_cast<size_t>(m.meta.image_size);
  Sample s;
  s.image.resize(S * S * 3);
  s.mask.resize(S * S);
  read_image(index, s.image.data());
  read_mask(index, s.mask.data());
  size_t i = static_cast<size_t>(index);
  s.label = m.labels[i];
  s.class_id = m.class_ids[i];
  s.has_mask = m.has_mask[i];
  s.defect = m.defects[i];
  s.source_path = m.sources[i];
  return s;
}

std::string DatasetReader::compute_content_hash() const {
  const auto& m = *impl_;
  const size_t S = static_cast<size_t>(m.meta.image_size);
  std::vector<uint8_t> img(S * S * 3), mask(S * S);
  Sha256 h;
  for (int64_t i = 0; i < m.meta.size; ++i) {
    read_image(i, img.data());
    read_mask(i, mask.data());
    size_t k = static_cast<size_t>(i);
    dd::hash_sample(h, img.data(), img.size(), mask.data(), mask.size(), m.labels[k],
                    m.class_ids[k], m.has_mask[k]);
  }
  dd::hash_class_names(h, m.meta.class_names);
  return h.hex();
}

}  // namespace tc::data
