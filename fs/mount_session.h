// fs/mount_session.h — one FUSE mount: the kernel session, its mountpoint and
// the multi-threaded loop that serves it.
//
// The constructor mounts; Run() serves until the filesystem is unmounted
// (`fusermount3 -u`, `modelfs umount`) or SIGINT/SIGTERM/SIGHUP arrives; the
// destructor unmounts if still mounted. Unmounting therefore happens on every
// path out, exceptions included. The loop ends only once every request in
// progress has been answered, so Run() calls `on_exit` as soon as the
// session is told to end, for the owner to cut short what those requests
// wait for (the network).
#pragma once

#include <fuse_lowlevel.h>

#include <filesystem>
#include <functional>
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

  // Serves until the session ends; `on_exit` runs once, on a thread of its
  // own, within ~50 ms of the end being asked for (signal or unmount).
  void Run(const std::function<void()>& on_exit);

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
