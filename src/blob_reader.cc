#include "src/blob_reader.h"

#include <algorithm>
#include <cstring>

namespace modelfs {

BlobReader::BlobReader(const cache::ChunkStore* chunks, const BlobRecord& blob, ChunkPins::Pin pin)
    : chunks_(chunks), chunk_list_(blob.chunks), pin_(std::move(pin)) {
  starts_.reserve(chunk_list_.size());
  for (const auto& c : chunk_list_) {
    starts_.push_back(size_);
    size_ += c.size;
  }
}

size_t BlobReader::ReadAt(uint64_t offset, size_t n, char* out) {
  if (offset >= size_ || n == 0) return 0;
  n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
  size_t index = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), offset) -
                                     starts_.begin()) - 1;
  size_t done = 0;
  while (done < n) {
    std::shared_ptr<const std::string> data;
    {
      std::lock_guard<std::mutex> lock(cache_mu_);
      if (cached_index_ == index) data = cached_;
    }
    if (!data) {
      auto fresh = std::make_shared<std::string>();
      chunks_->Read(chunk_list_[index].hash, fresh.get());
      data = fresh;
      std::lock_guard<std::mutex> lock(cache_mu_);
      cached_index_ = index;
      cached_ = data;
    }
    const uint64_t within = offset + done - starts_[index];
    const size_t take = static_cast<size_t>(std::min<uint64_t>(n - done, data->size() - within));
    std::memcpy(out + done, data->data() + within, take);
    done += take;
    ++index;
  }
  return done;
}

}  // namespace modelfs
