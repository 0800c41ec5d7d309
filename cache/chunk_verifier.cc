#include "cache/chunk_verifier.h"

#include <cstdio>
#include <map>
#include <unordered_map>

#include "cache/pack_scanner.h"
#include "util/error.h"

namespace modelfs::cache {
namespace {

struct PackRecordKey {
  uint32_t pack;
  uint64_t offset;
  bool operator<(const PackRecordKey& o) const {
    return pack != o.pack ? pack < o.pack : offset < o.offset;
  }
};

}  // namespace

VerifyResult ChunkVerifier::VerifyAll() const {
  VerifyResult result;
  std::map<PackRecordKey, ChunkHash> intact;
  for (const auto& pack : store_->ListPacks()) {
    const auto path = store_->PackPath(pack.id);
    const std::string name = path.filename().string();
    ++result.packs;
    if (!std::filesystem::exists(path)) {
      result.damage.push_back({name, 0, pack.committed_length, "pack file is missing"});
      continue;
    }
    result.bytes += pack.committed_length;
    PackScanner::Scan(
        path, pack.committed_length,
        [&](const ScannedRecord& r) {
          ++result.records;
          if (r.payload_ok) intact[{pack.id, r.offset}] = r.header.hash;
        },
        [&](const PackDamage& d) { result.damage.push_back({name, d.offset, d.length, d.reason}); });
  }
  store_->index()->Scan(Column::kChunks, "", [&](std::string_view key, std::string_view value) {
    if (key.size() != ChunkHash::kSize) return true;
    ChunkHash hash = ChunkHash::FromBytes(key);
    auto loc = ChunkLocation::Decode(value);
    auto it = loc ? intact.find({loc->pack_id, loc->offset}) : intact.end();
    if (it == intact.end() || !(it->second == hash)) result.bad_chunks.insert(hash);
    return true;
  });
  return result;
}

RebuildResult ChunkVerifier::RebuildIndex() {
  RebuildResult result;
  std::map<uint32_t, std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(store_->dir())) {
    unsigned id = 0;
    const std::string name = entry.path().filename().string();
    if (std::sscanf(name.c_str(), "pack-%8x.pack", &id) == 1 && store_->PackPath(id) == entry.path()) {
      files[id] = entry.path();
    }
  }
  Index::Batch batch;
  for (const auto& pack : store_->ListPacks()) batch.Delete(Column::kMeta, ChunkStore::PackKey(pack.id));
  std::unordered_map<ChunkHash, ChunkLocation, ChunkHashHasher> found;
  for (const auto& [pack_id, path] : files) {
    const uint32_t id = pack_id;  // clang 14 cannot capture a structured binding
    const uint64_t size = std::filesystem::file_size(path);
    ++result.packs;
    const std::string name = path.filename().string();
    PackScanner::Scan(
        path, size,
        [&](const ScannedRecord& r) {
          if (!r.payload_ok || found.count(r.header.hash)) return;
          found[r.header.hash] = {id, r.offset, r.header.stored_size, r.header.raw_size,
                                  r.header.codec};
        },
        [&](const PackDamage& d) { result.damage.push_back({name, d.offset, d.length, d.reason}); });
    batch.Put(Column::kMeta, ChunkStore::PackKey(id), ChunkStore::EncodeLength(size));
  }
  store_->index()->Clear(Column::kChunks);
  for (const auto& [hash, loc] : found) batch.Put(Column::kChunks, hash.bytes(), loc.Encode());
  result.chunks = found.size();
  store_->index()->Write(batch);
  store_->DropReaders();
  return result;
}

}  // namespace modelfs::cache
