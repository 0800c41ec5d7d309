#include "src/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include <spdlog/spdlog.h>

#include "cache/chunk_writer.h"
#include "cache/chunker.h"
#include "src/dir_scanner.h"
#include "src/file_ingester.h"
#include "src/model_info.h"
#include "src/remote_file_reader.h"
#include "remote/hf_hub.h"
#include "util/coding.h"
#include "util/error.h"
#include "util/pseudo_file_system.h"
#include "util/unique_fd.h"

namespace modelfs {
namespace {

namespace fs = std::filesystem;

// Creates `home` and home/packs, and keeps `home` private (0700): packs and
// staging files hold gated and private model bytes, which a mount without
// allow_other denies other users, so the directory must not hand them out.
void MakePrivateStoreDirectory(const fs::path& home) {
  std::error_code ec;
  fs::create_directories(home, ec);
  if (!ec) fs::create_directories(home / "packs", ec);
  if (ec) {
    throw Error(ErrorCode::kIOError, "cannot create the store " + home.string() + ": " + ec.message());
  }
  struct stat st;
  if (::stat(home.c_str(), &st) == 0 && (st.st_mode & 077) != 0 && st.st_uid == ::geteuid() &&
      ::chmod(home.c_str(), st.st_mode & 0700) != 0) {
    spdlog::warn("cannot make the store {} private (chmod 0700): {}", home.string(), std::strerror(errno));
  }
}

constexpr char kGarbageHintKey[] = "garbage_hint";
constexpr uint64_t kAutoGcMinBytes = 64ull << 20;

std::chrono::milliseconds LockTimeout() {
  const char* env = std::getenv("MODELFS_LOCK_TIMEOUT_MS");
  return std::chrono::milliseconds(env && *env ? std::strtoll(env, nullptr, 10) : 5000);
}

std::string ReadWholeFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kInvalidArgument, "cannot read " + path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string TagString(const ModelRecord& m) { return m.name + ":" + m.version; }

// Deletes every staging file in `dir`; true when there were some.
bool DropStagingFiles(const fs::path& dir) {
  std::error_code ec;
  uint64_t bytes = 0, files = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec, remove_ec;
    const uint64_t size = it->file_size(size_ec);
    if (fs::remove(it->path(), remove_ec)) {
      ++files;
      bytes += size_ec ? 0 : size;
    }
  }
  if (files > 0) {
    spdlog::warn("the disk holding the store was full: deleted {} partly fetched files ({} "
                 "bytes); they are fetched again when read",
                 files, bytes);
  }
  return files > 0;
}

}  // namespace

fs::path ResolveHome(const std::string& flag) {
  if (!flag.empty()) return fs::absolute(flag);
  if (const char* env = std::getenv("MODELFS_HOME"); env && *env) return fs::absolute(env);
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return fs::path(xdg) / "modelfs";
  const char* home = std::getenv("HOME");
  if (!home || !*home) {
    throw Error(ErrorCode::kInvalidArgument, "cannot find the store: set --home or MODELFS_HOME");
  }
  return fs::path(home) / ".local/share/modelfs";
}

Store::Store(fs::path home, FileLock lock, std::unique_ptr<cache::Index> index, Access access)
    : home_(std::move(home)),
      lock_(std::move(lock)),
      index_(std::move(index)),
      chunks_(home_ / "packs", index_.get()),
      catalog_(index_.get()),
      access_(access) {
  if (access_ == Access::kWrite) {
    auto getenv = [](const char* name) -> std::optional<std::string> {
      const char* value = std::getenv(name);
      return value ? std::optional<std::string>(value) : std::nullopt;
    };
    sources_ = std::make_unique<RemoteSources>(remote::HfConfigFromEnvironment(std::nullopt),
                                               remote::BentoCloudConfigFromEnvironment(getenv),
                                               remote::FetchLimitsFromEnvironment(getenv));
    remote_cache_ = std::make_unique<RemoteCache>(
        home_ / "staging", index_.get(), sources_.get(),
        [this](const std::string& id, const fs::path& staging) { MaterializeStaged(id, staging); },
        [this] { EnforceFetchLimit(); },
        [this](const std::string& id) {
          {
            std::lock_guard<std::mutex> lock(mismatch_mu_);
            ++discards_[id];
          }
          CountDigestMismatch();
          if (discard_listener_) discard_listener_(id);
        },
        [this](uint64_t bytes) { MakeRoomForFetch(bytes); });
  }
}

Store::~Store() {
  // Not remote_cache_.reset(): that nulls the pointer before the cache's
  // destructor has joined its worker, whose callback (EnforceFetchLimit ->
  // Evict) still uses remote_cache_.
  delete remote_cache_.get();
  (void)remote_cache_.release();
}

FileLock Store::LockHome(const fs::path& home, Access access, bool* write) {
  MakePrivateStoreDirectory(home);
  auto index_exists = [&] { return fs::exists(home / "index" / "CURRENT"); };
  const std::string busy =
      "store " + home.string() + " is busy: another modelfs process is using it; try again when it finishes";
  // Creating the index is a write, even for a command that only reads; and
  // whether it exists is only certain once the lock is held.
  *write = access == Access::kWrite || !index_exists();
  FileLock lock = FileLock::Acquire(home / "lock", *write ? FileLock::Mode::kExclusive : FileLock::Mode::kShared,
                                    LockTimeout(), busy);
  if (!*write && !index_exists()) {
    { FileLock shared = std::move(lock); }  // release before asking for more
    lock = FileLock::Acquire(home / "lock", FileLock::Mode::kExclusive, LockTimeout(), busy);
    *write = true;
  }
  if (!index_exists() && !fs::is_empty(home / "packs")) {
    throw Error(ErrorCode::kCorruption,
                "the index of store " + home.string() +
                    " is missing but its packs/ directory holds data; restore index/ from a backup "
                    "(the chunk data alone does not say which models it belonged to)");
  }
  return lock;
}

std::unique_ptr<Store> Store::Open(const fs::path& home, Access access) {
  bool write = false;
  FileLock lock = LockHome(home, access, &write);
  const fs::path index_dir = home / "index";
  std::unique_ptr<cache::Index> index;
  try {
    index = cache::Index::Open(index_dir, /*read_only=*/!write, /*create=*/write);
  } catch (const Error& e) {
    // A disk filled by fetched bytes: they can be fetched again, and with
    // the lock held for writing no reader has them open.
    if (e.code() != ErrorCode::kNoSpace || !write || !DropStagingFiles(home / "staging")) throw;
    index = cache::Index::Open(index_dir, /*read_only=*/false, /*create=*/true);
  }
  return FromIndex(home, std::move(lock), std::move(index), access, write);
}

std::unique_ptr<Store> Store::FromIndex(const fs::path& home, FileLock lock,
                                     std::unique_ptr<cache::Index> index, Access access, bool write) {
  std::unique_ptr<Store> store(new Store(home, std::move(lock), std::move(index), access));
  if (write) {
    if (uint64_t n = store->chunks_.Recover()) {
      spdlog::info("recovered {} bytes left by an interrupted write", n);
    }
  }
  return store;
}

std::unique_ptr<Store> Store::OpenForRepair(const fs::path& home) {
  bool write = false;
  FileLock lock = LockHome(home, Access::kWrite, &write);
  const fs::path index_dir = home / "index";
  std::vector<std::string> notes;
  std::unique_ptr<cache::Index> index;
  try {
    index = cache::Index::Open(index_dir, /*read_only=*/false, /*create=*/true);
    index->CheckEverything();
  } catch (const Error& e) {
    // (A garbage CURRENT names no manifest: kIOError or kNotFound.)
    if (e.code() != ErrorCode::kCorruption && e.code() != ErrorCode::kIOError &&
        e.code() != ErrorCode::kNotFound) {
      throw;
    }
    index.reset();
    std::string what = e.what();
    what = what.substr(0, what.find(" (run `modelfs verify --repair`"));
    notes.push_back("the index was damaged (" + what +
                    "); rebuilt it from the parts RocksDB could still read: records in damaged "
                    "tables are lost");
    cache::Index::Repair(index_dir);
    // (create: the repair drops the column families no table held.)
    index = cache::Index::Open(index_dir, /*read_only=*/false, /*create=*/true);
    index->CheckEverything();
  }
  // Not FromIndex(..., write): its Recover() deletes the packs the index does
  // not know, and a damaged index may have lost them all; Repair() lists
  // every pack again.
  auto store = FromIndex(home, std::move(lock), std::move(index), Access::kWrite, /*write=*/false);
  store->repair_notes_ = std::move(notes);
  return store;
}

ModelRecord Store::NewModelRecord(const ModelInfo& info, uint64_t size, uint64_t file_count,
                                  std::string source) {
  ModelRecord model;
  model.name = info.name();
  model.version = info.version();
  model.module = info.module();
  model.yaml = info.ToYaml();
  model.creation_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(info.creation_time().time_since_epoch()).count();
  model.size = size;
  model.file_count = file_count;
  model.source = std::move(source);
  return model;
}

void Store::RequireWritable(const char* operation) const {
  if (access_ != Access::kWrite) {
    throw Error(ErrorCode::kIOError, std::string("the store is open read-only; cannot ") + operation);
  }
}

SaveResult Store::SaveDirectory(const SaveRequest& request) {
  RequireWritable("save");
  std::lock_guard<std::mutex> write_lock(write_mu_);
  Tag tag = request.tag;
  if (tag.is_latest()) tag.version = GenerateVersion();
  if (catalog_.FindModel(tag.name, tag.version)) {
    throw Error(ErrorCode::kAlreadyExists, "Model '" + tag.ToString() + "' already exists");
  }
  const ScannedTree tree = ScanModelDirectory(request.dir);

  const auto now = std::chrono::system_clock::now();
  ModelInfo info = ModelInfo::Create(tag, request.module, now);
  if (!tree.model_yaml.empty()) {
    info.AdoptMetadataFrom(ModelInfo::Parse(ReadWholeFile(tree.model_yaml)));
    if (!request.module.empty()) info.set_module(request.module);
  }
  for (const auto& [k, v] : request.labels) info.SetLabel(k, v);
  for (const auto& [k, v] : request.metadata) info.SetMetadata(k, v);

  auto writer = chunks_.NewWriter();
  FileIngester ingester(writer.get(), cache::Chunker(cache::ChunkerParams::Default()));
  std::vector<FileRecord> files;
  std::map<std::string, BlobRecord> new_blobs;
  uint64_t total = 0;
  for (const auto& entry : tree.entries) {
    FileRecord file = entry.type == FileType::kFile ? FileRecord::LocalFile(entry.path, entry.executable, 0, "")
                                                    : FileRecord::Directory(entry.path);
    if (entry.type == FileType::kFile) {
      UniqueFd fd(::open(entry.source.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
      if (!fd.valid()) ThrowErrno("cannot read " + entry.source.string());
      if (auto kind = PseudoFileSystemOf(fd.get())) {
        throw Error(ErrorCode::kInvalidArgument, "cannot save '" + entry.source.string() +
                                                     "': it is on the kernel's " + *kind +
                                                     " file system; nothing was stored");
      }
      IngestedContent content = ingester.Ingest(fd.get(), entry.source.string(), entry.size);
      file.size = content.size;
      file.sha256 = content.sha256;
      total += content.size;
      if (!new_blobs.count(content.sha256)) {
        new_blobs[content.sha256] = {content.size, 0, std::move(content.chunks)};
      }
    }
    files.push_back(std::move(file));
  }

  ModelRecord model =
      NewModelRecord(info, total, tree.file_count, "local:" + fs::absolute(request.dir).string());

  cache::Index::Batch batch;
  writer->Prepare(&batch);
  catalog_.AddModel(model, files, new_blobs, &batch);
  index_->Write(batch);
  writer->Committed();
  NotifyChanged(model.name);
  return {model, writer->stored_bytes()};
}

std::vector<ModelRecord> Store::List(std::string_view name) const { return catalog_.ListModels(name); }

ModelRecord Store::Get(const Tag& tag) const { return catalog_.Resolve(tag); }

std::vector<FileRecord> Store::Files(const ModelRecord& model) const {
  std::vector<FileRecord> files = catalog_.ListFiles(model);
  // A remote file whose origin named no sha256 (a member of a tar BentoML
  // pushed) has one once its bytes are stored.
  for (auto& f : files) {
    if (!f.sha256.empty() || !f.is_remote()) continue;
    auto remote = catalog_.FindRemote(f.remote_id);
    if (remote && remote->materialized) f.sha256 = remote->sha256;
  }
  return files;
}

void Store::ReadFile(const ModelRecord& model, const std::string& path,
                     const std::function<void(const char*, size_t)>& sink) const {
  auto reader = OpenFile(model, path);
  std::vector<FileReader::Segment> segments;
  uint64_t offset = 0;
  // 1 MiB per read, as the mount reads: a read that waits for the network
  // must have its bytes within the read timeout.
  while (size_t n = reader->ReadSegments(offset, 1 << 20, &segments, {})) {
    for (const auto& s : segments) sink(s.buffer->data() + s.offset, s.length);
    segments.clear();
    offset += n;
  }
}

std::unique_ptr<FileReader> Store::OpenFile(const ModelRecord& model, const std::string& path) const {
  auto file = catalog_.FindFile(model, path);
  if (!file || file->type != FileType::kFile) {
    throw Error(ErrorCode::kNotFound, "model " + TagString(model) + " has no file '" + path + "'");
  }
  std::string sha256 = file->sha256;
  if (file->is_remote()) {
    auto remote = catalog_.FindRemote(file->remote_id);
    if (!remote) {
      throw Error(ErrorCode::kCorruption, "the remote content of " + path + " is missing from the index");
    }
    if (!remote->materialized) {
      if (!remote_cache_) {
        throw Error(ErrorCode::kIOError, path + " of model " + TagString(model) +
                                             " has not been fetched yet, and the store is open "
                                             "read-only here");
      }
      auto remote_file = remote_cache_->Open(file->remote_id, remote->size, model, *file);
      return std::make_unique<RemoteFileReader>(std::move(remote_file), strict_reads_ || model.strict);
    }
    sha256 = remote->sha256;
  }
  auto blob = catalog_.FindBlob(sha256);
  if (!blob) {
    throw Error(ErrorCode::kCorruption, "the content of " + path + " is missing from the store");
  }
  return std::make_unique<BlobReader>(&chunks_, *blob, pins_.Acquire(sha256, *blob));
}

std::vector<ModelRecord> Store::Delete(const Tag& tag) { return DeleteModels(tag, false); }

std::vector<ModelRecord> Store::DeleteAllVersions(const std::string& name) {
  return DeleteModels(Tag{name, ""}, true);
}

std::vector<ModelRecord> Store::DeleteModels(const Tag& tag, bool every_version) {
  RequireWritable("delete");
  std::unique_lock<std::mutex> write_lock(write_mu_);
  std::vector<ModelRecord> victims;
  if (every_version) {
    victims = catalog_.ListModels(tag.name);
    if (victims.empty()) {
      throw Error(ErrorCode::kNotFound, "Model '" + tag.name + "' is not found in the store");
    }
  } else {
    victims.push_back(catalog_.Resolve(tag));  // "latest": the newest version
  }
  cache::Index::Batch batch;
  uint64_t released = 0;
  std::vector<std::string> gone_remotes;
  // One batch per version keeps refcounts read-modify-write correct.
  for (const auto& model : victims) {
    Catalog::Released r = catalog_.RemoveModel(model, &batch);
    released += r.bytes;
    gone_remotes.insert(gone_remotes.end(), r.remote_ids.begin(), r.remote_ids.end());
    index_->Write(batch);
  }
  auto hint = index_->Get(cache::Column::kMeta, kGarbageHintKey);
  uint64_t total = released + (hint && hint->size() == 8 ? DecodeFixed64(hint->data()) : 0);
  batch.Put(cache::Column::kMeta, kGarbageHintKey, cache::ChunkStore::EncodeLength(total));
  index_->Write(batch);
  NotifyChanged(tag.name);
  write_lock.unlock();
  ForgetRemotes(gone_remotes);
  MaybeCollectGarbage();
  return victims;
}

void Store::MaybeCollectGarbage() {
  auto hint = index_->Get(cache::Column::kMeta, kGarbageHintKey);
  const uint64_t garbage = hint && hint->size() == 8 ? DecodeFixed64(hint->data()) : 0;
  uint64_t pack_bytes = 0;
  for (const auto& p : chunks_.ListPacks()) pack_bytes += p.committed_length;
  if (garbage >= kAutoGcMinBytes && garbage >= pack_bytes / 4) {
    spdlog::info("collecting garbage: about {} bytes are unreferenced", garbage);
    CollectGarbage();
  }
}

cache::GcResult Store::CollectGarbage() {
  RequireWritable("collect garbage");
  std::lock_guard<std::mutex> write_lock(write_mu_);
  cache::GarbageCollector gc(&chunks_);
  cache::ChunkSet live = catalog_.LiveChunks();
  pins_.AddTo(&live);
  cache::GcResult result = gc.Collect(live);
  cache::Index::Batch batch;
  batch.Delete(cache::Column::kMeta, kGarbageHintKey);
  index_->Write(batch);
  return result;
}

StoreStats Store::Stats() const {
  StoreStats stats;
  for (const auto& m : catalog_.ListModels()) {
    ++stats.models;
    stats.files += m.file_count;
    stats.logical_bytes += m.size;
  }
  index_->Scan(cache::Column::kChunks, "", [&](std::string_view, std::string_view value) {
    if (auto loc = cache::ChunkLocation::Decode(value)) {
      ++stats.chunks;
      stats.unique_bytes += loc->raw_size;
      stats.stored_bytes += loc->stored_size;
    }
    return true;
  });
  for (const auto& p : chunks_.ListPacks()) {
    ++stats.packs;
    stats.pack_bytes += p.committed_length;
  }
  cache::GarbageCollector gc(const_cast<cache::ChunkStore*>(&chunks_));
  stats.garbage_bytes = gc.Estimate(catalog_.LiveChunks()).garbage_bytes;
  return stats;
}

bool Store::HasAllContent(const ModelRecord& model) const {
  for (const auto& file : catalog_.ListFiles(model)) {
    if (file.type == FileType::kFile && !StoredContent(file)) return false;
  }
  return true;
}

std::optional<std::string> Store::StoredContent(const FileRecord& file) const {
  if (!file.is_remote()) return file.sha256;
  auto remote = catalog_.FindRemote(file.remote_id);
  if (!remote) return std::string();  // a missing record: reported as missing content
  if (!remote->materialized) return std::nullopt;
  return remote->sha256;
}

std::vector<FileDamage> Store::FindDamagedFiles(const cache::ChunkSet& bad_chunks,
                                                const std::vector<ModelRecord>& models) const {
  std::vector<FileDamage> damaged;
  for (const auto& model : models) {
    for (const auto& file : catalog_.ListFiles(model)) {
      if (file.type != FileType::kFile) continue;
      auto sha256 = StoredContent(file);
      if (!sha256) continue;  // remote, not fetched: nothing here to damage
      auto blob = catalog_.FindBlob(*sha256);
      std::string reason;
      if (!blob) {
        reason = "its content is missing from the index";
      } else {
        for (const auto& c : blob->chunks) {
          if (bad_chunks.count(c.hash)) {
            reason = "chunk " + c.hash.ToHex() + " is damaged";
          } else if (!chunks_.Locate(c.hash)) {
            reason = "chunk " + c.hash.ToHex() + " is missing";
          }
          if (!reason.empty()) break;
        }
      }
      if (!reason.empty()) damaged.push_back({TagString(model), file.path, reason});
    }
  }
  return damaged;
}

VerifyReport Store::Verify(const std::optional<Tag>& tag) const {
  VerifyReport report;
  const std::vector<ModelRecord> models =
      tag ? std::vector<ModelRecord>{catalog_.Resolve(*tag)} : catalog_.ListModels();
  cache::ChunkSet bad;
  if (tag) {
    // One model: read back each of its chunks (every read verifies).
    std::string chunk;
    for (const auto& file : catalog_.ListFiles(models.front())) {
      auto sha256 = file.type == FileType::kFile ? StoredContent(file) : std::nullopt;
      auto blob = sha256 ? catalog_.FindBlob(*sha256) : std::nullopt;
      if (!blob) continue;
      for (const auto& c : blob->chunks) {
        try {
          chunks_.Read(c.hash, &chunk);
          ++report.chunks;
          report.bytes += chunk.size();
        } catch (const Error&) {
          bad.insert(c.hash);
        }
      }
    }
  } else {
    // The whole store: scan every pack byte and check the index against it.
    cache::ChunkVerifier verifier(const_cast<cache::ChunkStore*>(&chunks_));
    cache::VerifyResult result = verifier.VerifyAll();
    report.chunks = result.records;
    report.bytes = result.bytes;
    report.pack_damage = std::move(result.damage);
    bad = std::move(result.bad_chunks);
  }
  report.models = models.size();
  for (const auto& m : models) report.files += m.file_count;
  report.damaged_files = FindDamagedFiles(bad, models);
  return report;
}

VerifyReport Store::Repair() {
  RequireWritable("repair");
  cache::RebuildResult rebuilt;
  {
    std::lock_guard<std::mutex> write_lock(write_mu_);
    cache::ChunkVerifier verifier(&chunks_);
    rebuilt = verifier.RebuildIndex();
  }
  VerifyReport report = Verify(std::nullopt);
  report.repairs = std::move(repair_notes_);
  repair_notes_.clear();
  report.repairs.push_back("rebuilt the chunk index from " + std::to_string(rebuilt.packs) +
                           " packs: " + std::to_string(rebuilt.chunks) + " chunks");
  const std::vector<ModelRecord> models = catalog_.ListModels();
  std::vector<FileDamage> incomplete = FindIncompleteModels(models);
  report.repairs.push_back("the catalog holds " + std::to_string(models.size()) + " models, " +
                           std::to_string(models.size() - incomplete.size()) + " of them complete");
  report.damaged_files.insert(report.damaged_files.end(), incomplete.begin(), incomplete.end());
  cache::GarbageCollector gc(&chunks_);
  if (uint64_t orphaned = gc.Estimate(catalog_.LiveChunks()).garbage_bytes) {
    report.repairs.push_back(std::to_string(orphaned) +
                             " bytes of pack data belong to no model (deleted models, or models "
                             "whose records were lost); `modelfs cache gc` reclaims them");
  }
  return report;
}

std::vector<FileDamage> Store::FindIncompleteModels(const std::vector<ModelRecord>& models) const {
  std::vector<FileDamage> incomplete;
  for (const auto& model : models) {
    uint64_t files = 0;
    for (const auto& f : catalog_.ListFiles(model)) files += f.type == FileType::kFile;
    if (files != model.file_count) {
      incomplete.push_back({TagString(model), "*",
                            "the index lost the records of " + std::to_string(model.file_count - std::min(files, model.file_count)) +
                                " of its " + std::to_string(model.file_count) +
                                " files; delete the model and save or pull it again"});
    }
  }
  return incomplete;
}

}  // namespace modelfs
