// cache/chunk_writer.h — one write transaction of new chunks into packs.
//
// A ChunkWriter appends chunks the store does not have yet to pack files,
// compressing them with zstd only when that saves a real fraction. Nothing
// is visible until Prepare() has made the packs durable and added the chunk
// locations to a batch, and the caller has written that batch and called
// Committed(). A writer destroyed before Committed() rolls its packs back
// (and if the process dies instead, ChunkStore::Recover() does it later).
// Appends throw Error(kNoSpace) rather than take the room the disk keeps
// for the index (util/disk_space.h).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/chunk_hash.h"
#include "cache/index.h"
#include "cache/pack_format.h"
#include "cache/pack_writer.h"

namespace modelfs::cache {

class ChunkStore;

class ChunkWriter {
 public:
  ~ChunkWriter();
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;

  // Starts a new file: its compressibility is probed afresh.
  void BeginFile();
  // Stores the chunk unless the store or this writer already holds `hash`.
  // Returns true when it wrote new bytes.
  bool Put(const ChunkHash& hash, const uint8_t* data, size_t n);
  // Copies an existing, already verified record (GC compaction): the chunk
  // gets a new location even though the index knows it.
  void Relocate(const RecordHeader& header, const char* payload);

  // Syncs every pack written to and adds the new chunk locations and pack
  // lengths to `batch`.
  void Prepare(Index::Batch* batch);
  // Declares that the batch given to Prepare() is written: no rollback.
  void Committed();

  uint64_t new_chunks() const { return new_chunks_; }
  uint64_t stored_bytes() const { return stored_bytes_; }
  std::vector<uint32_t> packs_written() const;

  // Packs are closed for appends beyond this size.
  static constexpr uint64_t kMaxPackSize = 256ull << 20;

 private:
  friend class ChunkStore;
  ChunkWriter(ChunkStore* store, bool append_to_last_pack, uint64_t reserve);

  void Append(const RecordHeader& header, const char* payload);
  void OpenPack();
  bool ShouldTryCompression();
  void Rollback() noexcept;

  struct TouchedPack {
    uint64_t start_length;  // 0 for a pack this writer created
    std::unique_ptr<PackWriter> writer;
  };

  ChunkStore* store_;
  const uint64_t reserve_;  // free bytes appends leave on the disk
  std::map<uint32_t, TouchedPack> packs_;
  uint32_t current_pack_ = 0;
  bool has_current_ = false;
  uint32_t next_pack_id_ = 1;
  std::unordered_map<ChunkHash, ChunkLocation, ChunkHashHasher> pending_;
  bool committed_ = false;
  uint64_t new_chunks_ = 0;
  uint64_t stored_bytes_ = 0;
  // Appends up to here fit in the free space left to bulk data (see util/disk_space.h).
  uint64_t room_checked_until_ = 0;

  // Compression probe: after a few chunks of a file fail to compress, only
  // every kProbeInterval-th chunk is tried (weights rarely compress).
  int failed_in_a_row_ = 0;
  uint64_t chunks_in_file_ = 0;
  std::string compress_buffer_;
  void* zstd_ctx_ = nullptr;
};

}  // namespace modelfs::cache
