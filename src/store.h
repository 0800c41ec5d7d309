// src/store.h — the model store: one directory holding the index, the packs
// and a lock, and every operation the CLI and the mount perform on it.
//
// Layout of a store directory ("home"):
//   index/    RocksDB (models, files, blobs, remotes, fetch, chunks, meta)
//   packs/    pack-XXXXXXXX.pack, append-only chunk records
//   staging/  sparse files of remote contents being fetched (writers only)
//   lock      flock: shared by readers, exclusive for the one writer
//
// Remote models (registered by a pull) name their files by the digest their
// origin promises; reading one fetches it lazily (RemoteCache), and once it
// is complete and verified it is ingested into chunks like a saved file.
// Fetched contents can be evicted (they can be fetched again); saved ones
// never are.
//
// A Store opened for writing is the only writer of its home until destroyed;
// opening waits up to $MODELFS_LOCK_TIMEOUT_MS (default 5000) for another
// process and then throws Error(kBusy). Every mutation is all-or-nothing: a
// model appears only after its chunks are durable, in one index batch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
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
#include "src/file_reader.h"
#include "remote/archive_reader.h"
#include "remote/archive_writer.h"
#include "src/model_info.h"
#include "src/remote_cache.h"
#include "src/remote_sources.h"
#include "src/catalog_records.h"
#include "src/tag.h"
#include "util/file_lock.h"

namespace modelfs {
namespace cache {
class ChunkWriter;
}
struct IngestedContent;

struct SaveRequest {
  Tag tag;                                            // version generated when empty
  std::filesystem::path dir;
  std::string module;
  std::vector<std::pair<std::string, std::string>> labels;
  std::vector<std::pair<std::string, std::string>> metadata;  // values are YAML scalars
};

struct ImportOptions {
  bool skip_existing = false;   // a tag already stored is skipped, not an error
  std::string source;           // shown as user.modelfs.source: "import:<where>"
};

struct ImportResult {
  ModelRecord model;
  bool skipped = false;         // the tag existed and skip_existing was set
  uint64_t new_bytes = 0;       // pack bytes the import added
};

// Bytes done and in all, for progress bars.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

struct SaveResult {
  ModelRecord model;
  uint64_t new_bytes = 0;  // pack bytes this save added
};

// A file of a remote model, as its origin lists it.
struct RemoteFileEntry {
  std::string path;
  uint64_t size = 0;
  std::string sha256;    // 32 raw bytes (LFS files), else empty
  std::string git_sha1;  // 20 raw bytes
  // With neither digest: what names the bytes' location (see remote_id::FromLocation).
  std::string location_key;
  uint64_t offset = 0;   // where the bytes start in the origin's object
  bool executable = false;
};

struct RegisterRequest {
  Tag tag;                       // name and version, both set
  ModelRecord::Origin origin;
  std::string source;            // shown as user.modelfs.source
  std::vector<std::pair<std::string, std::string>> metadata;  // values are YAML scalars
  std::string model_yaml;        // the origin's own model.yaml, when it has one
  std::vector<RemoteFileEntry> files;
  // Directories the origin lists (empty ones included); the parents of
  // files are added in any case.
  std::vector<std::string> directories;
  // Read its files in strict mode (see ModelRecord::strict); asked for an
  // existing model, makes it strict.
  bool strict = false;
};

struct RegisterResult {
  ModelRecord model;
  bool already_registered = false;  // the same name, version and commit existed
  bool made_strict = false;         // it existed, and the request made it strict
  uint64_t present_bytes = 0;       // of its files, already stored or fetched
};

// Fetched bytes of remote contents, per model and in all.
struct FetchUsage {
  std::string tag;
  uint64_t registered = 0;  // bytes of the model's remote files
  uint64_t fetched = 0;     // of those, stored or staged here
  bool strict = false;      // see ModelRecord::strict
};

struct FetchStats {
  uint64_t registered = 0;     // distinct remote contents
  uint64_t fetched = 0;
  uint64_t evictable = 0;      // fetched bytes that eviction could free now
  std::optional<uint64_t> limit;
  // Fetched contents that failed their digest (each time it happened), in
  // this store's life.
  uint64_t digest_mismatches = 0;
  std::vector<FetchUsage> models;
};

struct EvictResult {
  uint64_t contents = 0;
  uint64_t bytes = 0;
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
  std::vector<std::string> repairs;  // what a repair did, recovered and lost
  bool ok() const { return pack_damage.empty() && damaged_files.empty(); }
};

class Store {
 public:
  enum class Access { kRead, kWrite };

  // Opens (creating on first use) the store in `home`.
  static std::unique_ptr<Store> Open(const std::filesystem::path& home, Access access);
  // Opens the store in `home` for writing, for Repair(): an index RocksDB
  // reports damaged (a garbage CURRENT, a bad table block) is first rebuilt
  // from its readable files; what that loses, Repair() reports.
  static std::unique_ptr<Store> OpenForRepair(const std::filesystem::path& home);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  SaveResult SaveDirectory(const SaveRequest& request);

  // Imports the model an archive (or folder) holds, tagged by its
  // model.yaml. A tag already stored is kAlreadyExists unless
  // options.skip_existing. Everything the archive holds is checked first
  // (see ArchiveImporter); a refused or broken archive changes nothing.
  ImportResult Import(remote::ArchiveReader* reader, const ImportOptions& options);
  // Writes `model` as ./model.yaml and its files, verified, to `writer`,
  // then Finish()es it. Remote files not fetched yet are fetched.
  // `embed_digests`: each file's sha256 goes with it (for a lazy pull).
  void Export(const ModelRecord& model, remote::EntryWriter* writer, const ProgressFn& progress,
              bool embed_digests = false) const;
  // The exact size Export() would write in `format` (kTar only: the size of
  // an uncompressed tar follows from the files' sizes), without reading.
  uint64_t ExportedSize(const ModelRecord& model, ArchiveFormat format, bool embed_digests) const;

  std::vector<ModelRecord> List(std::string_view name = {}) const;
  ModelRecord Get(const Tag& tag) const;
  // The files and directories of `model`, in path order; a remote file whose
  // origin named no sha256 shows the one of its stored bytes once fetched.
  std::vector<FileRecord> Files(const ModelRecord& model) const;
  // Whether every file of `model` has its bytes in the chunk store, so
  // reading it needs no fetch (and a read-only store can serve it).
  bool HasAllContent(const ModelRecord& model) const;
  // Streams the bytes of `path` in `model` to `sink`, verified chunk by chunk.
  void ReadFile(const ModelRecord& model, const std::string& path,
                const std::function<void(const char*, size_t)>& sink) const;

  // Opens `path` in `model` for random-access reads: from its chunks (pinned
  // against GC while the reader lives), or, for a remote file not stored
  // yet, through the RemoteCache (needs a writable store), in strict mode
  // when the model or the store asks for it. Throws kNotFound for a
  // missing file.
  std::unique_ptr<FileReader> OpenFile(const ModelRecord& model, const std::string& path) const;
  // Strict reading for every remote model (`modelfs mount --strict`): no
  // byte of a remote file is served before the whole file is fetched and
  // matched its digest. Set before sharing.
  void SetStrictReads(bool strict) { strict_reads_ = strict; }

  // Registers a remote model: its files are remote and nothing is fetched
  // (contents already stored are shared at once). Registering what exists
  // with the same origin commit is a no-op; another one under the same tag
  // is kAlreadyExists.
  RegisterResult RegisterRemote(const RegisterRequest& request);
  // Fetches every remote file of `model` not stored yet, verifies and stores
  // it: each in one request streamed straight into chunks, or, when it is
  // partly staged or open for reading, through its RemoteFile (which
  // resumes). `progress(done, total)` is called as bytes arrive, one call at
  // a time but not always on the caller's thread.
  void Prefetch(const ModelRecord& model, const std::function<void(uint64_t, uint64_t)>& progress);
  // Fetched bytes held and registered, the limit, and the digest mismatches
  // counted so far (see CountDigestMismatch).
  FetchStats FetchedStats() const;
  // Evicts fetched contents (of `model` only, if given), least recently
  // opened first, until at most `keep_bytes` of them remain. Contents open
  // for reading and contents also saved locally stay.
  EvictResult Evict(const std::optional<ModelRecord>& model, uint64_t keep_bytes);
  // The limit on fetched bytes, enforced after each fetched file is stored
  // and when the last reader of a partly fetched file leaves.
  void SetFetchLimit(std::optional<uint64_t> limit);
  std::optional<uint64_t> FetchLimit() const;
  // The remote sources (to remember a pull's token). Null when read-only.
  RemoteSources* remote_sources() const { return sources_.get(); }

  // Called with the model name after every save or delete has committed
  // (the mount uses it to invalidate kernel caches). Set before sharing.
  void SetChangeListener(std::function<void(const std::string& name)> listener) {
    change_listener_ = std::move(listener);
  }
  // Called with the remote id after the fetched bytes of a remote content
  // failed its digest and were discarded (DiscardCount has grown), on the
  // thread of the read that found it (the mount has the kernel drop its
  // cached pages of the files). Set before sharing.
  void SetDiscardListener(std::function<void(const std::string& remote_id)> listener) {
    discard_listener_ = std::move(listener);
  }
  // How many times the fetched bytes of remote content `remote_id` failed
  // its digest and were discarded since this Store was opened.
  uint64_t DiscardCount(const std::string& remote_id) const;

  // Deletes the one version `tag` resolves to ("name" and "name:latest":
  // the newest, as BentoML does).
  std::vector<ModelRecord> Delete(const Tag& tag);
  // Deletes every version of `name`; kNotFound when it has none.
  std::vector<ModelRecord> DeleteAllVersions(const std::string& name);

  cache::GcResult CollectGarbage();
  StoreStats Stats() const;
  // Checks every byte (or those of one model) and names damaged models and files.
  VerifyReport Verify(const std::optional<Tag>& tag) const;
  // Rebuilds the chunk index from the packs, then verifies; the report also
  // says what the repair recovered and lost (models whose records went with
  // a damaged index, data no model references any more).
  VerifyReport Repair();

  const std::filesystem::path& home() const { return home_; }
  const Catalog& catalog() const { return catalog_; }

 private:
  Store(std::filesystem::path home, FileLock lock, std::unique_ptr<cache::Index> index,
        Access access);
  // Takes the lock of `home` (exclusive when *write comes back true).
  static FileLock LockHome(const std::filesystem::path& home, Access access, bool* write);
  // The store over an opened index; recovers the packs (ChunkStore::Recover)
  // when `write`.
  static std::unique_ptr<Store> FromIndex(const std::filesystem::path& home, FileLock lock,
                                       std::unique_ptr<cache::Index> index, Access access, bool write);
  // Models whose records are incomplete (lost with a damaged index).
  std::vector<FileDamage> FindIncompleteModels(const std::vector<ModelRecord>& models) const;
  void RequireWritable(const char* operation) const;
  // The record of a new model described by `info`.
  static ModelRecord NewModelRecord(const ModelInfo& info, uint64_t size, uint64_t file_count,
                                    std::string source);
  using ByteFn = std::function<void(const char*, size_t)>;
  // Writes the bytes of `file` through the given function.
  using MemberContent = std::function<void(const FileRecord& file, const ByteFn& write)>;
  // Export's walk: the root, model.yaml, then directories and files in path
  // order, their bytes from `content`; then Finish().
  void WriteMembers(const ModelRecord& model, remote::EntryWriter* writer, bool embed_digests,
                    const MemberContent& content) const;
  // Bytes free on the file system holding the packs.
  uint64_t FreeBytes() const;
  std::vector<ModelRecord> DeleteModels(const Tag& tag, bool every_version);
  void MaybeCollectGarbage();
  // Ingests the verified staging file of remote content `id` (the RemoteCache's materializer).
  void MaterializeStaged(const std::string& id, const std::filesystem::path& staging);
  // Fetches remote content `file.remote_id` in one request straight into
  // chunks, checks it against the digest its id names and records it stored;
  // `on_bytes(n)` as bytes arrive. False, with nothing done, when the content
  // is partly staged or open for reading (its RemoteFile goes on with it).
  bool StreamRemote(const ModelRecord& model, const FileRecord& file,
                    const std::function<void(uint64_t)>& on_bytes);
  // Puts into `batch` that remote content `id` was fetched now, with nothing staged.
  static void PutFetched(const std::string& id, cache::Index::Batch* batch);
  // Records remote content `id` as stored: the chunks `writer` wrote for `content`.
  void CommitFetched(const std::string& id, cache::ChunkWriter* writer, IngestedContent content);
  void EnforceFetchLimit();
  // Evicts fetched contents no one reads, least recently opened first, until
  // about `bytes` more fit on the disk (RemoteCache::SpaceMaker).
  void MakeRoomForFetch(uint64_t bytes);
  // Evict(), stopping once `enough(held, evicted)` (bytes of the candidates
  // still held, bytes evicted so far).
  EvictResult EvictUntil(const std::optional<ModelRecord>& model,
                         const std::function<bool(uint64_t held, uint64_t evicted)>& enough);
  // The sha256 of the blob holding `file`'s bytes here; nullopt for a remote
  // file not fetched yet.
  std::optional<std::string> StoredContent(const FileRecord& file) const;
  // Adds one to the persisted count of fetched contents that failed their
  // digest (FetchStats::digest_mismatches); logs what it cannot write.
  void CountDigestMismatch();
  // Forgets the staged data of remote contents no model names any more.
  void ForgetRemotes(const std::vector<std::string>& ids);
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
  // Orders the updates of the mismatch count; guards discards_.
  mutable std::mutex mismatch_mu_;
  std::map<std::string, uint64_t> discards_;  // remote id -> DiscardCount
  bool strict_reads_ = false;
  mutable ChunkPins pins_;
  std::function<void(const std::string&)> change_listener_;
  std::function<void(const std::string&)> discard_listener_;
  std::unique_ptr<RemoteSources> sources_;      // writable stores only
  std::unique_ptr<RemoteCache> remote_cache_;   // destroyed first: it calls back in
  std::vector<std::string> repair_notes_;       // what OpenForRepair() did
};

// The store directory: `flag` if set, else $MODELFS_HOME, else
// $XDG_DATA_HOME/modelfs, else ~/.local/share/modelfs.
std::filesystem::path ResolveHome(const std::string& flag);

}  // namespace modelfs
