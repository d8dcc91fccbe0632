// safetensors reader/writer: files assembled byte by byte in the test (independent of the
// writer), hand-known half/bfloat16 values, every refusal with its message, the seed corpus.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "clip/safetensors.h"
#include "util/check.h"

namespace {

using tc::clip::SafetensorsFile;
using tc::clip::StDtype;

// 8-byte little-endian length + header text (unpadded unless the test pads) + buffer.
std::vector<uint8_t> st_image(const std::string& header, const std::string& buffer) {
  std::vector<uint8_t> out(8);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), buffer.begin(), buffer.end());
  return out;
}

std::string le_floats(std::initializer_list<float> v) {
  std::string s;
  for (float f : v) s.append(reinterpret_cast<const char*>(&f), 4);
  return s;
}

std::string error_of(const std::vector<uint8_t>& img) {
  try {
    SafetensorsFile::from_bytes(img, "x.safetensors");
  } catch (const tc::Error& e) {
    EXPECT_EQ(e.kind(), tc::ErrorKind::Input) << e.what();
    return e.message();
  }
  return "(accepted)";
}

TEST(Safetensors, ReadsHandAssembledFile) {
  // Two tensors in reverse name order inside the buffer, metadata, unpadded header.
  std::string buf = le_floats({1.5f, -2.f, 3.25f}) +  // "b" at [0,12)
                    std::string("\x00\x3c\x00\xc0\xff\x7b\x00\x00", 8) +  // "a" F16 at [12,20)
                    std::string("\x80\x3f\x49\x40", 4);  // "c" BF16 at [20,24)
  std::string hdr = R"({"__metadata__":{"format":"pt"},)"
                    R"("b":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
                    R"("a":{"dtype":"F16","shape":[2,2],"data_offsets":[12,20]},)"
                    R"("c":{"shape":[2],"dtype":"BF16","data_offsets":[20,24]}})";
  auto f = SafetensorsFile::from_bytes(st_image(hdr, buf), "mem");
  EXPECT_THAT(f.names(), ::testing::ElementsAre("a", "b", "c"));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.info("a").dtype, StDtype::F16);
  EXPECT_EQ(f.info("a").shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(f.info("a").begin, 12u);
  EXPECT_EQ(f.info("a").nbytes(), 8u);

  at::Tensor b = f.to_tensor("b");
  EXPECT_EQ(b.scalar_type(), at::kFloat);
  EXPECT_EQ(b[0].item<float>(), 1.5f);
  EXPECT_EQ(b[1].item<float>(), -2.f);
  EXPECT_EQ(b[2].item<float>(), 3.25f);
  // F16: 0x3c00 = 1, 0xc000 = -2, 0x7bff = 65504 (largest half), 0 = 0.
  at::Tensor a = f.to_tensor("a");
  EXPECT_EQ(a.scalar_type(), at::kFloat);
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(a[0][0].item<float>(), 1.f);
  EXPECT_EQ(a[0][1].item<float>(), -2.f);
  EXPECT_EQ(a[1][0].item<float>(), 65504.f);
  EXPECT_EQ(a[1][1].item<float>(), 0.f);
  EXPECT_EQ(f.to_tensor_raw("a").scalar_type(), at::kHalf);
  // BF16: 0x3f80 = 1, 0x4049 = 3.140625.
  at::Tensor c = f.to_tensor("c");
  EXPECT_EQ(c[0].item<float>(), 1.f);
  EXPECT_EQ(c[1].item<float>(), 3.140625f);
}

TEST(Safetensors, IntegerBoolScalarAndEmpty) {
  std::string buf;
  int64_t i64 = -7;
  int32_t i32 = 123456;
  int16_t i16 = -300;
  buf.append(reinterpret_cast<const char*>(&i64), 8);
  buf.append(reinterpret_cast<const char*>(&i32), 4);
  buf.append(reinterpret_cast<const char*>(&i16), 2);
  buf += std::string("\xff\x01\x00\x01", 4);  // I8 -1, U8 1, BOOL 0 1
  buf += le_floats({2.5f});                   // scalar
  std::string hdr = R"({"l":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},)"
                    R"("i":{"dtype":"I32","shape":[1],"data_offsets":[8,12]},)"
                    R"("s":{"dtype":"I16","shape":[1],"data_offsets":[12,14]},)"
                    R"("c":{"dtype":"I8","shape":[1],"data_offsets":[14,15]},)"
                    R"("u":{"dtype":"U8","shape":[1],"data_offsets":[15,16]},)"
                    R"("b":{"dtype":"BOOL","shape":[2],"data_offsets":[16,18]},)"
                    R"("e":{"dtype":"F32","shape":[0,5],"data_offsets":[18,18]},)"
                    R"("z":{"dtype":"F32","shape":[],"data_offsets":[18,22]}})";
  auto f = SafetensorsFile::from_bytes(st_image(hdr, buf), "mem");
  EXPECT_EQ(f.to_tensor_raw("l").item<int64_t>(), -7);
  EXPECT_EQ(f.to_tensor("l").item<float>(), -7.f);
  EXPECT_EQ(f.to_tensor("i").item<float>(), 123456.f);
  EXPECT_EQ(f.to_tensor("s").item<float>(), -300.f);
  EXPECT_EQ(f.to_tensor("c").item<float>(), -1.f);
  EXPECT_EQ(f.to_tensor("u").item<float>(), 1.f);
  EXPECT_EQ(f.to_tensor_raw("b").scalar_type(), at::kBool);
  EXPECT_EQ(f.to_tensor("b")[1].item<float>(), 1.f);
  EXPECT_EQ(f.to_tensor("e").numel(), 0);
  EXPECT_EQ(f.to_tensor("e").sizes(), (std::vector<int64_t>{0, 5}));
  EXPECT_EQ(f.to_tensor("z").dim(), 0);
  EXPECT_EQ(f.to_tensor("z").item<float>(), 2.5f);
}

TEST(Safetensors, WriterLayoutMatchesTheFormat) {
  auto dir = std::filesystem::temp_directory_path() / "tc_st_writer";
  std::filesystem::create_directories(dir);
  std::string path = (dir / "w.safetensors").string();
  std::map<std::string, at::Tensor> m;
  m["w"] = torch::arange(6, torch::kFloat).reshape({2, 3});
  m["h"] = torch::tensor({1.0, -0.5}).to(torch::kHalf);
  tc::clip::write_safetensors(path, m, {{"who", "test"}});

  // Decode the file by hand: length, JSON, padding to 8, offsets in name order.
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  auto j = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(j["__metadata__"]["who"], "test");
  EXPECT_EQ(j["h"]["dtype"], "F16");
  EXPECT_EQ(j["h"]["data_offsets"], nlohmann::json({0, 4}));
  EXPECT_EQ(j["w"]["dtype"], "F32");
  EXPECT_EQ(j["w"]["shape"], nlohmann::json({2, 3}));
  EXPECT_EQ(j["w"]["data_offsets"], nlohmann::json({4, 28}));
  EXPECT_EQ(bytes.size(), 8 + n + 28);
  float w5;
  std::memcpy(&w5, bytes.data() + 8 + n + 4 + 20, 4);
  EXPECT_EQ(w5, 5.f);
  EXPECT_EQ(static_cast<uint8_t>(bytes[8 + n + 3]), 0xb8);  // -0.5 in half = 0xb800

  auto f = SafetensorsFile::open(path);
  EXPECT_TRUE(torch::equal(f.to_tensor("w"), m["w"]));
  EXPECT_TRUE(torch::equal(f.to_tensor_raw("h"), m["h"]));
  EXPECT_THROW(f.info("nope"), tc::Error);
  std::filesystem::remove_all(dir);
}

TEST(Safetensors, RefusesMalformedHeaders) {
  auto t = [](const char* dtype, const char* shape, const char* off) {
    return fmt::format(R"({{"t":{{"dtype":"{}","shape":{},"data_offsets":{}}}}})", dtype, shape, off);
  };
  using ::testing::HasSubstr;
  EXPECT_THAT(error_of({1, 0, 0}), HasSubstr("shorter than the 8-byte header length"));
  {
    auto img = st_image("{}", "");
    img[5] = 1;  // N = 2^40
    EXPECT_THAT(error_of(img), HasSubstr("exceeds the limit"));
  }
  {
    auto img = st_image(t("U8", "[4]", "[0,4]"), "abcd");
    img.resize(12);
    EXPECT_THAT(error_of(img), HasSubstr("runs past the end of the file"));
  }
  EXPECT_THAT(error_of(st_image("[1,2]", "")), HasSubstr("JSON object"));
  EXPECT_THAT(error_of(st_image("{\"t\":", "")), HasSubstr("not valid JSON"));
  EXPECT_THAT(error_of(st_image("{\"a\":[[[[[[1]]]]]]}", "")), HasSubstr("nested deeper"));
  EXPECT_THAT(error_of(st_image(t("F8_E4M3", "[1]", "[0,1]"), "a")),
              HasSubstr("field 'dtype': unsupported dtype 'F8_E4M3'"));
  EXPECT_THAT(error_of(st_image(t("U8", "[-1]", "[0,0]"), "")),
              HasSubstr("field 'shape'[0]: expected a non-negative integer, got -1"));
  EXPECT_THAT(error_of(st_image(t("U8", "[1.5]", "[0,0]"), "")),
              HasSubstr("expected a non-negative integer"));
  EXPECT_THAT(error_of(st_image(t("F64", "[4611686018427387904,8]", "[0,0]"), "")),
              HasSubstr("overflows 64 bits"));
  EXPECT_THAT(error_of(st_image(t("F64", "[4611686018427387904]", "[0,0]"), "")),
              HasSubstr("byte size overflows 64 bits"));
  EXPECT_THAT(error_of(st_image(t("F32", "[3]", "[0,8]"), "12345678")),
              HasSubstr("holds 8 bytes but dtype F32 and shape [3] need 12"));
  EXPECT_THAT(error_of(st_image(t("U8", "[2]", "[3,1]"), "123")), HasSubstr("begin 3 > end 1"));
  EXPECT_THAT(error_of(st_image(t("U8", "[4]", "[0,4]"), "ab")),
              HasSubstr("runs past the end of the byte buffer (2 bytes)"));
  EXPECT_THAT(error_of(st_image(t("U8", "[1]", "[0]"), "a")), HasSubstr("expected [begin, end]"));
  EXPECT_THAT(error_of(st_image(t("U8", "[1]", "[0,1]"), "ab")),
              HasSubstr("cover 1 bytes but the byte buffer after the header holds 2"));
  EXPECT_THAT(error_of(st_image(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                                R"("b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})", "abc")),
              HasSubstr("tensor 'b': field 'data_offsets' [1, 3] overlaps the previous tensor"));
  EXPECT_THAT(error_of(st_image(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                                R"("b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}})", "abc")),
              HasSubstr("leaves a gap"));
  EXPECT_THAT(error_of(st_image(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":0}})", "a")),
              HasSubstr("unexpected field 'x'"));
  EXPECT_THAT(error_of(st_image(R"({"a":{"dtype":"U8","shape":[1]}})", "a")),
              HasSubstr("missing field 'data_offsets'"));
  EXPECT_THAT(error_of(st_image(R"({"a":7})", "")), HasSubstr("tensor 'a': expected an object"));
  EXPECT_THAT(error_of(st_image(R"({"__metadata__":{"k":1}})", "")),
              HasSubstr("field '__metadata__.k': expected a string"));
  // Errors name the file.
  EXPECT_THAT(error_of(st_image(R"({"a":7})", "")), HasSubstr("x.safetensors"));
  // A BOOL byte other than 0/1 is refused when converted.
  auto f = SafetensorsFile::from_bytes(st_image(t("BOOL", "[1]", "[0,1]"), "\x02"), "b.st");
  EXPECT_THROW(f.to_tensor("t"), tc::Error);
}

TEST(Safetensors, OpenNamesTheMissingFile) {
  try {
    SafetensorsFile::open("/nonexistent/w.safetensors");
    FAIL();
  } catch (const tc::Error& e) {
    EXPECT_THAT(e.message(), ::testing::HasSubstr("/nonexistent/w.safetensors"));
  }
}

TEST(Safetensors, SeedCorpusValidAcceptedInvalidRefused) {
  const char* src = std::getenv("TOKENCLIP_SOURCE_DIR");
  if (!src) GTEST_SKIP() << "TOKENCLIP_SOURCE_DIR not set";
  auto dir = std::filesystem::path(src) / "fuzz" / "corpus" / "safetensors";
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    bool valid = name.rfind("valid_", 0) == 0;
    if (valid) {
      EXPECT_NO_THROW(SafetensorsFile::open(e.path().string())) << name;
    } else {
      EXPECT_THROW(SafetensorsFile::open(e.path().string()), tc::Error) << name;
    }
    ++n;
  }
  EXPECT_GE(n, 10);
}

}  // namespace
