// util/byte_stream.h — the two ends an archive is read from and written to:
// a local file, an S3 object, an HTTP download.
//
// A ByteSource yields a stream's bytes in order, once. A ByteSink takes
// bytes in order and publishes them only on Commit(): a sink destroyed
// without Commit() leaves nothing behind at its destination (a partial
// local file is deleted, a multipart upload is aborted), so a failed export
// never leaves a truncated archive where a good one is expected.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace modelfs {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Fills up to `capacity` bytes; returns how many, 0 only at the end.
  // Throws Error on a failure.
  virtual size_t Read(char* buffer, size_t capacity) = 0;
  // The whole stream's size when known in advance.
  virtual std::optional<uint64_t> size() const = 0;
  // What it reads, for messages ("/tmp/a.bentomodel", "s3://b/k").
  virtual std::string Describe() const = 0;
  // Moves to `offset` (from the start) and returns true, when the source
  // can; a zip's directory is at its end, so zips are read best seekably.
  virtual bool Seek(uint64_t /*offset*/) { return false; }
  virtual bool seekable() const { return false; }
};

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Throws Error on a failure; the sink is then unusable.
  virtual void Write(const char* data, size_t size) = 0;
  // Makes everything written visible at the destination, atomically where
  // the destination allows it. Called at most once.
  virtual void Commit() = 0;
  virtual std::string Describe() const = 0;
};

}  // namespace modelfs
