// cache/pack_writer.h — appends records to one pack file.
//
// A PackWriter writes records through a SequentialWriter (small ones
// gathered in memory, all sent to the disk as they come, the page cache
// kept small). Nothing it appends is durable, or may be referenced from the
// index, until Sync() has returned. It never rewrites bytes before its
// starting length.
#pragma once

#include <cstdint>
#include <filesystem>

#include "cache/pack_format.h"
#include "util/sequential_writer.h"
#include "util/unique_fd.h"

namespace modelfs::cache {

class PackWriter {
 public:
  // Opens pack `path` to append after its first `start_length` bytes; with
  // start_length 0 the file is created (it must not exist) and gets a header.
  PackWriter(std::filesystem::path path, uint64_t start_length);
  ~PackWriter() = default;
  PackWriter(const PackWriter&) = delete;
  PackWriter& operator=(const PackWriter&) = delete;

  // Appends a record and returns the offset of its header.
  uint64_t Append(const RecordHeader& header, const char* payload);
  // Writes buffered bytes and fdatasyncs the file.
  void Sync();

  uint64_t size() const { return writer_.size(); }  // including buffered bytes
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  UniqueFd fd_;
  SequentialWriter writer_;  // writes to fd_
};

}  // namespace modelfs::cache
