// tools/mount_daemon.h — `modelfs mount`: the process that owns a store while
// it is mounted. It serves the FUSE filesystem and the control socket through
// which other `modelfs` commands run against the same open store.
#pragma once

#include <filesystem>
#include <optional>
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
  // -o read_timeout=SECONDS: MODELFS_READ_TIMEOUT for the daemon.
  std::optional<std::string> read_timeout;
};

// Checks the mountpoint and the environment, then mounts. In the background
// (the default) it returns once the mount is ready, or throws with the
// daemon's error; in the foreground it returns when the mount ends.
void RunMount(const DaemonOptions& options);

// Unmounts `mountpoint` and waits for its daemon to release the store. When
// the mount is busy, the daemon is first told to abort its transfers in
// progress (the hidden command kAbortTransfers), so that readers stuck on a
// stalled server fail and let go, and the unmount is tried again for a few
// seconds; then a mount still busy is an error saying so.
void RunUnmount(const std::filesystem::path& mountpoint);

// The command, run inside the daemon only, that aborts its transfers.
inline constexpr const char* kAbortTransfers = "abort-transfers";

}  // namespace modelfs::tools
