#include "src/catalog.h"

#include <algorithm>

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

void Catalog::AddModel(const ModelRecord& model, const std::vector<FileRecord>& files,
                       const std::map<std::string, BlobRecord>& new_blobs,
                       cache::Index::Batch* batch) const {
  std::map<std::string, BlobRecord> touched;
  for (const auto& file : files) {
    batch->Put(cache::Column::kFiles, FileKey(model.name, model.version, file.path), file.Encode());
    if (file.type != FileType::kFile) continue;
    auto it = touched.find(file.sha256);
    if (it == touched.end()) {
      auto stored = FindBlob(file.sha256);
      if (!stored) {
        auto fresh = new_blobs.find(file.sha256);
        if (fresh == new_blobs.end()) {
          throw Error(ErrorCode::kCorruption, "content of " + file.path + " was not stored");
        }
        stored = fresh->second;
        stored->refcount = 0;
      }
      it = touched.emplace(file.sha256, std::move(*stored)).first;
    }
    ++it->second.refcount;
  }
  for (const auto& [sha, blob] : touched) batch->Put(cache::Column::kBlobs, sha, blob.Encode());
  batch->Put(cache::Column::kModels, ModelKey(model.name, model.version), model.Encode());
}

uint64_t Catalog::RemoveModel(const ModelRecord& model, cache::Index::Batch* batch) const {
  std::map<std::string, BlobRecord> touched;
  for (const auto& file : ListFiles(model)) {
    batch->Delete(cache::Column::kFiles, FileKey(model.name, model.version, file.path));
    if (file.type != FileType::kFile) continue;
    auto it = touched.find(file.sha256);
    if (it == touched.end()) {
      auto stored = FindBlob(file.sha256);
      if (!stored) continue;  // already gone: nothing to release
      it = touched.emplace(file.sha256, std::move(*stored)).first;
    }
    if (it->second.refcount > 0) --it->second.refcount;
  }
  uint64_t released = 0;
  for (const auto& [sha, blob] : touched) {
    if (blob.refcount == 0) {
      batch->Delete(cache::Column::kBlobs, sha);
      released += blob.size;
    } else {
      batch->Put(cache::Column::kBlobs, sha, blob.Encode());
    }
  }
  batch->Delete(cache::Column::kModels, ModelKey(model.name, model.version));
  return released;
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
