// cache/chunk_store.h — content-addressed chunks in pack files, found through
// the chunks column of the Index.
//
// ChunkStore owns the packs directory. Reads are thread-safe and verified:
// Read() returns the chunk's exact bytes or throws Error(kCorruption). Writes
// go through a ChunkWriter (cache/chunk_writer.h) and become visible only when
// the caller writes the batch the writer filled. Only one process may write
// (the store lock in src/ guarantees it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cache/chunk_hash.h"
#include "cache/index.h"
#include "cache/pack_format.h"
#include "cache/pack_reader.h"
#include "util/disk_space.h"

namespace modelfs::cache {

class ChunkWriter;

struct PackInfo {
  uint32_t id;
  uint64_t committed_length;  // bytes the index vouches for
};

class ChunkStore {
 public:
  // *index must outlive the ChunkStore.
  ChunkStore(std::filesystem::path packs_dir, Index* index);
  ~ChunkStore();
  ChunkStore(const ChunkStore&) = delete;
  ChunkStore& operator=(const ChunkStore&) = delete;

  // Brings the packs directory back in line with the index after a crash:
  // pack files the index does not know are deleted, bytes past a pack's
  // committed length are cut off. Returns the bytes reclaimed. Writers only.
  uint64_t Recover();

  std::optional<ChunkLocation> Locate(const ChunkHash& hash) const;
  // Reads `hash` into `out`; throws kCorruption when it is missing or
  // damaged. `cached`, when given, remembers the chunk's location between
  // calls so repeated reads skip the index; a stale one (the chunk moved in a
  // GC) is looked up again.
  void Read(const ChunkHash& hash, std::string* out,
            std::optional<ChunkLocation>* cached = nullptr) const;
  void ReadAt(const ChunkLocation& loc, const ChunkHash& hash, std::string* out) const;

  // A writer appends to the newest pack when it has room, unless
  // `fresh_packs` (GC compaction must not append to a pack it may delete).
  // Its appends leave `reserve` bytes free on the disk (util/disk_space.h).
  std::unique_ptr<ChunkWriter> NewWriter(bool fresh_packs = false,
                                         uint64_t reserve = kIndexReserveBytes);

  std::vector<PackInfo> ListPacks() const;
  std::filesystem::path PackPath(uint32_t id) const;
  const std::filesystem::path& dir() const { return dir_; }
  Index* index() const { return index_; }

  // Index keys of the pack table, shared with ChunkWriter and the GC.
  static std::string PackKey(uint32_t id);
  static std::string EncodeLength(uint64_t length);

  // Forgets cached descriptors of packs that were removed or rewritten.
  void DropReaders();

 private:
  std::shared_ptr<const PackReader> Reader(uint32_t pack_id) const;

  std::filesystem::path dir_;
  Index* index_;
  mutable std::mutex readers_mu_;
  mutable std::map<uint32_t, std::shared_ptr<const PackReader>> readers_;
};

}  // namespace modelfs::cache
