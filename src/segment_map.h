// src/segment_map.h — which fixed-size segments of one file are present.
//
// A file of `file_size` bytes is cut into segments of `segment_size` bytes
// (the last one may be shorter; a 0-byte file has no segments and is
// complete). A SegmentMap is a plain value: not thread-safe, cheap to copy,
// and serialisable with Encode()/Decode() so that lazy fetches survive a
// restart (the encoding is stored in RocksDB).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modelfs {

class SegmentMap {
 public:
  // Throws Error(kInvalidArgument) when segment_size is 0.
  SegmentMap(uint64_t file_size, uint64_t segment_size);

  // Index checks: Has/Set throw Error(kInvalidArgument) for i >= segments().
  bool Has(size_t i) const;
  void Set(size_t i);

  size_t count() const { return count_; }          // segments present
  size_t segments() const { return bits_.size(); }  // segments in all
  bool complete() const { return count_ == bits_.size(); }
  uint64_t file_size() const { return file_size_; }
  uint64_t segment_size() const { return segment_size_; }

  // The segment holding byte `offset` (offset < file_size for a real byte).
  size_t SegmentOf(uint64_t offset) const { return static_cast<size_t>(offset / segment_size_); }
  // First byte and length of segment i.
  uint64_t SegmentBegin(size_t i) const { return static_cast<uint64_t>(i) * segment_size_; }
  uint64_t SegmentLength(size_t i) const;

  // The same bytes in segments of `segment_size`: a new segment is present
  // when every byte of it was. Throws Error(kInvalidArgument) for 0.
  SegmentMap Regrid(uint64_t segment_size) const;

  // Fixed64 file_size, fixed64 segment_size, then one bit per segment
  // (little-endian bit order), unused trailing bits zero.
  std::string Encode() const;
  // nullopt for anything Encode() cannot have produced.
  static std::optional<SegmentMap> Decode(std::string_view data);

  bool operator==(const SegmentMap& other) const = default;

 private:
  void Check(size_t i) const;

  uint64_t file_size_;
  uint64_t segment_size_;
  std::vector<bool> bits_;
  size_t count_ = 0;
};

}  // namespace modelfs
