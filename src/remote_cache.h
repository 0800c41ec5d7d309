// src/remote_cache.h — the remote files being fetched: one RemoteFile per
// remote content, shared by all its readers, staged under <home>/staging/.
//
// RemoteCache promises that
//   - a content has at most one RemoteFile at a time, so concurrent readers
//     share its fetches;
//   - its progress (which segments the staging file holds, and when it was
//     last opened) is written to the index only after the staging file is
//     fdatasynced, every second while it is read and when its last reader
//     leaves; a restarted daemon resumes from there;
//   - a content that was verified is handed to the materializer (the store,
//     which ingests it into chunks) on a background thread, once;
//   - a staging file is only trusted when it exists: progress recorded for a
//     missing one is ignored;
//   - a content that fails its digest is recorded as holding nothing before
//     the failing read returns (its RemoteFile dropped every staged byte), is
//     logged with the model and file that opened it last, the digest
//     expected and the one found, and is reported to `on_mismatch`;
//   - the segments its files keep in memory share one MemoryBudget of
//     kSegmentMemory bytes (a file read alone keeps its whole window).
// Callers must not hold the store's write lock when calling in: the
// materializer takes it while this cache holds a content's lock.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "cache/index.h"
#include "src/catalog_records.h"
#include "src/memory_budget.h"
#include "src/remote_file.h"
#include "src/remote_sources.h"

namespace modelfs {

class RemoteCache {
 public:
  // One file's window (LazyFile::Options::recent_segments): a file read
  // alone keeps all of it, files read at once share it. (bench/lazy_bench.sh,
  // 4 files of 512 MiB read at once: daemon peak RSS 68-72 MiB with 16 MiB,
  // 79 with 32, 106 without a shared budget; 48-56 for one file.)
  static constexpr uint64_t kSegmentMemory = 16 << 20;

  // Ingests the verified staging file of content `id`; throws on failure.
  using Materializer = std::function<void(const std::string& id, const std::filesystem::path& staging)>;
  // Frees at least `bytes` of disk space if it can (evicting fetched
  // contents no one reads); throws nothing.
  using SpaceMaker = std::function<void(uint64_t bytes)>;

  // *index and *sources must outlive the cache. `after_growth` runs on the
  // background thread, with no lock held, after each materialization and
  // after the last reader of a partly fetched content leaves: the moments
  // the fetched data it holds has grown (the store enforces its limit).
  // `on_mismatch` (may be null) runs with the content's id on the reading
  // thread after each digest mismatch (the store counts them).
  // options.memory_budget is replaced by the cache's own. Before fetched
  // bytes would eat into the room kept for the index (util/disk_space.h),
  // `make_space` is asked for it; if it cannot, the fetch fails with
  // Error(kNoSpace) and a logged error.
  RemoteCache(std::filesystem::path staging_dir, cache::Index* index, RemoteSources* sources,
              Materializer materializer, std::function<void()> after_growth,
              std::function<void(const std::string& id)> on_mismatch = nullptr,
              SpaceMaker make_space = nullptr, LazyFile::Options options = {});
  // Finishes pending materializations and checkpoints every open file.
  ~RemoteCache();
  RemoteCache(const RemoteCache&) = delete;
  RemoteCache& operator=(const RemoteCache&) = delete;

  // The RemoteFile of content `id` (`size` bytes) that `file` of `model` names.
  std::shared_ptr<RemoteFile> Open(const std::string& id, uint64_t size, const ModelRecord& model,
                                   const FileRecord& file);

  // Materializes `id` now, on this thread, if it was verified and is still
  // waiting for the background thread. A prefetch calls it to finish.
  void MaterializeNow(const std::string& id);

  // Content `id` left the catalog: its staging file goes; open readers keep
  // reading what they have.
  void Forget(const std::string& id);
  // Deletes the staged bytes of `id` and its progress, unless a reader has
  // it open; true when deleted.
  bool DropStaged(const std::string& id);
  bool IsOpen(const std::string& id) const;

  // Writes the progress of every open file now. `durable`: fdatasync each
  // staging file first, so the record also holds after a power loss (the
  // periodic checkpoints skip it: the page cache outlives a killed daemon,
  // and syncing every second would cap a cold read at the disk's write
  // speed; bytes a power loss took are caught by the digest at completion).
  void CheckpointAll(bool durable);

  std::filesystem::path StagingPath(const std::string& id) const;

 private:
  struct Slot;

  void Checkpoint(Slot* slot, RemoteFile* file, bool durable);
  // `file` failed its digest and dropped its bytes: records, logs, reports.
  void Discarded(Slot* slot, RemoteFile* file, const std::string& actual_digest);
  // LazyFile::Options::make_room of every file.
  void MakeRoom(uint64_t bytes);
  void Materialize(const std::shared_ptr<Slot>& slot);
  void Enqueue(const std::string& id);
  void WorkerLoop();

  const std::filesystem::path dir_;
  cache::Index* const index_;
  RemoteSources* const sources_;
  const Materializer materializer_;
  const std::function<void()> after_growth_;
  const std::function<void(const std::string& id)> on_mismatch_;
  const SpaceMaker make_space_;
  std::mutex room_mu_;  // one MakeRoom() frees space at a time
  std::atomic<int64_t> room_credit_{0};  // bytes MakeRoom() may grant without a statvfs
  // memory_budget: one of kSegmentMemory bytes; read_timeout: the sources' limit
  const LazyFile::Options options_;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Slot>> slots_;  // guarded by mu_
  std::deque<std::string> verified_;                    // guarded by mu_
  std::condition_variable wake_;
  bool stopping_ = false;
  bool grown_ = false;  // a partly fetched content lost its last reader; guarded by mu_
  std::thread worker_;
};

}  // namespace modelfs
