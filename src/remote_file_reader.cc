// src/remote_file_reader.cc — see remote_file_reader.h.
#include "src/remote_file_reader.h"

#include "util/error.h"

namespace modelfs {

// (Once verified, a file's bytes are never discarded: a strict read needs
// no era after FetchWhole().)
size_t RemoteFileReader::ReadAt(uint64_t offset, size_t n, char* out) {
  if (strict_) {
    file_->FetchWhole();
    return file_->ReadAt(offset, n, out);
  }
  return file_->ReadAt(offset, n, out, generation_);
}

size_t RemoteFileReader::ReadSegments(uint64_t offset, size_t n, std::vector<Segment>* segments,
                                      const std::stop_token& interrupt) {
  if (strict_) {
    file_->FetchWhole(std::nullopt, interrupt);
    return file_->ReadSegments(offset, n, segments, std::nullopt, interrupt);
  }
  return file_->ReadSegments(offset, n, segments, generation_, interrupt);
}

}  // namespace modelfs
