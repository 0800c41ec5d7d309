#include "src/archive_importer.h"

#include <set>
#include <sstream>

#include "cache/chunker.h"
#include "src/file_ingester.h"
#include "src/model_path.h"
#include "util/error.h"

namespace modelfs {
namespace {

constexpr uint64_t kMaxModelYamlSize = 16 << 20;
constexpr int kMaxLinkDepth = 40;

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream in(path);
  for (std::string part; std::getline(in, part, '/');) parts.push_back(part);
  return parts;
}

std::string JoinPath(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}


[[noreturn]] void Refuse(const std::string& archive, const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, archive + ": " + what + "; nothing was imported");
}

}  // namespace

std::string ParentPath(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

std::optional<std::string> FollowLinks(const std::map<std::string, std::string>& links,
                                       std::string target) {
  for (int depth = 0; depth <= kMaxLinkDepth; ++depth) {
    auto it = links.find(target);
    if (it == links.end()) return target;
    target = it->second;
  }
  return std::nullopt;
}

std::optional<std::string> ResolveLinkTarget(const std::string& link_dir, const std::string& target) {
  if (target.empty() || target.front() == '/') return std::nullopt;
  std::vector<std::string> parts = link_dir.empty() ? std::vector<std::string>{} : SplitPath(link_dir);
  for (const auto& part : SplitPath(target)) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
    } else {
      parts.push_back(part);
    }
  }
  return JoinPath(parts);
}

std::string NormalizeMemberPath(const std::string& raw, const std::string& archive) {
  if (!raw.empty() && raw.front() == '/') Refuse(archive, "member '" + raw + "' has an absolute path");
  std::vector<std::string> parts;
  for (const auto& part : SplitPath(raw)) {
    if (part.empty() || part == ".") continue;
    if (part == "..") Refuse(archive, "member '" + raw + "' has a '..' in its path");
    parts.push_back(part);
  }
  std::string path = JoinPath(parts);
  if (!path.empty()) ValidateModelPath(path, "member of " + archive);
  return path;
}

ArchiveImporter::ArchiveImporter(cache::ChunkWriter* writer, ImportLimits limits, ModelYamlCheck on_model_yaml)
    : writer_(writer), limits_(limits), on_model_yaml_(std::move(on_model_yaml)) {}

ImportedTree ArchiveImporter::Import(remote::ArchiveReader* reader) {
  using Type = remote::ArchiveEntry::Type;
  const std::string archive = reader->Describe();
  ImportedTree tree;
  bool have_yaml = false;
  std::map<std::string, FileRecord> records;         // by path: files and directories
  std::map<std::string, std::string> symlinks;       // path -> resolved target
  std::set<std::string> seen;
  FileIngester ingester(writer_, cache::Chunker(cache::ChunkerParams::Default()));

  auto add_parents = [&](const std::string& path) {
    for (std::string dir = ParentPath(path); !dir.empty(); dir = ParentPath(dir)) {
      auto it = records.find(dir);
      if (it != records.end()) {
        if (it->second.type != FileType::kDirectory) {
          Refuse(archive, "'" + dir + "' is both a file and a directory");
        }
        break;
      }
      records[dir] = FileRecord::Directory(dir);
    }
  };
  auto read_member = [&](const remote::ArchiveEntry& entry, const std::string& path) {
    if (entry.size && *entry.size > limits_.max_member_size) {
      Refuse(archive, "member '" + path + "' is " + std::to_string(*entry.size) +
                          " bytes, more than the limit of " + std::to_string(limits_.max_member_size));
    }
    if (entry.size && *entry.size > limits_.free_bytes) {
      Refuse(archive, "member '" + path + "' is " + std::to_string(*entry.size) +
                          " bytes, more than the free disk space of the store (" +
                          std::to_string(limits_.free_bytes) + " bytes)");
    }
    // No running total against the free space: content already stored
    // costs nothing, and a disk that does fill up fails the chunk writer
    // (kNoSpace), which rolls back.
    return ingester.IngestStream(
        [&](char* buffer, size_t capacity) { return reader->ReadData(buffer, capacity); }, entry.size);
  };

  remote::ArchiveEntry entry;
  while (reader->Next(&entry)) {
    const std::string path = NormalizeMemberPath(entry.path, archive);
    if (path.empty()) {
      if (entry.type != Type::kDirectory) Refuse(archive, "member '" + entry.path + "' is not a directory");
      continue;
    }
    if (!seen.insert(path).second) Refuse(archive, "member '" + path + "' appears twice");
    if (entry.type != Type::kDirectory && records.count(path)) {
      Refuse(archive, "'" + path + "' is both a file and a directory");
    }
    add_parents(path);
    if (path == "model.yaml") {
      if (entry.type != Type::kFile) Refuse(archive, "model.yaml is a " + entry.type_name + ", not a file");
      if (entry.size && *entry.size > kMaxModelYamlSize) Refuse(archive, "model.yaml is too large");
      std::string text;
      char buffer[64 << 10];
      while (size_t n = reader->ReadData(buffer, sizeof buffer)) {
        text.append(buffer, n);
        if (text.size() > kMaxModelYamlSize) Refuse(archive, "model.yaml is too large");
      }
      tree.model_yaml = std::move(text);
      have_yaml = true;
      if (on_model_yaml_ && !on_model_yaml_(tree.model_yaml)) {
        tree.stopped = true;
        return tree;
      }
      continue;
    }
    switch (entry.type) {
      case Type::kDirectory:
        records[path] = FileRecord::Directory(path);
        break;
      case Type::kFile: {
        IngestedContent content = read_member(entry, path);
        if (entry.size && content.size != *entry.size) {
          Refuse(archive, "member '" + path + "' holds fewer bytes than its header says");
        }
        records[path] = FileRecord::LocalFile(path, entry.executable, content.size, content.sha256);
        if (!tree.new_blobs.count(content.sha256)) {
          tree.new_blobs[content.sha256] = {content.size, 0, std::move(content.chunks)};
        }
        break;
      }
      case Type::kHardlink: {
        auto target = ResolveLinkTarget("", entry.link_target);
        if (!target) {
          Refuse(archive, "hard link '" + path + "' points outside the model ('" + entry.link_target + "')");
        }
        auto it = records.find(*target);
        if (it == records.end() || it->second.type != FileType::kFile) {
          Refuse(archive, "hard link '" + path + "' names '" + entry.link_target +
                              "', which is not a file earlier in the archive");
        }
        FileRecord copy = it->second;
        copy.path = path;
        records[path] = copy;
        break;
      }
      case Type::kSymlink: {
        auto target = ResolveLinkTarget(ParentPath(path), entry.link_target);
        if (!target || target->empty()) {
          Refuse(archive, "symbolic link '" + path + "' points outside the model ('" + entry.link_target + "')");
        }
        symlinks[path] = *target;
        break;
      }
      case Type::kOther:
        Refuse(archive, "member '" + path + "' is a " + entry.type_name +
                            "; a model holds only files, directories and links to its files");
    }
  }
  if (!have_yaml) {
    Refuse(archive, "it has no model.yaml at its root, so it is not a model archive (BentoML's "
                    ".bentomodel or an export of modelfs)");
  }

  for (const auto& [path, first_target] : symlinks) {
    const std::optional<std::string> target = FollowLinks(symlinks, first_target);
    if (!target) Refuse(archive, "symbolic link '" + path + "' is part of a loop");
    auto it = records.find(*target);
    if (it == records.end()) Refuse(archive, "symbolic link '" + path + "' points to a missing member");
    if (it->second.type != FileType::kFile) {
      Refuse(archive, "symbolic link '" + path + "' points to a directory; only links to files are taken");
    }
    FileRecord copy = it->second;
    copy.path = path;
    records[path] = copy;
  }

  for (auto& [path, record] : records) {
    if (record.type == FileType::kFile) {
      tree.total_size += record.size;
      ++tree.file_count;
    }
    tree.files.push_back(std::move(record));
  }
  return tree;
}

}  // namespace modelfs
