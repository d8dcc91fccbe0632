#include "util/h5.h"

#include <H5Cpp.h>
#include <hdf5.h>
#include <fmt/format.h>

#include <sys/mman.h>
#include <unistd.h>

#include <exception>
#include <filesystem>
#include <initializer_list>
#include <string>

#include "util/check.h"

namespace tc::h5 {

Id& Id::operator=(Id&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = -1;
  }
  return *this;
}

void Id::reset() {
  if (id_ >= 0 && close_) close_(id_);
  id_ = -1;
}

herr_t Id::close_checked() {
  herr_t r = 0;
  if (id_ >= 0 && close_) r = close_(id_);
  id_ = -1;
  return r;
}

void flush_file(Loc file, const std::string& path) {
  Quiet quiet;  // our message says what failed; HDF5's stack would repeat it per block
  if (H5Fflush(file.id, H5F_SCOPE_GLOBAL) < 0) {
    discard_writes(file);
    TC_RUNTIME_ERROR("{}: writing the file failed (disk full or an I/O error; see `df` for the folder)",
                     path);
  }
}

void discard_writes(Loc loc) {
  Quiet quiet;
  Id file(H5Iget_file_id(loc.id), H5Fclose);  // another reference: closing it closes nothing
  if (!file.valid()) return;
  Id fapl(H5Fget_access_plist(file.get()), H5Pclose);
  if (!fapl.valid() || H5Pget_driver(fapl.get()) != H5FD_SEC2) return;
  void* handle = nullptr;
  if (H5Fget_vfd_handle(file.get(), fapl.get(), &handle) < 0 || !handle) return;
  const int fd = *static_cast<int*>(handle);
  const int sink = memfd_create("tokenclip-discarded-hdf5", MFD_CLOEXEC);
  if (sink < 0) return;
  dup2(sink, fd);  // the temporary's blocks are freed once the caller removes its name
  close(sink);
}

DiscardOnUnwind::DiscardOnUnwind(Loc file) : file_(file.id), exceptions_(std::uncaught_exceptions()) {}
DiscardOnUnwind::~DiscardOnUnwind() {
  if (std::uncaught_exceptions() > exceptions_) discard_writes(file_);
}

Quiet::Quiet() {
  H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}
Quiet::~Quiet() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

Loc::Loc(const H5::H5Object& o) : id(o.getId()) {}

namespace detail_h5 {

// The file's name as it was opened or created.
std::string file_name(hid_t loc) {
  const ssize_t n = H5Fget_name(loc, nullptr, 0);
  if (n < 0) return "<unknown HDF5 file>";
  std::string s(static_cast<size_t>(n) + 1, '\0');
  H5Fget_name(loc, s.data(), s.size());
  s.resize(static_cast<size_t>(n));
  return s;
}

// "'name'", or "'name' of '/group'" when the attribute does not sit on the root group.
std::string attr_label(hid_t loc, const char* name) {
  const ssize_t n = H5Iget_name(loc, nullptr, 0);
  std::string obj;
  if (n > 0) {
    obj.assign(static_cast<size_t>(n) + 1, '\0');
    H5Iget_name(loc, obj.data(), obj.size());
    obj.resize(static_cast<size_t>(n));
  }
  if (obj.empty() || obj == "/") return fmt::format("'{}'", name);
  return fmt::format("'{}' of '{}'", name, obj);
}

const char* class_phrase(H5T_class_t c) {
  switch (c) {
    case H5T_INTEGER: return "an integer";
    case H5T_FLOAT: return "a float";
    case H5T_STRING: return "a string";
    case H5T_COMPOUND: return "a compound";
    case H5T_ENUM: return "an enum";
    case H5T_ARRAY: return "an array type";
    case H5T_VLEN: return "a variable-length sequence";
    default: return "of an unsupported type";
  }
}

Id vlen_string_type(H5T_cset_t cset) {
  Id t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t.get(), H5T_VARIABLE);
  H5Tset_cset(t.get(), cset);
  return t;
}

void write_attr(hid_t loc, const char* name, hid_t file_type, hid_t space, hid_t mem_type,
                const void* buf) {
  Quiet quiet;
  Id a(H5Acreate2(loc, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a.valid())
    TC_RUNTIME_ERROR("{}: cannot create attribute {}", file_name(loc), attr_label(loc, name));
  if (H5Awrite(a.get(), mem_type, buf) < 0)
    TC_RUNTIME_ERROR("{}: cannot write attribute {}", file_name(loc), attr_label(loc, name));
}

void write_scalar(hid_t loc, const char* name, hid_t file_type, hid_t mem_type, const void* buf) {
  Id space(H5Screate(H5S_SCALAR), H5Sclose);
  write_attr(loc, name, file_type, space.get(), mem_type, buf);
}

// One opened attribute with its file type, checked to exist, to be of one of `classes` and to
// hold one value; `expected` ("a string") words the errors.
struct OneValue {
  Id attr, type;
};
OneValue open_one(hid_t loc, const char* name, std::initializer_list<H5T_class_t> classes,
                  const char* expected) {
  Quiet quiet;
  TC_CHECK_INPUT(H5Aexists(loc, name) > 0, "{}: missing attribute {} (expected {})", file_name(loc),
                 attr_label(loc, name), expected);
  OneValue v;
  v.attr = Id(H5Aopen(loc, name, H5P_DEFAULT), H5Aclose);
  TC_CHECK_INPUT(v.attr.valid(), "{}: cannot open attribute {}", file_name(loc), attr_label(loc, name));
  v.type = Id(H5Aget_type(v.attr.get()), H5Tclose);
  const H5T_class_t c = H5Tget_class(v.type.get());
  bool ok = false;
  for (H5T_class_t k : classes) ok = ok || c == k;
  TC_CHECK_INPUT(ok, "{}: attribute {} is {} (expected {})", file_name(loc), attr_label(loc, name),
                 class_phrase(c), expected);
  Id space(H5Aget_space(v.attr.get()), H5Sclose);
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  TC_CHECK_INPUT(n == 1, "{}: attribute {} is an array of {} values (expected {})", file_name(loc),
                 attr_label(loc, name), n, expected);
  return v;
}

template <typename T>
T read_number(hid_t loc, const char* name, std::initializer_list<H5T_class_t> classes,
              const char* expected, hid_t mem_type) {
  OneValue v = open_one(loc, name, classes, expected);
  Quiet quiet;
  T x{};
  if (H5Aread(v.attr.get(), mem_type, &x) < 0)
    TC_INPUT_ERROR("{}: cannot read attribute {} as {}", file_name(loc), attr_label(loc, name), expected);
  return x;
}

}  // namespace detail_h5

Id utf8_string_type() { return detail_h5::vlen_string_type(H5T_CSET_UTF8); }

void put_attr_str(Loc loc, const char* name, const std::string& value) {
  Id t = utf8_string_type();
  const char* p = value.c_str();
  detail_h5::write_scalar(loc.id, name, t.get(), t.get(), &p);
}

void put_attr_i64(Loc loc, const char* name, int64_t value) {
  detail_h5::write_scalar(loc.id, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

void put_attr_i32(Loc loc, const char* name, int32_t value) {
  detail_h5::write_scalar(loc.id, name, H5T_STD_I32LE, H5T_NATIVE_INT32, &value);
}

void put_attr_f64(Loc loc, const char* name, double value) {
  detail_h5::write_scalar(loc.id, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

void put_attr_i64s(Loc loc, const char* name, const std::vector<int64_t>& values) {
  const hsize_t n = values.size();
  Id space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  detail_h5::write_attr(loc.id, name, H5T_STD_I64LE, space.get(), H5T_NATIVE_INT64, values.data());
}

bool has_attr(Loc loc, const char* name) {
  Quiet quiet;
  return H5Aexists(loc.id, name) > 0;
}

std::string attr_str(Loc loc, const char* name) {
  using namespace detail_h5;
  OneValue v = open_one(loc.id, name, {H5T_STRING}, "a string");
  Quiet quiet;
  const H5T_cset_t cset = H5Tget_cset(v.type.get());
  if (H5Tis_variable_str(v.type.get()) > 0) {
    Id mt = vlen_string_type(cset);  // HDF5 does not convert between character sets
    char* p = nullptr;
    if (H5Aread(v.attr.get(), mt.get(), &p) < 0)
      TC_INPUT_ERROR("{}: cannot read attribute {} as a string", file_name(loc.id), attr_label(loc.id, name));
    std::string s = p ? p : "";
    if (p) H5free_memory(p);
    return s;
  }
  // Fixed length: read into one byte more than stored, so that the NUL terminator of the
  // memory type never costs the last character of a full-length string (HDF5 strips the
  // padding of the file type).
  const size_t n = H5Tget_size(v.type.get());
  Id mt(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(mt.get(), n + 1);
  H5Tset_cset(mt.get(), cset);
  std::string buf(n + 1, '\0');
  if (H5Aread(v.attr.get(), mt.get(), buf.data()) < 0)
    TC_INPUT_ERROR("{}: cannot read attribute {} as a string", file_name(loc.id), attr_label(loc.id, name));
  buf.resize(std::char_traits<char>::length(buf.c_str()));
  return buf;
}

int64_t attr_i64(Loc loc, const char* name) {
  return detail_h5::read_number<int64_t>(loc.id, name, {H5T_INTEGER}, "an integer", H5T_NATIVE_INT64);
}

double attr_f64(Loc loc, const char* name) {
  return detail_h5::read_number<double>(loc.id, name, {H5T_INTEGER, H5T_FLOAT}, "a number",
                                        H5T_NATIVE_DOUBLE);
}

void write_string_column(hid_t loc, const char* name, const std::vector<std::string>& v,
                         const std::string& path) {
  std::vector<const char*> ptrs;
  ptrs.reserve(v.size());
  for (const auto& s : v) ptrs.push_back(s.c_str());
  Id t = utf8_string_type();
  hsize_t n = v.size();
  Id space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  Id dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_obj_track_times(dcpl.get(), false);
  Id d(H5Dcreate2(loc, name, t.get(), space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose);
  if (!d.valid()) TC_RUNTIME_ERROR("{}: cannot create dataset '{}'", path, name);
  if (H5Dwrite(d.get(), t.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0)
    TC_RUNTIME_ERROR("{}: cannot write dataset '{}'", path, name);
}

std::vector<std::string> read_string_column(hid_t d, size_t n, const std::string& path, const char* name) {
  std::vector<char*> ptrs(n, nullptr);
  Id t = utf8_string_type();
  if (n && H5Dread(d, t.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0)
    TC_INPUT_ERROR("{}: cannot read dataset '{}' (corrupt file?)", path, name);
  std::vector<std::string> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = ptrs[i] ? ptrs[i] : "";
  if (n) {
    Id space(H5Dget_space(d), H5Sclose);
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(t.get(), space.get(), H5P_DEFAULT, ptrs.data());
#else
    H5Dvlen_reclaim(t.get(), space.get(), H5P_DEFAULT, ptrs.data());
#endif
  }
  return out;
}

void check_hdf5_file(const std::string& path, const std::string& what, const std::string& expected) {
  std::error_code ec;
  TC_CHECK_INPUT(std::filesystem::exists(path, ec), "{} '{}' does not exist", what, path);
  TC_CHECK_INPUT(std::filesystem::is_regular_file(path, ec), "{} '{}' is not a regular file", what, path);
  Quiet quiet;
  TC_CHECK_INPUT(H5Fis_hdf5(path.c_str()) > 0, "'{}' is not an HDF5 file (expected {})", path, expected);
}

Id open_read(const std::string& path, const std::string& what, const std::string& expected) {
  check_hdf5_file(path, what, expected);
  Quiet quiet;
  Id f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  TC_CHECK_INPUT(f.valid(), "cannot open HDF5 file '{}' (corrupt or locked?)", path);
  return f;
}

}  // namespace tc::h5
