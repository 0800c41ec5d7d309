// remote/range_fetcher.h — the interface lazy reads fetch bytes through.
//
// A RangeFetcher reads byte ranges of one remote file. Implementations must
// be thread-safe: a LazyFile calls Fetch() from several threads at once.
#pragma once

#include <cstddef>
#include <cstdint>

namespace modelfs::remote {

class RangeFetcher {
 public:
  virtual ~RangeFetcher() = default;

  // Writes bytes [offset, offset + length) of the file to out[0, length):
  // exactly `length` bytes, or throws modelfs::Error.
  virtual void Fetch(uint64_t offset, size_t length, char* out) = 0;
};

}  // namespace modelfs::remote
