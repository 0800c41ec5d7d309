// util/disk_space.h — the room left on the disk holding the store, and the
// part of it that bulk writes leave to the store's index.
//
// Pack and staging writes stop kIndexReserveBytes short of a full disk, so
// that the index can still record what happened, every command can still
// open the store, and gc can still start freeing space. (Other programs may
// fill the disk anyway; the index survives that too, see cache/index.h.)
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace modelfs {

// RocksDB writes a new log, manifest and options file at each open (tens of
// KiB) and its log and a flush as the index changes: a few MiB is ample.
inline constexpr uint64_t kIndexReserveBytes = 4 << 20;
// What gc's compaction leaves free: it writes a few KiB to the index per
// round, and each round frees more than it takes.
inline constexpr uint64_t kCompactionReserveBytes = 1 << 20;

// Bytes an unprivileged writer may still write to the file system holding
// `path`; UINT64_MAX when it cannot be told.
uint64_t AvailableBytes(const std::filesystem::path& path);

// The bytes bulk data may still take there: AvailableBytes less `reserve`.
uint64_t BulkWritableBytes(const std::filesystem::path& path, uint64_t reserve = kIndexReserveBytes);

// Throws Error(kNoSpace) naming `what` when `n` more bytes of bulk data
// would eat into `reserve` on the disk holding `path`.
void RequireRoomFor(const std::filesystem::path& path, uint64_t n, const std::string& what,
                    uint64_t reserve = kIndexReserveBytes);

}  // namespace modelfs
