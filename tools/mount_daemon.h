// tools/mount_daemon.h — `modelfs mount`: the process that owns a store while
// it is mounted. It serves the FUSE filesystem and the control socket through
// which other `modelfs` commands run against the same open store.
#pragma once

#include <filesystem>
#include <string>

namespace modelfs::tools {

struct DaemonOptions {
  std::filesystem::path home;
  std::filesystem::path mountpoint;  // absolute
  bool foreground = false;
  bool allow_other = false;
  bool latest_as_file = false;
  bool strict = false;  // Store::SetStrictReads

  bool debug = false;
  std::string log_level;
};

// Checks the mountpoint and the environment, then mounts. In the background
// (the default) it returns once the mount is ready, or throws with the
// daemon's error; in the foreground it returns when the mount ends.
void RunMount(const DaemonOptions& options);

// Unmounts `mountpoint` and waits for its daemon to release the store.
void RunUnmount(const std::filesystem::path& mountpoint);

}  // namespace modelfs::tools
