// src/file_ingester.h — turns one file's bytes into stored chunks.
//
// FileIngester reads a file once, cuts it with the content-defined chunker,
// hands every chunk to a ChunkWriter (which dedups and stores it) and computes
// the file's SHA-256 on a second thread while the first one chunks, so a save
// runs at the speed of the slower of disk and chunker.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cache/chunk_writer.h"
#include "cache/chunker.h"
#include "src/catalog_records.h"
#include "util/digest.h"

namespace modelfs {

struct IngestedContent {
  std::string sha256;  // 32 raw bytes
  uint64_t size = 0;
  std::vector<BlobChunk> chunks;
};

class FileIngester {
 public:
  // *writer must outlive the ingester.
  FileIngester(cache::ChunkWriter* writer, const cache::Chunker& chunker);
  FileIngester(const FileIngester&) = delete;
  FileIngester& operator=(const FileIngester&) = delete;

  // Reads `fd` from its current position to end of file. `name` is used in
  // error messages only; `expected_size` (from stat) picks the strategy.
  IngestedContent Ingest(int fd, const std::string& name, uint64_t expected_size = 0);

  // Fills up to `capacity` bytes of `buffer`; returns how many, 0 at the end.
  using ReadFn = std::function<size_t(char* buffer, size_t capacity)>;
  // Ingests a stream (an archive member) read to its end. Unless
  // `size_hint` says it is small, the stream is read and hashed on a second
  // thread, a block ahead of this one, which cuts it into chunks.
  IngestedContent IngestStream(const ReadFn& read, std::optional<uint64_t> size_hint);

 private:
  // Cuts what `read` yields into stored chunks; hashes it into `sha` if given.
  void ChunkAll(const ReadFn& read, Sha256* sha, IngestedContent* content);
  // Stores the chunks of data[0, size) and returns how many bytes they
  // cover: all of them at `eof`, else all but a tail shorter than the
  // chunker's max_size().
  size_t CutChunks(const uint8_t* data, size_t size, bool eof, IngestedContent* content);

  cache::ChunkWriter* writer_;
  cache::Chunker chunker_;
  std::string buffer_;
};

}  // namespace modelfs
