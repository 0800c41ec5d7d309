// tests/unit/catalog_fixtures.h — made-up catalog contents for catalog tests:
// a 32-byte "sha256" and a blob of distinct chunks, both from a seed string.
#pragma once

#include <cstdint>
#include <string>

#include "cache/chunk_hash.h"
#include "src/catalog_records.h"

namespace modelfs::testing {

inline std::string Sha(const std::string& seed) {
  std::string s = seed;
  s.resize(32, '#');
  return s;
}

inline BlobRecord Blob(const std::string& seed, int chunks, uint32_t chunk_size = 1000) {
  BlobRecord b;
  for (int i = 0; i < chunks; ++i) {
    std::string id = seed + std::to_string(i);
    b.chunks.push_back({cache::ChunkHash::Of(id.data(), id.size()), chunk_size});
    b.size += chunk_size;
  }
  return b;
}

}  // namespace modelfs::testing
