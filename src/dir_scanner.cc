#include "src/dir_scanner.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "src/model_path.h"
#include "util/error.h"
#include "util/pseudo_file_system.h"
#include "util/unique_fd.h"

namespace modelfs {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void Refuse(const fs::path& path, const std::string& why) {
  throw Error(ErrorCode::kInvalidArgument, "cannot save '" + PrintablePath(path.string()) + "': " + why);
}

const char* KindOf(mode_t mode) {
  if (S_ISFIFO(mode)) return "a fifo";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file or directory";
}

// Refuses `path` when it leads through a /proc magic link or onto a kernel
// pseudo file system (see util/pseudo_file_system.h): those describe the
// process reading them — inside the mount daemon, the daemon — rather than
// hold model data.
void RefusePseudoFile(const fs::path& path) {
  UniqueFd fd = OpenPathWithoutMagicLinks(path);
  if (!fd.valid()) {
    Refuse(path, errno == ELOOP ? "it leads through a /proc link to a process's own files"
                                : std::strerror(errno));
  }
  if (auto kind = PseudoFileSystemOf(fd.get())) {
    Refuse(path, "it is on the kernel's " + *kind +
                     " file system, which describes a process or the machine rather than holds model data");
  }
}

bool IsInside(const fs::path& inner, const fs::path& outer) {
  auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
  return o == outer.end();
}

class Walker {
 public:
  explicit Walker(fs::path real_root) : real_root_(std::move(real_root)) {}

  void Walk(const fs::path& dir, const std::string& rel, ScannedTree* tree) {
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) Refuse(dir, std::strerror(errno));
    const auto id = std::make_pair(st.st_dev, st.st_ino);
    if (!on_stack_.insert(id).second) Refuse(dir, "symlinks form a loop");
    DIR* d = ::opendir(dir.c_str());
    if (!d) Refuse(dir, std::string("cannot read directory: ") + std::strerror(errno));
    if (auto kind = PseudoFileSystemOf(::dirfd(d))) {
      ::closedir(d);
      Refuse(dir, "it is on the kernel's " + *kind + " file system, which describes a process or the "
                  "machine rather than holds model data");
    }
    std::vector<std::string> names;
    errno = 0;
    while (dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
        names.emplace_back(e->d_name);
      }
    }
    const int read_errno = errno;
    ::closedir(d);
    if (read_errno != 0) Refuse(dir, std::string("cannot read directory: ") + std::strerror(read_errno));
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      const fs::path path = dir / name;
      const std::string child = rel.empty() ? name : rel + "/" + name;
      if (rel.empty() && name == "model.yaml") {
        tree->model_yaml = path;
        continue;
      }
      Visit(path, child, tree);
    }
    on_stack_.erase(id);
  }

 private:
  void Visit(const fs::path& path, const std::string& rel, ScannedTree* tree) {
    const std::string problem = ModelPathProblem(rel);
    if (!problem.empty()) {
      Refuse(path, "its path in the model \"" + PrintablePath(rel) + "\" is not allowed: " + problem);
    }
    struct stat lst;
    if (::lstat(path.c_str(), &lst) != 0) Refuse(path, std::strerror(errno));
    struct stat st = lst;
    fs::path source = path;
    if (S_ISLNK(lst.st_mode)) {
      if (::stat(path.c_str(), &st) != 0) {
        Refuse(path, errno == ENOENT ? "it is a dangling symlink" : std::strerror(errno));
      }
      std::error_code ec;
      source = fs::canonical(path, ec);
      if (ec) Refuse(path, "cannot resolve symlink: " + ec.message());
      if (S_ISDIR(st.st_mode) && !IsInside(source, real_root_)) {
        Refuse(path, "it is a symlink to a directory outside the model directory (" +
                         source.string() + ")");
      }
    }
    if (S_ISREG(st.st_mode)) {
      RefusePseudoFile(path);
      ValidateModelFileSize(static_cast<uint64_t>(st.st_size), rel, "file");
      tree->entries.push_back({rel, FileType::kFile, (st.st_mode & 0111) != 0,
                               static_cast<uint64_t>(st.st_size), source});
      tree->total_size += static_cast<uint64_t>(st.st_size);
      ++tree->file_count;
    } else if (S_ISDIR(st.st_mode)) {
      tree->entries.push_back({rel, FileType::kDirectory, true, 0, source});
      Walk(source, rel, tree);
    } else {
      Refuse(path, std::string("it is ") + KindOf(st.st_mode) +
                       "; only regular files, directories and symlinks to them can be saved");
    }
  }

  fs::path real_root_;
  std::set<std::pair<dev_t, ino_t>> on_stack_;
};

}  // namespace

ScannedTree ScanModelDirectory(const fs::path& root) {
  struct stat st;
  if (::stat(root.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      throw Error(ErrorCode::kNotFound, "directory '" + root.string() + "' does not exist");
    }
    Refuse(root, std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) {
    throw Error(ErrorCode::kInvalidArgument, "'" + root.string() + "' is not a directory");
  }
  RefusePseudoFile(root);
  std::error_code ec;
  fs::path real_root = fs::canonical(root, ec);
  if (ec) Refuse(root, ec.message());
  ScannedTree tree;
  Walker(real_root).Walk(real_root, "", &tree);
  if (tree.file_count == 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "directory '" + root.string() + "' contains no files to save");
  }
  std::sort(tree.entries.begin(), tree.entries.end(),
            [](const ScannedEntry& a, const ScannedEntry& b) { return a.path < b.path; });
  return tree;
}

}  // namespace modelfs
