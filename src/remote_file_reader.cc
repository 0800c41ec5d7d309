// src/remote_file_reader.cc — see remote_file_reader.h.
#include "src/remote_file_reader.h"

#include <algorithm>

#include "util/error.h"

namespace modelfs {

size_t RemoteFileReader::ReadAt(uint64_t offset, size_t n, char* out) {
  return file_->ReadAt(offset, n, out, generation_);
}

size_t RemoteFileReader::ReadSegments(uint64_t offset, size_t n, std::vector<Segment>* segments) {
  if (offset >= file_->size() || n == 0) return 0;
  n = static_cast<size_t>(std::min<uint64_t>(n, file_->size() - offset));
  std::shared_ptr<std::string> buffer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& spare : spares_) {
      if (spare.use_count() == 1) {
        buffer = spare;
        break;
      }
    }
    if (!buffer) {
      buffer = std::make_shared<std::string>();
      if (spares_.size() < 8) spares_.push_back(buffer);
    }
  }
  buffer->resize(n);
  const size_t got = ReadAt(offset, n, buffer->data());
  segments->push_back({std::move(buffer), 0, got});
  return got;
}

}  // namespace modelfs
