#include "fs/model_tree.h"

#include <unistd.h>

#include <algorithm>

#include <xxhash.h>

#include "util/error.h"
#include "util/hex.h"

namespace modelfs::fs {
namespace {

constexpr char kModelsDir[] = "models";
constexpr char kLatest[] = "latest";
constexpr char kModelYaml[] = "model.yaml";

bool IsValidTagPart(std::string_view part) {
  try {
    ValidateTagPart(part, "name");
    return true;
  } catch (const Error&) {
    return false;
  }
}

std::string VirtualPath(const Node& n) {
  switch (n.kind) {
    case NodeKind::kRoot: return "/";
    case NodeKind::kModels: return "/models";
    case NodeKind::kName: return "/models/" + n.name;
    case NodeKind::kLatest: return "/models/" + n.name + "/latest";
    case NodeKind::kVersion: return "/models/" + n.name + "/" + n.version;
    case NodeKind::kModelYaml: return "/models/" + n.name + "/" + n.version + "/model.yaml";
    case NodeKind::kDir:
    case NodeKind::kFile: return "/models/" + n.name + "/" + n.version + "/" + n.path;
  }
  return "/";
}

void SetTime(struct stat* st, int64_t ns) {
  st->st_mtim.tv_sec = st->st_atim.tv_sec = st->st_ctim.tv_sec = ns / 1000000000;
  st->st_mtim.tv_nsec = st->st_atim.tv_nsec = st->st_ctim.tv_nsec = ns % 1000000000;
}

Node FileNode(const ModelRecord& m, const FileRecord& f) {
  return {f.type == FileType::kDirectory ? NodeKind::kDir : NodeKind::kFile, m.name, m.version, f.path};
}

}  // namespace

uint64_t InodeOf(const Node& node) {
  if (node.kind == NodeKind::kRoot) return 1;
  const std::string path = VirtualPath(node);
  uint64_t h = XXH3_64bits(path.data(), path.size()) >> 1;  // keep inode numbers positive
  return h < 2 ? h + 2 : h;
}

ModelTree::ModelTree(const Store* store, bool latest_as_file, int64_t mount_time_ns)
    : store_(store), models_(&store->catalog()), latest_as_file_(latest_as_file),
      mount_time_ns_(mount_time_ns) {}

ModelRecord ModelTree::Model(const Node& node) const {
  auto model = models_.Find(node.name, node.version);
  if (!model) throw Error(ErrorCode::kNotFound, "model " + node.name + ":" + node.version + " is gone");
  return *model;
}

ModelRecord ModelTree::Newest(const std::string& name) const {
  auto versions = models_.VersionsOf(name);
  if (versions->empty()) throw Error(ErrorCode::kNotFound, "model " + name + " is gone");
  return versions->front();
}

std::optional<Node> ModelTree::Child(const Node& parent, std::string_view name) const {
  const Catalog& catalog = store_->catalog();
  switch (parent.kind) {
    case NodeKind::kRoot:
      if (name == kModelsDir) return Node{NodeKind::kModels, {}, {}, {}};
      return std::nullopt;
    case NodeKind::kModels:
      if (!IsValidTagPart(name) || models_.VersionsOf(std::string(name))->empty()) return std::nullopt;
      return Node{NodeKind::kName, std::string(name), {}, {}};
    case NodeKind::kName:
      if (name == kLatest) {
        if (models_.VersionsOf(parent.name)->empty()) return std::nullopt;
        return Node{NodeKind::kLatest, parent.name, {}, {}};
      }
      if (!IsValidTagPart(name) || !models_.Find(parent.name, std::string(name))) return std::nullopt;
      return Node{NodeKind::kVersion, parent.name, std::string(name), {}};
    case NodeKind::kVersion:
    case NodeKind::kDir: {
      if (parent.kind == NodeKind::kVersion && name == kModelYaml) {
        return Node{NodeKind::kModelYaml, parent.name, parent.version, {}};
      }
      auto model = models_.Find(parent.name, parent.version);
      if (!model) return std::nullopt;
      const std::string path = parent.path.empty() ? std::string(name) : parent.path + "/" + std::string(name);
      auto file = catalog.FindFile(*model, path);
      if (!file) return std::nullopt;
      return FileNode(*model, *file);
    }
    default:
      return std::nullopt;
  }
}

std::vector<DirEntry> ModelTree::List(const Node& dir) const {
  const Catalog& catalog = store_->catalog();
  std::vector<DirEntry> entries;
  switch (dir.kind) {
    case NodeKind::kRoot:
      entries.push_back({kModelsDir, {NodeKind::kModels, {}, {}, {}}});
      break;
    case NodeKind::kModels:
      for (const auto& name : *models_.AllNames()) entries.push_back({name, {NodeKind::kName, name, {}, {}}});
      break;
    case NodeKind::kName: {
      auto versions = models_.VersionsOf(dir.name);
      if (versions->empty()) throw Error(ErrorCode::kNotFound, "model " + dir.name + " is gone");
      entries.push_back({kLatest, {NodeKind::kLatest, dir.name, {}, {}}});
      for (const auto& m : *versions) entries.push_back({m.version, {NodeKind::kVersion, m.name, m.version, {}}});
      break;
    }
    case NodeKind::kVersion:
    case NodeKind::kDir: {
      const ModelRecord model = Model(dir);
      if (dir.kind == NodeKind::kVersion) {
        entries.push_back({kModelYaml, {NodeKind::kModelYaml, dir.name, dir.version, {}}});
      }
      const size_t depth = dir.path.empty() ? 0 : dir.path.size() + 1;
      for (const auto& f : catalog.ListFiles(model, dir.path)) {
        if (f.path.find('/', depth) != std::string::npos) continue;  // deeper down
        entries.push_back({f.path.substr(depth), FileNode(model, f)});
      }
      break;
    }
    default:
      throw Error(ErrorCode::kInvalidArgument, "not a directory");
  }
  return entries;
}

struct stat ModelTree::Attributes(const Node& node) const {
  struct stat st {};
  st.st_ino = InodeOf(node);
  st.st_uid = ::getuid();
  st.st_gid = ::getgid();
  st.st_blksize = 1 << 20;
  SetTime(&st, mount_time_ns_);
  if (node.is_directory()) {
    st.st_mode = S_IFDIR | 0555;
    nlink_t subdirs = 0;
    for (const auto& e : List(node)) subdirs += e.node.is_directory() ? 1 : 0;
    st.st_nlink = 2 + subdirs;
    if (node.kind == NodeKind::kName) {
      SetTime(&st, Newest(node.name).creation_ns);
    } else if (node.kind == NodeKind::kVersion || node.kind == NodeKind::kDir) {
      SetTime(&st, Model(node).creation_ns);
    }
    return st;
  }
  st.st_nlink = 1;
  switch (node.kind) {
    case NodeKind::kLatest: {
      const ModelRecord newest = Newest(node.name);
      st.st_mode = latest_as_file_ ? S_IFREG | 0444 : S_IFLNK | 0777;
      st.st_size = static_cast<off_t>(newest.version.size());
      SetTime(&st, newest.creation_ns);
      break;
    }
    case NodeKind::kModelYaml: {
      const ModelRecord model = Model(node);
      st.st_mode = S_IFREG | 0444;
      st.st_size = static_cast<off_t>(model.yaml.size());
      SetTime(&st, model.creation_ns);
      break;
    }
    default: {
      const ModelRecord model = Model(node);
      auto file = store_->catalog().FindFile(model, node.path);
      if (!file) throw Error(ErrorCode::kNotFound, node.path + " is gone");
      st.st_mode = S_IFREG | (file->executable ? 0555 : 0444);
      st.st_size = static_cast<off_t>(file->size);
      // A nanosecond later for each time its fetched bytes proved wrong:
      // the kernel then drops the pages it cached (see page_invalidator.h).
      const uint64_t discards = file->is_remote() ? store_->DiscardCount(file->remote_id) : 0;
      SetTime(&st, model.creation_ns + static_cast<int64_t>(discards));
    }
  }
  st.st_blocks = (st.st_size + 511) / 512;
  return st;
}

std::string ModelTree::VirtualContent(const Node& node) const {
  if (node.kind == NodeKind::kModelYaml) return Model(node).yaml;
  return LinkTarget(node);
}

std::string ModelTree::LinkTarget(const Node& node) const {
  return Newest(node.name).version;
}

std::unique_ptr<FileReader> ModelTree::OpenFile(const Node& node) const {
  return store_->OpenFile(Model(node), node.path);
}

std::string ModelTree::RemoteIdOf(const Node& node) const {
  auto file = store_->catalog().FindFile(Model(node), node.path);
  if (!file) throw Error(ErrorCode::kNotFound, "no file " + node.path);
  return file->remote_id;
}

std::vector<std::pair<std::string, std::string>> ModelTree::ExtendedAttributes(const Node& node) const {
  std::vector<std::pair<std::string, std::string>> attrs;
  if (node.kind != NodeKind::kVersion && node.kind != NodeKind::kFile && node.kind != NodeKind::kDir &&
      node.kind != NodeKind::kModelYaml) {
    return attrs;
  }
  const ModelRecord model = Model(node);
  attrs.emplace_back("user.modelfs.tag", model.name + ":" + model.version);
  attrs.emplace_back("user.modelfs.source", model.source);
  if (node.kind == NodeKind::kFile) {
    if (auto file = store_->catalog().FindFile(model, node.path)) {
      attrs.emplace_back("user.modelfs.sha256", HexEncode(file->sha256));
    }
  }
  return attrs;
}

}  // namespace modelfs::fs
