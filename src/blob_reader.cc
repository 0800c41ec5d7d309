#include "src/blob_reader.h"

#include <algorithm>
#include <cstring>

namespace modelfs {
namespace {
constexpr size_t kMaxSpares = 2;
}

BlobReader::BlobReader(const cache::ChunkStore* chunks, const BlobRecord& blob, ChunkPins::Pin pin)
    : chunks_(chunks), chunk_list_(blob.chunks), pin_(std::move(pin)) {
  starts_.reserve(chunk_list_.size());
  locations_.resize(chunk_list_.size());
  for (const auto& c : chunk_list_) {
    starts_.push_back(size_);
    size_ += c.size;
  }
}

std::shared_ptr<std::string> BlobReader::TakeSpareBuffer() {
  std::lock_guard<std::mutex> lock(cache_mu_);
  // A buffer only this reader still holds can be refilled: resizing it to
  // a similar chunk size costs no zero-filling, unlike a fresh string.
  for (auto it = spares_.begin(); it != spares_.end(); ++it) {
    if (it->use_count() == 1) {
      auto buffer = std::const_pointer_cast<std::string>(std::move(*it));
      spares_.erase(it);
      return buffer;
    }
  }
  if (spares_.size() > kMaxSpares) spares_.erase(spares_.begin());
  return std::make_shared<std::string>();
}

std::shared_ptr<const std::string> BlobReader::Chunk(size_t index) {
  std::optional<cache::ChunkLocation> location;
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cached_index_ == index) return cached_;
    location = locations_[index];
  }
  std::shared_ptr<std::string> fresh = TakeSpareBuffer();
  chunks_->Read(chunk_list_[index].hash, fresh.get(), &location);
  std::lock_guard<std::mutex> lock(cache_mu_);
  locations_[index] = location;
  cached_index_ = index;
  if (cached_) spares_.push_back(std::move(cached_));
  cached_ = fresh;
  return fresh;
}

size_t BlobReader::ReadSegments(uint64_t offset, size_t n, std::vector<Segment>* segments,
                                const std::stop_token&) {  // (reads the store: no network)
  if (offset >= size_ || n == 0) return 0;
  n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
  size_t index = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), offset) -
                                     starts_.begin()) - 1;
  size_t done = 0;
  while (done < n) {
    auto data = Chunk(index);
    const size_t within = static_cast<size_t>(offset + done - starts_[index]);
    const size_t take = std::min(n - done, data->size() - within);
    segments->push_back({std::move(data), within, take});
    done += take;
    ++index;
  }
  return done;
}

size_t BlobReader::ReadAt(uint64_t offset, size_t n, char* out) {
  std::vector<Segment> segments;
  const size_t total = ReadSegments(offset, n, &segments, {});
  for (const auto& s : segments) {
    std::memcpy(out, s.buffer->data() + s.offset, s.length);
    out += s.length;
  }
  return total;
}

}  // namespace modelfs
