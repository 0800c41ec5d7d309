// remote/xz_writer.cc — see xz_writer.h.
//
// The .xz container is assembled from liblzma's building blocks: stream
// header, one block per block_size input bytes (stored or LZMA2), the index
// of every block's sizes, stream footer. A BlockPipeline cuts the blocks and
// runs a BlockEncoder per worker; Emit sends each encoded block to the sink,
// oldest first, and indexes it.
#include "remote/xz_writer.h"

#include <lzma.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "remote/compressibility.h"
#include "util/block_pipeline.h"
#include "util/error.h"

namespace modelfs::remote {
namespace {

// xz's default integrity check.
constexpr lzma_check kCheck = LZMA_CHECK_CRC64;

const char* LzmaRetText(lzma_ret ret) {
  switch (ret) {
    case LZMA_MEM_ERROR: return "out of memory";
    case LZMA_MEMLIMIT_ERROR: return "memory limit reached";
    case LZMA_OPTIONS_ERROR: return "unsupported options";
    case LZMA_DATA_ERROR: return "data error";
    case LZMA_BUF_ERROR: return "output buffer too small";
    case LZMA_UNSUPPORTED_CHECK: return "integrity check not supported";
    case LZMA_PROG_ERROR: return "invalid arguments";
    default: return "unexpected result";
  }
}

[[noreturn]] void ThrowLzma(const char* call, lzma_ret ret) {
  throw Error(ErrorCode::kIOError, std::string("xz encoder: ") + call + " failed: " + LzmaRetText(ret) +
                                       " (liblzma code " + std::to_string(static_cast<int>(ret)) + ")");
}

void CheckLzma(lzma_ret ret, const char* call) {
  if (ret != LZMA_OK) ThrowLzma(call, ret);
}

lzma_options_lzma PresetOptions(uint32_t preset) {
  lzma_options_lzma options;
  if (lzma_lzma_preset(&options, preset)) {
    throw Error(ErrorCode::kInvalidArgument, "xz encoder: unsupported LZMA preset " + std::to_string(preset));
  }
  return options;
}

using Block = BlockPipeline::Block;

// Encodes blocks on one worker thread into .xz blocks, block.detail being
// the unpadded size the index needs. Keeps its liblzma encoder between
// blocks, because setting up LZMA2's match finder afresh costs about as
// much as compressing a few hundred KiB.
class BlockEncoder : public BlockPipeline::Encoder {
 public:
  BlockEncoder(const lzma_options_lzma& lzma, double max_compressed_ratio)
      : lzma_(lzma), probe_(max_compressed_ratio) {}
  ~BlockEncoder() { lzma_end(&stream_); }

  BlockEncoder(const BlockEncoder&) = delete;
  BlockEncoder& operator=(const BlockEncoder&) = delete;

  void Encode(Block& block) override {
    const auto* data = reinterpret_cast<const uint8_t*>(block.input.bytes.get());
    const size_t size = block.input.size;
    if (!probe_.LooksCompressible(data, size) || !EncodeCompressed(data, size, block)) {
      EncodeStored(data, size, block);
    }
  }

 private:
  // LZMA2-compresses the block; false (block.output unspecified) when the
  // result would be larger than the input after all.
  bool EncodeCompressed(const uint8_t* data, size_t size, Block& block) {
    lzma_filter filters[] = {{LZMA_FILTER_LZMA2, &lzma_}, {LZMA_VLI_UNKNOWN, nullptr}};
    lzma_block options{};
    options.version = 0;
    options.check = kCheck;
    options.filters = filters;
    // Reserve header room for the largest acceptable Compressed Size; once
    // the real sizes are known, liblzma pads the header to the reserved size.
    options.compressed_size = size;
    options.uncompressed_size = size;
    CheckLzma(lzma_block_header_size(&options), "lzma_block_header_size");
    const size_t header_size = options.header_size;
    const size_t limit = header_size + size + 3 + lzma_check_size(kCheck);  // 3: block padding
    block.output.Reset(limit);
    auto* out = reinterpret_cast<uint8_t*>(block.output.bytes.get());

    CheckLzma(lzma_block_encoder(&stream_, &options), "lzma_block_encoder");
    stream_.next_in = data;
    stream_.avail_in = size;
    stream_.next_out = out + header_size;
    stream_.avail_out = limit - header_size;
    const lzma_ret ret = lzma_code(&stream_, LZMA_FINISH);
    // The stream keeps a pointer to `options` until the next
    // lzma_block_encoder call; it is not used again before then.
    if (ret == LZMA_OK || ret == LZMA_BUF_ERROR) return false;  // ran out of room
    if (ret != LZMA_STREAM_END) ThrowLzma("lzma_code", ret);
    if (options.compressed_size > size) return false;

    CheckLzma(lzma_block_header_encode(&options, out), "lzma_block_header_encode");
    block.output.size = limit - stream_.avail_out;
    block.detail = lzma_block_unpadded_size(&options);
    if (block.detail == 0) ThrowLzma("lzma_block_unpadded_size", LZMA_PROG_ERROR);
    return true;
  }

  // Stores the block as uncompressed LZMA2 chunks.
  static void EncodeStored(const uint8_t* data, size_t size, Block& block) {
    lzma_block options{};
    options.version = 0;
    options.check = kCheck;
    const size_t bound = lzma_block_buffer_bound(size);
    block.output.Reset(bound);
    size_t out_pos = 0;
    CheckLzma(lzma_block_uncomp_encode(&options, data, size, reinterpret_cast<uint8_t*>(block.output.bytes.get()),
                                       &out_pos, bound),
              "lzma_block_uncomp_encode");
    block.output.size = out_pos;
    block.detail = lzma_block_unpadded_size(&options);
    if (block.detail == 0) ThrowLzma("lzma_block_unpadded_size", LZMA_PROG_ERROR);
  }

  lzma_options_lzma lzma_;
  lzma_stream stream_ = LZMA_STREAM_INIT;
  CompressibilityProbe probe_;
};

struct IndexDeleter {
  void operator()(lzma_index* index) const { lzma_index_end(index, nullptr); }
};

}  // namespace

class XzWriter::Impl {
 public:
  Impl(Sink sink, const Options& options)
      : sink_(std::move(sink)), lzma_(PresetOptions(options.preset)), index_(lzma_index_init(nullptr)) {
    if (options.block_size == 0 || lzma_block_buffer_bound(options.block_size) == 0) {
      throw Error(ErrorCode::kInvalidArgument,
                  "xz encoder: unsupported block size " + std::to_string(options.block_size));
    }
    if (!index_) ThrowLzma("lzma_index_init", LZMA_MEM_ERROR);
    // A dictionary larger than a block would only cost memory, here and in
    // every decoder.
    lzma_.dict_size = static_cast<uint32_t>(
        std::min<size_t>(lzma_.dict_size, std::max<size_t>(options.block_size, LZMA_DICT_SIZE_MIN)));
    const double ratio = options.max_compressed_ratio;
    pipeline_.emplace(
        "xz encoder", options.block_size, options.threads,
        [this, ratio] { return std::make_unique<BlockEncoder>(lzma_, ratio); },
        [this](const Block& block) { Emit(block); });
  }

  void Write(const char* data, size_t size) {
    pipeline_->Write(data, size);
    bytes_in_ += size;
  }

  void Finish() {
    pipeline_->Finish();
    WriteHeaderOnce();

    std::vector<uint8_t> index(lzma_index_size(index_.get()));
    size_t index_pos = 0;
    CheckLzma(lzma_index_buffer_encode(index_.get(), index.data(), &index_pos, index.size()),
              "lzma_index_buffer_encode");
    Send(index.data(), index_pos);

    lzma_stream_flags flags{};
    flags.version = 0;
    flags.check = kCheck;
    flags.backward_size = lzma_index_size(index_.get());
    uint8_t footer[LZMA_STREAM_HEADER_SIZE];
    CheckLzma(lzma_stream_footer_encode(&flags, footer), "lzma_stream_footer_encode");
    Send(footer, sizeof(footer));
  }

  uint64_t bytes_in() const { return bytes_in_; }
  uint64_t bytes_out() const { return bytes_out_; }

 private:
  // Sends an encoded block to the sink and indexes it.
  void Emit(const Block& block) {
    WriteHeaderOnce();
    Send(reinterpret_cast<const uint8_t*>(block.output.bytes.get()), block.output.size);
    CheckLzma(lzma_index_append(index_.get(), nullptr, block.detail, block.input.size), "lzma_index_append");
  }

  void WriteHeaderOnce() {
    if (header_written_) return;
    lzma_stream_flags flags{};
    flags.version = 0;
    flags.check = kCheck;
    uint8_t header[LZMA_STREAM_HEADER_SIZE];
    CheckLzma(lzma_stream_header_encode(&flags, header), "lzma_stream_header_encode");
    Send(header, sizeof(header));
    header_written_ = true;
  }

  void Send(const uint8_t* data, size_t size) {
    sink_(reinterpret_cast<const char*>(data), size);
    bytes_out_ += size;
  }

  const Sink sink_;
  lzma_options_lzma lzma_;
  const std::unique_ptr<lzma_index, IndexDeleter> index_;
  uint64_t bytes_in_ = 0;
  std::atomic<uint64_t> bytes_out_{0};  // added to by Emit, on the workers
  bool header_written_ = false;
  std::optional<BlockPipeline> pipeline_;  // last: its workers stop first
};

XzWriter::XzWriter(Sink sink) : XzWriter(std::move(sink), Options()) {}
XzWriter::XzWriter(Sink sink, Options options) : impl_(std::make_unique<Impl>(std::move(sink), options)) {}
XzWriter::~XzWriter() = default;

void XzWriter::Write(const char* data, size_t size) { impl_->Write(data, size); }
void XzWriter::Finish() { impl_->Finish(); }
uint64_t XzWriter::bytes_in() const { return impl_->bytes_in(); }
uint64_t XzWriter::bytes_out() const { return impl_->bytes_out(); }

}  // namespace modelfs::remote
