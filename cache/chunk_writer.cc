#include "cache/chunk_writer.h"

#include <unistd.h>

#include <algorithm>

#include <spdlog/spdlog.h>
#include <zstd.h>

#include "cache/chunk_store.h"
#include "util/disk_space.h"
#include "util/error.h"
#include "util/file_io.h"

namespace modelfs::cache {
namespace {

constexpr int kZstdLevel = 3;
constexpr int kGiveUpAfter = 4;          // failures before probing sparsely
constexpr uint64_t kProbeInterval = 32;  // then try one chunk in this many
// Compression must save at least 1/8 of the chunk to be worth a decode on read.
bool SavesEnough(size_t raw, size_t compressed) { return compressed <= raw - raw / 8; }
// Free space is checked before each of these many bytes is appended.
constexpr uint64_t kRoomStep = 1 << 20;

}  // namespace

ChunkWriter::ChunkWriter(ChunkStore* store, bool append_to_last_pack, uint64_t reserve)
    : store_(store), reserve_(reserve) {
  const auto packs = store_->ListPacks();
  for (const auto& p : packs) next_pack_id_ = std::max(next_pack_id_, p.id + 1);
  // Append to the newest pack when it has room, so small saves do not each
  // make a file of their own.
  if (append_to_last_pack && !packs.empty() && packs.back().committed_length < kMaxPackSize) {
    const auto& last = packs.back();
    packs_[last.id] = {last.committed_length,
                       std::make_unique<PackWriter>(store_->PackPath(last.id), last.committed_length)};
    current_pack_ = last.id;
    has_current_ = true;
  }
  zstd_ctx_ = ZSTD_createCCtx();
}

ChunkWriter::~ChunkWriter() {
  if (!committed_) Rollback();
  ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(zstd_ctx_));
}

void ChunkWriter::BeginFile() {
  failed_in_a_row_ = 0;
  chunks_in_file_ = 0;
}

bool ChunkWriter::ShouldTryCompression() {
  const uint64_t index = chunks_in_file_++;
  return failed_in_a_row_ < kGiveUpAfter || index % kProbeInterval == 0;
}

bool ChunkWriter::Put(const ChunkHash& hash, const uint8_t* data, size_t n) {
  if (pending_.count(hash) || store_->Locate(hash)) return false;
  RecordHeader header;
  header.hash = hash;
  header.raw_size = static_cast<uint32_t>(n);
  const char* payload = reinterpret_cast<const char*>(data);
  header.codec = Codec::kRaw;
  header.stored_size = header.raw_size;
  if (n >= 64 && ShouldTryCompression()) {
    compress_buffer_.resize(ZSTD_compressBound(n));
    size_t c = ZSTD_compressCCtx(static_cast<ZSTD_CCtx*>(zstd_ctx_), compress_buffer_.data(),
                                 compress_buffer_.size(), data, n, kZstdLevel);
    if (!ZSTD_isError(c) && SavesEnough(n, c)) {
      header.codec = Codec::kZstd;
      header.stored_size = static_cast<uint32_t>(c);
      payload = compress_buffer_.data();
      failed_in_a_row_ = 0;
    } else {
      ++failed_in_a_row_;
    }
  }
  Append(header, payload);
  ++new_chunks_;
  return true;
}

void ChunkWriter::Relocate(const RecordHeader& header, const char* payload) {
  Append(header, payload);
}

void ChunkWriter::Append(const RecordHeader& header, const char* payload) {
  const size_t record_size = kRecordHeaderSize + header.stored_size;
  if (stored_bytes_ + record_size > room_checked_until_) {
    RequireRoomFor(store_->dir(), std::max<uint64_t>(kRoomStep, record_size), "the store's packs",
                   reserve_);
    room_checked_until_ = stored_bytes_ + std::max<uint64_t>(kRoomStep, record_size);
  }
  if (!has_current_ || packs_[current_pack_].writer->size() + record_size > kMaxPackSize) {
    OpenPack();
  }
  PackWriter& pack = *packs_[current_pack_].writer;
  ChunkLocation loc;
  loc.pack_id = current_pack_;
  loc.offset = pack.Append(header, payload);
  loc.stored_size = header.stored_size;
  loc.raw_size = header.raw_size;
  loc.codec = header.codec;
  pending_[header.hash] = loc;
  stored_bytes_ += record_size;
}

void ChunkWriter::OpenPack() {
  const uint32_t id = next_pack_id_++;
  packs_[id] = {0, std::make_unique<PackWriter>(store_->PackPath(id), 0)};
  current_pack_ = id;
  has_current_ = true;
}

void ChunkWriter::Prepare(Index::Batch* batch) {
  bool created = false;
  for (auto& [id, pack] : packs_) {
    if (pack.writer->size() == pack.start_length) continue;
    pack.writer->Sync();
    created |= pack.start_length == 0;
    batch->Put(Column::kMeta, ChunkStore::PackKey(id), ChunkStore::EncodeLength(pack.writer->size()));
  }
  if (created) FsyncDirectory(store_->dir());
  for (const auto& [hash, loc] : pending_) batch->Put(Column::kChunks, hash.bytes(), loc.Encode());
}

void ChunkWriter::Committed() { committed_ = true; }

std::vector<uint32_t> ChunkWriter::packs_written() const {
  std::vector<uint32_t> ids;
  for (const auto& [id, pack] : packs_) {
    if (pack.writer->size() != pack.start_length) ids.push_back(id);
  }
  return ids;
}

void ChunkWriter::Rollback() noexcept {
  for (auto& [id, pack] : packs_) {
    try {
      const auto path = pack.writer->path();
      pack.writer.reset();
      if (pack.start_length == 0) {
        std::error_code ec;
        std::filesystem::remove(path, ec);
      } else if (::truncate(path.c_str(), static_cast<off_t>(pack.start_length)) != 0) {
        spdlog::warn("cannot roll back pack {}; the next write will", path.string());
      }
    } catch (const std::exception& e) {
      spdlog::warn("rollback of a pack failed: {}", e.what());
    }
  }
  packs_.clear();
}

}  // namespace modelfs::cache
