// SHA-256 (FIPS 180-4) for content hashes and fingerprints: dataset content, backbone
// weights, effective configs. Streaming, so large files hash without loading them whole.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace tc {

class Sha256 {
 public:
  Sha256();
  Sha256& update(const void* data, size_t n);
  Sha256& update(const std::string& s) { return update(s.data(), s.size()); }
  template <typename T>
  Sha256& update_pod(const T& v) { return update(&v, sizeof(T)); }
  std::array<uint8_t, 32> digest();  // finalises; the object must not be updated again
  std::string hex();                 // digest as 64 lowercase hex characters

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
  bool done_ = false;
};

std::string sha256_hex(const std::string& data);
std::string sha256_file_hex(const std::string& path);  // Input error naming the file

}  // namespace tc
