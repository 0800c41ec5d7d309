// cache/chunker.h — content-defined chunking with FastCDC (normalized chunking).
//
// A Chunker finds cut points that depend only on the bytes near them, so an
// insertion or deletion in a file changes only the chunks around the edit and
// everything else deduplicates. It is stateless between chunks and cheap to
// copy; one instance may be shared by threads.
#pragma once

#include <cstddef>
#include <cstdint>

namespace modelfs::cache {

struct ChunkerParams {
  size_t min_size;
  size_t avg_size;  // must be a power of two
  size_t max_size;

  // The store's chunk sizes: 64 KiB / 256 KiB / 1 MiB. Why: docs/chunking.md
  // (measured by bench/chunk_sizes).
  static ChunkerParams Default() { return {64 << 10, 256 << 10, 1 << 20}; }
};

class Chunker {
 public:
  // Throws Error(kInvalidArgument) unless min < avg < max and avg is a power of two.
  explicit Chunker(ChunkerParams params);

  // Returns the length of the chunk that starts at data[0], given `n` bytes
  // available. When `at_eof` is false the caller must supply at least
  // max_size() bytes (the result is then never 0); at end of input any n works
  // and the last chunk may be shorter than min_size().
  size_t NextChunkLength(const uint8_t* data, size_t n, bool at_eof) const;

  size_t min_size() const { return params_.min_size; }
  size_t avg_size() const { return params_.avg_size; }
  size_t max_size() const { return params_.max_size; }

 private:
  ChunkerParams params_;
  uint64_t mask_small_;  // stricter mask used before avg_size (more bits)
  uint64_t mask_large_;  // looser mask used after avg_size (fewer bits)
};

}  // namespace modelfs::cache
