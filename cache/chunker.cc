#include "cache/chunker.h"

#include <algorithm>
#include <array>
#include <bit>

#include "util/error.h"

namespace modelfs::cache {
namespace {

// The gear table: 256 pseudo-random 64-bit values, fixed forever (changing it
// changes every cut point and so defeats dedup against existing stores).
constexpr std::array<uint64_t, 256> MakeGearTable() {
  std::array<uint64_t, 256> table{};
  uint64_t state = 0x6d6f64656c66732dULL;  // "modelfs-"
  for (auto& entry : table) {
    // splitmix64
    state += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    entry = z ^ (z >> 31);
  }
  return table;
}

constexpr std::array<uint64_t, 256> kGear = MakeGearTable();

// A mask of `bits` ones in the top bits of the word: with the gear hash
// (h << 1) + g, the top bits mix the most bytes of the 64-byte window.
constexpr uint64_t TopBits(int bits) { return bits <= 0 ? 0 : ~0ULL << (64 - bits); }

}  // namespace

Chunker::Chunker(ChunkerParams params) : params_(params) {
  if (!(params.min_size < params.avg_size && params.avg_size < params.max_size) ||
      !std::has_single_bit(params.avg_size) || params.min_size == 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "chunk sizes must satisfy 0 < min < avg < max with avg a power of two");
  }
  const int bits = std::countr_zero(params.avg_size);
  // Normalization level 2 (FastCDC paper): two bits harder before the average
  // size, two bits easier after it, which narrows the size distribution.
  mask_small_ = TopBits(bits + 2);
  mask_large_ = TopBits(bits - 2);
}

size_t Chunker::NextChunkLength(const uint8_t* data, size_t n, bool at_eof) const {
  if (n <= params_.min_size) return at_eof ? n : std::min(n, params_.max_size);
  const size_t limit = std::min(n, params_.max_size);
  const size_t normal = std::min(limit, params_.avg_size);
  uint64_t h = 0;
  size_t i = params_.min_size;
  for (; i < normal; ++i) {
    h = (h << 1) + kGear[data[i]];
    if ((h & mask_small_) == 0) return i + 1;
  }
  for (; i < limit; ++i) {
    h = (h << 1) + kGear[data[i]];
    if ((h & mask_large_) == 0) return i + 1;
  }
  return limit;
}

}  // namespace modelfs::cache
