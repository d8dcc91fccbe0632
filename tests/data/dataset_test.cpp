// Dataset file: round trip of every field, content hash (independently recomputed here from
// its definition in docs/FORMATS.md), atomic writing, and each refusal of the reader.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "data/batch.h"
#include "data/dataset.h"
#include "util/check.h"
#include "util/hash.h"

namespace {

namespace fs = std::filesystem;
using tc::data::DatasetMeta;
using tc::data::DatasetReader;
using tc::data::DatasetWriter;
using tc::data::Sample;

std::string ds_temp_dir() {
  static std::string dir = [] {
    auto d = fs::temp_directory_path() / ("tc_dataset_test_" + std::to_string(getpid()));
    fs::create_directories(d);
    return d.string();
  }();
  return dir;
}

DatasetMeta ds_meta(int S) {
  DatasetMeta m;
  m.name = "unit";
  m.domain = "industrial";
  m.image_size = S;
  m.class_names = {"bottle", "cable", "grid"};
  m.layout = "mvtec";
  m.source = "/nowhere";
  m.mask_rule = "> 0";
  return m;
}

// Deterministic content: sample i has pixels (i*7 + p*13) % 251 and, when anomalous, a mask
// square in its upper-left corner.
Sample ds_sample(int i, int S) {
  Sample s;
  s.image.resize(size_t(S) * S * 3);
  for (size_t p = 0; p < s.image.size(); ++p) s.image[p] = uint8_t((i * 7 + p * 13) % 251);
  s.label = uint8_t(i % 2);
  s.class_id = i % 3;
  s.has_mask = uint8_t(i % 5 != 4);
  s.mask.assign(size_t(S) * S, 0);
  if (s.label && s.has_mask)
    for (int y = 0; y < S / 2; ++y)
      for (int x = 0; x < S / 3 + i % 2; ++x) s.mask[size_t(y) * S + x] = 1;
  s.defect = s.label ? "crack_" + std::to_string(i) : "good";
  s.source_path = "cls/test/" + std::to_string(i) + "_\xc3\xa9.png";  // UTF-8 survives
  return s;
}

std::string write_ds(const std::string& name, int n, int S, DatasetMeta* out_meta = nullptr,
                     int changed_pixel_of = -1) {
  std::string path = ds_temp_dir() + "/" + name;
  DatasetWriter w(path, ds_meta(S));
  for (int i = 0; i < n; ++i) {
    Sample s = ds_sample(i, S);
    if (i == changed_pixel_of) s.image[5] ^= 1;
    w.append(s);
  }
  auto m = w.finish();
  if (out_meta) *out_meta = m;
  return path;
}

// The hash as docs/FORMATS.md defines it, computed from the samples themselves.
std::string expected_hash(int n, int S, const std::vector<std::string>& classes) {
  tc::Sha256 h;
  auto le32 = [&](uint32_t v) {
    uint8_t b[4] = {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)};
    h.update(b, 4);
  };
  for (int i = 0; i < n; ++i) {
    Sample s = ds_sample(i, S);
    h.update(s.image.data(), s.image.size());
    h.update(s.mask.data(), s.mask.size());
    h.update(&s.label, 1);
    le32(uint32_t(s.class_id));
    h.update(&s.has_mask, 1);
  }
  for (const auto& c : classes) {
    le32(uint32_t(c.size()));
    h.update(c);
  }
  return h.hex();
}

TEST(Dataset, RoundTripEveryField) {
  const int S = 9, n = 11;
  DatasetMeta wm;
  std::string path = write_ds("roundtrip.h5", n, S, &wm);
  EXPECT_EQ(wm.size, n);
  EXPECT_EQ(wm.content_hash, expected_hash(n, S, ds_meta(S).class_names));

  DatasetReader r(path);
  const auto& m = r.meta();
  EXPECT_EQ(m.name, "unit");
  EXPECT_EQ(m.domain, "industrial");
  EXPECT_EQ(m.image_size, S);
  EXPECT_EQ(m.class_names, ds_meta(S).class_names);
  EXPECT_EQ(m.layout, "mvtec");
  EXPECT_EQ(m.source, "/nowhere");
  EXPECT_EQ(m.mask_rule, "> 0");
  EXPECT_EQ(m.size, n);
  EXPECT_EQ(m.content_hash, wm.content_hash);
  EXPECT_EQ(r.size(), n);
  EXPECT_EQ(r.image_size(), S);
  for (int i = 0; i < n; ++i) {
    Sample e = ds_sample(i, S), g = r.read(i);
    EXPECT_EQ(g.image, e.image) << i;
    EXPECT_EQ(g.mask, e.mask) << i;
    EXPECT_EQ(g.label, e.label);
    EXPECT_EQ(g.class_id, e.class_id);
    EXPECT_EQ(g.has_mask, e.has_mask);
    EXPECT_EQ(g.defect, e.defect);
    EXPECT_EQ(g.source_path, e.source_path);
    EXPECT_EQ(r.labels()[i], e.label);
    EXPECT_EQ(r.class_ids()[i], e.class_id);
    EXPECT_EQ(r.has_mask()[i], e.has_mask);
    EXPECT_EQ(r.defects()[i], e.defect);
    EXPECT_EQ(r.source_paths()[i], e.source_path);
  }
  // Random access in any order and the raw-buffer hot path.
  std::vector<uint8_t> buf(size_t(S) * S * 3);
  r.read_image(7, buf.data());
  EXPECT_EQ(buf, ds_sample(7, S).image);
  EXPECT_EQ(r.compute_content_hash(), wm.content_hash);
  // Moving the reader keeps it usable.
  DatasetReader r2 = std::move(r);
  r2.read_image(2, buf.data());
  EXPECT_EQ(buf, ds_sample(2, S).image);
}

TEST(Dataset, ContentHashStableAndSensitiveToOnePixel) {
  DatasetMeta a, b, c;
  write_ds("h1.h5", 6, 8, &a);
  write_ds("h2.h5", 6, 8, &b);
  write_ds("h3.h5", 6, 8, &c, /*changed_pixel_of=*/3);
  EXPECT_EQ(a.content_hash, b.content_hash);
  EXPECT_NE(a.content_hash, c.content_hash);
  EXPECT_EQ(a.content_hash.size(), 64u);
}

TEST(Dataset, LargeImagesUseOneChunkEach) {
  // 518 x 518 x 3 is close to HDF5's default 1 MiB chunk cache: must still round trip.
  const int S = 518;
  std::string path = write_ds("big.h5", 3, S);
  DatasetReader r(path);
  for (int i : {2, 0, 1}) EXPECT_EQ(r.read(i).image, ds_sample(i, S).image);
}

TEST(Dataset, WriterLeavesNothingWithoutFinish) {
  std::string path = ds_temp_dir() + "/abandoned.h5";
  {
    DatasetWriter w(path, ds_meta(4));
    w.append(ds_sample(0, 4));
  }
  EXPECT_FALSE(fs::exists(path));
  for (auto& e : fs::directory_iterator(ds_temp_dir()))
    EXPECT_EQ(e.path().filename().string().find("abandoned.h5.tmp"), std::string::npos);
}

TEST(Dataset, WriterRefusesInconsistentSamples) {
  std::string path = ds_temp_dir() + "/bad_samples.h5";
  DatasetWriter w(path, ds_meta(4));
  Sample s = ds_sample(1, 4);
  s.image.pop_back();
  EXPECT_THROW(w.append(s), tc::Error);
  s = ds_sample(1, 4);
  s.class_id = 3;
  EXPECT_THROW(w.append(s), tc::Error);
  s = ds_sample(0, 4);
  s.mask[0] = 1;  // a normal image with an anomalous pixel
  EXPECT_THROW(w.append(s), tc::Error);
  s = ds_sample(1, 4);
  s.mask[0] = 255;  // masks are 0/1
  EXPECT_THROW(w.append(s), tc::Error);
  EXPECT_EQ(w.size(), 0);
}

// ---------------------------------------------------------------------------- refusals

// Expects an Input error whose message names the file and every given fragment.
void expect_refused(const std::string& path, std::initializer_list<std::string> fragments) {
  try {
    DatasetReader r(path);
    ADD_FAILURE() << "opened " << path;
  } catch (const tc::Error& e) {
    EXPECT_EQ(e.kind(), tc::ErrorKind::Input) << e.message();
    EXPECT_NE(e.message().find(path), std::string::npos) << e.message();
    for (const auto& f : fragments) EXPECT_NE(e.message().find(f), std::string::npos) << e.message();
  }
}

// A valid file, then `edit` applied to it through the HDF5 C API.
template <typename F>
std::string corrupted(const std::string& name, F edit) {
  std::string path = write_ds(name, 5, 4);
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  edit(f);
  H5Fclose(f);
  return path;
}

void replace_string_attr(hid_t f, const char* name, const char* value) {
  H5Adelete(f, name);
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, t, &value);
  H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
}

template <typename T>
void replace_dataset(hid_t f, const char* name, hid_t type, std::vector<hsize_t> dims,
                     const std::vector<T>& data) {
  H5Ldelete(f, name, H5P_DEFAULT);
  hid_t sp = H5Screate_simple(int(dims.size()), dims.data(), nullptr);
  hid_t d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data());
  H5Dclose(d);
  H5Sclose(sp);
}

TEST(DatasetRefuses, MissingFile) {
  expect_refused(ds_temp_dir() + "/nope.h5", {"does not exist"});
}

TEST(DatasetRefuses, NonHdf5File) {
  std::string p = ds_temp_dir() + "/text.h5";
  std::ofstream(p) << "not hdf5\n";
  expect_refused(p, {"not an HDF5 file"});
}

TEST(DatasetRefuses, OtherFormat) {
  auto p = corrupted("fmt.h5", [](hid_t f) { replace_string_attr(f, "format", "tokenclip-checkpoint"); });
  expect_refused(p, {"'format'", "tokenclip-checkpoint", "tokenclip-dataset"});
  auto q = corrupted("nofmt.h5", [](hid_t f) { H5Adelete(f, "format"); });
  expect_refused(q, {"missing attribute 'format'"});
}

TEST(DatasetRefuses, OtherVersion) {
  auto p = corrupted("ver.h5", [](hid_t f) {
    hid_t a = H5Aopen(f, "version", H5P_DEFAULT);
    int v = 2;
    H5Awrite(a, H5T_NATIVE_INT, &v);
    H5Aclose(a);
  });
  expect_refused(p, {"'version' is 2", "expected 1"});
}

TEST(DatasetRefuses, MissingFieldsAndAttributes) {
  for (const char* field : {"images", "masks", "label", "class_id", "has_mask", "class_names",
                            "defect", "source_path"}) {
    auto p = corrupted(std::string("miss_") + field + ".h5",
                       [&](hid_t f) { H5Ldelete(f, field, H5P_DEFAULT); });
    expect_refused(p, {std::string("missing dataset '") + field + "'"});
  }
  auto p = corrupted("miss_attr.h5", [](hid_t f) { H5Adelete(f, "image_size"); });
  expect_refused(p, {"missing attribute 'image_size'"});
}

TEST(DatasetRefuses, WrongTypeOrShape) {
  auto p = corrupted("type_label.h5", [](hid_t f) {
    replace_dataset<float>(f, "label", H5T_NATIVE_FLOAT, {5}, std::vector<float>(5, 0.f));
  });
  expect_refused(p, {"'label'", "float32", "expected uint8"});
  auto q = corrupted("type_cid.h5", [](hid_t f) {
    replace_dataset<int64_t>(f, "class_id", H5T_NATIVE_INT64, {5}, std::vector<int64_t>(5, 0));
  });
  expect_refused(q, {"'class_id'", "int64", "expected int32"});
  auto r = corrupted("shape_masks.h5", [](hid_t f) {
    replace_dataset<uint8_t>(f, "masks", H5T_NATIVE_UINT8, {5, 4, 5},
                             std::vector<uint8_t>(100, 0));
  });
  expect_refused(r, {"'masks'", "[5,4,5]", "expected [5,4,4]"});
  auto s = corrupted("shape_label.h5", [](hid_t f) {
    replace_dataset<uint8_t>(f, "label", H5T_NATIVE_UINT8, {4}, std::vector<uint8_t>(4, 0));
  });
  expect_refused(s, {"'label'", "[4]", "expected [5]"});
}

TEST(DatasetRefuses, ValuesOutOfRange) {
  auto p = corrupted("range_label.h5", [](hid_t f) {
    replace_dataset<uint8_t>(f, "label", H5T_NATIVE_UINT8, {5}, {0, 1, 2, 0, 1});
  });
  expect_refused(p, {"label[2] is 2", "expected 0 or 1"});
  auto q = corrupted("range_cid.h5", [](hid_t f) {
    replace_dataset<int32_t>(f, "class_id", H5T_NATIVE_INT32, {5}, {0, 1, 2, 3, -1});
  });
  expect_refused(q, {"class_id[3] is 3", "expected 0..2"});
  // Masks are checked when read (0/255 from a foreign writer must not pass as 0/1).
  auto m = corrupted("range_mask.h5", [](hid_t f) {
    std::vector<uint8_t> v(5 * 4 * 4, 0);
    v[2 * 16 + 5] = 255;
    replace_dataset<uint8_t>(f, "masks", H5T_NATIVE_UINT8, {5, 4, 4}, v);
  });
  DatasetReader r(m);
  std::vector<uint8_t> buf(16);
  r.read_mask(1, buf.data());
  try {
    r.read_mask(2, buf.data());
    ADD_FAILURE() << "read a 255 mask value";
  } catch (const tc::Error& e) {
    EXPECT_EQ(e.kind(), tc::ErrorKind::Input);
    EXPECT_NE(e.message().find(m + ": masks[2] holds the value 255 (expected 0 or 1)"),
              std::string::npos) << e.message();
  }
}

// Two entries of one class name (a foreign writer; ours refuses them) would give the class two
// rows in every per-class table.
TEST(DatasetRefuses, DuplicateClassNames) {
  auto p = corrupted("dup_class.h5", [](hid_t f) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    std::vector<const char*> names = {"bottle", "cable", "bottle"};
    replace_dataset<const char*>(f, "class_names", t, {3}, names);
    H5Tclose(t);
  });
  expect_refused(p, {"class_names[0] and class_names[2] are both 'bottle'"});
}

// ---------------------------------------------------------------------------- batches

TEST(Batch, ReadsSamplesInTheGivenOrderAndNormalisesLikeClip) {
  const int S = 6;
  std::string path = write_ds("batch.h5", 7, S);
  DatasetReader r(path);
  std::vector<int64_t> idx = {5, 0, 5, 3};
  auto b = tc::data::read_batch(r, idx);
  ASSERT_EQ(b.images.sizes(), (std::vector<int64_t>{4, S, S, 3}));
  ASSERT_EQ(b.masks.sizes(), (std::vector<int64_t>{4, S, S}));
  for (size_t i = 0; i < idx.size(); ++i) {
    Sample e = ds_sample(int(idx[i]), S);
    auto img = b.images[int64_t(i)].contiguous();
    auto msk = b.masks[int64_t(i)].contiguous();
    EXPECT_EQ(std::vector<uint8_t>(img.data_ptr<uint8_t>(), img.data_ptr<uint8_t>() + img.numel()), e.image);
    EXPECT_EQ(std::vector<uint8_t>(msk.data_ptr<uint8_t>(), msk.data_ptr<uint8_t>() + msk.numel()), e.mask);
    EXPECT_EQ(b.labels[int64_t(i)].item<int64_t>(), e.label);
    EXPECT_EQ(b.class_ids[int64_t(i)].item<int64_t>(), e.class_id);
    EXPECT_EQ(b.has_mask[int64_t(i)].item<bool>(), e.has_mask != 0);
  }
  // CLIP normalisation, checked in double from the published constants: channel-first layout.
  const double mean[3] = {0.48145466, 0.4578275, 0.40821073};
  const double sd[3] = {0.26862954, 0.26130258, 0.27577711};
  auto x = tc::data::normalize_clip(b.images);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{4, 3, S, S}));
  ASSERT_EQ(x.scalar_type(), at::kFloat);
  auto xa = x.accessor<float, 4>();
  for (int i = 0; i < 4; ++i) {
    Sample e = ds_sample(int(idx[i]), S);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < S; ++y)
        for (int xx = 0; xx < S; ++xx) {
          double v = e.image[(size_t(y) * S + xx) * 3 + c] / 255.0;
          ASSERT_NEAR(xa[i][c][y][xx], (v - mean[c]) / sd[c], 2e-6);
        }
  }
  // A rank with no samples this step gets empty tensors.
  auto empty = tc::data::read_batch(r, {}, false);
  EXPECT_EQ(empty.images.size(0), 0);
  EXPECT_FALSE(empty.masks.defined());
  EXPECT_EQ(tc::data::normalize_clip(empty.images).size(0), 0);
  EXPECT_THROW(tc::data::read_batch(r, {7}), tc::Error);
}

}  // namespace
