// src/memory_budget.h — how many bytes the fetched segments that lazily read
// files keep in memory may take together, and how many they take now.
//
// Each LazyFile keeps the segments that arrived last in memory (see
// recent_segments.h) for its readers and its digest. Alone, a file may keep
// its whole window; files read at the same time share one MemoryBudget, and
// once their sum passes the limit each file gives up its oldest segments
// (down to a few) instead of growing, so the daemon's memory grows little
// with the number of files being read. A budget only counts: RecentSegments
// charges what it holds and releases what it drops. Thread-safe; shared
// (std::shared_ptr) by the files that charge it.
#pragma once

#include <atomic>
#include <cstdint>

namespace modelfs {

class MemoryBudget {
 public:
  explicit MemoryBudget(uint64_t limit) : limit_(limit) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  void Charge(uint64_t bytes) { used_.fetch_add(bytes, std::memory_order_relaxed); }
  void Release(uint64_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }
  bool exceeded() const { return used() > limit_; }
  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  uint64_t limit() const { return limit_; }

 private:
  const uint64_t limit_;
  std::atomic<uint64_t> used_{0};
};

}  // namespace modelfs
