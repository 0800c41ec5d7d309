// util/sequential_writer.h — writes a file front to back through the page
// cache, in large writes, with its cache footprint bounded.
//
// Appends of kPassThroughMin bytes or more go to the kernel as they are; smaller
// ones are gathered in a buffer of kBufferSize first, so a stream of small
// pieces (archive headers, block headers) costs few system calls. A
// WritebackWindow (writeback_window.h) sends the written bytes to the disk
// as they come and keeps the file from filling the page cache.
// A failed write throws Error (kNoSpace for a full disk, else kIOError) from
// the Append or Flush that made it.
// Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "util/writeback_window.h"

namespace modelfs {

class SequentialWriter {
 public:
  static constexpr size_t kBufferSize = 1 << 20;
  static constexpr size_t kPassThroughMin = 64 << 10;

  // Appends to `fd` (open for writing) from offset `start`; `what` names
  // the file in errors; `sync` says who syncs it (see writeback_window.h).
  SequentialWriter(int fd, uint64_t start, std::string what, WritebackWindow::Sync sync);
  SequentialWriter(const SequentialWriter&) = delete;
  SequentialWriter& operator=(const SequentialWriter&) = delete;

  void Append(const char* data, size_t n);
  // Writes the buffered bytes. Appends may follow.
  void Flush();

  uint64_t size() const { return written_ + buffer_.size(); }  // the offset of the next byte

 private:
  void Write(const char* data, size_t n);

  const int fd_;
  const std::string what_;
  std::string buffer_;
  uint64_t written_;  // file offset after the last byte handed to the kernel
  WritebackWindow window_;
};

}  // namespace modelfs
