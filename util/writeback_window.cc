// util/writeback_window.cc — see writeback_window.h.
#include "util/writeback_window.h"

#include <fcntl.h>

#include <cerrno>

#include "util/error.h"

namespace modelfs {

WritebackWindow::WritebackWindow(int fd, uint64_t start, std::string what, Sync sync)
    : fd_(fd),
      what_(std::move(what)),
      lag_(sync == Sync::kByOwner ? kLag : kUnsyncedLag),
      hold_until_(sync == Sync::kByOwner ? start : start + kUnsyncedLag),
      started_(start),
      dropped_(start) {}

void WritebackWindow::Advance(uint64_t end) {
  if (end < hold_until_) return;
  while (end >= started_ + kStep) {
    // Best effort: where sync_file_range is unsupported, the kernel writes
    // back on its own.
    ::sync_file_range(fd_, static_cast<off64_t>(started_), static_cast<off64_t>(kStep),
                      SYNC_FILE_RANGE_WRITE);
    started_ += kStep;
  }
  while (started_ >= dropped_ + lag_) {
    constexpr unsigned kWait = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                               SYNC_FILE_RANGE_WAIT_AFTER;
    if (::sync_file_range(fd_, static_cast<off64_t>(dropped_), static_cast<off64_t>(kStep), kWait) != 0 &&
        (errno == EIO || errno == ENOSPC)) {
      ThrowErrno("cannot write " + what_);
    }
    ::posix_fadvise(fd_, static_cast<off_t>(dropped_), static_cast<off_t>(kStep), POSIX_FADV_DONTNEED);
    dropped_ += kStep;
  }
}

}  // namespace modelfs
