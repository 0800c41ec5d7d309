#include "util/producer_source.h"

#include <algorithm>
#include <cstring>

#include "util/error.h"

namespace modelfs {

class ProducerSource::PipeSink : public ByteSink {
 public:
  explicit PipeSink(ProducerSource* source) : source_(source) {}
  void Write(const char* data, size_t size) override { source_->Push(data, size); }
  void Commit() override {}
  std::string Describe() const override { return source_->description_; }

 private:
  ProducerSource* source_;
};

ProducerSource::ProducerSource(Producer produce, std::optional<uint64_t> size, std::string description,
                               size_t queue_bytes)
    : size_(size), description_(std::move(description)), queue_bytes_(queue_bytes) {
  thread_ = std::thread([this, produce = std::move(produce)] {
    PipeSink sink(this);
    std::exception_ptr error;
    try {
      produce(&sink);
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mu_);
    error_ = error;
    done_ = true;
    changed_.notify_all();
  });
}

ProducerSource::~ProducerSource() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    changed_.notify_all();
  }
  thread_.join();
}

void ProducerSource::Push(const char* data, size_t n) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return cancelled_ || queued_ < queue_bytes_; });
  if (cancelled_) throw Error(ErrorCode::kIOError, description_ + ": the reader stopped");
  blocks_.emplace_back(data, n);
  queued_ += n;
  changed_.notify_all();
}

size_t ProducerSource::Read(char* buffer, size_t capacity) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return !blocks_.empty() || done_; });
  if (blocks_.empty()) {
    if (error_) std::rethrow_exception(error_);
    return 0;
  }
  size_t copied = 0;
  while (copied < capacity && !blocks_.empty()) {
    const std::string& front = blocks_.front();
    const size_t n = std::min(capacity - copied, front.size() - front_used_);
    std::memcpy(buffer + copied, front.data() + front_used_, n);
    copied += n;
    front_used_ += n;
    if (front_used_ == front.size()) {
      queued_ -= front.size();
      blocks_.pop_front();
      front_used_ = 0;
    }
  }
  changed_.notify_all();
  return copied;
}

}  // namespace modelfs
