#include "util/read_ahead_stream.h"

namespace modelfs {

ReadAheadStream::Block::Block(size_t headroom, size_t block_size)
    : storage_(new char[headroom + block_size]), headroom_(headroom) {}

ReadAheadStream::ReadAheadStream(ReadFn read, BlockFn on_block, size_t block_size, size_t headroom)
    : read_(std::move(read)), on_block_(std::move(on_block)), block_size_(block_size) {
  for (size_t i = 0; i < kBlocks; ++i) {
    blocks_.push_back(std::unique_ptr<Block>(new Block(headroom, block_size)));
    free_.push_back(blocks_.back().get());
  }
  thread_ = std::thread([this] { ReadLoop(); });
}

ReadAheadStream::~ReadAheadStream() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void ReadAheadStream::ReadLoop() {
  try {
    for (bool end = false; !end;) {
      Block* block;
      {
        std::unique_lock<std::mutex> lock(mu_);
        changed_.wait(lock, [this] { return !free_.empty() || cancelled_; });
        if (cancelled_) break;
        block = free_.back();
        free_.pop_back();
      }
      size_t filled = 0;
      while (filled < block_size_ && !cancelled_) {
        const size_t n = read_(block->data() + filled, block_size_ - filled);
        if (n == 0) {
          end = true;
          break;
        }
        filled += n;
      }
      if (cancelled_) break;
      block->size_ = filled;
      if (filled > 0 && on_block_) on_block_(block->data(), filled);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (filled > 0) {
          ready_.push_back(block);
        } else {
          free_.push_back(block);  // the stream ended on a block boundary
        }
      }
      changed_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::current_exception();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  changed_.notify_all();
}

ReadAheadStream::Block* ReadAheadStream::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [this] { return !ready_.empty() || done_; });
  if (!ready_.empty()) {
    Block* block = ready_.front();
    ready_.pop_front();
    return block;
  }
  if (error_) std::rethrow_exception(error_);
  return nullptr;
}

void ReadAheadStream::Recycle(Block* block) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(block);
  }
  changed_.notify_all();
}

}  // namespace modelfs
