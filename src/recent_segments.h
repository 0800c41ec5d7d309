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
// one does. With a MemoryBudget, the segments and spare buffers held are
// charged to it, and while it is exceeded a Put drops the oldest segments
// (never below kMinHeld) and keeps no spares. Not thread-safe: the owner
// locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "src/memory_budget.h"

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

  // Segments kept under an exceeded budget: a reader's own window.
  static constexpr size_t kMinHeld = 8;

  // `budget` may be null (no shared limit).
  RecentSegments(size_t capacity, size_t segment_size,
                 std::shared_ptr<MemoryBudget> budget = nullptr)
      : capacity_(capacity), segment_size_(segment_size), budget_(std::move(budget)) {}
  ~RecentSegments();
  RecentSegments(const RecentSegments&) = delete;
  RecentSegments& operator=(const RecentSegments&) = delete;

  // A buffer for one segment: recycled when one is free, else new.
  Buffer Acquire();
  // Holds segment `index` (replacing an older copy), dropping the oldest
  // beyond capacity, and while the budget is exceeded (down to kMinHeld).
  void Put(size_t index, Buffer buffer);
  // The held copy of segment `index`, or nullptr.
  const Buffer* Find(size_t index) const;
  // Drops every segment; `keep_spares`: their buffers stay for reuse.
  void Clear(bool keep_spares = true);
  size_t held() const { return held_.size(); }

 private:
  void DropOldest();
  bool OverBudget() const { return budget_ && budget_->exceeded(); }
  // Brings the budget's charge in line with the buffers held now.
  void Account();

  const size_t capacity_;
  const size_t segment_size_;
  const std::shared_ptr<MemoryBudget> budget_;
  uint64_t charged_ = 0;  // bytes this object has charged to budget_
  std::unordered_map<size_t, Buffer> held_;
  std::deque<size_t> order_;    // indices in the order put, oldest first
  std::vector<Buffer> spares_;  // dropped buffers (a few), reused once no reader holds them
};

}  // namespace modelfs
