// cache/pack_prefetcher.h — brings the records of chunks about to be read
// into the page cache, on a thread of its own, ahead of the reader.
//
// Given the chunks a reader will read, in order (an export's), the thread
// looks each one up, gathers records that lie end to end in a pack into runs
// of up to kMaxRun bytes, and reads each run that is not in the page cache
// already (mincore) into a scratch buffer, so the reader's own reads find
// the pages there. It stays at most `window` bytes of chunks ahead of what
// the reader says it has consumed (Consumed), so the pages it brings in are
// not evicted before they are used. It is only a hint: a chunk it cannot
// find or read is skipped, and the reader's own read reports the problem.
// The destructor stops the thread and joins it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "cache/chunk_hash.h"
#include "util/unique_fd.h"

namespace modelfs::cache {

class ChunkStore;

class PackPrefetcher {
 public:
  struct Chunk {
    ChunkHash hash;
    uint64_t size;  // raw bytes, as the reader counts them
  };

  // *store must outlive the prefetcher.
  PackPrefetcher(const ChunkStore* store, std::vector<Chunk> chunks, uint64_t window);
  ~PackPrefetcher();
  PackPrefetcher(const PackPrefetcher&) = delete;
  PackPrefetcher& operator=(const PackPrefetcher&) = delete;

  // The reader has consumed `bytes` more of the chunks' raw bytes.
  void Consumed(uint64_t bytes);

  // For tests and figures: runs read from disk, the bytes they held, and
  // whether the thread went through every chunk.
  uint64_t runs_read() const;
  uint64_t bytes_read() const;
  bool done() const;

  static constexpr uint64_t kMaxRun = 8 << 20;

 private:
  struct Run {
    uint32_t pack_id = 0;
    uint64_t offset = 0;
    uint64_t length = 0;
  };

  void Loop();
  // Waits until the chunks up to `raw_end` are within the window; false
  // when stopping.
  bool WaitForRoom(uint64_t raw_end);
  void Fetch(const Run& run);
  int PackFd(uint32_t pack_id);

  const ChunkStore* store_;
  const std::vector<Chunk> chunks_;
  const uint64_t window_;
  std::map<uint32_t, UniqueFd> fds_;  // by the thread only
  std::vector<char> scratch_;         // by the thread only

  mutable std::mutex mu_;
  std::condition_variable changed_;
  uint64_t consumed_ = 0;  // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  bool done_ = false;      // guarded by mu_
  uint64_t runs_read_ = 0;
  uint64_t bytes_read_ = 0;
  std::thread thread_;  // last: it starts after everything above
};

}  // namespace modelfs::cache
