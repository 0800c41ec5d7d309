// src/recent_segments.cc — see recent_segments.h.
#include "src/recent_segments.h"

#include <cstdint>
#include <utility>

#include "util/aligned_buffer.h"

namespace modelfs {
namespace {

constexpr size_t kMaxSpares = 8;

}  // namespace

RecentSegments::~RecentSegments() {
  if (budget_) budget_->Release(charged_);
}

RecentSegments::Buffer RecentSegments::Acquire() {
  for (size_t i = 0; i < spares_.size(); ++i) {
    if (spares_[i].bytes.use_count() == 1) {
      Buffer buffer = std::move(spares_[i]);
      spares_[i] = std::move(spares_.back());
      spares_.pop_back();
      Account();
      return buffer;
    }
  }
  return Buffer::Allocate(segment_size_);
}

RecentSegments::Buffer RecentSegments::Buffer::Allocate(size_t size) {
  Buffer buffer;
  buffer.bytes = std::make_shared<std::string>(size + kDirectIoAlignment, '\0');
  const auto address = reinterpret_cast<uintptr_t>(buffer.bytes->data());
  buffer.pad = (kDirectIoAlignment - address % kDirectIoAlignment) % kDirectIoAlignment;
  return buffer;
}

void RecentSegments::Put(size_t index, Buffer buffer) {
  if (capacity_ == 0) return;
  auto [it, inserted] = held_.insert_or_assign(index, std::move(buffer));
  if (inserted) order_.push_back(index);
  Account();
  if (OverBudget()) spares_.clear();
  while (held_.size() > capacity_ || (held_.size() > kMinHeld && OverBudget())) DropOldest();
  Account();
}

void RecentSegments::DropOldest() {
  auto oldest = held_.find(order_.front());
  order_.pop_front();
  if (oldest == held_.end()) return;
  if (spares_.size() < kMaxSpares && !OverBudget()) spares_.push_back(std::move(oldest->second));
  held_.erase(oldest);
  Account();
}

const RecentSegments::Buffer* RecentSegments::Find(size_t index) const {
  auto it = held_.find(index);
  return it == held_.end() ? nullptr : &it->second;
}

void RecentSegments::Clear(bool keep_spares) {
  for (auto& [index, buffer] : held_) {
    if (keep_spares && spares_.size() < kMaxSpares) spares_.push_back(std::move(buffer));
  }
  held_.clear();
  order_.clear();
  if (!keep_spares) spares_.clear();
  Account();
}

void RecentSegments::Account() {
  if (!budget_) return;
  const uint64_t now = static_cast<uint64_t>(held_.size() + spares_.size()) * segment_size_;
  if (now > charged_) budget_->Charge(now - charged_);
  if (now < charged_) budget_->Release(charged_ - now);
  charged_ = now;
}

}  // namespace modelfs
