// util/pseudo_file_system.h — recognises the kernel's synthetic file systems
// (proc, sys, dev, cgroup, debugfs …), whose "files" describe the process or
// machine reading them rather than hold data, so the store never copies one:
// read inside the mount daemon, /proc/self/environ would be the daemon's
// environment, tokens included.
#pragma once

#include <optional>
#include <string>

namespace modelfs {

// The name of the pseudo file system `fd` lies on ("proc", "sysfs" …), or
// nullopt for a file system that stores data (ext4, xfs, tmpfs, fuse …).
// REQUIRES: fd is open (O_PATH is enough).
std::optional<std::string> PseudoFileSystemOf(int fd);

}  // namespace modelfs
