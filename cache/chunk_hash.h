// cache/chunk_hash.h — the 128-bit content key of a chunk (XXH3-128 of its raw bytes).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

namespace modelfs::cache {

class ChunkHash {
 public:
  static constexpr size_t kSize = 16;

  ChunkHash() { bytes_.fill(0); }
  static ChunkHash Of(const void* data, size_t n);
  // `raw` must hold exactly kSize bytes (as produced by bytes()).
  static ChunkHash FromBytes(std::string_view raw);

  std::string_view bytes() const {
    return {reinterpret_cast<const char*>(bytes_.data()), kSize};
  }
  std::string ToHex() const;

  bool operator==(const ChunkHash& o) const { return bytes_ == o.bytes_; }
  bool operator<(const ChunkHash& o) const { return bytes_ < o.bytes_; }

  // The low 64 bits, already uniformly distributed: a good hash-table key.
  uint64_t low64() const {
    uint64_t v;
    std::memcpy(&v, bytes_.data(), 8);
    return v;
  }

 private:
  std::array<uint8_t, kSize> bytes_;
};

struct ChunkHashHasher {
  size_t operator()(const ChunkHash& h) const { return h.low64(); }
};

}  // namespace modelfs::cache
