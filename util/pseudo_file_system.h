// util/pseudo_file_system.h — recognises the kernel's synthetic file systems
// (proc, sys, dev, cgroup, debugfs …), whose "files" describe the process or
// machine reading them rather than hold data, so the store never copies one:
// read inside the mount daemon, /proc/self/environ would be the daemon's
// environment, tokens included.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "util/unique_fd.h"

namespace modelfs {

// The name of the pseudo file system `fd` lies on ("proc", "sysfs" …), or
// nullopt for a file system that stores data (ext4, xfs, tmpfs, fuse …).
// REQUIRES: fd is open (O_PATH is enough).
std::optional<std::string> PseudoFileSystemOf(int fd);

// Opens `path` with O_PATH, refusing "magic" links (/proc/*/fd/N, exe, cwd,
// root), which lead wherever the *reading* process's descriptors lead — in
// the mount daemon, to its own packs and index. Invalid, with errno ELOOP,
// when `path` passes through one (openat2 RESOLVE_NO_MAGICLINKS; kernels
// before 5.6 fall back to a plain open).
UniqueFd OpenPathWithoutMagicLinks(const std::filesystem::path& path);

}  // namespace modelfs
