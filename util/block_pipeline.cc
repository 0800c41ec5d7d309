// util/block_pipeline.cc — see block_pipeline.h.
#include "util/block_pipeline.h"

#include <algorithm>
#include <cstring>
#include <exception>

#include "util/error.h"

namespace modelfs {

void BlockPipeline::Buffer::Reset(size_t min_capacity) {
  if (min_capacity > capacity) {
    bytes = std::make_unique_for_overwrite<char[]>(min_capacity);
    capacity = min_capacity;
  }
  size = 0;
}

void BlockPipeline::Buffer::Append(const void* data, size_t n) {
  std::memcpy(bytes.get() + size, data, n);
  size += n;
}

struct BlockPipeline::Slot {
  Block block;
  std::exception_ptr error;  // set instead of an output when encoding failed
  bool encoded = false;
};

BlockPipeline::BlockPipeline(std::string name, size_t block_size, unsigned threads,
                             const EncoderFactory& make_encoder, Emit emit)
    : name_(std::move(name)), block_size_(block_size), emit_(std::move(emit)) {
  if (block_size_ == 0) throw Error(ErrorCode::kInvalidArgument, name_ + ": the block size is 0");
  if (threads == 0) threads = std::max(std::thread::hardware_concurrency(), 1u);
  max_in_flight_ = 2 * size_t{threads};
  for (unsigned i = 0; i < threads; ++i) encoders_.push_back(make_encoder());
  try {
    for (auto& encoder : encoders_) workers_.emplace_back([this, e = encoder.get()] { WorkerLoop(e); });
  } catch (...) {
    StopWorkers();
    throw;
  }
}

BlockPipeline::~BlockPipeline() { StopWorkers(); }

void BlockPipeline::Write(const char* data, size_t size) {
  CheckUsable();
  try {
    while (size > 0) {
      if (!filling_) {
        std::lock_guard<std::mutex> lock(mu_);
        if (spare_.empty()) {
          filling_ = std::make_unique<Slot>();
        } else {
          filling_ = std::move(spare_.back());
          spare_.pop_back();
        }
        filling_->block.input.Reset(block_size_);
      }
      Buffer& input = filling_->block.input;
      const size_t n = std::min(size, block_size_ - input.size);
      input.Append(data, n);
      data += n;
      size -= n;
      if (input.size == block_size_) Submit();
    }
  } catch (...) {
    broken_ = true;
    throw;
  }
}

void BlockPipeline::Finish() {
  CheckUsable();
  try {
    if (filling_) Submit();
    std::unique_lock<std::mutex> lock(mu_);
    emitted_.wait(lock, [&] { return (in_flight_.empty() && !emitting_) || error_; });
    ThrowIfFailed();
    finished_ = true;
  } catch (...) {
    broken_ = true;
    throw;
  }
}

void BlockPipeline::Submit() {
  Slot* slot = filling_.get();
  slot->block.output.size = 0;
  slot->block.detail = 0;
  slot->error = nullptr;
  slot->encoded = false;
  std::unique_lock<std::mutex> lock(mu_);
  emitted_.wait(lock, [&] { return in_flight_.size() < max_in_flight_ || error_; });
  ThrowIfFailed();
  in_flight_.push_back(std::move(filling_));
  queue_.push_back(slot);
  lock.unlock();
  work_ready_.notify_one();
}

void BlockPipeline::ThrowIfFailed() {
  if (error_) std::rethrow_exception(error_);
}

void BlockPipeline::WorkerLoop(Encoder* encoder) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Slot* slot = queue_.front();
    queue_.pop_front();
    lock.unlock();
    try {
      encoder->Encode(slot->block);
    } catch (...) {
      slot->error = std::current_exception();
    }
    lock.lock();
    slot->encoded = true;
    EmitReady(lock);
  }
}

void BlockPipeline::EmitReady(std::unique_lock<std::mutex>& lock) {
  if (emitting_) return;  // that thread will see this slot too
  emitting_ = true;
  while (!error_ && !in_flight_.empty() && in_flight_.front()->encoded) {
    std::unique_ptr<Slot> slot = std::move(in_flight_.front());
    in_flight_.pop_front();
    std::exception_ptr failure = slot->error;
    if (!failure) {
      lock.unlock();
      try {
        emit_(slot->block);
      } catch (...) {
        failure = std::current_exception();
      }
      lock.lock();
    }
    if (failure) error_ = failure;
    spare_.push_back(std::move(slot));
    emitted_.notify_all();
  }
  emitting_ = false;
  emitted_.notify_all();
}

void BlockPipeline::StopWorkers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
}

void BlockPipeline::CheckUsable() const {
  if (broken_) throw Error(ErrorCode::kIOError, name_ + ": an earlier error left the output incomplete");
  if (finished_) throw Error(ErrorCode::kInvalidArgument, name_ + ": the output is already finished");
}

}  // namespace modelfs
