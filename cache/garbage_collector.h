// cache/garbage_collector.h — reclaims the space of chunks nothing references.
//
// The caller (the store core, which knows the catalog) names the live chunks.
// Every other chunk is dropped from the index and packs left without live
// data are deleted first, which frees space without writing any. Then packs
// with enough dead data are compacted by copying their live records into
// fresh packs, those with the least live data first, in rounds that fit the
// free space (less kCompactionReserveBytes, util/disk_space.h): each round
// frees room for the next. A pack that does not fit is left as it is and counted.
// Each step is one index batch: a crash at any point leaves a consistent
// store whose leftovers ChunkStore::Recover() removes.
#pragma once

#include <cstdint>
#include <unordered_set>
#include <utility>
#include <vector>

#include "cache/chunk_hash.h"
#include "cache/chunk_store.h"

namespace modelfs::cache {

using ChunkSet = std::unordered_set<ChunkHash, ChunkHashHasher>;

struct GcResult {
  uint64_t chunks_dropped = 0;
  uint64_t packs_deleted = 0;
  uint64_t packs_compacted = 0;
  uint64_t bytes_before = 0;  // committed pack bytes before
  uint64_t bytes_after = 0;
  // Packs worth compacting that the free space could not hold a copy of.
  uint64_t packs_too_big = 0;
  uint64_t garbage_left = 0;   // their dead bytes
  uint64_t space_needed = 0;   // free space the smallest of them needed
};

struct GcEstimate {
  uint64_t pack_bytes = 0;
  uint64_t garbage_bytes = 0;  // pack bytes not holding a live chunk
};

class GarbageCollector {
 public:
  // *store must outlive the collector. A pack is compacted when at least
  // `compact_fraction` of it is garbage.
  explicit GarbageCollector(ChunkStore* store, double compact_fraction = 0.2)
      : store_(store), compact_fraction_(compact_fraction) {}

  GcResult Collect(const ChunkSet& live);
  // How much a Collect() with this live set could reclaim, without writing.
  GcEstimate Estimate(const ChunkSet& live) const;

  struct LiveChunk;
  struct PackUsage;

 private:
  // Copies the live chunks of `round` to fresh packs, commits, deletes the
  // packs copied whole; returns how many.
  uint64_t CompactRound(std::vector<std::pair<uint32_t, PackUsage*>>& round);
  void RemovePacks(const std::vector<uint32_t>& ids);

  ChunkStore* store_;
  double compact_fraction_;
};

}  // namespace modelfs::cache
