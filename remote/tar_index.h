// remote/tar_index.h — the members of an uncompressed tar held remotely,
// found by reading only its headers.
//
// BentoCloud stores a model as an uncompressed tar. To register it without
// downloading it, IndexTar walks the archive with libarchive over a
// RangeFetcher: headers are read with small range requests, and member data
// is skipped, never fetched. Each member comes back with the offset of its
// bytes in the archive, so a file can later be read straight from there.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "remote/archive_reader.h"
#include "remote/range_fetcher.h"

namespace modelfs::remote {

// The pax extended attribute holding a file's sha256 (hex), which modelfs
// writes into the tars it pushes so a lazy pull can verify every file.
inline constexpr char kSha256Xattr[] = "user.modelfs.sha256";

struct TarMember {
  ArchiveEntry entry;            // path as stored, type, size, link target
  uint64_t data_offset = 0;      // where its bytes start in the archive
  std::string sha256;            // 32 raw bytes from kSha256Xattr, else empty
};

// Reads the headers of the `size`-byte tar behind `fetcher`. Throws
// Error(kCorruption) when it is not an uncompressed tar or is cut short.
std::vector<TarMember> IndexTar(RangeFetcher* fetcher, uint64_t size, const std::string& name);

}  // namespace modelfs::remote
