#include "cache/chunk_store.h"

#include <unistd.h>

#include <cstdio>

#include <spdlog/spdlog.h>

#include "cache/chunk_writer.h"
#include "util/coding.h"
#include "util/error.h"
#include "util/file_io.h"

namespace modelfs::cache {
namespace {

constexpr char kPackPrefix[] = "pack/";

std::optional<uint32_t> ParsePackFileName(const std::string& name) {
  unsigned id = 0;
  char tail = 0;
  if (name.size() != 18 || std::sscanf(name.c_str(), "pack-%8x.pac%c", &id, &tail) != 2 ||
      tail != 'k') {
    return std::nullopt;
  }
  return id;
}

}  // namespace

ChunkStore::ChunkStore(std::filesystem::path packs_dir, Index* index)
    : dir_(std::move(packs_dir)), index_(index) {}

ChunkStore::~ChunkStore() = default;

std::string ChunkStore::PackKey(uint32_t id) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%08x", id);
  return std::string(kPackPrefix) + buf;
}

std::string ChunkStore::EncodeLength(uint64_t length) {
  std::string out;
  PutFixed64(&out, length);
  return out;
}

std::filesystem::path ChunkStore::PackPath(uint32_t id) const {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "pack-%08x.pack", id);
  return dir_ / buf;
}

std::vector<PackInfo> ChunkStore::ListPacks() const {
  std::vector<PackInfo> packs;
  index_->Scan(Column::kMeta, kPackPrefix, [&](std::string_view key, std::string_view value) {
    unsigned id = 0;
    std::string hex(key.substr(sizeof(kPackPrefix) - 1));
    if (std::sscanf(hex.c_str(), "%8x", &id) == 1 && value.size() == 8) {
      packs.push_back({id, DecodeFixed64(value.data())});
    }
    return true;
  });
  return packs;
}

uint64_t ChunkStore::Recover() {
  std::map<uint32_t, uint64_t> committed;
  for (const auto& p : ListPacks()) committed[p.id] = p.committed_length;
  uint64_t reclaimed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    const std::string name = entry.path().filename().string();
    auto id = ParsePackFileName(name);
    if (!id) {
      if (name.ends_with(".tmp")) std::filesystem::remove(entry.path(), ec);
      continue;
    }
    const uint64_t size = entry.file_size();
    auto it = committed.find(*id);
    if (it == committed.end()) {
      spdlog::info("removing pack {} left by an interrupted write", name);
      std::filesystem::remove(entry.path());
      reclaimed += size;
    } else if (size > it->second) {
      spdlog::info("cutting {} uncommitted bytes off pack {}", size - it->second, name);
      if (::truncate(entry.path().c_str(), static_cast<off_t>(it->second)) != 0) {
        ThrowErrno("cannot truncate pack " + entry.path().string());
      }
      reclaimed += size - it->second;
    }
  }
  if (reclaimed > 0) FsyncDirectory(dir_);
  DropReaders();
  return reclaimed;
}

std::optional<ChunkLocation> ChunkStore::Locate(const ChunkHash& hash) const {
  auto value = index_->Get(Column::kChunks, hash.bytes());
  if (!value) return std::nullopt;
  auto loc = ChunkLocation::Decode(*value);
  if (!loc) {
    throw Error(ErrorCode::kCorruption, "index entry of chunk " + hash.ToHex() +
                                            " is damaged (run `modelfs verify --repair`)");
  }
  return loc;
}

void ChunkStore::Read(const ChunkHash& hash, std::string* out,
                      std::optional<ChunkLocation>* cached) const {
  std::optional<ChunkLocation> local;
  std::optional<ChunkLocation>& loc = cached ? *cached : local;
  const bool was_cached = loc.has_value();
  if (!was_cached) loc = Locate(hash);
  if (!loc) {
    throw Error(ErrorCode::kCorruption, "chunk " + hash.ToHex() + " is missing from the store");
  }
  try {
    ReadAt(*loc, hash, out);
  } catch (const Error&) {
    // Garbage collection may have moved the chunk since it was located; a
    // second look finds its new home. Real damage fails again.
    auto again = Locate(hash);
    if (!again || (again->pack_id == loc->pack_id && again->offset == loc->offset)) throw;
    loc = again;
    ReadAt(*loc, hash, out);
  }
}

void ChunkStore::ReadAt(const ChunkLocation& loc, const ChunkHash& hash, std::string* out) const {
  Reader(loc.pack_id)->ReadChunk(loc, hash, out);
}

std::shared_ptr<const PackReader> ChunkStore::Reader(uint32_t pack_id) const {
  std::lock_guard<std::mutex> lock(readers_mu_);
  auto& slot = readers_[pack_id];
  if (!slot) {
    try {
      slot = std::make_shared<const PackReader>(PackPath(pack_id));
    } catch (const Error& e) {
      readers_.erase(pack_id);
      throw Error(ErrorCode::kCorruption, e.what());
    }
  }
  return slot;
}

void ChunkStore::DropReaders() {
  std::lock_guard<std::mutex> lock(readers_mu_);
  readers_.clear();
}

std::unique_ptr<ChunkWriter> ChunkStore::NewWriter(bool fresh_packs, uint64_t reserve) {
  return std::unique_ptr<ChunkWriter>(new ChunkWriter(this, !fresh_packs, reserve));
}

}  // namespace modelfs::cache
