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

  // Adds the model, its files, and one reference per file to its blob.
  // `new_blobs` holds chunk lists of contents the index may not have yet.
  void AddModel(const ModelRecord& model, const std::vector<FileRecord>& files,
                const std::map<std::string, BlobRecord>& new_blobs, cache::Index::Batch* batch) const;
  // Removes the model and its files and drops their blob references; blobs
  // left without references are deleted. Returns their total size.
  uint64_t RemoveModel(const ModelRecord& model, cache::Index::Batch* batch) const;

  // The chunks of every referenced blob.
  cache::ChunkSet LiveChunks() const;

 private:
  cache::Index* index_;
};

}  // namespace modelfs
