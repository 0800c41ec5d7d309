// fs/mount_session.h — one FUSE mount: the kernel session, its mountpoint and
// the multi-threaded loop that serves it.
//
// The constructor mounts; Run() serves until the filesystem is unmounted
// (`fusermount3 -u`, `modelfs umount`) or SIGINT/SIGTERM/SIGHUP arrives; the
// destructor unmounts if still mounted. Unmounting therefore happens on every
// path out, exceptions included.
#pragma once

#include <fuse_lowlevel.h>

#include <filesystem>
#include <string>

#include "fs/fuse_filesystem.h"

namespace modelfs::fs {

struct MountOptions {
  std::filesystem::path mountpoint;
  std::string fsname;        // shown as the mount's source (the store directory)
  bool allow_other = false;
  bool debug = false;
};

class MountSession {
 public:
  // *fs must outlive the session. Throws Error on failure to mount.
  MountSession(FuseFilesystem* fs, const MountOptions& options);
  ~MountSession();
  MountSession(const MountSession&) = delete;
  MountSession& operator=(const MountSession&) = delete;

  void Run();

  // Readahead window of the mount, measured best at 4 MiB on 2 cores.
  static constexpr int kReadAheadKb = 4096;

 private:
  void RaiseReadAhead(const std::filesystem::path& mountpoint);

  FuseFilesystem* fs_;
  fuse_session* session_ = nullptr;
  bool mounted_ = false;
  bool signals_ = false;
};

}  // namespace modelfs::fs
