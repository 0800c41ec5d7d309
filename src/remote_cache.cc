// src/remote_cache.cc — see remote_cache.h.
#include "src/remote_cache.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <system_error>
#include <utility>

#include <spdlog/spdlog.h>

#include "util/disk_space.h"
#include "util/error.h"
#include "util/hex.h"

namespace modelfs {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// What the cache knows of one content while a RemoteFile of it may exist.
struct RemoteCache::Slot {
  explicit Slot(std::string id) : id(std::move(id)) {}
  const std::string id;
  std::mutex mu;                 // orders checkpoints, materialization, retirement
  std::weak_ptr<RemoteFile> file;  // guarded by RemoteCache::mu_
  // Guarded by mu:
  bool retired = false;          // materialized or forgotten: progress no longer written
  bool verified = false;         // waiting for (or done with) materialization
  size_t checkpointed_segments = SIZE_MAX;
  // The file, kept alive until it is materialized (guarded by RemoteCache::mu_).
  std::shared_ptr<RemoteFile> pending;
  // Atomic, so that opening a content does not wait for `mu` while a
  // materialization of several seconds holds it.
  std::atomic<int64_t> access_ns{0};
  // Who opened it last, for log lines (guarded by RemoteCache::mu_).
  std::string model_tag;
  std::string path;
};

RemoteCache::RemoteCache(std::filesystem::path staging_dir, cache::Index* index,
                         RemoteSources* sources, Materializer materializer,
                         std::function<void()> after_growth,
                         std::function<void(const std::string& id)> on_mismatch, SpaceMaker make_space,
                         LazyFile::Options options)
    : dir_(std::move(staging_dir)),
      index_(index),
      sources_(sources),
      materializer_(std::move(materializer)),
      after_growth_(std::move(after_growth)),
      on_mismatch_(std::move(on_mismatch)),
      make_space_(std::move(make_space)),
      options_([&] {
        options.memory_budget = std::make_shared<MemoryBudget>(kSegmentMemory);
        options.make_room = [this](uint64_t n) { MakeRoom(n); };
        options.read_timeout = sources->limits().read_timeout;
        return options;
      }()) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) throw Error(ErrorCode::kIOError, "cannot create " + dir_.string() + ": " + ec.message());
  worker_ = std::thread([this] { WorkerLoop(); });
}

RemoteCache::~RemoteCache() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
  CheckpointAll(/*durable=*/true);
  std::vector<std::shared_ptr<RemoteFile>> pending;  // released after the lock
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, slot] : slots_) {
    if (slot->pending) pending.push_back(std::move(slot->pending));
  }
}

std::filesystem::path RemoteCache::StagingPath(const std::string& id) const {
  return dir_ / HexEncode(id);
}

std::shared_ptr<RemoteFile> RemoteCache::Open(const std::string& id, uint64_t size,
                                              const ModelRecord& model, const FileRecord& record) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Slot>& slot = slots_[id];
  if (!slot) slot = std::make_shared<Slot>(id);
  slot->model_tag = model.name + ":" + model.version;
  slot->path = record.path;
  if (auto file = slot->file.lock()) {
    slot->access_ns = NowNs();
    return file;
  }
  std::lock_guard<std::mutex> slot_lock(slot->mu);
  const std::filesystem::path staging = StagingPath(id);
  SegmentMap present(size, options_.segment_size);
  std::error_code ec;
  if (std::filesystem::exists(staging, ec)) {
    auto value = index_->Get(cache::Column::kFetch, id);
    auto state = value ? FetchState::Decode(*value) : std::nullopt;
    auto map = state && !state->segments.empty() ? SegmentMap::Decode(state->segments) : std::nullopt;
    if (map && map->file_size() == size) {
      // (staged by a version of modelfs with another segment size)
      present = map->segment_size() == options_.segment_size ? std::move(*map)
                                                             : map->Regrid(options_.segment_size);
    }
  }
  Slot* raw_slot = slot.get();  // outlives the file: its deleter holds the slot
  auto* raw = new RemoteFile(id, staging, size, std::move(present), sources_->Open(model, record, size),
                             options_, [this, id] { Enqueue(id); },
                             [this, raw_slot](RemoteFile& file, const std::string& actual) {
                               Discarded(raw_slot, &file, actual);
                             });
  std::shared_ptr<Slot> keep = slot;
  std::shared_ptr<RemoteFile> file(raw, [this, keep](RemoteFile* dying) {
    dying->lazy().WaitForReadahead();  // so the checkpoint records what it fetched
    Checkpoint(keep.get(), dying, /*durable=*/true);
    const bool partial = !dying->lazy().complete();
    delete dying;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = slots_.find(keep->id);
    if (it != slots_.end() && it->second == keep && keep->file.expired() && !keep->pending) {
      slots_.erase(it);
    }
    if (partial) {  // its staged bytes may now be evicted to honour the limit
      grown_ = true;
      wake_.notify_all();
    }
  });
  slot->file = file;
  slot->retired = false;
  slot->verified = false;
  slot->access_ns = NowNs();
  slot->checkpointed_segments = SIZE_MAX;  // write the access time at the next checkpoint
  return file;
}

void RemoteCache::Checkpoint(Slot* slot, RemoteFile* file, bool durable) {
  std::lock_guard<std::mutex> slot_lock(slot->mu);
  if (slot->retired) return;
  SegmentMap snapshot = file->lazy().Snapshot();  // before the sync it relies on
  if (snapshot.count() == slot->checkpointed_segments && !durable) return;
  try {
    if (durable) file->lazy().Sync();
    cache::Index::Batch batch;
    batch.Put(cache::Column::kFetch, slot->id,
              FetchState{slot->access_ns.load(), snapshot.Encode()}.Encode());
    index_->Write(batch, /*sync=*/false);
    slot->checkpointed_segments = snapshot.count();
  } catch (const std::exception& e) {
    spdlog::warn("cannot record the fetch progress of {}: {}", remote_id::Describe(slot->id), e.what());
  }
}

void RemoteCache::Discarded(Slot* slot, RemoteFile* file, const std::string& actual_digest) {
  // The segment map the index holds must not outlive the bytes: a record
  // still naming them (a periodic checkpoint taken before the discard) would
  // make the next open serve holes as data. Checkpoints are ordered by
  // slot->mu, so this one lands after any taken before the discard.
  // (Durable: a write that is forced, whatever the count of segments.)
  Checkpoint(slot, file, /*durable=*/true);
  std::string model_tag, path;
  {
    std::lock_guard<std::mutex> lock(mu_);
    model_tag = slot->model_tag;
    path = slot->path;
  }
  spdlog::error("digest mismatch: model {} file {} ({} bytes): expected {}, got {}; every fetched byte "
                "of it was discarded, reads open on it fail from now on, and the next read fetches it "
                "again",
                model_tag, path, file->size(), remote_id::Describe(slot->id),
                remote_id::Describe(slot->id.substr(0, 1) + actual_digest));
  if (on_mismatch_) on_mismatch_(slot->id);
}

void RemoteCache::MakeRoom(uint64_t bytes) {
  // A statvfs(2) takes 3-4 us here; once it showed plenty of room, half of
  // that room is spent before the next (other writers may take the rest).
  int64_t credit = room_credit_.fetch_sub(static_cast<int64_t>(bytes)) - static_cast<int64_t>(bytes);
  if (credit >= 0) return;
  const uint64_t writable = BulkWritableBytes(dir_);
  if (writable >= bytes) {
    room_credit_ = static_cast<int64_t>(std::min<uint64_t>(writable / 2, INT64_MAX));
    return;
  }
  {
    std::lock_guard<std::mutex> lock(room_mu_);
    if (BulkWritableBytes(dir_) < bytes && make_space_) make_space_(bytes);
  }
  try {
    RequireRoomFor(dir_, bytes, "the store's staging files");
  } catch (const Error& e) {
    spdlog::error("a fetch stopped: {}", e.what());
    throw;
  }
}

void RemoteCache::CheckpointAll(bool durable) {
  std::vector<std::pair<std::shared_ptr<Slot>, std::shared_ptr<RemoteFile>>> open;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, slot] : slots_) {
      if (auto file = slot->file.lock()) open.emplace_back(slot, std::move(file));
    }
  }
  for (auto& [slot, file] : open) Checkpoint(slot.get(), file.get(), durable);
}

void RemoteCache::Enqueue(const std::string& id) {
  std::shared_ptr<RemoteFile> previous;  // released after the lock: its deleter locks mu_
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = slots_.find(id);
    if (it == slots_.end()) return;
    previous = std::exchange(it->second->pending, it->second->file.lock());
    verified_.push_back(id);
  }
  wake_.notify_all();
}

void RemoteCache::Materialize(const std::shared_ptr<Slot>& slot) {
  // `pending` stays set until the attempt is over, so that a concurrent
  // caller (MaterializeNow racing the worker) waits for it on slot->mu
  // instead of returning before the content is stored.
  std::shared_ptr<RemoteFile> file;
  {
    std::lock_guard<std::mutex> lock(mu_);
    file = slot->pending;
  }
  if (!file) return;  // done already
  {
    std::lock_guard<std::mutex> slot_lock(slot->mu);
    if (!slot->retired) {
      try {
        materializer_(slot->id, StagingPath(slot->id));
        slot->retired = true;
      } catch (const std::exception& e) {
        spdlog::error("cannot store the fetched content {}: {}", remote_id::Describe(slot->id), e.what());
      }
    }
  }
  std::shared_ptr<RemoteFile> done;  // released before `file`, after the lock
  std::lock_guard<std::mutex> lock(mu_);
  if (slot->pending == file) done = std::move(slot->pending);
}

void RemoteCache::MaterializeNow(const std::string& id) {
  std::shared_ptr<Slot> slot;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = slots_.find(id);
    if (it == slots_.end()) return;
    slot = it->second;
  }
  Materialize(slot);
}

void RemoteCache::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_ || grown_ || !verified_.empty(); });
    while (!verified_.empty() || grown_) {
      std::shared_ptr<Slot> slot;
      if (!verified_.empty()) {
        auto it = slots_.find(verified_.front());
        verified_.pop_front();
        if (it == slots_.end()) continue;
        slot = it->second;
      }
      grown_ = false;
      lock.unlock();
      if (slot) Materialize(slot);
      if (after_growth_) {
        try {
          after_growth_();
        } catch (const std::exception& e) {
          spdlog::error("after the fetched data grew: {}", e.what());
        }
      }
      lock.lock();
    }
    if (stopping_) return;
    lock.unlock();
    CheckpointAll(/*durable=*/false);
    lock.lock();
  }
}

void RemoteCache::Forget(const std::string& id) {
  std::shared_ptr<RemoteFile> pending;  // released after the locks: its deleter takes them
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = slots_.find(id); it != slots_.end()) {
    std::lock_guard<std::mutex> slot_lock(it->second->mu);
    it->second->retired = true;
    pending = std::move(it->second->pending);
  }
  std::error_code ec;
  std::filesystem::remove(StagingPath(id), ec);
}

bool RemoteCache::DropStaged(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = slots_.find(id); it != slots_.end() && !it->second->file.expired()) return false;
  std::error_code ec;
  std::filesystem::remove(StagingPath(id), ec);
  cache::Index::Batch batch;
  batch.Delete(cache::Column::kFetch, id);
  index_->Write(batch, /*sync=*/false);
  return true;
}

bool RemoteCache::IsOpen(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = slots_.find(id);
  return it != slots_.end() && !it->second->file.expired();
}

}  // namespace modelfs
