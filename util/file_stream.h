// util/file_stream.h — ByteSource and ByteSink on local files.
//
// FileSource reads a file from its start. AtomicFileSink writes a temporary
// file beside its destination and, on Commit(), renames it into place, so
// the destination holds either its old content or the whole new file;
// without Commit() the temporary file is removed. Like cp and tar it does
// not fsync (an export is a user's file, and a sync would hold an export to
// the disk's write speed); the store's own writes are synced. The bytes go
// through a SequentialWriter (sequential_writer.h): left to the kernel for an
// archive under 512 MiB, to the disk as they come beyond, without filling
// the page cache.
#pragma once

#include <filesystem>

#include "util/byte_stream.h"
#include "util/sequential_writer.h"
#include "util/unique_fd.h"

namespace modelfs {

class FileSource : public ByteSource {
 public:
  // Throws kNotFound for a missing file, kIOError when it cannot be read.
  explicit FileSource(std::filesystem::path path);
  size_t Read(char* buffer, size_t capacity) override;
  std::optional<uint64_t> size() const override { return size_; }
  std::string Describe() const override { return path_.string(); }
  bool Seek(uint64_t offset) override;
  bool seekable() const override { return true; }

 private:
  std::filesystem::path path_;
  UniqueFd fd_;
  uint64_t size_ = 0;
};

class AtomicFileSink : public ByteSink {
 public:
  // `overwrite` false: Commit() fails with kAlreadyExists if `path` exists.
  AtomicFileSink(std::filesystem::path path, bool overwrite);
  ~AtomicFileSink() override;
  void Write(const char* data, size_t size) override;
  void Commit() override;
  std::string Describe() const override { return path_.string(); }

 private:
  std::filesystem::path path_;
  std::filesystem::path temp_;
  bool overwrite_;
  UniqueFd fd_;
  SequentialWriter writer_;  // writes to fd_
  bool committed_ = false;
};

}  // namespace modelfs
