// cache/chunk_verifier.h — checks every byte of every pack against the index,
// and rebuilds the chunk index from the packs when it is damaged.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cache/chunk_store.h"
#include "cache/garbage_collector.h"

namespace modelfs::cache {

struct DamageReport {
  std::string pack;    // file name of the pack
  uint64_t offset;
  uint64_t length;
  std::string reason;
};

struct VerifyResult {
  uint64_t packs = 0;
  uint64_t records = 0;
  uint64_t bytes = 0;
  std::vector<DamageReport> damage;  // damaged stretches of pack files
  ChunkSet bad_chunks;               // indexed chunks that cannot be read back intact
};

struct RebuildResult {
  uint64_t packs = 0;
  uint64_t chunks = 0;
  std::vector<DamageReport> damage;
};

class ChunkVerifier {
 public:
  explicit ChunkVerifier(ChunkStore* store) : store_(store) {}

  // Reads every committed pack byte, decodes and hashes every record, and
  // checks that each index entry points at an intact record of its hash.
  VerifyResult VerifyAll() const;

  // Replaces the chunk index and pack table with what the pack files hold
  // (first intact copy of each chunk wins). Writers only.
  RebuildResult RebuildIndex();

 private:
  ChunkStore* store_;
};

}  // namespace modelfs::cache
