// remote/zstd_writer.h — a multi-threaded .zst stream encoder, for writing
// .tar.zst exports at disk speed.
//
// The input is cut into blocks of a fixed uncompressed size, and each block
// becomes one zstd frame (with a content checksum), compressed on a worker
// thread (util/block_pipeline.h) and handed to the sink in order, one call
// at a time. Concatenated frames are one valid .zst stream:
// zstd, libarchive and Python's zstandard read them. A frame loses only the
// matches that would reach into the block before it, and level 1's window
// (512 KiB) reaches little further anyway.
//
// A block that a sample says would not shrink (see remote/compressibility.h:
// random or already-compressed bytes, whose zstd frames would hold only raw
// blocks anyway) is written as a stored frame: raw blocks and a checksum,
// sent to the sink straight from the input, without passing through zstd.
// Together with libarchive writing no blocks of its own, this took a warm
// 256 MiB export of random weights from 0.32–0.39 to 0.23–0.31 CPU seconds
// (docs/performance.md).
//
// Each block is compressed in one call from the pipeline's buffer: zstd's
// streaming API would first copy every byte into its own window, and its
// own worker threads (ZSTD_c_nbWorkers) made a warm 256 MiB export slower
// (0.29–0.35 s against 0.23–0.26 s single-threaded).
//
// Any exception — from zstd (Error kIOError) or from the sink — propagates
// out of the next Write or Finish; the writer is then broken and further
// calls throw.
// Not thread-safe: one thread calls Write and Finish.
#pragma once

#include <cstddef>
#include <memory>

#include "remote/compressibility.h"
#include "remote/stream_encoder.h"

namespace modelfs::remote {

class ZstdWriter : public StreamEncoder {
 public:
  struct Options {
    // Uncompressed bytes per frame; also the unit of parallel work.
    size_t block_size = size_t{2} << 20;
    // Compressing threads; 0 = one per hardware thread.
    unsigned threads = 0;
    int level = 1;
    // A block goes through zstd only when a 32 KiB sample of it is estimated
    // to shrink to at most this fraction of its size; the others are stored.
    // Values above kMaxUsefulCompressedRatio act as it.
    double max_compressed_ratio = kMaxUsefulCompressedRatio;
  };

  explicit ZstdWriter(Sink sink);
  ZstdWriter(Sink sink, Options options);
  // Stops and joins the workers. Without a successful Finish the output may
  // lack its last frames.
  ~ZstdWriter() override;
  ZstdWriter(const ZstdWriter&) = delete;
  ZstdWriter& operator=(const ZstdWriter&) = delete;

  // May block while the in-flight blocks are all busy.
  void Write(const char* data, size_t size) override;
  // Compresses the last partial block and emits every frame left (an empty
  // stream gets one empty frame).
  void Finish() override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace modelfs::remote
