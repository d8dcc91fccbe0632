// `tokenclip info FILE...`: what a tokenclip file holds. Dispatches on the root `format`
// attribute to a printer registered by the format's owner (app/info.h); this file holds the
// dispatcher, the generic HDF5 listing and the dataset printer.
#include <hdf5.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "app/command.h"
#include "app/info.h"
#include "data/dataset.h"
#include "util/check.h"
#include "util/progress.h"

namespace tc::app {

namespace {

std::vector<InfoFormat>& info_registry() {
  static std::vector<InfoFormat> r;
  return r;
}

// HDF5 prints its error stack for failed probes; we report our own messages.
class InfoQuietHdf5 {
 public:
  InfoQuietHdf5() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~InfoQuietHdf5() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

std::string info_type_name(hid_t t) {
  switch (H5Tget_class(t)) {
    case H5T_INTEGER:
      return fmt::format("{}int{}", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", 8 * H5Tget_size(t));
    case H5T_FLOAT: return fmt::format("float{}", 8 * H5Tget_size(t));
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    default: return "other";
  }
}

std::string info_shape(hid_t space) {
  int rank = H5Sget_simple_extent_ndims(space);
  if (rank <= 0) return "scalar";
  std::vector<hsize_t> d(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space, d.data(), nullptr);
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

// Scalar attribute value as text (strings, integers, floats); other kinds by type and shape.
std::string info_attr_value(hid_t a) {
  hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
  std::string out;
  const bool scalar = H5Sget_simple_extent_npoints(sp) == 1;
  if (scalar && H5Tget_class(t) == H5T_STRING) {
    if (H5Tis_variable_str(t) > 0) {
      char* p = nullptr;
      hid_t mt = H5Tcopy(H5T_C_S1);
      H5Tset_size(mt, H5T_VARIABLE);
      H5Tset_cset(mt, H5Tget_cset(t));
      if (H5Aread(a, mt, &p) >= 0 && p) {
        out = p;
        H5free_memory(p);
      }
      H5Tclose(mt);
    } else {
      std::string buf(H5Tget_size(t), '\0');
      hid_t mt = H5Tcopy(H5T_C_S1);
      H5Tset_size(mt, buf.size());
      if (H5Aread(a, mt, buf.data()) >= 0) out = buf.c_str();
      H5Tclose(mt);
    }
  } else if (scalar && H5Tget_class(t) == H5T_INTEGER) {
    long long v = 0;
    if (H5Aread(a, H5T_NATIVE_LLONG, &v) >= 0) out = std::to_string(v);
  } else if (scalar && H5Tget_class(t) == H5T_FLOAT) {
    double v = 0;
    if (H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0) out = fmt::format("{}", v);
  } else {
    out = fmt::format("<{} {}>", info_type_name(t), info_shape(sp));
  }
  H5Sclose(sp);
  H5Tclose(t);
  return out;
}

herr_t info_collect_attr(hid_t loc, const char* name, const H5A_info_t*, void* data) {
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a >= 0) {
    static_cast<std::vector<std::pair<std::string, std::string>>*>(data)->emplace_back(
        name, info_attr_value(a));
    H5Aclose(a);
  }
  return 0;
}

herr_t info_collect_link(hid_t, const char* name, const H5L_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->push_back(name);
  return 0;
}

// Opens `path` as HDF5, with input errors naming it.
hid_t info_open(const std::string& path) {
  std::error_code ec;
  TC_CHECK_INPUT(std::filesystem::exists(path, ec), "file '{}' does not exist", path);
  TC_CHECK_INPUT(H5Fis_hdf5(path.c_str()) > 0,
                 "'{}' is not an HDF5 file (expected a tokenclip dataset, checkpoint, feature "
                 "cache or maps file)", path);
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  TC_CHECK_INPUT(f >= 0, "cannot open HDF5 file '{}'", path);
  return f;
}

// ------------------------------------------------------------------ dataset printer

void print_dataset(const std::string& path, const InfoOptions& opt) {
  data::DatasetReader r(path);
  const auto& m = r.meta();
  const size_t C = m.class_names.size();
  std::printf("format:       %s version %d\n", data::kDatasetFormat, data::kDatasetVersion);
  std::printf("name:         %s\n", m.name.c_str());
  std::printf("domain:       %s\n", m.domain.c_str());
  std::printf("layout:       %s\n", m.layout.c_str());
  std::printf("source:       %s\n", m.source.c_str());
  std::printf("images:       %lld at %dx%d\n", static_cast<long long>(m.size), m.image_size,
              m.image_size);
  std::printf("mask rule:    %s\n", m.mask_rule.c_str());
  std::printf("content hash: %s\n", m.content_hash.c_str());

  // Per class: normal, anomalous, anomalous with mask; per (class, defect) counts.
  std::vector<std::array<long long, 3>> per_class(C, {0, 0, 0});
  std::map<std::pair<int32_t, std::string>, long long> per_defect;
  long long normal = 0, anomalous = 0, masked = 0;
  for (int64_t i = 0; i < r.size(); ++i) {
    const size_t k = static_cast<size_t>(i);
    auto& c = per_class[static_cast<size_t>(r.class_ids()[k])];
    const bool a = r.labels()[k] != 0;
    ++c[a ? 1 : 0];
    (a ? anomalous : normal) += 1;
    if (r.has_mask()[k]) {
      ++masked;
      if (a) ++c[2];
    }
    ++per_defect[{r.class_ids()[k], r.defects()[k]}];
  }
  std::printf("labels:       %lld normal, %lld anomalous; %lld with a pixel ground truth "
              "(has_mask), %lld image-level only\n",
              normal, anomalous, masked, static_cast<long long>(r.size()) - masked);
  std::printf("\n%-24s %8s %10s %12s\n", "class", "normal", "anomalous", "with mask");
  for (size_t c = 0; c < C; ++c)
    std::printf("%-24s %8lld %10lld %12lld\n", m.class_names[c].c_str(), per_class[c][0],
                per_class[c][1], per_class[c][2]);
  std::printf("\n%-24s %-24s %8s\n", "class", "defect", "images");
  for (const auto& [key, n] : per_defect)
    std::printf("%-24s %-24s %8lld\n", m.class_names[static_cast<size_t>(key.first)].c_str(),
                key.second.c_str(), n);

  if (!opt.brief) {
    // Mask coverage: the anomalous fraction of each anomalous image that has a mask.
    const size_t S2 = static_cast<size_t>(m.image_size) * m.image_size;
    std::vector<uint8_t> mask(S2);
    std::vector<double> cov;
    Progress prog("masks", anomalous, "img");
    for (int64_t i = 0; i < r.size(); ++i) {
      const size_t k = static_cast<size_t>(i);
      if (!r.labels()[k]) continue;
      prog.update(1);
      if (!r.has_mask()[k]) continue;
      r.read_mask(i, mask.data());
      cov.push_back(static_cast<double>(std::count(mask.begin(), mask.end(), uint8_t{1})) /
                    static_cast<double>(S2));
    }
    prog.finish();
    if (cov.empty()) {
      std::printf("\nmask coverage: no anomalous image has a mask\n");
    } else {
      double sum = 0;
      long long empty = 0;
      for (double v : cov) {
        sum += v;
        empty += v == 0;
      }
      auto [mn, mx] = std::minmax_element(cov.begin(), cov.end());
      std::printf("\nmask coverage of anomalous images with masks (%zu): mean %.4f%%, min %.4f%%, "
                  "max %.4f%%; %lld empty at %dx%d\n",
                  cov.size(), 100 * sum / static_cast<double>(cov.size()), 100 * *mn, 100 * *mx,
                  empty, m.image_size, m.image_size);
    }
  }
  if (opt.verify) {
    std::string h = r.compute_content_hash();
    TC_CHECK_INPUT(h == m.content_hash,
                   "{}: attribute 'content_hash' is {} but the stored arrays hash to {} "
                   "(the file was modified or is corrupt)", path, m.content_hash, h);
    std::printf("content hash verified\n");
  }
}

TC_REGISTER_INFO_PRINTER(data::kDatasetFormat, "dataset (tokenclip prep / synth)", print_dataset);

// ------------------------------------------------------------------ command

int run_info(Invocation& inv) {
  InfoOptions opt;
  opt.verify = inv.cfg.get_bool("verify");
  opt.brief = inv.cfg.get_bool("brief");
  bool first = true;
  for (const auto& path : inv.args) {
    if (!first) std::printf("\n");
    first = false;
    std::string format;
    {
      InfoQuietHdf5 quiet;
      hid_t f = info_open(path);
      std::vector<std::pair<std::string, std::string>> attrs;
      hsize_t idx = 0;
      H5Aiterate2(f, H5_INDEX_NAME, H5_ITER_INC, &idx, info_collect_attr, &attrs);
      H5Fclose(f);
      for (const auto& [k, v] : attrs)
        if (k == "format") format = v;
      TC_CHECK_INPUT(!format.empty(),
                     "{}: missing attribute 'format' (expected one of the tokenclip formats, "
                     "e.g. \"{}\")", path, data::kDatasetFormat);
    }
    std::printf("file:         %s\n", path.c_str());
    auto& reg = info_registry();
    auto it = std::find_if(reg.begin(), reg.end(),
                           [&](const InfoFormat& p) { return p.format == format; });
    if (it == reg.end()) {
      std::printf("format:       %s (no printer registered for it; generic listing)\n",
                  format.c_str());
      print_hdf5_listing(path);
    } else {
      it->print(path, opt);
    }
  }
  return 0;
}

}  // namespace

bool register_info_printer(InfoFormat f) {
  info_registry().push_back(std::move(f));
  return true;
}

const std::vector<InfoFormat>& info_printers() { return info_registry(); }

void print_hdf5_listing(const std::string& path) {
  InfoQuietHdf5 quiet;
  hid_t f = info_open(path);
  std::vector<std::pair<std::string, std::string>> attrs;
  hsize_t idx = 0;
  H5Aiterate2(f, H5_INDEX_NAME, H5_ITER_INC, &idx, info_collect_attr, &attrs);
  std::printf("attributes:\n");
  for (const auto& [k, v] : attrs) std::printf("  %-20s %s\n", k.c_str(), v.c_str());
  std::vector<std::string> names;
  idx = 0;
  H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, &idx, info_collect_link, &names);
  std::printf("objects:\n");
  for (const auto& n : names) {
    hid_t d = H5Dopen2(f, n.c_str(), H5P_DEFAULT);
    if (d >= 0) {
      hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
      std::printf("  %-20s %s %s\n", n.c_str(), info_type_name(t).c_str(), info_shape(sp).c_str());
      H5Sclose(sp);
      H5Tclose(t);
      H5Dclose(d);
    } else {
      std::printf("  %-20s group\n", n.c_str());
    }
  }
  H5Fclose(f);
}

namespace {
TC_REGISTER_COMMAND(Command{
    "info", "print what a tokenclip file (dataset, checkpoint, ...) holds",
    "Reads each file's `format` attribute and prints its contents with the printer registered "
    "for that format; for a dataset: meta, counts per class, label and defect, and mask "
    "coverage. --verify also recomputes integrity hashes (reads the whole file).",
    {},
    {flag_bool("verify", "recompute and check content hashes (reads everything)"),
     flag_bool("brief", "meta and counts only; do not read the bulk data")},
    "FILE", "tokenclip HDF5 file(s)", 1, -1, 20, run_info});
}  // namespace

}  // namespace tc::app
