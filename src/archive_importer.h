// src/archive_importer.h — turns the members of a model archive into the
// files and blobs of one model, refusing whatever could escape the model or
// confuse the store.
//
// The policy: regular files and directories are taken (parents a member
// implies are added); a hard link must name a file earlier in the archive
// and a symbolic link must resolve, inside the model, to a file member —
// either becomes a file with that content. Absolute paths, "..", links out
// of the model or to directories, devices, fifos and sockets, duplicate
// members, a path that is both a file and a directory, and a member larger
// than the limit or the free disk are refused with Error(kInvalidArgument)
// naming the member. The archive must hold ./model.yaml. File bytes go to
// the ChunkWriter as they are read (dedup applies); nothing is committed
// here — a refused archive leaves only chunks the writer rolls back.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cache/chunk_writer.h"
#include "remote/archive_reader.h"
#include "src/catalog_records.h"

namespace modelfs {

struct ImportedTree {
  std::string model_yaml;                         // the text of ./model.yaml
  std::vector<FileRecord> files;                  // sorted by path, model.yaml excluded
  std::map<std::string, BlobRecord> new_blobs;    // by sha256
  uint64_t total_size = 0;
  uint64_t file_count = 0;
  bool stopped = false;                           // on_model_yaml asked to stop
};

struct ImportLimits {
  uint64_t max_member_size = 1ull << 40;
  uint64_t free_bytes = UINT64_MAX;               // space left where chunks go
};

class ArchiveImporter {
 public:
  // Called with model.yaml's text as soon as it is read; returning false
  // stops the import (ImportedTree::stopped). May throw to refuse it.
  using ModelYamlCheck = std::function<bool(const std::string& yaml)>;

  // *writer must outlive the importer.
  ArchiveImporter(cache::ChunkWriter* writer, ImportLimits limits, ModelYamlCheck on_model_yaml);

  ImportedTree Import(remote::ArchiveReader* reader);

 private:
  cache::ChunkWriter* writer_;
  ImportLimits limits_;
  ModelYamlCheck on_model_yaml_;
};

// Where a link at `link_dir` (a member's directory) to `target` leads, as a
// path relative to the model root; nullopt when it leaves the model.
std::optional<std::string> ResolveLinkTarget(const std::string& link_dir, const std::string& target);
// The directory part of a member path ("" at the root).
std::string ParentPath(const std::string& path);
// Follows `links` (link path -> the path it leads to) from `target` to a path
// that is not a link; nullopt when the chain does not end within 40 steps
// (a loop).
std::optional<std::string> FollowLinks(const std::map<std::string, std::string>& links,
                                       std::string target);

// The member path relative to the model root ("" for the root itself), or
// Error(kInvalidArgument) for an absolute path or one with a ".." part.
std::string NormalizeMemberPath(const std::string& raw, const std::string& archive);

}  // namespace modelfs
