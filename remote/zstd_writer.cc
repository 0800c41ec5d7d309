// remote/zstd_writer.cc — see zstd_writer.h.
#include "remote/zstd_writer.h"

#include <zstd.h>

#include <optional>
#include <string>

#include "util/block_pipeline.h"
#include "util/error.h"

namespace modelfs::remote {
namespace {

using Block = BlockPipeline::Block;

[[noreturn]] void ThrowZstd(size_t code) {
  throw Error(ErrorCode::kIOError, std::string("zstd encoder: ") + ZSTD_getErrorName(code));
}

// Compresses blocks into frames on one worker thread, with a context kept
// between blocks.
class FrameEncoder : public BlockPipeline::Encoder {
 public:
  explicit FrameEncoder(int level) : ctx_(ZSTD_createCCtx()) {
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

  void Encode(Block& block) override { Compress(block.input.bytes.get(), block.input.size, &block.output); }

  void Compress(const char* data, size_t size, BlockPipeline::Buffer* out) {
    out->Reset(ZSTD_compressBound(size));
    const size_t n = ZSTD_compress2(ctx_, out->bytes.get(), out->capacity, data, size);
    if (ZSTD_isError(n)) ThrowZstd(n);
    out->size = n;
  }

 private:
  ZSTD_CCtx* ctx_;
};

}  // namespace

class ZstdWriter::Impl {
 public:
  Impl(Sink sink, const Options& options) : sink_(std::move(sink)), level_(options.level) {
    pipeline_.emplace(
        "zstd encoder", options.block_size, options.threads,
        [this] { return std::make_unique<FrameEncoder>(level_); },
        [this](const Block& block) {
          sink_(block.output.bytes.get(), block.output.size);
          ++frames_;
        });
  }

  void Write(const char* data, size_t size) { pipeline_->Write(data, size); }

  void Finish() {
    pipeline_->Finish();
    if (frames_ == 0) {  // no input: one empty frame, so the stream is still a .zst
      BlockPipeline::Buffer frame;
      FrameEncoder(level_).Compress(nullptr, 0, &frame);
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
