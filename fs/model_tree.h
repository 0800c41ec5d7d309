// fs/model_tree.h — the shape of the mounted filesystem, computed from the store.
//
//   /                          root
//   /models/                   one directory per model name
//   /models/<name>/            one directory per version, and `latest`
//   /models/<name>/latest      symlink to the newest version (or, with
//                              --latest-file, a file holding its version)
//   /models/<name>/<version>/  model.yaml and the model's files and dirs
//
// Nodes are values; a Node names a place, which may stop existing when a
// model is deleted (queries then throw Error(kNotFound)). Inode numbers are
// a hash of the path, so they are stable across lookups and remounts.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fs/model_cache.h"
#include "src/store.h"

namespace modelfs::fs {

enum class NodeKind { kRoot, kModels, kName, kVersion, kDir, kFile, kModelYaml, kLatest };

struct Node {
  NodeKind kind = NodeKind::kRoot;
  std::string name;     // model name (kName and below)
  std::string version;  // (kVersion and below)
  std::string path;     // path inside the version (kDir, kFile)

  bool is_directory() const {
    return kind == NodeKind::kRoot || kind == NodeKind::kModels || kind == NodeKind::kName ||
           kind == NodeKind::kVersion || kind == NodeKind::kDir;
  }
  // Inside a version: immutable, so the kernel may cache it indefinitely.
  bool is_immutable() const {
    return kind == NodeKind::kVersion || kind == NodeKind::kDir || kind == NodeKind::kFile ||
           kind == NodeKind::kModelYaml;
  }
};

uint64_t InodeOf(const Node& node);

struct DirEntry {
  std::string name;
  Node node;
};

class ModelTree {
 public:
  // *store must outlive the tree.
  ModelTree(const Store* store, bool latest_as_file, int64_t mount_time_ns);

  // The child `name` of directory `parent`, or nullopt when there is none
  // (including names that are not valid tags).
  std::optional<Node> Child(const Node& parent, std::string_view name) const;
  std::vector<DirEntry> List(const Node& dir) const;
  // A remote file's mtime is its model's creation time plus the discard
  // count of its content (Store::DiscardCount).
  struct stat Attributes(const Node& node) const;

  // Contents of the small virtual files: model.yaml, and latest as a file.
  std::string VirtualContent(const Node& node) const;
  // Target of the latest symlink: the newest version's name.
  std::string LinkTarget(const Node& node) const;
  std::unique_ptr<FileReader> OpenFile(const Node& node) const;
  // The remote content a file node names (see catalog_records.h); empty
  // for a file saved locally. Throws kNotFound when it no longer exists.
  std::string RemoteIdOf(const Node& node) const;
  // Provenance of a node for extended attributes: "user.modelfs.*" -> value.
  std::vector<std::pair<std::string, std::string>> ExtendedAttributes(const Node& node) const;

  // Forgets what the tree knows of model `name` (after a save or delete).
  void Invalidate(const std::string& name) { models_.Invalidate(name); }
  // Whether name:version exists (as of the last invalidation).
  bool HasVersion(const std::string& name, const std::string& version) const {
    return models_.Find(name, version).has_value();
  }

  const Store& store() const { return *store_; }
  bool latest_as_file() const { return latest_as_file_; }

 private:
  ModelRecord Model(const Node& node) const;
  // The newest version of `name`; throws kNotFound when there is none.
  ModelRecord Newest(const std::string& name) const;

  const Store* store_;
  ModelCache models_;
  bool latest_as_file_;
  int64_t mount_time_ns_;
};

}  // namespace modelfs::fs
