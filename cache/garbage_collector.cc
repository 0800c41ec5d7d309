#include "cache/garbage_collector.h"

#include <algorithm>
#include <map>
#include <vector>

#include <spdlog/spdlog.h>

#include "cache/chunk_writer.h"
#include "cache/pack_reader.h"
#include "util/error.h"
#include "util/file_io.h"

namespace modelfs::cache {
namespace {

struct LiveChunk {
  ChunkHash hash;
  ChunkLocation loc;
};

struct PackUsage {
  uint64_t committed = 0;
  uint64_t live_bytes = kPackFileHeaderSize;
  std::vector<LiveChunk> live;
};

std::map<uint32_t, PackUsage> MeasurePacks(const ChunkStore& store, const ChunkSet& live,
                                           std::vector<ChunkHash>* dead) {
  std::map<uint32_t, PackUsage> usage;
  for (const auto& p : store.ListPacks()) usage[p.id].committed = p.committed_length;
  store.index()->Scan(Column::kChunks, "", [&](std::string_view key, std::string_view value) {
    if (key.size() != ChunkHash::kSize) return true;
    ChunkHash hash = ChunkHash::FromBytes(key);
    auto loc = ChunkLocation::Decode(value);
    if (!live.count(hash) || !loc || !usage.count(loc->pack_id)) {
      if (dead) dead->push_back(hash);
      return true;
    }
    PackUsage& u = usage[loc->pack_id];
    u.live_bytes += loc->record_size();
    u.live.push_back({hash, *loc});
    return true;
  });
  return usage;
}

}  // namespace

GcEstimate GarbageCollector::Estimate(const ChunkSet& live) const {
  GcEstimate estimate;
  for (const auto& [id, u] : MeasurePacks(*store_, live, nullptr)) {
    estimate.pack_bytes += u.committed;
    estimate.garbage_bytes += u.committed - std::min(u.committed, u.live_bytes);
  }
  return estimate;
}

GcResult GarbageCollector::Collect(const ChunkSet& live) {
  GcResult result;
  std::vector<ChunkHash> dead;
  auto usage = MeasurePacks(*store_, live, &dead);

  Index::Batch batch;
  for (const auto& hash : dead) batch.Delete(Column::kChunks, hash.bytes());
  result.chunks_dropped = dead.size();

  auto writer = store_->NewWriter(/*fresh_packs=*/true);
  std::vector<uint32_t> retired;
  std::string record;
  for (auto& [id, u] : usage) {
    result.bytes_before += u.committed;
    const uint64_t garbage = u.committed - std::min(u.committed, u.live_bytes);
    if (u.live.empty()) {
      retired.push_back(id);
      ++result.packs_deleted;
      continue;
    }
    if (garbage < compact_fraction_ * static_cast<double>(u.committed)) {
      result.bytes_after += u.committed;
      continue;
    }
    // Copy the live records in file order; a damaged one keeps the pack.
    std::sort(u.live.begin(), u.live.end(),
              [](const LiveChunk& a, const LiveChunk& b) { return a.loc.offset < b.loc.offset; });
    PackReader reader(store_->PackPath(id));
    std::string decoded;
    bool intact = true;
    for (const auto& chunk : u.live) {
      record.resize(chunk.loc.record_size());
      reader.ReadExact(chunk.loc.offset, record.size(), record.data());
      auto header = RecordHeader::Decode(record.data());
      if (!header || !(header->hash == chunk.hash) ||
          !DecodeRecordPayload(*header, record.data() + kRecordHeaderSize, &decoded)) {
        spdlog::warn("pack {} holds a damaged chunk; not compacting it (see `modelfs verify`)",
                     store_->PackPath(id).string());
        intact = false;
        break;
      }
      writer->Relocate(*header, record.data() + kRecordHeaderSize);
    }
    if (!intact) {
      result.bytes_after += u.committed;
      continue;
    }
    retired.push_back(id);
    ++result.packs_compacted;
  }
  for (uint32_t id : retired) batch.Delete(Column::kMeta, ChunkStore::PackKey(id));
  writer->Prepare(&batch);
  store_->index()->Write(batch);
  writer->Committed();
  for (uint32_t id : writer->packs_written()) {
    result.bytes_after += std::filesystem::file_size(store_->PackPath(id));
  }
  store_->DropReaders();
  for (uint32_t id : retired) {
    std::error_code ec;
    std::filesystem::remove(store_->PackPath(id), ec);
  }
  if (!retired.empty()) FsyncDirectory(store_->dir());
  return result;
}

}  // namespace modelfs::cache
