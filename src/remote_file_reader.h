// src/remote_file_reader.h — a FileReader over a RemoteFile: what a reader of
// a remote file that is not in the chunk store yet gets from Store::OpenFile.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "src/file_reader.h"
#include "src/remote_file.h"

namespace modelfs {

class RemoteFileReader : public FileReader {
 public:
  explicit RemoteFileReader(std::shared_ptr<RemoteFile> file) : file_(std::move(file)) {}

  // One segment, read into a buffer of this reader (recycled once the
  // previous caller let go of it).
  size_t ReadSegments(uint64_t offset, size_t n, std::vector<Segment>* segments) override;
  size_t ReadAt(uint64_t offset, size_t n, char* out) override { return file_->ReadAt(offset, n, out); }
  uint64_t size() const override { return file_->size(); }
  bool verified() const override { return file_->verified(); }

  const std::shared_ptr<RemoteFile>& file() const { return file_; }

 private:
  std::shared_ptr<RemoteFile> file_;
  std::mutex mu_;
  std::vector<std::shared_ptr<std::string>> spares_;  // guarded by mu_
};

}  // namespace modelfs
