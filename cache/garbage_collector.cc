#include "cache/garbage_collector.h"

#include <algorithm>
#include <map>
#include <vector>

#include <spdlog/spdlog.h>

#include "cache/chunk_writer.h"
#include "cache/pack_reader.h"
#include "util/disk_space.h"
#include "util/error.h"
#include "util/file_io.h"

namespace modelfs::cache {

struct GarbageCollector::LiveChunk {
  ChunkHash hash;
  ChunkLocation loc;
};

struct GarbageCollector::PackUsage {
  uint64_t committed = 0;
  uint64_t live_bytes = kPackFileHeaderSize;
  std::vector<LiveChunk> live;
};

namespace {

using LiveChunk = GarbageCollector::LiveChunk;
using PackUsage = GarbageCollector::PackUsage;

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
  for (const auto& [id, u] : usage) result.bytes_before += u.committed;

  // First what costs no space: forget the dead chunks and the packs without
  // live data, then delete those packs.
  Index::Batch batch;
  for (const auto& hash : dead) batch.Delete(Column::kChunks, hash.bytes());
  result.chunks_dropped = dead.size();
  std::vector<uint32_t> empty;
  for (const auto& [id, u] : usage) {
    if (u.live.empty()) {
      empty.push_back(id);
      batch.Delete(Column::kMeta, ChunkStore::PackKey(id));
    }
  }
  if (batch.count() > 0) store_->index()->Write(batch);
  RemovePacks(empty);
  result.packs_deleted = empty.size();

  // Then compaction, the packs with the least live data first.
  std::vector<std::pair<uint32_t, PackUsage*>> todo;
  for (auto& [id, u] : usage) {
    const uint64_t garbage = u.committed - std::min(u.committed, u.live_bytes);
    if (!u.live.empty() && garbage >= compact_fraction_ * static_cast<double>(u.committed)) {
      todo.emplace_back(id, &u);
    }
  }
  std::sort(todo.begin(), todo.end(),
            [](const auto& a, const auto& b) { return a.second->live_bytes < b.second->live_bytes; });
  size_t next = 0;
  while (next < todo.size()) {
    // A round: as many packs as their copies fit in the room left.
    const uint64_t room = BulkWritableBytes(store_->dir(), kCompactionReserveBytes);
    std::vector<std::pair<uint32_t, PackUsage*>> round;
    uint64_t copy_bytes = 0;
    while (next < todo.size() && copy_bytes + todo[next].second->live_bytes <= room) {
      copy_bytes += todo[next].second->live_bytes;
      round.push_back(todo[next++]);
    }
    if (round.empty()) break;
    result.packs_compacted += CompactRound(round);
  }
  if (next < todo.size()) {
    result.space_needed = todo[next].second->live_bytes + kCompactionReserveBytes;
    for (; next < todo.size(); ++next) {
      const PackUsage& u = *todo[next].second;
      ++result.packs_too_big;
      result.garbage_left += u.committed - std::min(u.committed, u.live_bytes);
    }
    spdlog::warn("gc left {} packs with {} bytes of garbage: compacting the smallest needs {} "
                 "bytes free, {} are",
                 result.packs_too_big, result.garbage_left, result.space_needed,
                 AvailableBytes(store_->dir()));
  }
  for (const auto& p : store_->ListPacks()) result.bytes_after += p.committed_length;
  return result;
}

uint64_t GarbageCollector::CompactRound(std::vector<std::pair<uint32_t, PackUsage*>>& round) {
  auto writer = store_->NewWriter(/*fresh_packs=*/true, kCompactionReserveBytes);
  std::vector<uint32_t> retired;
  std::string record;
  std::string decoded;
  for (auto& [id, u] : round) {
    // Copy the live records in file order; a damaged one keeps the pack.
    std::sort(u->live.begin(), u->live.end(),
              [](const LiveChunk& a, const LiveChunk& b) { return a.loc.offset < b.loc.offset; });
    PackReader reader(store_->PackPath(id));
    bool intact = true;
    for (const auto& chunk : u->live) {
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
    if (intact) retired.push_back(id);
  }
  Index::Batch batch;
  for (uint32_t id : retired) batch.Delete(Column::kMeta, ChunkStore::PackKey(id));
  writer->Prepare(&batch);
  store_->index()->Write(batch);
  writer->Committed();
  RemovePacks(retired);
  return retired.size();
}

void GarbageCollector::RemovePacks(const std::vector<uint32_t>& ids) {
  if (ids.empty()) return;
  store_->DropReaders();
  for (uint32_t id : ids) {
    std::error_code ec;
    std::filesystem::remove(store_->PackPath(id), ec);
  }
  FsyncDirectory(store_->dir());
}

}  // namespace modelfs::cache
