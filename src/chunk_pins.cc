#include "src/chunk_pins.h"

namespace modelfs {

ChunkPins::Pin& ChunkPins::Pin::operator=(Pin&& other) noexcept {
  if (this != &other) {
    if (pins_) pins_->Release(key_);
    pins_ = other.pins_;
    key_ = std::move(other.key_);
    other.pins_ = nullptr;
  }
  return *this;
}

ChunkPins::Pin::~Pin() {
  if (pins_) pins_->Release(key_);
}

ChunkPins::Pin ChunkPins::Acquire(const std::string& sha256, const BlobRecord& blob) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = pinned_[sha256];
  if (e.count++ == 0) {
    e.chunks.reserve(blob.chunks.size());
    for (const auto& c : blob.chunks) e.chunks.push_back(c.hash);
  }
  return Pin(this, sha256);
}

void ChunkPins::Release(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pinned_.find(key);
  if (it != pinned_.end() && --it->second.count == 0) pinned_.erase(it);
}

void ChunkPins::AddTo(cache::ChunkSet* live) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, e] : pinned_) live->insert(e.chunks.begin(), e.chunks.end());
}

}  // namespace modelfs
