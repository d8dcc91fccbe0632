// Counter-based random numbers (Philox-4x32-10), identical on every machine and compiler.
//
// Determinism is part of the product: the synthetic benchmark must give byte-identical files
// from the same seed, and every rank must derive the same data permutation from (seed, epoch)
// without communicating. The standard library's engines are portable but its distributions are
// not, so the distributions here are our own. A stream is (key = seed, counter = (stream id,
// position)): independent streams need no shared state.
#pragma once

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace tc {

// Philox-4x32 with 10 rounds (Salmon et al., SC'11): a bijection of a 128-bit counter under a
// 64-bit key.
inline void philox4x32(uint32_t ctr[4], const uint32_t key_in[2]) {
  uint32_t k0 = key_in[0], k1 = key_in[1];
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = uint64_t{0xD2511F53u} * ctr[0];
    uint64_t p1 = uint64_t{0xCD9E8D57u} * ctr[2];
    uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    uint32_t n0 = hi1 ^ ctr[1] ^ k0, n2 = hi0 ^ ctr[3] ^ k1;
    ctr[0] = n0; ctr[1] = lo1; ctr[2] = n2; ctr[3] = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
}

class Rng {
 public:
  // `seed` selects the key, `stream` an independent sequence under that key (e.g. image index,
  // or epoch).
  explicit Rng(uint64_t seed, uint64_t stream = 0)
      : key_{uint32_t(seed), uint32_t(seed >> 32)}, stream_(stream) {}

  uint32_t next_u32() {
    if (buf_pos_ == 4) refill();
    return buf_[buf_pos_++];
  }
  uint64_t next_u64() {
    uint64_t hi = next_u32();
    return (hi << 32) | next_u32();
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n) without modulo bias (rejection).
  uint64_t below(uint64_t n) {
    if (n <= 1) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = next_u64(); while (x >= limit);
    return x % n;
  }
  int64_t int_in(int64_t lo, int64_t hi) {  // inclusive bounds
    return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo + 1)));
  }
  bool bernoulli(double p) { return uniform() < p; }
  // Standard normal by Box-Muller (both values used).
  double normal() {
    if (has_spare_) { has_spare_ = false; return spare_; }
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    double r = std::sqrt(-2.0 * std::log(u1)), t = 6.283185307179586 * u2;
    spare_ = r * std::sin(t);
    has_spare_ = true;
    return r * std::cos(t);
  }
  double normal(double mean, double std) { return mean + std * normal(); }
  // Fisher-Yates shuffle.
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

 private:
  void refill() {
    uint32_t ctr[4] = {uint32_t(counter_), uint32_t(counter_ >> 32), uint32_t(stream_),
                       uint32_t(stream_ >> 32)};
    philox4x32(ctr, key_);
    for (int i = 0; i < 4; ++i) buf_[i] = ctr[i];
    buf_pos_ = 0;
    ++counter_;
  }
  uint32_t key_[2];
  uint64_t stream_;
  uint64_t counter_ = 0;
  uint32_t buf_[4] = {0, 0, 0, 0};
  int buf_pos_ = 4;
  double spare_ = 0;
  bool has_spare_ = false;
};

// A permutation of [0, n) determined by (seed, stream) alone.
inline std::vector<int64_t> permutation(int64_t n, uint64_t seed, uint64_t stream) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = i;
  Rng r(seed, stream);
  r.shuffle(p);
  return p;
}

}  // namespace tc
