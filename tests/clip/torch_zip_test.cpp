// Restricted unpickler: pickles assembled opcode by opcode in the test (protocol 2, as
// torch.save writes them), checked against hand-known values; hostile pickles refused.
// Real torch.save files are covered by tests/python/test_torch_zip.py.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "clip/torch_zip.h"
#include "util/check.h"

namespace {

using tc::clip::unpickle_checkpoint;
using ::testing::HasSubstr;

// A tiny pickle assembler.
struct P {
  std::string b = "\x80\x02";
  P& op(char c) { b += c; return *this; }
  P& str(const std::string& s) {
    b += 'X';
    uint32_t n = static_cast<uint32_t>(s.size());
    b.append(reinterpret_cast<const char*>(&n), 4);
    b += s;
    return *this;
  }
  P& i1(uint8_t v) { b += 'K'; b += static_cast<char>(v); return *this; }
  P& global(const std::string& m, const std::string& n) { b += 'c' + m + "\n" + n + "\n"; return *this; }
  P& put(uint8_t i) { b += 'q'; b += static_cast<char>(i); return *this; }
  P& get(uint8_t i) { b += 'h'; b += static_cast<char>(i); return *this; }
  // _rebuild_tensor_v2(storage(key, numel), offset, (size,), (stride,), False, OrderedDict())
  P& tensor(const std::string& type, const std::string& key, int numel, int offset,
            std::vector<int> size, std::vector<int> stride) {
    global("torch._utils", "_rebuild_tensor_v2").op('(');
    op('(').str("storage").global("torch", type).str(key).str("cpu").i1(numel).op('t').op('Q');
    i1(offset);
    op('(');
    for (int s : size) i1(s);
    op('t').op('(');
    for (int s : stride) i1(s);
    op('t').op('\x89');
    global("collections", "OrderedDict").op(')').op('R');
    return op('t').op('R');
  }
  std::string done() { return b + "."; }
};

std::string floats(std::initializer_list<float> v) {
  return std::string(reinterpret_cast<const char*>(std::data(v)), v.size() * 4);
}

std::map<std::string, std::string> g_storages;
std::string storage_of(const std::string& key) { return g_storages.at(key); }

std::string error_of(const std::string& pkl) {
  try {
    unpickle_checkpoint(pkl, storage_of, "ck.pth");
  } catch (const tc::Error& e) {
    EXPECT_EQ(e.kind(), tc::ErrorKind::Input);
    EXPECT_THAT(e.message(), HasSubstr("ck.pth"));
    return e.message();
  }
  return "(accepted)";
}

TEST(TorchZip, OneKeyDictWithSetitemAndStridedView) {
  g_storages = {{"0", floats({1, 2, 3, 4, 5, 6, 7})}};
  // {"prompt_learner": OrderedDict(ctx=<view>)} with a single SETITEM per dict (what makes
  // libtorch's pickle_load fail), and the state_dict's _metadata through BUILD.
  P p;
  p.op('}').put(0).str("prompt_learner");
  p.global("collections", "OrderedDict").op(')').op('R').put(1);
  // a 2x2 view at offset 1 with strides (3, 2): elements 1+{0,2,3,5} -> 2,4,5,7
  p.str("ctx").tensor("FloatStorage", "0", 7, 1, {2, 2}, {3, 2}).op('s');
  p.op('}').str("_metadata").global("collections", "OrderedDict").op(')').op('R')
      .str("").op('}').str("version").i1(1).op('s').op('s').op('s').op('b');
  p.op('s');
  auto ck = unpickle_checkpoint(p.done(), storage_of, "mem");
  ASSERT_EQ(ck.tensors.size(), 1u);
  const at::Tensor& t = ck.tensors.at("prompt_learner.ctx");
  EXPECT_EQ(t.scalar_type(), at::kFloat);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{2, 2}));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_TRUE(torch::equal(t, torch::tensor({{2.f, 4.f}, {5.f, 7.f}})));
  EXPECT_TRUE(ck.other.empty());
}

TEST(TorchZip, SetitemsHalfSharedStorageListsAndOtherLeaves) {
  // Half storage: 0x3c00 = 1, 0xc000 = -2, 0x3800 = 0.5.
  g_storages = {{"h", std::string("\x00\x3c\x00\xc0\x00\x38", 6)}};
  P p;
  p.op('}').put(0).op('(');
  p.str("a").tensor("HalfStorage", "h", 3, 0, {3}, {1});
  p.str("b").tensor("HalfStorage", "h", 3, 2, {1}, {1});     // shares the storage
  p.str("epoch").i1(5);
  p.str("lr").b += std::string("G\x3f\xb9\x99\x99\x99\x99\x99\x9a", 9);  // 0.1
  p.str("flag").op('\x88');
  p.str("none").op('N');
  p.str("lst").op(']').op('(').tensor("HalfStorage", "h", 3, 1, {1}, {1}).i1(7).op('e');
  p.op('u');
  auto ck = unpickle_checkpoint(p.done(), storage_of, "mem");
  EXPECT_THAT(ck.tensors, ::testing::SizeIs(3));
  EXPECT_EQ(ck.tensors.at("a").scalar_type(), at::kHalf);
  EXPECT_TRUE(torch::equal(ck.tensors.at("a").to(at::kFloat), torch::tensor({1.f, -2.f, 0.5f})));
  EXPECT_EQ(ck.tensors.at("b").item<float>(), 0.5f);
  EXPECT_EQ(ck.tensors.at("lst.0").item<float>(), -2.f);
  EXPECT_EQ(ck.other.at("epoch"), "5");
  EXPECT_EQ(ck.other.at("lr"), "0.1");
  EXPECT_EQ(ck.other.at("flag"), "True");
  EXPECT_EQ(ck.other.at("none"), "None");
  EXPECT_EQ(ck.other.at("lst.1"), "7");
}

TEST(TorchZip, MemoLongIntsAndEmptyTensor) {
  g_storages = {{"s", floats({1})}};
  P p;
  p.op('}').put(0).op('(');
  // LONG1 with 2 bytes 0x00 0x80 = 32768 ; 0xff = -1 (one byte, sign-extended)
  p.str("big").b += std::string("\x8a\x03\x00\x80\x00", 5);
  p.str("neg").b += std::string("\x8a\x01\xff", 3);
  p.str("e").tensor("FloatStorage", "s", 1, 0, {0, 3}, {3, 1});
  p.str("again").get(0);  // the dict itself through the memo: a cycle, refused by depth
  p.op('u');
  EXPECT_THAT(error_of(p.done()), HasSubstr("nested deeper than 32"));
  P q;
  q.op('}').put(0).op('(');
  q.str("big").b += std::string("\x8a\x03\x00\x80\x00", 5);
  q.str("neg").b += std::string("\x8a\x01\xff", 3);
  q.str("e").tensor("FloatStorage", "s", 1, 0, {0, 3}, {3, 1});
  q.op('u');
  auto ck = unpickle_checkpoint(q.done(), storage_of, "mem");
  EXPECT_EQ(ck.other.at("big"), "32768");
  EXPECT_EQ(ck.other.at("neg"), "-1");
  EXPECT_EQ(ck.tensors.at("e").sizes(), (std::vector<int64_t>{0, 3}));
}

TEST(TorchZip, RefusesHostilePickles) {
  g_storages = {{"0", floats({1, 2, 3, 4})}};
  // The classic: os.system("...")
  EXPECT_THAT(error_of(P().global("os", "system").str("echo pwned").op('\x85').op('R').done()),
              HasSubstr("refusing global 'os.system'"));
  EXPECT_THAT(error_of(P().global("torch.storage", "_load_from_bytes").done()),
              HasSubstr("refusing global 'torch.storage._load_from_bytes'"));
  EXPECT_THAT(error_of(P().global("builtins", "eval").done()), HasSubstr("builtins.eval"));
  // STACK_GLOBAL is checked the same way.
  EXPECT_THAT(error_of(P().str("posix").str("system").op('\x93').done()),
              HasSubstr("refusing global 'posix.system'"));
  // Opcodes outside the accepted set: STRING, INST, NEWOBJ, EXT1.
  EXPECT_THAT(error_of(P().op('S').done()), HasSubstr("unsupported pickle opcode 0x53"));
  EXPECT_THAT(error_of(P().op('i').done()), HasSubstr("unsupported pickle opcode 0x69"));
  EXPECT_THAT(error_of(P().op('\x81').done()), HasSubstr("unsupported pickle opcode 0x81"));
  EXPECT_THAT(error_of(P().op('\x82').done()), HasSubstr("unsupported pickle opcode 0x82"));
  // An allowed global called with the wrong things.
  EXPECT_THAT(error_of(P().global("torch", "FloatStorage").op(')').op('R').done()),
              HasSubstr("'torch.FloatStorage' cannot be called"));
  // A view reaching past its storage (4 elements; offset 3, 2 elements).
  P oob;
  oob.op('}').str("t").tensor("FloatStorage", "0", 4, 3, {2}, {1}).op('s');
  EXPECT_THAT(error_of(oob.done()), HasSubstr("reaches element 4 of a 4-element storage"));
  // A storage shorter than its declared numel.
  P shortst;
  shortst.op('}').str("t").tensor("FloatStorage", "0", 9, 0, {1}, {1}).op('s');
  EXPECT_THAT(error_of(shortst.done()), HasSubstr("cannot hold 9 elements"));
  // Truncation, memo misuse, stack underflow, bad persistent id.
  EXPECT_THAT(error_of(P().str("abc").b.substr(0, 6)), HasSubstr("truncated"));
  EXPECT_THAT(error_of(P().get(3).done()), HasSubstr("memo index 3 was never stored"));
  EXPECT_THAT(error_of(P().op('s').done()), HasSubstr("stack underflow"));
  EXPECT_THAT(error_of(P().str("x").op('Q').done()), HasSubstr("persistent id"));
  EXPECT_THAT(error_of(P().op(']').str("k").i1(1).op('s').done()), HasSubstr("SETITEM on a list"));
}

TEST(TorchZip, MissingFileAndNotAZip) {
  EXPECT_THROW(tc::clip::load_torch_checkpoint("/nonexistent/x.pth"), tc::Error);
  auto p = std::filesystem::temp_directory_path() / "tc_legacy.pth";
  { std::ofstream(p) << "\x80\x02}q\x00."; }
  try {
    tc::clip::load_torch_checkpoint(p.string());
    FAIL();
  } catch (const tc::Error& e) {
    EXPECT_THAT(e.message(), HasSubstr("legacy pre-1.6"));
  }
  std::filesystem::remove(p);
}

}  // namespace
