// util/file_lock.h — an advisory flock(2) on a file, held for the object's life.
//
// Used to let exactly one process write a store at a time while readers share
// it. Acquire() waits up to `wait` for the lock and throws Error(kBusy) with
// `busy_message` when it cannot get it in time.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

#include "util/unique_fd.h"

namespace modelfs {

class FileLock {
 public:
  enum class Mode { kShared, kExclusive };

  // Opens (creating if needed) `path` and locks it in `mode`.
  static FileLock Acquire(const std::filesystem::path& path, Mode mode,
                          std::chrono::milliseconds wait,
                          const std::string& busy_message);

  FileLock(FileLock&&) = default;
  FileLock& operator=(FileLock&&) = default;

 private:
  explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;  // closing the descriptor releases the lock
};

}  // namespace modelfs
