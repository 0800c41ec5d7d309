// cache/pack_scanner.h — walks every record of a pack file in order.
//
// Used by verify (check every byte) and by repair (rebuild the chunk index).
// A record whose header is damaged cannot be skipped by its length, so the
// scanner reports the damage and resynchronises on the next valid header.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "cache/pack_format.h"

namespace modelfs::cache {

struct ScannedRecord {
  uint64_t offset;      // of the record header
  RecordHeader header;
  bool payload_ok;      // decoded and its hash matches header.hash
};

struct PackDamage {
  uint64_t offset;      // where the damage starts
  uint64_t length;      // bytes skipped or affected
  std::string reason;
};

class PackScanner {
 public:
  using RecordFn = std::function<void(const ScannedRecord&)>;
  using DamageFn = std::function<void(const PackDamage&)>;

  // Scans the first `length` bytes of the pack at `path` (the file's size if
  // larger than its real size, which is then reported as damage).
  static void Scan(const std::filesystem::path& path, uint64_t length, const RecordFn& on_record,
                   const DamageFn& on_damage);
};

}  // namespace modelfs::cache
