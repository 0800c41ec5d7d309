// src/catalog.h — the model catalog: models, their files and the content blobs
// those files share, kept in the Index.
//
// Reads are safe from many threads. Mutations are added to a caller's batch;
// they read blob refcounts first, so the caller must hold the store's write
// lock from the reads until the batch is written.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cache/garbage_collector.h"
#include "cache/index.h"
#include "src/catalog_records.h"
#include "src/tag.h"

namespace modelfs {

class Catalog {
 public:
  // *index must outlive the Catalog.
  explicit Catalog(cache::Index* index) : index_(index) {}

  // Every version of `name` (every model when empty), newest first.
  std::vector<ModelRecord> ListModels(std::string_view name = {}) const;
  // The distinct model names, sorted (reads keys only).
  std::vector<std::string> ListModelNames() const;
  std::optional<ModelRecord> FindModel(std::string_view name, std::string_view version) const;
  // "name" / "name:latest" -> newest; "name:v" -> exact version, else the
  // unique version starting with v. Throws kNotFound, or kInvalidArgument
  // when a prefix is ambiguous.
  ModelRecord Resolve(const Tag& tag) const;

  // Every file and directory of the model, or only those below `dir`
  // (a path inside the model, without trailing '/'), in path order.
  std::vector<FileRecord> ListFiles(const ModelRecord& model, std::string_view dir = {}) const;
  std::optional<FileRecord> FindFile(const ModelRecord& model, std::string_view path) const;
  std::optional<BlobRecord> FindBlob(std::string_view sha256) const;

  std::optional<RemoteRecord> FindRemote(std::string_view id) const;
  std::vector<std::pair<std::string, RemoteRecord>> ListRemotes() const;
  // nullopt when nothing was ever fetched (or the state is unreadable).
  std::optional<FetchState> FindFetchState(std::string_view id) const;

  // What a removal released: bytes of blobs left without references, and
  // remote contents no file names any more (their staging files can go).
  struct Released {
    uint64_t bytes = 0;
    std::vector<std::string> remote_ids;
  };

  // Throws Error(kInvalidArgument) unless `model` and `files` may be stored:
  // a concrete version (not "latest"), valid and distinct paths
  // (src/model_path.h), file sizes within bounds whose sum fits 64 bits.
  static void ValidateNewModel(const ModelRecord& model, const std::vector<FileRecord>& files);

  // Validates (ValidateNewModel), then adds the model, its files, and one
  // reference per file to its blob (local files) or remote content (remote
  // files; a remote content whose sha256 is stored already is materialized
  // at once). `new_blobs` holds chunk lists
  // of contents the index may not have yet.
  void AddModel(const ModelRecord& model, const std::vector<FileRecord>& files,
                const std::map<std::string, BlobRecord>& new_blobs, cache::Index::Batch* batch) const;
  // Rewrites the record of a model the catalog holds (its files stay).
  void UpdateModel(const ModelRecord& model, cache::Index::Batch* batch) const;
  // Removes the model and its files and drops their references; records left
  // without references are deleted.
  Released RemoveModel(const ModelRecord& model, cache::Index::Batch* batch) const;

  // Records that remote content `id` was fetched and verified as `sha256`
  // (`fresh`: its chunk list when the index lacks that blob). False when no
  // file names `id` any more.
  bool Materialize(const std::string& id, const std::string& sha256, const BlobRecord* fresh,
                   cache::Index::Batch* batch) const;
  // Drops a materialized remote content's blob reference (it can be fetched
  // again); returns the bytes of blobs left without references.
  uint64_t Dematerialize(const std::string& id, cache::Index::Batch* batch) const;

  // The chunks of every referenced blob.
  cache::ChunkSet LiveChunks() const;

 private:
  class RefEditor;
  cache::Index* index_;
};

}  // namespace modelfs
