// src/blob_reader.h — random-access reads of one stored file content.
//
// A BlobReader maps byte ranges of a file onto its chunks and reads them
// through the ChunkStore, so every byte it returns was hash-verified. It keeps
// the last chunk it decoded, which serves the many small sequential reads a
// kernel issues per chunk. Safe to share between threads. While it lives, the
// blob's chunks are pinned: garbage collection keeps them even if the model
// is deleted, so an open file can always be read to the end.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cache/chunk_store.h"
#include "src/catalog_records.h"
#include "src/chunk_pins.h"
#include "src/file_reader.h"

namespace modelfs {

class BlobReader : public FileReader {
 public:
  // *chunks must outlive the reader.
  BlobReader(const cache::ChunkStore* chunks, const BlobRecord& blob, ChunkPins::Pin pin);
  BlobReader(const BlobReader&) = delete;
  BlobReader& operator=(const BlobReader&) = delete;

  // Segments point into the verified chunks, without a copy. Throws
  // Error(kCorruption) on damaged data.
  size_t ReadSegments(uint64_t offset, size_t n, std::vector<Segment>* segments,
                      const std::stop_token& interrupt) override;
  size_t ReadAt(uint64_t offset, size_t n, char* out) override;

  uint64_t size() const override { return size_; }

 private:
  const cache::ChunkStore* chunks_;
  std::vector<BlobChunk> chunk_list_;
  std::vector<uint64_t> starts_;  // starts_[i] = file offset of chunk i
  uint64_t size_ = 0;
  ChunkPins::Pin pin_;

  std::shared_ptr<const std::string> Chunk(size_t index);
  std::shared_ptr<std::string> TakeSpareBuffer();

  std::mutex cache_mu_;  // guards the two caches below
  std::vector<std::optional<cache::ChunkLocation>> locations_;
  size_t cached_index_ = SIZE_MAX;
  std::shared_ptr<const std::string> cached_;
  std::vector<std::shared_ptr<const std::string>> spares_;  // buffers to recycle
};

}  // namespace modelfs
