// src/store.h — the model store: one directory holding the index, the packs
// and a lock, and every operation the CLI and the mount perform on it.
//
// Layout of a store directory ("home"):
//   index/   RocksDB (models, files, blobs, chunks, meta)
//   packs/   pack-XXXXXXXX.pack, append-only chunk records
//   lock     flock: shared by readers, exclusive for the one writer
//
// A Store opened for writing is the only writer of its home until destroyed;
// opening waits up to $MODELFS_LOCK_TIMEOUT_MS (default 5000) for another
// process and then throws Error(kBusy). Every mutation is all-or-nothing: a
// model appears only after its chunks are durable, in one index batch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cache/chunk_store.h"
#include "cache/chunk_verifier.h"
#include "cache/garbage_collector.h"
#include "cache/index.h"
#include "src/blob_reader.h"
#include "src/catalog.h"
#include "src/chunk_pins.h"
#include "src/catalog_records.h"
#include "src/tag.h"
#include "util/file_lock.h"

namespace modelfs {

struct SaveRequest {
  Tag tag;                                            // version generated when empty
  std::filesystem::path dir;
  std::string module;
  std::vector<std::pair<std::string, std::string>> labels;
  std::vector<std::pair<std::string, std::string>> metadata;  // values are YAML scalars
};

struct SaveResult {
  ModelRecord model;
  uint64_t new_bytes = 0;  // pack bytes this save added
};

struct StoreStats {
  uint64_t models = 0;          // model versions
  uint64_t files = 0;
  uint64_t logical_bytes = 0;   // sum of model sizes
  uint64_t unique_bytes = 0;    // raw bytes of distinct chunks
  uint64_t stored_bytes = 0;    // those chunks as stored (after compression)
  uint64_t chunks = 0;
  uint64_t packs = 0;
  uint64_t pack_bytes = 0;
  uint64_t garbage_bytes = 0;   // reclaimable by `cache gc`
};

struct FileDamage {
  std::string tag;
  std::string path;
  std::string reason;
};

struct VerifyReport {
  uint64_t models = 0;
  uint64_t files = 0;
  uint64_t chunks = 0;
  uint64_t bytes = 0;
  std::vector<cache::DamageReport> pack_damage;
  std::vector<FileDamage> damaged_files;
  bool ok() const { return pack_damage.empty() && damaged_files.empty(); }
};

class Store {
 public:
  enum class Access { kRead, kWrite };

  // Opens (creating on first use) the store in `home`.
  static std::unique_ptr<Store> Open(const std::filesystem::path& home, Access access);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  SaveResult SaveDirectory(const SaveRequest& request);

  std::vector<ModelRecord> List(std::string_view name = {}) const;
  ModelRecord Get(const Tag& tag) const;
  std::vector<FileRecord> Files(const ModelRecord& model) const;
  // Streams the bytes of `path` in `model` to `sink`, verified chunk by chunk.
  void ReadFile(const ModelRecord& model, const std::string& path,
                const std::function<void(const char*, size_t)>& sink) const;

  // Opens `path` in `model` for random-access reads (its chunks stay pinned
  // against GC while the reader lives). Throws kNotFound for a missing file.
  std::unique_ptr<BlobReader> OpenFile(const ModelRecord& model, const std::string& path) const;

  // Called with the model name after every save or delete has committed
  // (the mount uses it to invalidate kernel caches). Set before sharing.
  void SetChangeListener(std::function<void(const std::string& name)> listener) {
    change_listener_ = std::move(listener);
  }

  // Deletes one version, or every version when the tag names none.
  std::vector<ModelRecord> Delete(const Tag& tag);

  cache::GcResult CollectGarbage();
  StoreStats Stats() const;
  // Checks every byte (or those of one model) and names damaged models and files.
  VerifyReport Verify(const std::optional<Tag>& tag) const;
  // Rebuilds the chunk index from the packs, then verifies.
  VerifyReport Repair();

  const std::filesystem::path& home() const { return home_; }
  const Catalog& catalog() const { return catalog_; }

 private:
  Store(std::filesystem::path home, FileLock lock, std::unique_ptr<cache::Index> index,
        Access access);
  void RequireWritable(const char* operation) const;
  void MaybeCollectGarbage();
  // Files of `models` whose content is missing or has a chunk in `bad_chunks`.
  std::vector<FileDamage> FindDamagedFiles(const cache::ChunkSet& bad_chunks,
                                           const std::vector<ModelRecord>& models) const;

  void NotifyChanged(const std::string& name) const {
    if (change_listener_) change_listener_(name);
  }

  std::filesystem::path home_;
  FileLock lock_;
  std::unique_ptr<cache::Index> index_;
  cache::ChunkStore chunks_;
  Catalog catalog_;
  Access access_;
  // Serialises mutations when one Store serves many threads (the mount).
  std::mutex write_mu_;
  mutable ChunkPins pins_;
  std::function<void(const std::string&)> change_listener_;
};

// The store directory: `flag` if set, else $MODELFS_HOME, else
// $XDG_DATA_HOME/modelfs, else ~/.local/share/modelfs.
std::filesystem::path ResolveHome(const std::string& flag);

}  // namespace modelfs
