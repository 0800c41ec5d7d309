#include "src/catalog.h"

#include <algorithm>
#include <set>

#include "src/model_path.h"
#include "src/tag.h"
#include "util/error.h"

namespace modelfs {
namespace {

[[noreturn]] void ThrowDamaged(const std::string& what) {
  throw Error(ErrorCode::kCorruption, "the index entry of " + what + " is damaged");
}

BlobRecord DecodeBlobOrThrow(std::string_view value) {
  auto blob = BlobRecord::Decode(value);
  if (!blob) ThrowDamaged("a content blob");
  return *blob;
}

}  // namespace

std::vector<ModelRecord> Catalog::ListModels(std::string_view name) const {
  std::vector<ModelRecord> models;
  std::string prefix = name.empty() ? std::string() : ModelKey(name, "");
  index_->Scan(cache::Column::kModels, prefix, [&](std::string_view key, std::string_view value) {
    auto model = ModelRecord::Decode(key, value);
    if (!model) ThrowDamaged("model " + std::string(key));
    models.push_back(std::move(*model));
    return true;
  });
  std::stable_sort(models.begin(), models.end(), [](const ModelRecord& a, const ModelRecord& b) {
    return a.creation_ns != b.creation_ns ? a.creation_ns > b.creation_ns : a.version > b.version;
  });
  return models;
}

std::vector<std::string> Catalog::ListModelNames() const {
  std::vector<std::string> names;
  index_->Scan(cache::Column::kModels, "", [&](std::string_view key, std::string_view) {
    std::string_view name = key.substr(0, key.find('\0'));
    if (names.empty() || names.back() != name) names.emplace_back(name);
    return true;
  });
  return names;
}

std::optional<ModelRecord> Catalog::FindModel(std::string_view name, std::string_view version) const {
  const std::string key = ModelKey(name, version);
  auto value = index_->Get(cache::Column::kModels, key);
  if (!value) return std::nullopt;
  auto model = ModelRecord::Decode(key, *value);
  if (!model) ThrowDamaged("model " + std::string(name) + ":" + std::string(version));
  return model;
}

ModelRecord Catalog::Resolve(const Tag& tag) const {
  if (!tag.is_latest()) {
    if (auto exact = FindModel(tag.name, tag.version)) return *exact;
  }
  std::vector<ModelRecord> matches;
  for (auto& model : ListModels(tag.name)) {
    if (tag.is_latest()) return model;
    if (model.version.starts_with(tag.version)) matches.push_back(std::move(model));
  }
  if (matches.size() == 1) return matches.front();
  if (matches.empty()) {
    throw Error(ErrorCode::kNotFound, "Model '" + tag.ToString() + "' is not found in the store");
  }
  throw Error(ErrorCode::kInvalidArgument,
              "version prefix '" + tag.version + "' of model '" + tag.name + "' is ambiguous (" +
                  std::to_string(matches.size()) + " versions match)");
}

std::vector<FileRecord> Catalog::ListFiles(const ModelRecord& model, std::string_view dir) const {
  std::vector<FileRecord> files;
  const std::string prefix = FileKeyPrefix(model.name, model.version);
  const std::string scan = dir.empty() ? prefix : prefix + std::string(dir) + "/";
  index_->Scan(cache::Column::kFiles, scan, [&](std::string_view key, std::string_view value) {
    auto file = FileRecord::Decode(key.substr(prefix.size()), value);
    if (!file) ThrowDamaged("a file of " + model.name + ":" + model.version);
    files.push_back(std::move(*file));
    return true;
  });
  return files;
}

std::optional<FileRecord> Catalog::FindFile(const ModelRecord& model, std::string_view path) const {
  auto value = index_->Get(cache::Column::kFiles, FileKey(model.name, model.version, path));
  if (!value) return std::nullopt;
  auto file = FileRecord::Decode(path, *value);
  if (!file) ThrowDamaged("file " + std::string(path));
  return file;
}

std::optional<BlobRecord> Catalog::FindBlob(std::string_view sha256) const {
  auto value = index_->Get(cache::Column::kBlobs, sha256);
  if (!value) return std::nullopt;
  return DecodeBlobOrThrow(*value);
}

// Reference-count edits of one batch: records are read once, changed in
// memory, and written by Flush().
class Catalog::RefEditor {
 public:
  explicit RefEditor(const Catalog* catalog) : catalog_(catalog) {}

  // One more reference to the blob `sha256`; `fresh` supplies its chunk list
  // when the index does not have it (nullptr: it must exist).
  void AddBlobRef(const std::string& sha256, const BlobRecord* fresh, const std::string& what) {
    BlobRecord* blob = Blob(sha256);
    if (blob == nullptr) {
      if (fresh == nullptr) throw Error(ErrorCode::kCorruption, "content of " + what + " was not stored");
      blob = &blobs_.emplace(sha256, *fresh).first->second;
      blob->refcount = 0;
    }
    ++blob->refcount;
  }
  bool HasBlob(const std::string& sha256) { return Blob(sha256) != nullptr; }

  void DropBlobRef(const std::string& sha256) {
    BlobRecord* blob = Blob(sha256);
    if (blob != nullptr && blob->refcount > 0) --blob->refcount;
  }

  // One more reference to the remote content of `file` (created on first use;
  // materialized at once when its sha256 is already stored).
  void AddRemoteRef(const FileRecord& file) {
    RemoteRecord* remote = Remote(file.remote_id);
    if (remote == nullptr) {
      remote = &remotes_.emplace(file.remote_id, RemoteRecord{file.size, 0, file.sha256, false})
                    .first->second;
      if (!file.sha256.empty() && HasBlob(file.sha256)) {
        AddBlobRef(file.sha256, nullptr, file.path);
        remote->materialized = true;
      }
    }
    ++remote->refcount;
  }

  void DropRemoteRef(const std::string& id) {
    RemoteRecord* remote = Remote(id);
    if (remote != nullptr && remote->refcount > 0) --remote->refcount;
  }

  RemoteRecord* Remote(const std::string& id) {
    auto it = remotes_.find(id);
    if (it != remotes_.end()) return &it->second;
    auto stored = catalog_->FindRemote(id);
    if (!stored) return nullptr;
    return &remotes_.emplace(id, std::move(*stored)).first->second;
  }

  // Writes every touched record; deletes those left without references (a
  // remote content going releases its blob reference first).
  Catalog::Released Flush(cache::Index::Batch* batch) {
    Catalog::Released released;
    for (auto& [id, remote] : remotes_) {
      if (remote.refcount > 0) {
        batch->Put(cache::Column::kRemotes, id, remote.Encode());
        continue;
      }
      if (remote.materialized) DropBlobRef(remote.sha256);
      batch->Delete(cache::Column::kRemotes, id);
      batch->Delete(cache::Column::kFetch, id);
      released.remote_ids.push_back(id);
    }
    for (const auto& [sha, blob] : blobs_) {
      if (blob.refcount == 0) {
        batch->Delete(cache::Column::kBlobs, sha);
        released.bytes += blob.size;
      } else {
        batch->Put(cache::Column::kBlobs, sha, blob.Encode());
      }
    }
    return released;
  }

 private:
  BlobRecord* Blob(const std::string& sha256) {
    auto it = blobs_.find(sha256);
    if (it != blobs_.end()) return &it->second;
    auto stored = catalog_->FindBlob(sha256);
    if (!stored) return nullptr;
    return &blobs_.emplace(sha256, std::move(*stored)).first->second;
  }

  const Catalog* catalog_;
  std::map<std::string, BlobRecord> blobs_;
  std::map<std::string, RemoteRecord> remotes_;
};

void Catalog::ValidateNewModel(const ModelRecord& model, const std::vector<FileRecord>& files) {
  ValidateTagPart(model.name, "name");
  ValidateConcreteVersion(model.name, model.version);
  if (files.size() > kMaxModelFiles) {
    throw Error(ErrorCode::kInvalidArgument,
                "model '" + model.name + ":" + model.version + "' has " + std::to_string(files.size()) +
                    " files and directories, more than the " + std::to_string(kMaxModelFiles) +
                    " a model may hold");
  }
  const std::string what = "file of model '" + model.name + ":" + model.version + "'";
  std::set<std::string_view> paths;
  uint64_t total = 0;
  for (const auto& file : files) {
    ValidateModelPath(file.path, what);
    if (!paths.insert(file.path).second) {
      throw Error(ErrorCode::kInvalidArgument,
                  "refusing the " + what + " named \"" + PrintablePath(file.path) +
                      "\": the model holds that path twice; nothing was stored");
    }
    if (file.type != FileType::kFile) continue;
    ValidateModelFileSize(file.size, file.path, what);
    total = CheckedAdd(total, file.size, "the size of model '" + model.name + ":" + model.version + "'");
  }
}

void Catalog::AddModel(const ModelRecord& model, const std::vector<FileRecord>& files,
                       const std::map<std::string, BlobRecord>& new_blobs,
                       cache::Index::Batch* batch) const {
  ValidateNewModel(model, files);
  RefEditor refs(this);
  for (const auto& file : files) {
    batch->Put(cache::Column::kFiles, FileKey(model.name, model.version, file.path), file.Encode());
    if (file.type != FileType::kFile) continue;
    if (file.is_remote()) {
      refs.AddRemoteRef(file);
      continue;
    }
    auto fresh = new_blobs.find(file.sha256);
    refs.AddBlobRef(file.sha256, fresh == new_blobs.end() ? nullptr : &fresh->second, file.path);
  }
  refs.Flush(batch);
  batch->Put(cache::Column::kModels, ModelKey(model.name, model.version), model.Encode());
}

void Catalog::UpdateModel(const ModelRecord& model, cache::Index::Batch* batch) const {
  batch->Put(cache::Column::kModels, ModelKey(model.name, model.version), model.Encode());
}

Catalog::Released Catalog::RemoveModel(const ModelRecord& model, cache::Index::Batch* batch) const {
  RefEditor refs(this);
  for (const auto& file : ListFiles(model)) {
    batch->Delete(cache::Column::kFiles, FileKey(model.name, model.version, file.path));
    if (file.type != FileType::kFile) continue;
    if (file.is_remote()) {
      refs.DropRemoteRef(file.remote_id);
    } else {
      refs.DropBlobRef(file.sha256);
    }
  }
  batch->Delete(cache::Column::kModels, ModelKey(model.name, model.version));
  return refs.Flush(batch);
}

std::optional<RemoteRecord> Catalog::FindRemote(std::string_view id) const {
  auto value = index_->Get(cache::Column::kRemotes, id);
  if (!value) return std::nullopt;
  auto remote = RemoteRecord::Decode(*value);
  if (!remote) ThrowDamaged("remote content " + remote_id::Describe(id));
  return remote;
}

std::vector<std::pair<std::string, RemoteRecord>> Catalog::ListRemotes() const {
  std::vector<std::pair<std::string, RemoteRecord>> remotes;
  index_->Scan(cache::Column::kRemotes, "", [&](std::string_view key, std::string_view value) {
    auto remote = RemoteRecord::Decode(value);
    if (!remote) ThrowDamaged("remote content " + remote_id::Describe(key));
    remotes.emplace_back(std::string(key), std::move(*remote));
    return true;
  });
  return remotes;
}

std::optional<FetchState> Catalog::FindFetchState(std::string_view id) const {
  auto value = index_->Get(cache::Column::kFetch, id);
  if (!value) return std::nullopt;
  return FetchState::Decode(*value);  // a damaged state is refetched
}

bool Catalog::Materialize(const std::string& id, const std::string& sha256, const BlobRecord* fresh,
                          cache::Index::Batch* batch) const {
  RefEditor refs(this);
  RemoteRecord* remote = refs.Remote(id);
  if (remote == nullptr) return false;
  if (remote->materialized) return true;
  refs.AddBlobRef(sha256, fresh, remote_id::Describe(id));
  remote->sha256 = sha256;
  remote->materialized = true;
  refs.Flush(batch);
  return true;
}

uint64_t Catalog::Dematerialize(const std::string& id, cache::Index::Batch* batch) const {
  RefEditor refs(this);
  RemoteRecord* remote = refs.Remote(id);
  if (remote == nullptr || !remote->materialized) return 0;
  refs.DropBlobRef(remote->sha256);
  remote->materialized = false;
  return refs.Flush(batch).bytes;
}

cache::ChunkSet Catalog::LiveChunks() const {
  cache::ChunkSet live;
  index_->Scan(cache::Column::kBlobs, "", [&](std::string_view, std::string_view value) {
    BlobRecord blob = DecodeBlobOrThrow(value);
    if (blob.refcount == 0) return true;
    for (const auto& c : blob.chunks) live.insert(c.hash);
    return true;
  });
  return live;
}

}  // namespace modelfs
