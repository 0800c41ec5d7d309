// util/mount_table.h — what /proc/self/mountinfo says about one mountpoint.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace modelfs {

struct MountEntry {
  std::string device;  // "major:minor" of the mounted filesystem
  std::string fstype;  // e.g. "fuse.modelfs"
  std::string source;  // e.g. the store directory
};

// The mount whose mountpoint is exactly `mountpoint` (the last one, when
// stacked), or nullopt. Reads the table only; never touches the mount.
std::optional<MountEntry> FindMount(const std::filesystem::path& mountpoint);

}  // namespace modelfs
