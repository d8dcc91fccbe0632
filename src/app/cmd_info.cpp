// `tokenclip info FILE...`: what a tokenclip file holds. Dispatches on the root `format`
// attribute to a printer registered by the format's owner (app/info.h); this file holds the
// dispatcher, the generic HDF5 listing and the dataset printer.
#include <hdf5.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "app/command.h"
#include "app/info.h"
#include "data/dataset.h"
#include "util/check.h"
#include "util/h5.h"
#include "util/progress.h"

namespace tc::app {

namespace {

std::vector<InfoFormat>& info_registry() {
  static std::vector<InfoFormat> r;
  return r;
}

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
std::string info_attr_value(hid_t loc, const char* name) {
  h5::Id a(H5Aopen(loc, name, H5P_DEFAULT), H5Aclose);
  h5::Id t(H5Aget_type(a.get()), H5Tclose), sp(H5Aget_space(a.get()), H5Sclose);
  const bool scalar = H5Sget_simple_extent_npoints(sp.get()) == 1;
  switch (scalar ? H5Tget_class(t.get()) : H5T_NO_CLASS) {
    case H5T_STRING: return h5::attr_str(loc, name);
    case H5T_INTEGER: return std::to_string(h5::attr_i64(loc, name));
    case H5T_FLOAT: return fmt::format("{}", h5::attr_f64(loc, name));
    default: return fmt::format("<{} {}>", info_type_name(t.get()), info_shape(sp.get()));
  }
}

herr_t info_collect_attr_name(hid_t, const char* name, const H5A_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->push_back(name);
  return 0;
}

// The root attributes as (name, value text), by name. Values are read after the iteration:
// no exception may cross HDF5's C frames.
std::vector<std::pair<std::string, std::string>> info_root_attrs(hid_t f) {
  std::vector<std::string> names;
  hsize_t idx = 0;
  H5Aiterate2(f, H5_INDEX_NAME, H5_ITER_INC, &idx, info_collect_attr_name, &names);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& n : names) out.emplace_back(n, info_attr_value(f, n.c_str()));
  return out;
}

herr_t info_collect_link(hid_t, const char* name, const H5L_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->push_back(name);
  return 0;
}

// Opens `path` as HDF5, with input errors naming it.
h5::Id info_open(const std::string& path) {
  return h5::open_read(path, "file", "a tokenclip dataset, checkpoint, feature cache or maps file");
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
      h5::Quiet quiet;
      for (const auto& [k, v] : info_root_attrs(info_open(path).get()))
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
  h5::Quiet quiet;
  h5::Id file = info_open(path);
  const hid_t f = file.get();
  std::printf("attributes:\n");
  for (const auto& [k, v] : info_root_attrs(f)) std::printf("  %-20s %s\n", k.c_str(), v.c_str());
  std::vector<std::string> names;
  hsize_t idx = 0;
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
