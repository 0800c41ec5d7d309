// src/file_reader.h — random-access reads of one file of a model, whatever
// holds its bytes (the chunk store, or a remote file being fetched).
//
// Every byte a FileReader returns was verified: by its chunk hash, or (for
// bytes of a remote file) by the file's digest once the file is complete.
// Implementations are safe to share between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

namespace modelfs {

class FileReader {
 public:
  // `length` bytes at `offset` in `buffer`, kept alive by the shared_ptr.
  struct Segment {
    std::shared_ptr<const std::string> buffer;
    size_t offset;
    size_t length;
  };

  virtual ~FileReader() = default;

  // Appends the pieces of [offset, offset + n) to `segments`, without a copy
  // where the implementation can; returns their total, short only at end of
  // file. Throws Error on damaged data or a failed fetch. A read that waits
  // for the network gives up after the read timeout (Error(kTimedOut)) and
  // once `interrupt` is stopped (Error(kInterrupted)).
  virtual size_t ReadSegments(uint64_t offset, size_t n, std::vector<Segment>* segments,
                              const std::stop_token& interrupt) = 0;
  // The same, copied into `out`.
  virtual size_t ReadAt(uint64_t offset, size_t n, char* out) = 0;

  virtual uint64_t size() const = 0;
  // False while some bytes served may still prove wrong (a remote file not
  // yet complete and verified): the kernel must not keep them cached.
  virtual bool verified() const { return true; }
};

}  // namespace modelfs
