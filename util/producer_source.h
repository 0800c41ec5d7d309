// util/producer_source.h — a ByteSource fed by a function that writes into a
// ByteSink on its own thread: an archive being written, read by an upload;
// or a download being received, read by an archive reader.
//
// The two sides meet in a bounded queue of blocks, so memory stays at
// about `queue_bytes` whatever the stream's length. An exception thrown by
// the producer is rethrown by Read(). Destroying the source before the end
// stops the producer (its next Write throws) and joins its thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "util/byte_stream.h"

namespace modelfs {

class ProducerSource : public ByteSource {
 public:
  using Producer = std::function<void(ByteSink* sink)>;

  ProducerSource(Producer produce, std::optional<uint64_t> size, std::string description,
                 size_t queue_bytes = 16 << 20);
  ~ProducerSource() override;
  ProducerSource(const ProducerSource&) = delete;
  ProducerSource& operator=(const ProducerSource&) = delete;

  size_t Read(char* buffer, size_t capacity) override;
  std::optional<uint64_t> size() const override { return size_; }
  std::string Describe() const override { return description_; }

 private:
  class PipeSink;

  void Push(const char* data, size_t n);

  const std::optional<uint64_t> size_;
  const std::string description_;
  const size_t queue_bytes_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::string> blocks_;   // guarded by mu_
  size_t queued_ = 0;                // bytes in blocks_
  size_t front_used_ = 0;            // bytes of blocks_.front() already read
  bool done_ = false;                // the producer returned or threw
  bool cancelled_ = false;           // the reader is gone
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace modelfs
