// util/writeback_window.h — keeps a file written front to back through the
// page cache from filling the cache.
//
// On this project's VMs, writing into page-cache pages the kernel has not
// used lately is slow: the host backs each one afresh (a `dd` of 2 GiB into
// a new file: 0.3–0.7 GB/s), while pages freed and reused at once are fast.
// A WritebackWindow is told how far the file has been written. It starts the
// writeback of every kStep new bytes (sync_file_range WRITE) and, once the
// file is a lag (kLag or kUnsyncedLag, see Sync) past a step, waits for that
// step to be on the disk and drops it from the cache (POSIX_FADV_DONTNEED),
// so its pages are reused for the bytes that follow. At most lag + kStep
// bytes of the file are dirty or cached at a time. The same 2 GiB written this way (lag 32 MiB): 2.1–3.0
// GB/s, at least as fast as O_DIRECT (1.4–3.0 GB/s) in alternating runs.
// A file nobody syncs (an archive) is left alone until it is kUnsyncedLag
// long: one that stays shorter is the kernel's to write back, like cp's
// output, and the disk serves the export's reads alone meanwhile (cold
// 256 MiB .tar.zst exports, 6 alternating runs: median 0.335 s with
// writeback from the start and lag 256 MiB, 0.265 s held; warm, 6 runs:
// 0.195 s against 0.165 s; 2 GiB cold, 11 runs: 2.28 s against 2.22 s).
// It neither syncs the file's tail nor its metadata: that is fdatasync's job.
#pragma once

#include <cstdint>
#include <string>

namespace modelfs {

class WritebackWindow {
 public:
  static constexpr uint64_t kStep = 16 << 20;

  // Who brings the file's bytes to the disk in the end.
  enum class Sync {
    // Its owner fdatasyncs it (a pack): writeback starts with the first
    // step, so that the sync finds little left; steps are dropped kLag behind.
    kByOwner,
    // Nobody (an archive, as with cp or tar): nothing is started before the
    // file is kUnsyncedLag long; then steps are dropped kUnsyncedLag behind.
    kNever,
  };
  // kLag was measured when archives used it too: 2 GiB cold .tar.zst
  // exports, 4 alternating runs, median 2.65 s against 2.92 s with 64 MiB.
  static constexpr uint64_t kLag = 256 << 20;
  static constexpr uint64_t kUnsyncedLag = 512 << 20;

  // For `fd`, being appended to from offset `start`; `what` names the file
  // in errors.
  WritebackWindow(int fd, uint64_t start, std::string what, Sync sync);

  // The file now holds written bytes up to `end`. Throws Error(kIOError)
  // when the writeback of an earlier step failed.
  void Advance(uint64_t end);

 private:
  const int fd_;
  const std::string what_;
  const uint64_t lag_;
  const uint64_t hold_until_;  // no writeback is started before the file reaches this
  uint64_t started_;  // writeback was started for the bytes before this
  uint64_t dropped_;  // the bytes before this are on disk and out of the cache
};

}  // namespace modelfs
