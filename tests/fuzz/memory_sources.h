// tests/fuzz/memory_sources.h — a fuzz input as the remote and stream
// interfaces the archive parsers read from.
#pragma once

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>

#include "remote/range_fetcher.h"
#include "util/byte_stream.h"
#include "util/error.h"

namespace modelfs::fuzz {

// A remote file held in memory; a range past its end is an Error, as a
// server's short answer would be.
class MemoryFetcher : public remote::RangeFetcher {
 public:
  explicit MemoryFetcher(std::string_view bytes) : bytes_(bytes) {}
  void Fetch(uint64_t offset, size_t length, char* out, const Deadline& /*deadline*/) override {
    if (offset > bytes_.size() || length > bytes_.size() - offset) {
      throw Error(ErrorCode::kIOError, "the range is past the end of the fuzz input.");
    }
    std::memcpy(out, bytes_.data() + offset, length);
  }

 private:
  std::string_view bytes_;
};

// A stream over memory, seekable or not, handed out in reads of at most
// `chunk` bytes (so parsers see short reads).
class MemorySource : public ByteSource {
 public:
  MemorySource(std::string_view bytes, bool seekable, size_t chunk)
      : bytes_(bytes), seekable_(seekable), chunk_(std::max<size_t>(chunk, 1)) {}
  size_t Read(char* buffer, size_t capacity) override {
    const size_t n = std::min({capacity, chunk_, bytes_.size() - offset_});
    std::memcpy(buffer, bytes_.data() + offset_, n);
    offset_ += n;
    return n;
  }
  std::optional<uint64_t> size() const override { return bytes_.size(); }
  std::string Describe() const override { return "the fuzz input"; }
  bool Seek(uint64_t offset) override {
    if (!seekable_ || offset > bytes_.size()) return false;
    offset_ = static_cast<size_t>(offset);
    return true;
  }
  bool seekable() const override { return seekable_; }

 private:
  std::string_view bytes_;
  bool seekable_;
  size_t chunk_;
  size_t offset_ = 0;
};

}  // namespace modelfs::fuzz
