// src/remote_file_reader.h — a FileReader over a RemoteFile: what a reader of
// a remote file that is not in the chunk store yet gets from Store::OpenFile.
//
// Once the file's fetched bytes were discarded as wrong (RemoteFile::
// generation() moved on), every read through this reader fails with
// Error(kCorruption): what it served before may be wrong, so the error sticks
// to it (a FUSE handle) rather than only to the one read that found out.
// Opening the file again fetches it afresh.
//
// A strict reader serves no byte before the whole file is fetched and
// matched its digest (RemoteFile::FetchWhole); the others serve bytes as
// they arrive (see remote_file.h for what is verified when). As a strict
// reader never served a byte that was not checked, a mismatch does not
// stick to it: its next read fetches the file afresh.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "src/file_reader.h"
#include "src/remote_file.h"

namespace modelfs {

class RemoteFileReader : public FileReader {
 public:
  RemoteFileReader(std::shared_ptr<RemoteFile> file, bool strict)
      : file_(std::move(file)), generation_(file_->generation()), strict_(strict) {}

  size_t ReadSegments(uint64_t offset, size_t n, std::vector<Segment>* segments,
                      const std::stop_token& interrupt) override;
  size_t ReadAt(uint64_t offset, size_t n, char* out) override;
  uint64_t size() const override { return file_->size(); }
  bool verified() const override { return file_->verified(); }

  const std::shared_ptr<RemoteFile>& file() const { return file_; }

 private:
  std::shared_ptr<RemoteFile> file_;
  const uint64_t generation_;
  const bool strict_;
};

}  // namespace modelfs
