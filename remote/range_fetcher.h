// remote/range_fetcher.h — the interface lazy reads fetch bytes through.
//
// A RangeFetcher reads byte ranges of one remote file. Implementations must
// be thread-safe: a LazyFile calls Fetch() from several threads at once.
// A fetch ends by its Deadline: Error(kTimedOut) once its time has come,
// Error(kInterrupted) soon after its token stops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "util/deadline.h"

namespace modelfs::remote {

class RangeFetcher {
 public:
  virtual ~RangeFetcher() = default;

  // Writes bytes [offset, offset + length) of the file to out[0, length):
  // exactly `length` bytes, or throws modelfs::Error.
  virtual void Fetch(uint64_t offset, size_t length, char* out, const Deadline& deadline) = 0;

  // The same bytes handed to `sink` in order, piece by piece, as they
  // arrive (each byte exactly once), so no buffer of `length` is needed.
  // The default fetches into a buffer and hands it over whole.
  using Sink = std::function<void(const char* data, size_t size)>;
  virtual void FetchTo(uint64_t offset, size_t length, const Sink& sink, const Deadline& deadline) {
    std::unique_ptr<char[]> buf(new char[length]);
    Fetch(offset, length, buf.get(), deadline);
    sink(buf.get(), length);
  }
};

}  // namespace modelfs::remote
