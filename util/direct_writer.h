// util/direct_writer.h — writes a new file front to back through direct I/O,
// in the background while the caller produces the next bytes.
//
// DirectWriter gathers appended bytes into aligned blocks of kBlockSize and
// writes each full block with O_DIRECT on a thread of its own, up to
// kWritesInFlight blocks at once, while the caller fills another; the
// partial block left at Finish() goes through the ordinary descriptor. The
// bytes bypass the page cache, which on this project's VMs is the slow part
// of writing a large file: a `dd` of 2 GiB into fresh page-cache pages ran
// at 0.3–1.1 GB/s, with O_DIRECT at 1.0–1.9 GB/s. Where the filesystem
// refuses O_DIRECT (open or write fails with EINVAL), every byte goes
// through the ordinary descriptor instead.
// A failed write throws Error from the Append or Finish that follows it.
// Not thread-safe. The destructor waits for the blocks in flight.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <future>
#include <string>

#include "util/aligned_buffer.h"
#include "util/unique_fd.h"

namespace modelfs {

class DirectWriter {
 public:
  static constexpr size_t kBlockSize = 4 << 20;
  // Blocks being written at once (each on its own thread); one more is
  // filled. A warm 2 GiB .tar.zst export, 8 alternating runs each: median
  // 1.79 s with 2, 2.02 s with 1.
  static constexpr size_t kWritesInFlight = 2;

  // Writes to `fd` (open for writing, empty) from offset 0; `path` names the
  // same file (opened again with O_DIRECT); `what` names it in errors.
  DirectWriter(int fd, const std::filesystem::path& path, std::string what);
  ~DirectWriter();
  DirectWriter(const DirectWriter&) = delete;
  DirectWriter& operator=(const DirectWriter&) = delete;

  void Append(const char* data, size_t n);
  // Writes what is left and waits for every write. Throws Error.
  void Finish();

 private:
  // Hands the full block to the background and takes a free one to fill.
  void Flush();
  // Waits for the oldest block in flight; rethrows its failure.
  void WaitOldest();

  const int fd_;
  const std::string what_;
  UniqueFd direct_fd_;    // O_DIRECT; invalid: plain writes on the caller's thread
  AlignedBuffer blocks_[kWritesInFlight + 1];
  size_t current_ = 0;    // the block being filled
  size_t filled_ = 0;     // bytes in it
  uint64_t offset_ = 0;   // file offset of its first byte
  std::deque<std::future<void>> in_flight_;  // oldest first
};

}  // namespace modelfs
