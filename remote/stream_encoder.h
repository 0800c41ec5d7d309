// remote/stream_encoder.h — what the compressors of archive exports share:
// bytes in through Write, the encoded stream out through a Sink, and Finish
// to end the stream (XzWriter for .bentomodel, ZstdWriter for .tar.zst).
#pragma once

#include <cstddef>
#include <functional>

namespace modelfs::remote {

class StreamEncoder {
 public:
  // Receives the encoded bytes in order, one call at a time, on a worker
  // thread or on the thread calling Write or Finish. May throw; the exception
  // propagates out of the next Write or Finish. (Not to be confused with
  // modelfs::ByteSink, an archive's destination, which a Sink usually
  // writes to.)
  using Sink = std::function<void(const char* data, size_t size)>;

  virtual ~StreamEncoder() = default;

  // Appends `size` bytes. May block while the encoder is busy; may emit
  // encoded bytes to the sink.
  virtual void Write(const char* data, size_t size) = 0;
  // Encodes what is left and emits the rest of the stream. Call exactly
  // once; no Write after it.
  virtual void Finish() = 0;
};

}  // namespace modelfs::remote
