#include "fs/fuse_filesystem.h"

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <stop_token>
#include <vector>

#include <spdlog/spdlog.h>

#include "fs/mount_session.h"
#include "util/error.h"

namespace modelfs::fs {
namespace {

// Immutable things are cached "forever"; changing ones are invalidated.
constexpr double kCacheSeconds = 365.0 * 24 * 3600;

int ErrnoOf(const Error& e) {
  switch (e.code()) {
    case ErrorCode::kNotFound: return ENOENT;
    case ErrorCode::kInvalidArgument: return EINVAL;
    case ErrorCode::kNoSpace: return ENOSPC;
    case ErrorCode::kBusy: return EBUSY;
    default: return EIO;
  }
}

struct OpenDir {
  std::vector<DirEntry> entries;
  Node self;
};

// An open regular file: a stored blob, or the bytes of a virtual file.
struct OpenFile {
  std::unique_ptr<FileReader> blob;
  std::string virtual_content;
  Node node;
};

// The xattr protocol: size 0 asks for the length, a short buffer is ERANGE.
void ReplyXattr(fuse_req_t req, const std::string& value, size_t size) {
  if (size == 0) {
    fuse_reply_xattr(req, value.size());
  } else if (size < value.size()) {
    fuse_reply_err(req, ERANGE);
  } else {
    fuse_reply_buf(req, value.data(), value.size());
  }
}

FuseFilesystem* Self(fuse_req_t req) { return static_cast<FuseFilesystem*>(fuse_req_userdata(req)); }

// Ties a request's FUSE interrupt to a stop token while it lives. The
// kernel interrupts a request whose caller gets a signal (SIGKILL included:
// without an answer that caller would wait, unkillable, for as long as the
// request takes), and a wait for the network then ends at once. Must be
// destroyed before the reply: it unregisters, waiting out a callback that
// is running.
class InterruptScope {
 public:
  explicit InterruptScope(fuse_req_t req) : req_(req) {
    fuse_req_interrupt_func(req_, &InterruptScope::OnInterrupt, &source_);
  }
  ~InterruptScope() { fuse_req_interrupt_func(req_, nullptr, nullptr); }
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

  std::stop_token token() const { return source_.get_token(); }
  bool interrupted() const { return source_.stop_requested(); }

 private:
  static void OnInterrupt(fuse_req_t, void* source) { static_cast<std::stop_source*>(source)->request_stop(); }

  fuse_req_t req_;
  std::stop_source source_;
};

}  // namespace

struct FuseCallbacks {
  // Runs `body`, turning errors into FUSE error replies.
  template <typename Body>
  static void Guard(fuse_req_t req, const char* op, Body&& body) {
    try {
      body();
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kNotFound) spdlog::error("{}: {}", op, e.what());
      fuse_reply_err(req, ErrnoOf(e));
    } catch (const std::exception& e) {
      spdlog::error("{}: {}", op, e.what());
      fuse_reply_err(req, EIO);
    }
  }

  static Node NodeOrThrow(FuseFilesystem* fs, fuse_ino_t ino) {
    auto node = fs->inodes_.Find(ino);
    if (!node) throw Error(ErrorCode::kNotFound, "unknown inode");
    return *node;
  }

  static void Init(void*, fuse_conn_info* conn) {
    conn->max_write = 1 << 20;  // also raises the kernel's max_pages, so reads can be 1 MiB
    // With the bdi window raised by MountSession, this sets the readahead.
    conn->max_readahead = MountSession::kReadAheadKb * 1024;
    if (conn->capable & FUSE_CAP_CACHE_SYMLINKS) conn->want |= FUSE_CAP_CACHE_SYMLINKS;
    if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
    // Listings always carry attributes (ls -l, find, rsync all want them).
    if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
    conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
    // With POSIX ACL support the kernel caches each inode's (absent) ACL, so
    // `ls -l` asks for system.posix_acl_* once per inode, not on every call.
    if (conn->capable & FUSE_CAP_POSIX_ACL) conn->want |= FUSE_CAP_POSIX_ACL;
    // Direct reads as requests the caller waits for, which the kernel
    // interrupts when the caller gets a signal; an asynchronous one it would
    // wait for unkillable until it is answered.
    conn->want &= ~FUSE_CAP_ASYNC_DIO;
    // A file whose mtime changed loses its cached pages at the next read:
    // how the pages of a remote file that failed its digest are dropped
    // (see page_invalidator.h). Attributes otherwise never change.
    if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA) conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
  }

  static void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    Guard(req, "lookup", [&] {
      FuseFilesystem* fs = Self(req);
      const Node dir = NodeOrThrow(fs, parent);
      fuse_entry_param e{};
      e.entry_timeout = e.attr_timeout = kCacheSeconds;
      auto child = fs->tree_->Child(dir, name);
      if (!child) {
        e.ino = 0;  // a negative entry, cached until invalidated
        fuse_reply_entry(req, &e);
        return;
      }
      e.attr = fs->tree_->Attributes(*child);
      e.ino = fs->inodes_.Remember(*child);
      fuse_reply_entry(req, &e);
    });
  }

  static void Forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
    Self(req)->inodes_.Forget(ino, nlookup);
    fuse_reply_none(req);
  }

  static void ForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
    for (size_t i = 0; i < count; ++i) Self(req)->inodes_.Forget(forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
  }

  static void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    Guard(req, "getattr", [&] {
      FuseFilesystem* fs = Self(req);
      struct stat st = fs->tree_->Attributes(NodeOrThrow(fs, ino));
      fuse_reply_attr(req, &st, kCacheSeconds);
    });
  }

  static void ReadLink(fuse_req_t req, fuse_ino_t ino) {
    Guard(req, "readlink", [&] {
      FuseFilesystem* fs = Self(req);
      const Node node = NodeOrThrow(fs, ino);
      if (node.kind != NodeKind::kLatest) throw Error(ErrorCode::kInvalidArgument, "not a symlink");
      fuse_reply_readlink(req, fs->tree_->LinkTarget(node).c_str());
    });
  }

  static void OpenDirectory(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Guard(req, "opendir", [&] {
      FuseFilesystem* fs = Self(req);
      const Node node = NodeOrThrow(fs, ino);
      auto dir = std::make_unique<OpenDir>(OpenDir{fs->tree_->List(node), node});
      // Listings that change (models/, models/<name>/) are invalidated by
      // ModelChanged, so every listing may be cached.
      fi->cache_readdir = 1;
      fi->keep_cache = 1;
      fi->fh = reinterpret_cast<uint64_t>(dir.release());
      fuse_reply_open(req, fi);
    });
  }

  // readdir and readdirplus. With `plus`, each entry carries its attributes
  // and counts as a lookup, which saves the kernel one LOOKUP per entry.
  static void FillDirectory(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
                            fuse_file_info* fi, bool plus) {
    FuseFilesystem* fs = Self(req);
    auto* dir = reinterpret_cast<OpenDir*>(fi->fh);
    std::string buffer(size, '\0');
    size_t used = 0;
    try {
      // Offsets: 1 = ".", 2 = "..", 3 + i = entries[i].
      for (off_t next = offset + 1;; ++next) {
        fuse_entry_param e{};
        const DirEntry* entry = nullptr;
        std::string name;
        if (next == 1 || next == 2) {
          name = next == 1 ? "." : "..";
          e.attr.st_ino = next == 1 ? ino : 1;
          e.attr.st_mode = S_IFDIR;
        } else if (static_cast<size_t>(next - 3) < dir->entries.size()) {
          entry = &dir->entries[next - 3];
          name = entry->name;
          if (plus) {
            e.attr = fs->tree_->Attributes(entry->node);
            e.ino = e.attr.st_ino;
            e.entry_timeout = e.attr_timeout = kCacheSeconds;
          } else {
            e.attr.st_ino = InodeOf(entry->node);
            e.attr.st_mode = entry->node.is_directory() ? S_IFDIR
                             : entry->node.kind == NodeKind::kLatest && !fs->tree_->latest_as_file()
                                 ? S_IFLNK
                                 : S_IFREG;
          }
        } else {
          break;
        }
        char* out = buffer.data() + used;
        const size_t room = size - used;
        const size_t need = plus ? fuse_add_direntry_plus(req, out, room, name.c_str(), &e, next)
                                 : fuse_add_direntry(req, out, room, name.c_str(), &e.attr, next);
        if (need > room) break;
        if (plus && entry) fs->inodes_.Remember(entry->node);
        used += need;
      }
    } catch (const Error& e) {
      // An entry vanished (a delete raced the listing): end the listing here.
      if (used == 0) {
        fuse_reply_err(req, ErrnoOf(e));
        return;
      }
    }
    fuse_reply_buf(req, buffer.data(), used);
  }

  static void ReadDirectory(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
                            fuse_file_info* fi) {
    FillDirectory(req, ino, size, offset, fi, false);
  }

  static void ReadDirectoryPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
                                fuse_file_info* fi) {
    FillDirectory(req, ino, size, offset, fi, true);
  }

  static void ReleaseDirectory(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    delete reinterpret_cast<OpenDir*>(fi->fh);
    fuse_reply_err(req, 0);
  }

  static void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Guard(req, "open", [&] {
      if ((fi->flags & O_ACCMODE) != O_RDONLY) throw Error(ErrorCode::kIOError, "read-only");
      FuseFilesystem* fs = Self(req);
      const Node node = NodeOrThrow(fs, ino);
      auto file = std::make_unique<OpenFile>();
      file->node = node;
      if (node.kind == NodeKind::kFile) {
        file->blob = fs->tree_->OpenFile(node);
      } else if (node.kind == NodeKind::kModelYaml || node.kind == NodeKind::kLatest) {
        file->virtual_content = fs->tree_->VirtualContent(node);
      } else {
        throw Error(ErrorCode::kInvalidArgument, "not a regular file");
      }
      // Pages of a remote file not verified yet are dropped at each open, so
      // bytes that prove wrong are never served from the cache again.
      fi->keep_cache = node.is_immutable() && (!file->blob || file->blob->verified());
      fi->noflush = 1;
      fi->fh = reinterpret_cast<uint64_t>(file.release());
      fuse_reply_open(req, fi);
    });
  }

  static void Read(fuse_req_t req, fuse_ino_t, size_t size, off_t offset, fuse_file_info* fi) {
    auto* file = reinterpret_cast<OpenFile*>(fi->fh);
    if (!file->blob) {
      const std::string& c = file->virtual_content;
      size_t start = std::min<size_t>(static_cast<size_t>(offset), c.size());
      fuse_reply_buf(req, c.data() + start, std::min(size, c.size() - start));
      return;
    }
    // The reply points straight into the verified chunks: no copy here.
    thread_local std::vector<FileReader::Segment> segments;
    thread_local std::vector<iovec> iov;
    segments.clear();
    iov.clear();
    int error = 0;
    {
      // Only a file still being fetched may wait for the network.
      std::optional<InterruptScope> interrupt;
      if (!file->blob->verified()) interrupt.emplace(req);
      try {
        file->blob->ReadSegments(static_cast<uint64_t>(offset), size, &segments,
                                 interrupt ? interrupt->token() : std::stop_token());
      } catch (const std::exception& e) {
        const bool interrupted = interrupt && interrupt->interrupted();
        if (interrupted) {
          spdlog::warn("read of model {}:{} file {} at offset {} interrupted by its caller (a signal)",
                       file->node.name, file->node.version, file->node.path, offset);
        } else {
          spdlog::error("read of model {}:{} file {} at offset {} failed: {}", file->node.name,
                        file->node.version, file->node.path, offset, e.what());
        }
        error = interrupted ? EINTR : EIO;
        segments.clear();
      }
    }
    if (error != 0) {
      fuse_reply_err(req, error);
      return;
    }
    for (const auto& s : segments) {
      iov.push_back({const_cast<char*>(s.buffer->data()) + s.offset, s.length});
    }
    fuse_reply_iov(req, iov.data(), static_cast<int>(iov.size()));
    segments.clear();
  }

  static void Release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    delete reinterpret_cast<OpenFile*>(fi->fh);
    fuse_reply_err(req, 0);
  }

  static void StatFs(fuse_req_t req, fuse_ino_t) {
    Guard(req, "statfs", [&] {
      struct statvfs st {};
      if (::statvfs(Self(req)->tree_->store().home().c_str(), &st) != 0) {
        throw Error(ErrorCode::kIOError, "statvfs failed");
      }
      st.f_flag |= ST_RDONLY;
      st.f_namemax = 255;
      fuse_reply_statfs(req, &st);
    });
  }

  static void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
    // ls -l asks every file for security.* and system.* attributes.
    if (std::strncmp(name, "user.modelfs.", 13) != 0) {
      fuse_reply_err(req, ENODATA);
      return;
    }
    Guard(req, "getxattr", [&] {
      FuseFilesystem* fs = Self(req);
      for (const auto& [key, value] : fs->tree_->ExtendedAttributes(NodeOrThrow(fs, ino))) {
        if (key != name) continue;
        ReplyXattr(req, value, size);
        return;
      }
      fuse_reply_err(req, ENODATA);
    });
  }

  static void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
    Guard(req, "listxattr", [&] {
      FuseFilesystem* fs = Self(req);
      std::string names;
      for (const auto& [key, value] : fs->tree_->ExtendedAttributes(NodeOrThrow(fs, ino))) {
        names += key;
        names.push_back('\0');
      }
      ReplyXattr(req, names, size);
    });
  }
};

const fuse_lowlevel_ops& FuseFilesystem::Operations() {
  static const fuse_lowlevel_ops ops = [] {
    fuse_lowlevel_ops o{};
    o.init = FuseCallbacks::Init;
    o.lookup = FuseCallbacks::Lookup;
    o.forget = FuseCallbacks::Forget;
    o.forget_multi = FuseCallbacks::ForgetMulti;
    o.getattr = FuseCallbacks::GetAttr;
    o.readlink = FuseCallbacks::ReadLink;
    o.opendir = FuseCallbacks::OpenDirectory;
    o.readdir = FuseCallbacks::ReadDirectory;
    o.readdirplus = FuseCallbacks::ReadDirectoryPlus;
    o.releasedir = FuseCallbacks::ReleaseDirectory;
    o.open = FuseCallbacks::Open;
    o.read = FuseCallbacks::Read;
    o.release = FuseCallbacks::Release;
    o.statfs = FuseCallbacks::StatFs;
    o.getxattr = FuseCallbacks::GetXattr;
    o.listxattr = FuseCallbacks::ListXattr;
    return o;
  }();
  return ops;
}

void FuseFilesystem::ModelChanged(const std::string& name) {
  tree_->Invalidate(name);
  if (!session_) return;
  const Node models{NodeKind::kModels, {}, {}, {}};
  const Node name_dir{NodeKind::kName, name, {}, {}};
  const Node latest{NodeKind::kLatest, name, {}, {}};
  const uint64_t models_ino = InodeOf(models);
  const uint64_t name_ino = InodeOf(name_dir);
  // Versions the kernel knows that no longer exist lose their entries.
  std::vector<std::string> gone;
  inodes_.ForEach([&](uint64_t, const Node& n) {
    if (n.kind == NodeKind::kVersion && n.name == name && !tree_->HasVersion(n.name, n.version)) {
      gone.push_back(n.version);
    }
  });
  for (const auto& version : gone) {
    fuse_lowlevel_notify_inval_entry(session_, name_ino, version.c_str(), version.size());
  }
  fuse_lowlevel_notify_inval_entry(session_, name_ino, "latest", 6);
  fuse_lowlevel_notify_inval_inode(session_, InodeOf(latest), 0, 0);
  fuse_lowlevel_notify_inval_inode(session_, name_ino, 0, 0);
  fuse_lowlevel_notify_inval_entry(session_, models_ino, name.c_str(), name.size());
  fuse_lowlevel_notify_inval_inode(session_, models_ino, 0, 0);
}

}  // namespace modelfs::fs
