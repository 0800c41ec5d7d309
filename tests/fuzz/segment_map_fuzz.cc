// Fuzzes SegmentMap::Decode (src/segment_map.h), the encoding kept in
// RocksDB: anything is a map or nullopt, a decoded map encodes back to the
// same bytes, and regridding it keeps every byte's presence.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/segment_map.h"
#include "tests/fuzz/fuzz_check.h"

using modelfs::SegmentMap;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::optional<SegmentMap> map = SegmentMap::Decode(in);
  if (!map) return 0;
  FUZZ_CHECK(map->Encode() == in);
  FUZZ_CHECK(map->count() <= map->segments());
  FUZZ_CHECK(map->segments() <= size * 8);
  // A coarser grid (bounded, so the new map is no larger): a new segment is
  // present exactly when every old segment under it is.
  const uint64_t factor = 1 + size % 5;
  if (map->segment_size() > UINT64_MAX / factor) return 0;
  const SegmentMap coarse = map->Regrid(map->segment_size() * factor);
  for (size_t j = 0; j < coarse.segments(); ++j) {
    bool all = true;
    for (size_t i = j * factor; i < std::min<size_t>((j + 1) * factor, map->segments()); ++i) {
      all = all && map->Has(i);
    }
    FUZZ_CHECK(coarse.Has(j) == all);
  }
  return 0;
}
