// remote/zstd_writer.cc — see zstd_writer.h.
#include "remote/zstd_writer.h"

#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <optional>
#include <string>

#include "remote/compressibility.h"
#include "util/block_pipeline.h"
#include "util/error.h"

namespace modelfs::remote {
namespace {

using Block = BlockPipeline::Block;

[[noreturn]] void ThrowZstd(size_t code) {
  throw Error(ErrorCode::kIOError, std::string("zstd encoder: ") + ZSTD_getErrorName(code));
}

// A stored frame (RFC 8878): the frame header, then the block's bytes as
// raw blocks of at most kMaxRawBlock bytes, each behind a 3-byte block
// header, then the content checksum. Encode puts the frame header and the
// checksum in block.output and the header's length in block.detail; Emit
// sends the raw blocks straight from block.input, so a stored byte is copied
// once, into the sink, and never passes through zstd.
constexpr uint32_t kFrameMagic = 0xFD2FB528;
constexpr size_t kMaxRawBlock = 128 << 10;  // zstd's largest block
constexpr size_t kRawBlockHeaderSize = 3;
constexpr size_t kChecksumSize = 4;

void PutLittleEndian(uint64_t value, size_t bytes, char* out) {
  for (size_t i = 0; i < bytes; ++i) out[i] = static_cast<char>(value >> (8 * i));
}

// Frame header of a stored frame of `size` (< 2^32) bytes: a single segment
// (the window is the content), a 4-byte content size, a checksum.
constexpr size_t kStoredFrameHeaderSize = 9;
void EncodeStoredFrameHeader(uint32_t size, char* out) {
  PutLittleEndian(kFrameMagic, 4, out);
  // Frame_Content_Size_flag 2 (4 bytes), Single_Segment_flag,
  // Content_Checksum_flag, no dictionary.
  out[4] = static_cast<char>((2 << 6) | (1 << 5) | (1 << 2));
  PutLittleEndian(size, 4, out + 5);
}

// Encodes blocks on one worker thread: into zstd frames when they look
// compressible, else into stored frames. Keeps its zstd context between
// blocks.
class FrameEncoder : public BlockPipeline::Encoder {
 public:
  FrameEncoder(int level, double max_compressed_ratio)
      : ctx_(ZSTD_createCCtx()), probe_(max_compressed_ratio) {
    if (!ctx_) throw Error(ErrorCode::kIOError, "zstd encoder: out of memory");
    for (size_t rc : {ZSTD_CCtx_setParameter(ctx_, ZSTD_c_compressionLevel, level),
                      ZSTD_CCtx_setParameter(ctx_, ZSTD_c_checksumFlag, 1)}) {
      if (ZSTD_isError(rc)) {
        ZSTD_freeCCtx(ctx_);
        ThrowZstd(rc);
      }
    }
  }
  ~FrameEncoder() override { ZSTD_freeCCtx(ctx_); }
  FrameEncoder(const FrameEncoder&) = delete;
  FrameEncoder& operator=(const FrameEncoder&) = delete;

  void Encode(Block& block) override {
    const char* data = block.input.bytes.get();
    const size_t size = block.input.size;
    if (size > 0 && size <= UINT32_MAX &&
        !probe_.LooksCompressible(reinterpret_cast<const uint8_t*>(data), size)) {
      EncodeStored(data, size, block);
      return;
    }
    Compress(data, size, &block.output);
    block.detail = 0;
  }

  void Compress(const char* data, size_t size, BlockPipeline::Buffer* out) {
    out->Reset(ZSTD_compressBound(size));
    const size_t n = ZSTD_compress2(ctx_, out->bytes.get(), out->capacity, data, size);
    if (ZSTD_isError(n)) ThrowZstd(n);
    out->size = n;
  }

 private:
  static void EncodeStored(const char* data, size_t size, Block& block) {
    block.output.Reset(kStoredFrameHeaderSize + kChecksumSize);
    char* out = block.output.bytes.get();
    EncodeStoredFrameHeader(static_cast<uint32_t>(size), out);
    // The checksum is the low 32 bits of the content's XXH64.
    PutLittleEndian(XXH64(data, size, 0), kChecksumSize, out + kStoredFrameHeaderSize);
    block.output.size = kStoredFrameHeaderSize + kChecksumSize;
    block.detail = kStoredFrameHeaderSize;
  }

  ZSTD_CCtx* ctx_;
  CompressibilityProbe probe_;
};

// Sends `block`, encoded by FrameEncoder, to `sink`.
void EmitFrame(const Block& block, const StreamEncoder::Sink& sink) {
  const char* out = block.output.bytes.get();
  if (block.detail == 0) {  // a zstd frame
    sink(out, block.output.size);
    return;
  }
  sink(out, block.detail);  // a stored frame's header
  const char* data = block.input.bytes.get();
  for (size_t done = 0; done < block.input.size;) {
    const size_t n = std::min(kMaxRawBlock, block.input.size - done);
    const bool last = done + n == block.input.size;
    char header[kRawBlockHeaderSize];
    // Last_Block bit, Block_Type 0 (raw), Block_Size.
    PutLittleEndian((uint64_t{n} << 3) | (last ? 1 : 0), kRawBlockHeaderSize, header);
    sink(header, kRawBlockHeaderSize);
    sink(data + done, n);
    done += n;
  }
  sink(out + block.detail, block.output.size - block.detail);  // the checksum
}

}  // namespace

class ZstdWriter::Impl {
 public:
  Impl(Sink sink, const Options& options) : sink_(std::move(sink)), level_(options.level) {
    pipeline_.emplace(
        "zstd encoder", options.block_size, options.threads,
        [this, ratio = options.max_compressed_ratio] {
          return std::make_unique<FrameEncoder>(level_, ratio);
        },
        [this](const Block& block) {
          EmitFrame(block, sink_);
          ++frames_;
        });
  }

  void Write(const char* data, size_t size) { pipeline_->Write(data, size); }

  void Finish() {
    pipeline_->Finish();
    if (frames_ == 0) {  // no input: one empty frame, so the stream is still a .zst
      BlockPipeline::Buffer frame;
      FrameEncoder(level_, kMaxUsefulCompressedRatio).Compress(nullptr, 0, &frame);
      sink_(frame.bytes.get(), frame.size);
    }
  }

 private:
  const Sink sink_;
  const int level_;
  uint64_t frames_ = 0;
  std::optional<BlockPipeline> pipeline_;  // last: its workers stop first
};

ZstdWriter::ZstdWriter(Sink sink) : ZstdWriter(std::move(sink), Options()) {}
ZstdWriter::ZstdWriter(Sink sink, Options options) : impl_(std::make_unique<Impl>(std::move(sink), options)) {}
ZstdWriter::~ZstdWriter() = default;

void ZstdWriter::Write(const char* data, size_t size) { impl_->Write(data, size); }
void ZstdWriter::Finish() { impl_->Finish(); }

}  // namespace modelfs::remote
