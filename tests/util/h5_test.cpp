// tc::h5: attribute round trips, the on-disk types (checked with the C API and, when
// /usr/bin/python3 has h5py, with h5py), and that every read error names the file, the
// attribute and what was expected.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <H5Cpp.h>
#include <hdf5.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <unistd.h>

#include "util/check.h"
#include "util/h5.h"

namespace {

using ::testing::HasSubstr;

// One scratch folder for the whole binary, removed at exit (declared before its remover, so
// destroyed after it).
const std::string kH5tDir = [] {
  auto p = std::filesystem::temp_directory_path() / ("tc_h5_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(p);
  return p.string();
}();
struct H5tDirRemover {
  ~H5tDirRemover() {
    std::error_code ec;
    std::filesystem::remove_all(kH5tDir, ec);
  }
} h5t_dir_remover;

const std::string& h5t_dir() { return kH5tDir; }

// The error (kind and message) that `f` throws; fails the test when it throws none.
tc::Error h5t_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const tc::Error& e) {
    return e;
  }
  ADD_FAILURE() << "no tc::Error thrown";
  return tc::Error(tc::ErrorKind::Runtime, "");
}

// Expects an input error whose message holds every piece.
void h5t_expect_input_error(const std::function<void()>& f, const std::vector<std::string>& pieces) {
  tc::Error e = h5t_error_of(f);
  EXPECT_EQ(e.kind(), tc::ErrorKind::Input) << e.message();
  for (const auto& p : pieces) EXPECT_THAT(e.message(), HasSubstr(p));
}

// A file with one attribute of each kind on the root and on group /g.
std::string h5t_write_sample(const std::string& name) {
  const std::string p = h5t_dir() + "/" + name;
  H5::H5File f(p, H5F_ACC_TRUNC);
  tc::h5::put_attr_str(f, "s", "tokenclip-test");
  tc::h5::put_attr_str(f, "utf8", "gr\xc3\xbc\xc3\x9f \xe2\x9c\x93");  // "grüß ✓"
  tc::h5::put_attr_str(f, "empty", "");
  tc::h5::put_attr_i64(f, "i64", -9007199254740993LL);  // not representable as a double
  tc::h5::put_attr_i32(f, "i32", -123456);
  tc::h5::put_attr_f64(f, "f64", 0.1);
  tc::h5::put_attr_i64s(f, "ints", {3, -1, 1LL << 40});
  H5::Group g = f.createGroup("g");
  tc::h5::put_attr_str(g, "names", "a\nb\n");
  tc::h5::put_attr_i64(g.getId(), "n", 2);  // the C API id form
  return p;
}

TEST(H5Attr, RoundTrip) {
  const std::string p = h5t_write_sample("rt.h5");
  H5::H5File f(p, H5F_ACC_RDONLY);
  EXPECT_EQ(tc::h5::attr_str(f, "s"), "tokenclip-test");
  EXPECT_EQ(tc::h5::attr_str(f, "utf8"), "gr\xc3\xbc\xc3\x9f \xe2\x9c\x93");
  EXPECT_EQ(tc::h5::attr_str(f, "empty"), "");
  EXPECT_EQ(tc::h5::attr_i64(f, "i64"), -9007199254740993LL);
  EXPECT_EQ(tc::h5::attr_i64(f, "i32"), -123456);
  EXPECT_EQ(tc::h5::attr_f64(f, "f64"), 0.1);
  EXPECT_EQ(tc::h5::attr_f64(f, "i32"), -123456.0);  // integers are numbers too
  EXPECT_TRUE(tc::h5::has_attr(f, "s"));
  EXPECT_FALSE(tc::h5::has_attr(f, "nope"));
  H5::Group g = f.openGroup("g");
  EXPECT_EQ(tc::h5::attr_str(g, "names"), "a\nb\n");
  EXPECT_EQ(tc::h5::attr_i64(g.getId(), "n"), 2);
  // The int64 array, read back with the C API.
  H5::Attribute a = f.openAttribute("ints");
  ASSERT_EQ(a.getSpace().getSimpleExtentNpoints(), 3);
  int64_t v[3];
  a.read(H5::PredType::NATIVE_INT64, v);
  EXPECT_EQ(v[0], 3);
  EXPECT_EQ(v[1], -1);
  EXPECT_EQ(v[2], 1LL << 40);
}

// The types on disk are those the formats always wrote (files stay compatible both ways):
// variable-length UTF-8 strings, little-endian int64/int32, IEEE float64.
TEST(H5Attr, OnDiskTypes) {
  const std::string p = h5t_write_sample("types.h5");
  tc::h5::Id f = tc::h5::open_read(p, "test file", "a test file");
  auto type_of = [&](const char* name) {
    tc::h5::Id a(H5Aopen(f.get(), name, H5P_DEFAULT), H5Aclose);
    return tc::h5::Id(H5Aget_type(a.get()), H5Tclose);
  };
  auto s = type_of("s");
  EXPECT_EQ(H5Tget_class(s.get()), H5T_STRING);
  EXPECT_GT(H5Tis_variable_str(s.get()), 0);
  EXPECT_EQ(H5Tget_cset(s.get()), H5T_CSET_UTF8);
  EXPECT_EQ(H5Tget_strpad(s.get()), H5T_STR_NULLTERM);
  EXPECT_GT(H5Tequal(type_of("i64").get(), H5T_STD_I64LE), 0);
  EXPECT_GT(H5Tequal(type_of("i32").get(), H5T_STD_I32LE), 0);
  EXPECT_GT(H5Tequal(type_of("f64").get(), H5T_IEEE_F64LE), 0);
  EXPECT_GT(H5Tequal(type_of("ints").get(), H5T_STD_I64LE), 0);
  // Before the helpers, weights/checkpoint/encode files stored NATIVE_INT64 and strings as
  // StrType(C_S1, H5T_VARIABLE) + UTF-8: the same types on this machine.
  EXPECT_GT(H5Tequal(type_of("i64").get(), H5T_NATIVE_INT64), 0);
  H5::StrType old_str(H5::PredType::C_S1, H5T_VARIABLE);
  old_str.setCset(H5T_CSET_UTF8);
  EXPECT_GT(H5Tequal(s.get(), old_str.getId()), 0);
  // Scalars are scalar dataspaces (not 1-element arrays).
  tc::h5::Id a(H5Aopen(f.get(), "i64", H5P_DEFAULT), H5Aclose);
  tc::h5::Id sp(H5Aget_space(a.get()), H5Sclose);
  EXPECT_EQ(H5Sget_simple_extent_type(sp.get()), H5S_SCALAR);
}

// Fixed-length strings (h5py writes numpy bytes so) of full length keep their last character.
TEST(H5Attr, FixedLengthStrings) {
  const std::string p = h5t_dir() + "/fixed.h5";
  {
    tc::h5::Id f(H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    tc::h5::Id sp(H5Screate(H5S_SCALAR), H5Sclose);
    for (H5T_str_t pad : {H5T_STR_NULLPAD, H5T_STR_NULLTERM, H5T_STR_SPACEPAD}) {
      tc::h5::Id t(H5Tcopy(H5T_C_S1), H5Tclose);
      const char value[] = "abcd";
      H5Tset_size(t.get(), pad == H5T_STR_NULLTERM ? 5 : 4);
      H5Tset_strpad(t.get(), pad);
      const std::string name = "pad" + std::to_string(static_cast<int>(pad));
      tc::h5::Id a(H5Acreate2(f.get(), name.c_str(), t.get(), sp.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
      ASSERT_GE(H5Awrite(a.get(), t.get(), value), 0);
    }
  }
  H5::H5File f(p, H5F_ACC_RDONLY);
  for (H5T_str_t pad : {H5T_STR_NULLPAD, H5T_STR_NULLTERM, H5T_STR_SPACEPAD})
    EXPECT_EQ(tc::h5::attr_str(f, ("pad" + std::to_string(static_cast<int>(pad))).c_str()), "abcd")
        << "strpad " << pad;
}

TEST(H5Attr, MissingAttributeNamesFileAttributeAndExpectation) {
  const std::string p = h5t_write_sample("missing.h5");
  H5::H5File f(p, H5F_ACC_RDONLY);
  h5t_expect_input_error([&] { tc::h5::attr_str(f, "format"); },
                         {p + ": missing attribute 'format' (expected a string)"});
  h5t_expect_input_error([&] { tc::h5::attr_i64(f, "version"); },
                         {p + ": missing attribute 'version' (expected an integer)"});
  h5t_expect_input_error([&] { tc::h5::attr_f64(f, "sigma"); },
                         {p + ": missing attribute 'sigma' (expected a number)"});
  H5::Group g = f.openGroup("g");
  h5t_expect_input_error([&] { tc::h5::attr_str(g, "other"); },
                         {p + ": missing attribute 'other' of '/g' (expected a string)"});
}

TEST(H5Attr, WrongTypeNamesWhatItIsAndWhatWasExpected) {
  const std::string p = h5t_write_sample("wrong.h5");
  H5::H5File f(p, H5F_ACC_RDONLY);
  h5t_expect_input_error([&] { tc::h5::attr_str(f, "i64"); },
                         {p + ": attribute 'i64' is an integer (expected a string)"});
  h5t_expect_input_error([&] { tc::h5::attr_i64(f, "s"); },
                         {p + ": attribute 's' is a string (expected an integer)"});
  h5t_expect_input_error([&] { tc::h5::attr_i64(f, "f64"); },
                         {p + ": attribute 'f64' is a float (expected an integer)"});
  h5t_expect_input_error([&] { tc::h5::attr_f64(f, "s"); },
                         {p + ": attribute 's' is a string (expected a number)"});
  h5t_expect_input_error([&] { tc::h5::attr_i64(f, "ints"); },
                         {p + ": attribute 'ints' is an array of 3 values (expected an integer)"});
  H5::Group g = f.openGroup("g");
  h5t_expect_input_error([&] { tc::h5::attr_str(g, "n"); },
                         {p + ": attribute 'n' of '/g' is an integer (expected a string)"});
}

TEST(H5File, CheckAndOpenNameThePathAndTheExpectedKind) {
  const std::string none = h5t_dir() + "/none.h5";
  h5t_expect_input_error([&] { tc::h5::check_hdf5_file(none, "feature cache", "a feature cache"); },
                         {"feature cache '" + none + "' does not exist"});
  h5t_expect_input_error([&] { tc::h5::open_read(h5t_dir(), "maps file", "a maps file"); },
                         {"maps file '" + h5t_dir() + "' is not a regular file"});
  const std::string text = h5t_dir() + "/text.h5";
  std::ofstream(text) << "not hdf5\n";
  h5t_expect_input_error(
      [&] { tc::h5::open_read(text, "checkpoint file", "a tokenclip-checkpoint"); },
      {"'" + text + "' is not an HDF5 file (expected a tokenclip-checkpoint)"});
  const std::string p = h5t_write_sample("open.h5");
  tc::h5::check_hdf5_file(p, "test file", "a test file");
  tc::h5::Id f = tc::h5::open_read(p, "test file", "a test file");
  ASSERT_TRUE(f.valid());
  EXPECT_EQ(tc::h5::attr_str(f.get(), "s"), "tokenclip-test");
}

TEST(H5Attr, WritingAnExistingAttributeIsARuntimeErrorNamingIt) {
  const std::string p = h5t_dir() + "/dup.h5";
  H5::H5File f(p, H5F_ACC_TRUNC);
  tc::h5::put_attr_i64(f, "version", 1);
  tc::Error e = h5t_error_of([&] { tc::h5::put_attr_i64(f, "version", 2); });
  EXPECT_EQ(e.kind(), tc::ErrorKind::Runtime);
  EXPECT_THAT(e.message(), HasSubstr(p + ": cannot create attribute 'version'"));
  EXPECT_EQ(tc::h5::attr_i64(f, "version"), 1);
}

TEST(H5Quiet, RestoresTheErrorHandler) {
  H5E_auto2_t before = nullptr, inside = nullptr, after = nullptr;
  void *bd = nullptr, *id = nullptr, *ad = nullptr;
  H5Eget_auto2(H5E_DEFAULT, &before, &bd);
  {
    tc::h5::Quiet q;
    H5Eget_auto2(H5E_DEFAULT, &inside, &id);
  }
  H5Eget_auto2(H5E_DEFAULT, &after, &ad);
  EXPECT_EQ(inside, nullptr);
  EXPECT_EQ(after, before);
  EXPECT_EQ(ad, bd);
}

// An independent reader and writer: h5py reads what the helpers wrote, and the helpers read
// what h5py writes (vlen and fixed strings, small and unsigned integers, float32).
TEST(H5Attr, AgreesWithH5py) {
  if (std::system("/usr/bin/python3 -c 'import h5py, numpy' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 with h5py not available";
  const std::string ours = h5t_write_sample("py_ours.h5");
  const std::string theirs = h5t_dir() + "/py_theirs.h5";
  const std::string script = h5t_dir() + "/check.py";
  std::ofstream(script) << R"(import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    a = f.attrs
    assert a["s"] == "tokenclip-test", a["s"]
    assert a["utf8"] == "gr\u00fc\u00df \u2713", a["utf8"]
    assert a["empty"] == ""
    assert a["i64"] == -9007199254740993 and a["i64"].dtype == np.dtype("<i8")
    assert a["i32"] == -123456 and a["i32"].dtype == np.dtype("<i4")
    assert a["f64"] == 0.1 and a["f64"].dtype == np.dtype("<f8")
    assert list(a["ints"]) == [3, -1, 1 << 40] and a["ints"].dtype == np.dtype("<i8")
    assert f["g"].attrs["names"] == "a\nb\n" and f["g"].attrs["n"] == 2
with h5py.File(sys.argv[2], "w") as f:
    f.attrs["vlen"] = "h5py text"
    f.attrs["fixed"] = np.bytes_("abcd")
    f.attrs["i8"] = np.int8(-3)
    f.attrs["u32"] = np.uint32(4000000000)
    f.attrs["f32"] = np.float32(0.5)
print("ok")
)";
  const std::string cmd = "/usr/bin/python3 " + script + " " + ours + " " + theirs;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  H5::H5File f(theirs, H5F_ACC_RDONLY);
  EXPECT_EQ(tc::h5::attr_str(f, "vlen"), "h5py text");
  EXPECT_EQ(tc::h5::attr_str(f, "fixed"), "abcd");
  EXPECT_EQ(tc::h5::attr_i64(f, "i8"), -3);
  EXPECT_EQ(tc::h5::attr_i64(f, "u32"), 4000000000LL);
  EXPECT_EQ(tc::h5::attr_f64(f, "f32"), 0.5);
  EXPECT_EQ(tc::h5::attr_f64(f, "i8"), -3.0);
}

}  // namespace
