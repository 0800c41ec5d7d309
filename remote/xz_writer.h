// remote/xz_writer.h — a fast, multi-threaded .xz stream encoder, for
// writing .bentomodel exports (xz-compressed tars) at disk speed.
//
// The output is one standard .xz stream (CRC64 checks, LZMA2 blocks, index,
// footer) that xz, Python's lzma/tarfile and libarchive read. The input is cut
// into blocks of a fixed uncompressed size. Each block is judged from a small
// sample: blocks that would shrink little (model weights, already-compressed
// data) are stored as uncompressed LZMA2 chunks at memcpy+CRC speed; the rest
// (JSON, text, zero runs) are LZMA2-compressed at Options::preset. Blocks are
// encoded on worker threads (util/block_pipeline.h), at most 2 × threads of
// them in flight, and handed to the sink strictly in order, one call at a time.
//
// The output is a pure function of the input bytes and the options other than
// `threads`: how the input is split across Write calls does not matter.
//
// Any exception — from liblzma (Error kIOError) or from the sink — propagates
// out of the next Write or Finish; the writer is then broken and further
// calls throw.
// Not thread-safe: one thread calls Write and Finish.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "remote/stream_encoder.h"

namespace modelfs::remote {

class XzWriter : public StreamEncoder {
 public:
  struct Options {
    // Uncompressed bytes per .xz block; also the unit of parallel work.
    // Measured (bench/xz_throughput): 2 MiB stores random data ~25% faster
    // than 1 MiB (fewer per-block costs) and compresses JSON as fast, and
    // faster than 4–8 MiB (the match finder's tables stay in cache), at the
    // same ratio.
    size_t block_size = size_t{2} << 20;
    // Encoding threads; 0 = one per hardware thread.
    unsigned threads = 0;
    // LZMA2 preset (0–9, optionally | LZMA_PRESET_EXTREME) for compressible blocks.
    uint32_t preset = 1;
    // A block is compressed only when a 32 KiB sample of it is estimated to
    // shrink to at most this fraction of its size. Model weights estimate at
    // 0.78 (bf16) to 0.92 (f32): the few tens of percent LZMA saves on them
    // are not worth an export 100× slower. Text, JSON and zero runs estimate
    // below 0.25. Values above 0.97 act as 0.97.
    double max_compressed_ratio = 0.5;
  };

  // Starts the worker threads; writes nothing yet. Throws Error
  // kInvalidArgument for a zero block size or a preset liblzma rejects.
  explicit XzWriter(Sink sink);
  XzWriter(Sink sink, Options options);
  // Stops and joins the workers. Without a successful Finish the output is an
  // incomplete .xz stream (no index, no footer).
  ~XzWriter() override;

  XzWriter(const XzWriter&) = delete;
  XzWriter& operator=(const XzWriter&) = delete;

  // May block while the in-flight blocks are all busy.
  void Write(const char* data, size_t size) override;
  // Encodes the last partial block, then emits every remaining block, the
  // index and the stream footer.
  void Finish() override;

  uint64_t bytes_in() const;   // uncompressed bytes accepted by Write
  uint64_t bytes_out() const;  // encoded bytes the sink has accepted; exact after Finish

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace modelfs::remote
