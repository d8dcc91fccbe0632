// HDF5 helpers shared by the project's file formats (dataset, CLIP weights, checkpoint,
// feature cache, maps, encoded features): scalar attributes with the on-disk types every
// format uses, readers whose input errors name the file, the attribute and what was expected,
// and the checks before a file is opened for reading. Over the C API, so that both C API ids
// and C++ API objects (H5::H5File, H5::Group, ...) can be passed.
#pragma once

#include <H5Epublic.h>  // H5E_auto2_t
#include <H5Ipublic.h>  // hid_t, herr_t

#include <cstdint>
#include <string>
#include <vector>

namespace H5 {
class H5Object;
}

namespace tc::h5 {

// Owns one C API id and closes it with the matching H5?close.
class Id {
 public:
  Id() = default;
  Id(hid_t id, herr_t (*closer)(hid_t)) : id_(id), close_(closer) {}
  ~Id() { reset(); }
  Id(Id&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Id& operator=(Id&& o) noexcept;
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();
  // Closes now and reports failure (a failed file close means data may not be on disk).
  herr_t close_checked();

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

// HDF5 prints its error stack on stderr for every failed call by default; code that probes
// and reports its own messages silences it while this lives (the previous handler returns).
class Quiet {
 public:
  Quiet();
  ~Quiet();
  Quiet(const Quiet&) = delete;
  Quiet& operator=(const Quiet&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// What holds the attributes: a file, group or dataset, as a C API id or a C++ API object.
struct Loc {
  hid_t id;
  Loc(hid_t i) : id(i) {}      // implicit on purpose: call sites pass either form
  Loc(const H5::H5Object& o);
};

// Files being written can fail (disk full, quota, I/O error). HDF5 1.10 frees a file whose
// close failed (its closing flush could not write) but keeps its id, and H5close at process exit
// then dereferences it: the process that reported the error segfaults (HDFFV-11052, fixed in
// HDF5 1.14). So no writer lets a close fail:
//  - flush_file() before a final close: a failed flush discards the file's writes (below) and
//    is a Runtime error naming the file; after a good one the close has nothing left to write;
//  - discard_writes() on the failure path, before the file or any of its objects is closed:
//    the file's descriptor is pointed at an anonymous in-memory file, so the flushes of the
//    closes succeed without touching the disk (the caller removes the temporary as usual).
//    Only for the default (sec2) driver; other drivers are left as they are.
void flush_file(Loc file, const std::string& path);
void discard_writes(Loc file);

// For a file written in one scope: declared right after the file is created, it discards the
// file's writes when the scope is left by an exception (before the file object is closed).
class DiscardOnUnwind {
 public:
  explicit DiscardOnUnwind(Loc file);
  ~DiscardOnUnwind();
  DiscardOnUnwind(const DiscardOnUnwind&) = delete;
  DiscardOnUnwind& operator=(const DiscardOnUnwind&) = delete;

 private:
  hid_t file_;
  int exceptions_;
};

// The variable-length UTF-8 string type all formats store text in (attributes and columns).
Id utf8_string_type();

// Scalar attributes. Strings are variable-length UTF-8; integers little-endian signed
// (NATIVE_INT64 on the machines we run on); numbers IEEE float64 little-endian. An existing
// attribute of the name is an error (HDF5 does not overwrite). Failures: runtime errors naming
// the file and the attribute.
void put_attr_str(Loc loc, const char* name, const std::string& value);
void put_attr_i64(Loc loc, const char* name, int64_t value);
void put_attr_i32(Loc loc, const char* name, int32_t value);
void put_attr_f64(Loc loc, const char* name, double value);
// 1-D array of little-endian int64 (an empty vector gives a 0-length array).
void put_attr_i64s(Loc loc, const char* name, const std::vector<int64_t>& values);

bool has_attr(Loc loc, const char* name);

// Readers of one-value attributes. Input errors name the file (as it was opened), the
// attribute (with the group it sits on, when not the root) and what was expected, e.g.
//   ckpt.h5: missing attribute 'names' of '/learnable' (expected a string)
//   x.h5: attribute 'version' is a string (expected an integer)
// attr_str accepts variable- and fixed-length strings (h5py writes both); attr_i64 any integer
// type; attr_f64 any integer or float type.
std::string attr_str(Loc loc, const char* name);
int64_t attr_i64(Loc loc, const char* name);
double attr_f64(Loc loc, const char* name);

// 1-D datasets of variable-length UTF-8 strings (a column of N texts), written without object
// timestamps (the same content gives byte-identical files). `path` names the file in errors.
void write_string_column(hid_t loc, const char* name, const std::vector<std::string>& values,
                         const std::string& path);
// Reads all `n` strings of the open dataset `d` (an input error naming the file and the
// column when the read fails).
std::vector<std::string> read_string_column(hid_t d, size_t n, const std::string& path, const char* name);

// Before opening `path` for reading: input errors when it does not exist
// ("<what> '<path>' does not exist"), is not a regular file, or is not HDF5
// ("'<path>' is not an HDF5 file (expected <expected>)").
void check_hdf5_file(const std::string& path, const std::string& what, const std::string& expected);
// check_hdf5_file, then open read-only (C API); an unopenable file is an input error.
Id open_read(const std::string& path, const std::string& what, const std::string& expected);

}  // namespace tc::h5
