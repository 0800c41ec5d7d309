// src/segment_map.cc — see segment_map.h.
#include "src/segment_map.h"

#include "util/coding.h"
#include "util/error.h"

namespace modelfs {

SegmentMap::SegmentMap(uint64_t file_size, uint64_t segment_size)
    : file_size_(file_size), segment_size_(segment_size) {
  if (segment_size == 0) throw Error(ErrorCode::kInvalidArgument, "segment size must not be 0");
  // Not (file_size + segment_size - 1) / segment_size: that wraps near 2^64.
  bits_.assign(static_cast<size_t>(file_size / segment_size + (file_size % segment_size != 0 ? 1 : 0)), false);
}

void SegmentMap::Check(size_t i) const {
  if (i >= bits_.size()) {
    throw Error(ErrorCode::kInvalidArgument,
                "segment " + std::to_string(i) + " is out of range (the file has " +
                    std::to_string(bits_.size()) + " segments)");
  }
}

bool SegmentMap::Has(size_t i) const {
  Check(i);
  return bits_[i];
}

void SegmentMap::Set(size_t i) {
  Check(i);
  if (!bits_[i]) {
    bits_[i] = true;
    ++count_;
  }
}

SegmentMap SegmentMap::Regrid(uint64_t segment_size) const {
  SegmentMap out(file_size_, segment_size);
  for (size_t j = 0; j < out.segments(); ++j) {
    const uint64_t begin = out.SegmentBegin(j);
    const uint64_t last = begin + out.SegmentLength(j) - 1;
    bool all = true;
    for (size_t i = SegmentOf(begin); all && i <= SegmentOf(last); ++i) all = bits_[i];
    if (all) out.Set(j);
  }
  return out;
}

uint64_t SegmentMap::SegmentLength(size_t i) const {
  Check(i);
  uint64_t begin = SegmentBegin(i);
  return std::min(segment_size_, file_size_ - begin);
}

std::string SegmentMap::Encode() const {
  std::string out;
  PutFixed64(&out, file_size_);
  PutFixed64(&out, segment_size_);
  std::string bitmap((bits_.size() + 7) / 8, '\0');
  for (size_t i = 0; i < bits_.size(); ++i) {
    if (bits_[i]) bitmap[i / 8] = static_cast<char>(bitmap[i / 8] | (1u << (i % 8)));
  }
  out += bitmap;
  return out;
}

std::optional<SegmentMap> SegmentMap::Decode(std::string_view data) {
  if (data.size() < 16) return std::nullopt;
  uint64_t file_size = DecodeFixed64(data.data());
  uint64_t segment_size = DecodeFixed64(data.data() + 8);
  if (segment_size == 0) return std::nullopt;
  uint64_t segments = file_size / segment_size + (file_size % segment_size != 0 ? 1 : 0);
  std::string_view bitmap = data.substr(16);
  if (bitmap.size() != segments / 8 + (segments % 8 != 0 ? 1 : 0)) return std::nullopt;
  SegmentMap map(file_size, segment_size);
  for (size_t byte = 0; byte < bitmap.size(); ++byte) {
    auto b = static_cast<unsigned char>(bitmap[byte]);
    for (size_t bit = 0; bit < 8; ++bit) {
      if ((b & (1u << bit)) == 0) continue;
      size_t i = byte * 8 + bit;
      if (i >= segments) return std::nullopt;  // stray trailing bit
      map.Set(i);
    }
  }
  return map;
}

}  // namespace modelfs
