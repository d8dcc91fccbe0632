#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "util/check.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/progress.h"
#include "util/text.h"

TEST(Sha256, KnownVectors) {
  // FIPS 180-4 examples.
  EXPECT_EQ(tc::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(tc::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(tc::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  std::string million(1000000, 'a');
  EXPECT_EQ(tc::sha256_hex(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Streaming in odd pieces gives the same digest.
  tc::Sha256 h;
  for (size_t i = 0; i < million.size(); i += 997) h.update(million.data() + i, std::min<size_t>(997, million.size() - i));
  EXPECT_EQ(h.hex(), tc::sha256_hex(million));
}

TEST(Check, MessagesCarryLocationValuesAndKind) {
  try {
    int a = 3, b = 4;
    TC_CHECK_EQ(a, b, "tokens per image for {}", "x.png");
    FAIL();
  } catch (const tc::Error& e) {
    EXPECT_EQ(e.kind(), tc::ErrorKind::Runtime);
    EXPECT_EQ(e.exit_code(), 4);
    EXPECT_NE(e.message().find("(3 vs 4)"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("x.png"), std::string::npos);
    EXPECT_NE(e.where().find("tests/util/util_test.cpp:"), std::string::npos) << e.where();
  }
  try {
    TC_CHECK_INPUT(false, "file {}: field {}: expected {}", "d.h5", "images", "uint8");
    FAIL();
  } catch (const tc::Error& e) {
    EXPECT_EQ(e.exit_code(), 3);
    EXPECT_EQ(e.message(), "file d.h5: field images: expected uint8");
  }
}

TEST(AtomicPath, UncommittedWriteLeavesTheOldFile) {
  std::string p = ::testing::TempDir() + "atomic.txt";
  tc::write_file_atomic(p, "first");
  EXPECT_EQ(tc::read_file(p), "first");
  {
    tc::AtomicPath ap(p);
    std::ofstream(ap.tmp()) << "half-writ";
    // destroyed without commit: simulates a failure during the save
  }
  EXPECT_EQ(tc::read_file(p), "first");
  for (auto& e : std::filesystem::directory_iterator(::testing::TempDir()))
    EXPECT_EQ(e.path().string().find("atomic.txt.tmp"), std::string::npos) << e.path();
  tc::write_file_atomic(p, "second");
  EXPECT_EQ(tc::read_file(p), "second");
}

TEST(Text, ClosestIsReasonable) {
  std::vector<std::string> keys = {"method.subspaces", "method.topk", "train.lr"};
  EXPECT_EQ(tc::closest("method.subspace", keys), "method.subspaces");
  EXPECT_EQ(tc::closest("method.topK", keys), "method.topk");
  EXPECT_EQ(tc::closest("subspace", keys), "method.subspaces");  // the name alone, one edit more
  EXPECT_EQ(tc::closest("completely.different", keys), "");
  EXPECT_EQ(tc::closest("mvtex", {"mvtec", "visa"}), "mvtec");  // dataset layouts use it too
}

// A run resumed at step 3000 of 4500 has done nothing yet in this process: no rate, no time
// left (counting the 3000 earlier steps gave thousands of steps per second and "left 0.2s").
TEST(Progress, ResumedRateCountsOnlyThisProcess) {
  tc::Progress resumed("t", 4500, "step", false);
  resumed.resume_at(3000);
  EXPECT_EQ(resumed.rate(), 0.0);
  EXPECT_LT(resumed.seconds_left(), 0.0);  // unknown until a step is done
  resumed.update(1);
  EXPECT_GT(resumed.rate(), 0.0);
  EXPECT_GT(resumed.seconds_left(), 0.0);
}

TEST(Progress, DurationFormat) {
  EXPECT_EQ(tc::Progress::format_duration(12.34), "12.3s");
  EXPECT_EQ(tc::Progress::format_duration(187), "3m07s");
  EXPECT_EQ(tc::Progress::format_duration(3720), "1h02m");
  EXPECT_EQ(tc::Progress::format_duration(-1), "?");
}

#include "util/rng.h"

TEST(Philox, MatchesTheReferenceKnownAnswer) {
  // Known-answer vector of Philox4x32-10 from the Random123 distribution (kat_vectors):
  // counter = key = all ones.
  uint32_t ctr[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
  uint32_t key[2] = {0xffffffffu, 0xffffffffu};
  tc::philox4x32(ctr, key);
  EXPECT_EQ(ctr[0], 0x408f276du);
  EXPECT_EQ(ctr[1], 0x41c83b0eu);
  EXPECT_EQ(ctr[2], 0xa20bc7c6u);
  EXPECT_EQ(ctr[3], 0x6d5451fdu);
  uint32_t z[4] = {0, 0, 0, 0};
  uint32_t zk[2] = {0, 0};
  tc::philox4x32(z, zk);
  EXPECT_EQ(z[0], 0x6627e8d5u);
  EXPECT_EQ(z[1], 0xe169c58du);
  EXPECT_EQ(z[2], 0xbc57ac4cu);
  EXPECT_EQ(z[3], 0x9b00dbd8u);
}

TEST(Rng, DistributionsHaveTheRightMoments) {
  tc::Rng r(42, 7);
  const int n = 200000;
  double s = 0, s2 = 0, u = 0;
  for (int i = 0; i < n; ++i) {
    double x = r.normal();
    s += x; s2 += x * x;
    u += r.uniform();
  }
  EXPECT_NEAR(s / n, 0.0, 0.01);
  EXPECT_NEAR(s2 / n, 1.0, 0.02);
  EXPECT_NEAR(u / n, 0.5, 0.005);
  std::vector<int> counts(5, 0);
  for (int i = 0; i < 50000; ++i) counts[r.below(5)]++;
  for (int c : counts) EXPECT_NEAR(c, 10000, 400);
}

TEST(Rng, PermutationDependsOnlyOnSeedAndStream) {
  auto a = tc::permutation(100, 111, 3), b = tc::permutation(100, 111, 3), c = tc::permutation(100, 111, 4);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(sorted[i], i);
}
