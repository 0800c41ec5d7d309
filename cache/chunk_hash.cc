#include "cache/chunk_hash.h"

#include <xxhash.h>

#include "util/hex.h"

namespace modelfs::cache {

ChunkHash ChunkHash::Of(const void* data, size_t n) {
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, XXH3_128bits(data, n));
  ChunkHash h;
  std::memcpy(h.bytes_.data(), canonical.digest, kSize);
  return h;
}

ChunkHash ChunkHash::FromBytes(std::string_view raw) {
  ChunkHash h;
  std::memcpy(h.bytes_.data(), raw.data(), kSize);
  return h;
}

std::string ChunkHash::ToHex() const { return HexEncode(bytes()); }

}  // namespace modelfs::cache
