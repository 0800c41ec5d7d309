// remote/compressibility.cc — see compressibility.h.
#include "remote/compressibility.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace modelfs::remote {
namespace {

constexpr size_t kSampleSlices = 8;
constexpr size_t kSampleSliceSize = 4096;

}  // namespace

double EstimateCompressedRatio(const uint8_t* data, size_t size, std::vector<uint32_t>& table) {
  constexpr size_t kMinRepeat = 8;
  constexpr int kHashBits = 13;
  constexpr double kBitsPerRepeat = 24;
  constexpr uint32_t kNone = UINT32_MAX;
  if (size == 0) return 1.0;
  table.assign(size_t{1} << kHashBits, kNone);
  uint32_t counts[256] = {};
  size_t literals = 0;
  size_t repeats = 0;
  size_t i = 0;
  while (i + kMinRepeat <= size) {
    uint64_t here;
    std::memcpy(&here, data + i, kMinRepeat);
    uint32_t& slot = table[(here * 0x9E3779B97F4A7C15ull) >> (64 - kHashBits)];
    const uint32_t before = slot;
    slot = static_cast<uint32_t>(i);
    uint64_t there;
    if (before != kNone && (std::memcpy(&there, data + before, kMinRepeat), there == here)) {
      size_t length = kMinRepeat;
      while (i + length < size && data[before + length] == data[i + length]) ++length;
      ++repeats;
      i += length;
      continue;
    }
    ++counts[data[i++]];
    ++literals;
  }
  for (; i < size; ++i, ++literals) ++counts[data[i]];

  double bits = static_cast<double>(repeats) * kBitsPerRepeat;
  for (uint32_t count : counts) {
    if (count != 0) bits -= count * std::log2(static_cast<double>(count) / static_cast<double>(literals));
  }
  return bits / 8 / static_cast<double>(size);
}

CompressibilityProbe::CompressibilityProbe(double max_compressed_ratio)
    : max_compressed_ratio_(std::min(max_compressed_ratio, kMaxUsefulCompressedRatio)) {}

double CompressibilityProbe::EstimateRatio(const uint8_t* data, size_t size) {
  if (size <= kSampleSlices * kSampleSliceSize) return EstimateCompressedRatio(data, size, hash_table_);
  sample_.resize(kSampleSlices * kSampleSliceSize);
  for (size_t i = 0; i < kSampleSlices; ++i) {
    const size_t offset = (size - kSampleSliceSize) * i / (kSampleSlices - 1);
    std::memcpy(sample_.data() + i * kSampleSliceSize, data + offset, kSampleSliceSize);
  }
  return EstimateCompressedRatio(sample_.data(), sample_.size(), hash_table_);
}

}  // namespace modelfs::remote
