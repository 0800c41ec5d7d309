// util/read_ahead_stream.h — reads a byte stream on a thread of its own, a
// block ahead of the one thread that consumes it.
//
// The reading thread fills each block to its full size by calling `read`
// until it returns 0 (only the stream's last block is short), hands the
// block to `on_block` there, on the reading thread (an archive member's
// SHA-256 is computed that way while the consumer cuts chunks), and queues
// it. The consumer takes the blocks in stream order with Next() and gives
// each back with Recycle(); it may hold two at once, to move the tail of one
// into the `headroom` bytes that precede the next one's data. So reading
// (decompressing an archive, say) and consuming overlap, and no byte is
// copied but the tails the consumer moves.
//
// An exception from `read` or `on_block` is rethrown by Next(), after the
// blocks read before it. The destructor stops the reading thread (once its
// current `read` returns) and joins it. Next() and Recycle() are for one
// thread; `read` and `on_block` are only ever called on the reading thread,
// and not any more once Next() has returned nullptr or thrown.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace modelfs {

class ReadAheadStream {
 public:
  // Fills up to `capacity` bytes of `buffer`; returns how many, 0 at the end.
  using ReadFn = std::function<size_t(char* buffer, size_t capacity)>;
  using BlockFn = std::function<void(const char* data, size_t size)>;

  class Block {
   public:
    // The stream's bytes; headroom() writable bytes precede them.
    char* data() const { return storage_.get() + headroom_; }
    size_t size() const { return size_; }
    size_t headroom() const { return headroom_; }

   private:
    friend class ReadAheadStream;
    Block(size_t headroom, size_t block_size);

    std::unique_ptr<char[]> storage_;
    size_t headroom_;
    size_t size_ = 0;
  };

  // Starts the reading thread. `on_block` may be empty.
  ReadAheadStream(ReadFn read, BlockFn on_block, size_t block_size, size_t headroom);
  ~ReadAheadStream();
  ReadAheadStream(const ReadAheadStream&) = delete;
  ReadAheadStream& operator=(const ReadAheadStream&) = delete;

  // The next block of the stream, waiting for it if need be; nullptr after
  // the last one. Never returns an empty block.
  Block* Next();
  // Gives `block` (from Next) back for reuse.
  void Recycle(Block* block);

 private:
  // Two for the consumer, one being filled.
  static constexpr size_t kBlocks = 3;

  void ReadLoop();

  const ReadFn read_;
  const BlockFn on_block_;
  const size_t block_size_;
  std::vector<std::unique_ptr<Block>> blocks_;
  std::atomic<bool> cancelled_{false};

  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<Block*> free_;   // guarded by mu_
  std::deque<Block*> ready_;   // guarded by mu_; in stream order
  bool done_ = false;          // guarded by mu_: the reading thread has stopped
  std::exception_ptr error_;   // guarded by mu_
  std::thread thread_;         // last: it starts after everything above
};

}  // namespace modelfs
