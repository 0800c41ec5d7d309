// src/recent_segments.h — the segments of a lazily fetched file that arrived
// last, kept in memory so that the reader who asked for them, and the digest
// that follows the reader, take them from there instead of reading the
// staging file back from the disk.
//
// RecentSegments holds at most `capacity` segments, each in a buffer of its
// own whose bytes start at an address aligned for direct I/O (so the buffer
// a segment was received into is the one written to the staging file). The
// oldest segment put is dropped first; a buffer stays alive while a reader
// holds it (its shared_ptr), and is handed out again by Acquire() once no
// one does. Not thread-safe: the owner locks.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace modelfs {

class RecentSegments {
 public:
  // One segment's bytes: `size` bytes at bytes->data() + pad.
  struct Buffer {
    std::shared_ptr<std::string> bytes;
    size_t pad = 0;
    char* data() const { return bytes->data() + pad; }
    // A new buffer for `size` bytes.
    static Buffer Allocate(size_t size);
  };

  RecentSegments(size_t capacity, size_t segment_size)
      : capacity_(capacity), segment_size_(segment_size) {}

  // A buffer for one segment: recycled when one is free, else new.
  Buffer Acquire();
  // Holds segment `index` (replacing an older copy), dropping the oldest
  // beyond capacity.
  void Put(size_t index, Buffer buffer);
  // The held copy of segment `index`, or nullptr.
  const Buffer* Find(size_t index) const;
  // Drops every segment; `keep_spares`: their buffers stay for reuse.
  void Clear(bool keep_spares = true);

 private:
  const size_t capacity_;
  const size_t segment_size_;
  std::unordered_map<size_t, Buffer> held_;
  std::deque<size_t> order_;    // indices in the order put, oldest first
  std::vector<Buffer> spares_;  // dropped buffers (a few), reused once no reader holds them
};

}  // namespace modelfs
