// src/store_remote.cc — the Store's remote models: registration, lazily
// fetched contents becoming chunks, prefetch, usage and eviction. See store.h.
#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <set>

#include <spdlog/spdlog.h>

#include "cache/chunk_writer.h"
#include "cache/chunker.h"
#include "src/file_ingester.h"
#include "src/model_info.h"
#include "src/model_path.h"
#include "src/remote_file_reader.h"
#include "src/store.h"
#include "util/coding.h"
#include "util/digest.h"
#include "util/hex.h"
#include "util/producer_source.h"
#include "util/disk_space.h"
#include "util/error.h"
#include "util/unique_fd.h"

namespace modelfs {
namespace {

namespace fs = std::filesystem;

constexpr char kFetchLimitKey[] = "fetch_limit";
constexpr char kGarbageHintKey[] = "garbage_hint";
constexpr char kDigestMismatchesKey[] = "digest_mismatches";
constexpr uint64_t kFetchRoomSlack = 16 << 20;

std::string TagOf(const ModelRecord& m) { return m.name + ":" + m.version; }

// Adds `path`'s parent directories to `dirs` (and `path` itself when it is
// a directory); Error(kInvalidArgument) for a path a model cannot hold.
void AddDirectories(const std::string& path, bool is_directory, std::set<std::string>* dirs) {
  auto refuse = [&] {
    throw Error(ErrorCode::kInvalidArgument, "the remote lists a " +
                                                 std::string(is_directory ? "directory" : "file") +
                                                 " named \"" + path + "\", which a model cannot hold");
  };
  if (path.empty() || path.front() == '/' || path.back() == '/' ||
      path.find("//") != std::string::npos || path == "model.yaml") {
    refuse();
  }
  const std::string full = path + (is_directory ? "/" : "");
  for (size_t slash = full.find('/'); slash != std::string::npos; slash = full.find('/', slash + 1)) {
    std::string dir = full.substr(0, slash);
    if (dir == "." || dir == ".." || dir.ends_with("/..") || dir.ends_with("/.")) refuse();
    dirs->insert(std::move(dir));
  }
}

// The file and directory records of a remote model, in path order.
std::vector<FileRecord> RemoteFileRecords(const std::vector<RemoteFileEntry>& entries,
                                          const std::vector<std::string>& directories) {
  std::set<std::string> dirs;
  std::vector<FileRecord> files;
  for (const auto& dir : directories) {
    ValidateModelPath(dir, "directory the remote lists");
    AddDirectories(dir, true, &dirs);
  }
  for (const auto& e : entries) {
    ValidateModelPath(e.path, "file the remote lists");
    ValidateModelFileSize(e.size, e.path, "file the remote lists");
    AddDirectories(e.path, false, &dirs);
    FileRecord file;
    file.path = e.path;
    file.executable = e.executable;
    file.size = e.size;
    file.sha256 = e.sha256;
    file.remote_id = !e.sha256.empty()   ? remote_id::FromSha256(e.sha256)
                     : !e.git_sha1.empty() ? remote_id::FromGitSha1(e.git_sha1)
                                           : remote_id::FromLocation(e.location_key);
    file.remote_offset = e.offset;
    files.push_back(std::move(file));
  }
  for (const auto& dir : dirs) files.push_back(FileRecord::Directory(dir));
  std::sort(files.begin(), files.end(), [](const FileRecord& a, const FileRecord& b) { return a.path < b.path; });
  for (size_t i = 1; i < files.size(); ++i) {
    if (files[i].path == files[i - 1].path) {
      throw Error(ErrorCode::kInvalidArgument, "the remote lists \"" + files[i].path + "\" twice");
    }
  }
  return files;
}

// Bytes of remote content `id` held here: all of it once stored, else what
// its staging file holds.
uint64_t HeldBytes(const RemoteRecord& remote, const std::optional<FetchState>& state) {
  if (remote.materialized) return remote.size;
  if (!state || state->segments.empty()) return 0;
  auto map = SegmentMap::Decode(state->segments);
  if (!map) return 0;
  return std::min(remote.size, static_cast<uint64_t>(map->count()) * map->segment_size());
}

}  // namespace

RegisterResult Store::RegisterRemote(const RegisterRequest& request) {
  RequireWritable("register a model");
  std::lock_guard<std::mutex> write_lock(write_mu_);
  const Tag& tag = request.tag;
  if (auto existing = catalog_.FindModel(tag.name, tag.version)) {
    if (existing->origin.kind == request.origin.kind && existing->origin.repo == request.origin.repo &&
        existing->origin.commit == request.origin.commit) {
      RegisterResult result{*existing, true, false, 0};
      if (request.strict && !existing->strict) {
        result.model.strict = result.made_strict = true;
        cache::Index::Batch batch;
        catalog_.UpdateModel(result.model, &batch);
        index_->Write(batch);
        NotifyChanged(result.model.name);
      }
      return result;
    }
    throw Error(ErrorCode::kAlreadyExists, "Model '" + tag.ToString() + "' already exists");
  }
  std::vector<FileRecord> files = RemoteFileRecords(request.files, request.directories);

  const auto now = std::chrono::system_clock::now();
  ModelInfo info = ModelInfo::Create(tag, "", now);
  if (!request.model_yaml.empty()) {
    info = ModelInfo::Parse(request.model_yaml);
    info.set_tag(tag);
  }
  for (const auto& [k, v] : request.metadata) info.SetMetadata(k, v);

  uint64_t size = 0;
  for (const auto& f : request.files) size = CheckedAdd(size, f.size, "the size of model '" + tag.ToString() + "'");
  ModelRecord model = NewModelRecord(info, size, request.files.size(), request.source);
  model.origin = request.origin;
  model.strict = request.strict;

  cache::Index::Batch batch;
  catalog_.AddModel(model, files, {}, &batch);
  index_->Write(batch);
  NotifyChanged(model.name);

  RegisterResult result{model, false, false, 0};
  for (const auto& f : files) {
    if (f.type != FileType::kFile) continue;
    auto remote = catalog_.FindRemote(f.remote_id);
    if (remote) result.present_bytes += HeldBytes(*remote, catalog_.FindFetchState(f.remote_id));
  }
  return result;
}

void Store::PutFetched(const std::string& id, cache::Index::Batch* batch) {
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  batch->Put(cache::Column::kFetch, id, FetchState{now, ""}.Encode());
}

void Store::CommitFetched(const std::string& id, cache::ChunkWriter* writer, IngestedContent content) {
  cache::Index::Batch batch;
  PutFetched(id, &batch);
  BlobRecord blob{content.size, 0, std::move(content.chunks)};
  writer->Prepare(&batch);
  catalog_.Materialize(id, content.sha256, &blob, &batch);
  index_->Write(batch);
  writer->Committed();
}

void Store::MaterializeStaged(const std::string& id, const fs::path& staging) {
  {
    std::lock_guard<std::mutex> write_lock(write_mu_);
    auto remote = catalog_.FindRemote(id);
    if (!remote) return;  // no file names it any more: Forget removes the staging file
    if (remote->materialized) {
      // Stored meanwhile (by a streamed prefetch): the staging file only goes.
    } else if (!remote->sha256.empty() && catalog_.FindBlob(remote->sha256)) {
      cache::Index::Batch batch;
      PutFetched(id, &batch);
      catalog_.Materialize(id, remote->sha256, nullptr, &batch);  // stored meanwhile: no ingest
      index_->Write(batch);
    } else {
      UniqueFd fd(::open(staging.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid()) ThrowErrno("cannot read staging file " + staging.string());
      auto writer = chunks_.NewWriter();
      FileIngester ingester(writer.get(), cache::Chunker(cache::ChunkerParams::Default()));
      IngestedContent content = ingester.Ingest(fd.get(), staging.string(), remote->size);
      if (content.size != remote->size || (!remote->sha256.empty() && content.sha256 != remote->sha256)) {
        throw Error(ErrorCode::kCorruption, "staging file " + staging.string() +
                                                " changed after it was verified; it will be fetched again");
      }
      CommitFetched(id, writer.get(), std::move(content));
      spdlog::info("stored fetched content {}", remote_id::Describe(id));
    }
  }
  std::error_code ec;
  fs::remove(staging, ec);
}

bool Store::StreamRemote(const ModelRecord& model, const FileRecord& file,
                         const std::function<void(uint64_t)>& on_bytes) {
  const std::string& id = file.remote_id;
  if (remote_cache_->IsOpen(id)) return false;  // (checked before taking the write lock: see remote_cache.h)
  std::lock_guard<std::mutex> write_lock(write_mu_);
  auto remote = catalog_.FindRemote(id);
  if (!remote) {
    throw Error(ErrorCode::kCorruption, "the remote content of " + file.path + " is missing from the index");
  }
  if (remote->materialized) return true;
  auto state = catalog_.FindFetchState(id);
  if (remote->size == 0 || (state && !state->segments.empty())) return false;  // resume what is staged
  if (!remote->sha256.empty() && catalog_.FindBlob(remote->sha256)) {
    cache::Index::Batch batch;
    PutFetched(id, &batch);
    catalog_.Materialize(id, remote->sha256, nullptr, &batch);  // stored already: nothing to fetch
    index_->Write(batch);
    on_bytes(remote->size);
    return true;
  }

  // One request for the whole content, received on one thread, decoded
  // into blocks and hashed on a second one, cut into chunks on this one.
  const uint64_t size = remote->size;
  std::shared_ptr<remote::RangeFetcher> fetcher = sources_->Open(model, file, size);
  ProducerSource download(
      [&](ByteSink* sink) {
        // No deadline: the fetcher's progress rule bounds a download of any size.
        fetcher->FetchTo(0, size, [sink](const char* data, size_t n) { sink->Write(data, n); }, Deadline());
      },
      size, file.path);
  std::optional<GitBlobSha1> git_sha1;
  if (remote_id::IsGitSha1(id)) git_sha1.emplace(size);
  auto writer = chunks_.NewWriter();
  FileIngester ingester(writer.get(), cache::Chunker(cache::ChunkerParams::Default()));
  IngestedContent content = ingester.IngestStream(
      [&](char* buffer, size_t capacity) {
        const size_t n = download.Read(buffer, capacity);
        if (git_sha1) git_sha1->Update(buffer, n);
        if (n > 0) on_bytes(n);
        return n;
      },
      size);
  // The digest the id promises, as computed (a location id promises none).
  std::optional<std::string> actual;
  if (remote_id::IsSha256(id)) actual = content.sha256;
  if (git_sha1) actual = git_sha1->Finish();
  if (content.size != size || (actual && *actual != remote_id::Digest(id))) {
    if (content.size == size) {
      spdlog::error("digest mismatch: model {} file {} ({} bytes): expected {}, got {}; nothing was stored",
                    TagOf(model), file.path, size, remote_id::Describe(id), HexEncode(*actual));
      CountDigestMismatch();
    }
    throw Error(ErrorCode::kCorruption, "the fetched bytes of " + file.path + " do not match " +
                                            remote_id::Describe(id) + " (got " + std::to_string(content.size) +
                                            " bytes" + (actual ? ", " + HexEncode(*actual) : "") +
                                            "); nothing was stored");
  }
  CommitFetched(id, writer.get(), std::move(content));
  std::error_code ec;
  fs::remove(remote_cache_->StagingPath(id), ec);  // a leftover without recorded progress
  spdlog::info("stored fetched content {}", remote_id::Describe(id));
  return true;
}

void Store::Prefetch(const ModelRecord& model, const std::function<void(uint64_t, uint64_t)>& progress) {
  RequireWritable("fetch");
  std::vector<FileRecord> todo;
  uint64_t total = 0, done = 0;
  for (auto& file : catalog_.ListFiles(model)) {
    if (file.type != FileType::kFile) continue;
    total += file.size;
    auto remote = file.is_remote() ? catalog_.FindRemote(file.remote_id) : std::nullopt;
    if (remote && !remote->materialized) {
      todo.push_back(std::move(file));
    } else {
      done += file.size;
    }
  }
  progress(done, total);
  std::vector<char> buf(1 << 20);  // each read must get its bytes within the read timeout
  for (const auto& file : todo) {
    const uint64_t before = done;
    if (StreamRemote(model, file, [&](uint64_t n) { progress(done += n, total); })) {
      EnforceFetchLimit();
      continue;
    }
    done = before;
    // Partly staged or being read: through its RemoteFile, which resumes.
    auto reader = OpenFile(model, file.path);
    if (reader->size() == 0) reader->ReadAt(0, 0, buf.data());  // verifies (and so stores) it
    for (uint64_t offset = 0; offset < reader->size();) {
      size_t n = reader->ReadAt(offset, buf.size(), buf.data());
      if (n == 0) throw Error(ErrorCode::kIOError, file.path + " ended early");
      offset += n;
      done += n;
      progress(done, total);
    }
    if (auto* remote_reader = dynamic_cast<RemoteFileReader*>(reader.get())) {
      remote_cache_->MaterializeNow(remote_reader->file()->id());
    }
  }
  EnforceFetchLimit();
}

uint64_t Store::DiscardCount(const std::string& remote_id) const {
  std::lock_guard<std::mutex> lock(mismatch_mu_);
  auto it = discards_.find(remote_id);
  return it == discards_.end() ? 0 : it->second;
}

void Store::CountDigestMismatch() {
  std::lock_guard<std::mutex> lock(mismatch_mu_);
  try {
    auto value = index_->Get(cache::Column::kMeta, kDigestMismatchesKey);
    std::string count;
    PutFixed64(&count, (value && value->size() == 8 ? DecodeFixed64(value->data()) : 0) + 1);
    cache::Index::Batch batch;
    batch.Put(cache::Column::kMeta, kDigestMismatchesKey, count);
    index_->Write(batch);
  } catch (const std::exception& e) {
    spdlog::error("cannot count a digest mismatch: {}", e.what());
  }
}

FetchStats Store::FetchedStats() const {
  FetchStats stats;
  stats.limit = FetchLimit();
  if (auto count = index_->Get(cache::Column::kMeta, kDigestMismatchesKey); count && count->size() == 8) {
    stats.digest_mismatches = DecodeFixed64(count->data());
  }
  std::map<std::string, uint64_t> held;
  for (const auto& [id, remote] : catalog_.ListRemotes()) {
    const uint64_t bytes = HeldBytes(remote, catalog_.FindFetchState(id));
    held[id] = bytes;
    stats.registered += remote.size;
    stats.fetched += bytes;
    bool shared = false;
    if (remote.materialized) {
      auto blob = catalog_.FindBlob(remote.sha256);
      shared = blob && blob->refcount > 1;
    }
    if (!shared && !(remote_cache_ && remote_cache_->IsOpen(id))) stats.evictable += bytes;
  }
  for (const auto& model : catalog_.ListModels()) {
    if (model.origin.kind.empty()) continue;
    FetchUsage usage{TagOf(model), 0, 0, model.strict};
    for (const auto& file : catalog_.ListFiles(model)) {
      if (!file.is_remote()) continue;
      usage.registered += file.size;
      usage.fetched += held[file.remote_id];
    }
    stats.models.push_back(std::move(usage));
  }
  return stats;
}

EvictResult Store::Evict(const std::optional<ModelRecord>& model, uint64_t keep_bytes) {
  return EvictUntil(model, [keep_bytes](uint64_t held, uint64_t) { return held <= keep_bytes; });
}

void Store::MakeRoomForFetch(uint64_t bytes) {
  const fs::path packs = home_ / "packs";
  const uint64_t room = BulkWritableBytes(packs);
  if (room >= bytes) return;
  // Some slack, so that a fetch does not evict once per segment.
  const uint64_t wanted = bytes - room + kFetchRoomSlack;
  try {
    EvictResult r = EvictUntil(std::nullopt, [&](uint64_t, uint64_t evicted) { return evicted >= wanted; });
    if (r.contents > 0) {
      spdlog::warn("the disk holding the store is nearly full: evicted {} fetched contents ({} "
                   "bytes) to make room for a fetch",
                   r.contents, r.bytes);
    }
  } catch (const std::exception& e) {
    spdlog::error("cannot evict fetched contents to make room for a fetch: {}", e.what());
  }
}

EvictResult Store::EvictUntil(const std::optional<ModelRecord>& model,
                              const std::function<bool(uint64_t held, uint64_t evicted)>& enough) {
  RequireWritable("evict");
  struct Candidate {
    std::string id;
    int64_t access_ns;
    uint64_t bytes;
    bool materialized;
  };
  std::set<std::string> only;
  if (model) {
    for (const auto& file : catalog_.ListFiles(*model)) {
      if (file.is_remote()) only.insert(file.remote_id);
    }
  }
  std::vector<Candidate> candidates;
  uint64_t held_total = 0;
  for (const auto& [id, remote] : catalog_.ListRemotes()) {
    if (model && !only.count(id)) continue;
    auto state = catalog_.FindFetchState(id);
    const uint64_t bytes = HeldBytes(remote, state);
    if (bytes == 0) continue;
    if (remote.materialized) {
      auto blob = catalog_.FindBlob(remote.sha256);
      if (blob && blob->refcount > 1) continue;  // also saved locally (or shared): never evicted
    }
    held_total += bytes;
    candidates.push_back({id, state ? state->access_ns : 0, bytes, remote.materialized});
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate& a, const Candidate& b) { return a.access_ns < b.access_ns; });
  EvictResult result;
  uint64_t released = 0;
  for (const auto& c : candidates) {
    if (enough(held_total, result.bytes)) break;
    if (remote_cache_->IsOpen(c.id)) continue;
    if (c.materialized) {
      std::lock_guard<std::mutex> write_lock(write_mu_);
      cache::Index::Batch batch;
      released += catalog_.Dematerialize(c.id, &batch);
      batch.Delete(cache::Column::kFetch, c.id);
      index_->Write(batch);
    } else if (!remote_cache_->DropStaged(c.id)) {
      continue;
    }
    held_total -= c.bytes;
    result.bytes += c.bytes;
    ++result.contents;
  }
  if (released > 0) {
    {
      std::lock_guard<std::mutex> write_lock(write_mu_);
      auto hint = index_->Get(cache::Column::kMeta, kGarbageHintKey);
      uint64_t total = released + (hint && hint->size() == 8 ? DecodeFixed64(hint->data()) : 0);
      cache::Index::Batch batch;
      batch.Put(cache::Column::kMeta, kGarbageHintKey, cache::ChunkStore::EncodeLength(total));
      index_->Write(batch);
    }
    CollectGarbage();
  }
  return result;
}

void Store::SetFetchLimit(std::optional<uint64_t> limit) {
  RequireWritable("set the cache limit");
  cache::Index::Batch batch;
  if (limit) {
    std::string value;
    PutFixed64(&value, *limit);
    batch.Put(cache::Column::kMeta, kFetchLimitKey, value);
  } else {
    batch.Delete(cache::Column::kMeta, kFetchLimitKey);
  }
  index_->Write(batch);
  EnforceFetchLimit();
}

std::optional<uint64_t> Store::FetchLimit() const {
  auto value = index_->Get(cache::Column::kMeta, kFetchLimitKey);
  if (!value || value->size() != 8) return std::nullopt;
  return DecodeFixed64(value->data());
}

void Store::EnforceFetchLimit() {
  if (auto limit = FetchLimit()) {
    EvictResult r = Evict(std::nullopt, *limit);
    if (r.contents > 0) {
      spdlog::info("evicted {} fetched contents ({} bytes) to stay under the cache limit", r.contents, r.bytes);
    }
  }
}

void Store::ForgetRemotes(const std::vector<std::string>& ids) {
  if (!remote_cache_) return;
  for (const auto& id : ids) remote_cache_->Forget(id);
}

}  // namespace modelfs
