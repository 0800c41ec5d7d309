// src/remote_file_reader.cc — see remote_file_reader.h.
#include "src/remote_file_reader.h"

#include "util/error.h"

namespace modelfs {

size_t RemoteFileReader::ReadAt(uint64_t offset, size_t n, char* out) {
  return file_->ReadAt(offset, n, out, generation_);
}

size_t RemoteFileReader::ReadSegments(uint64_t offset, size_t n, std::vector<Segment>* segments,
                                      const std::stop_token& interrupt) {
  return file_->ReadSegments(offset, n, segments, generation_, interrupt);
}

}  // namespace modelfs
