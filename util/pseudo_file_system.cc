#include "util/pseudo_file_system.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>

#include <cstdint>

namespace modelfs {

namespace {

struct Kind {
  int64_t magic;
  const char* name;
};

// Magic numbers from <linux/magic.h>; a few absent from older headers are spelled out.
constexpr Kind kPseudo[] = {
    {PROC_SUPER_MAGIC, "proc"},      {SYSFS_MAGIC, "sysfs"},
    {DEVPTS_SUPER_MAGIC, "devpts"},  {DEBUGFS_MAGIC, "debugfs"},
    {TRACEFS_MAGIC, "tracefs"},      {SECURITYFS_MAGIC, "securityfs"},
    {CGROUP_SUPER_MAGIC, "cgroup"},  {CGROUP2_SUPER_MAGIC, "cgroup2"},
    {BPF_FS_MAGIC, "bpf"},           {PSTOREFS_MAGIC, "pstore"},
    {EFIVARFS_MAGIC, "efivarfs"},    {SELINUX_MAGIC, "selinuxfs"},
    {SMACK_MAGIC, "smackfs"},
    {0x62656570, "configfs"},        {0x6e736673, "nsfs"},
    {0x50495045, "pipefs"},          {0x534f434b, "sockfs"},
    {0x42494e4d, "binfmt_misc"},     {0x09041934, "anon_inode"},
};

}  // namespace

std::optional<std::string> PseudoFileSystemOf(int fd) {
  struct statfs sf;
  if (::fstatfs(fd, &sf) != 0) return std::nullopt;
  for (const Kind& kind : kPseudo) {
    if (static_cast<int64_t>(sf.f_type) == kind.magic) return kind.name;
  }
  // devtmpfs reports tmpfs's magic; its files are devices, refused by type.
  return std::nullopt;
}

UniqueFd OpenPathWithoutMagicLinks(const std::filesystem::path& path) {
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_NO_MAGICLINKS;
  const long fd = ::syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof(how));
  if (fd >= 0) return UniqueFd(static_cast<int>(fd));
  if (errno != ENOSYS) return UniqueFd();
  return UniqueFd(::open(path.c_str(), O_PATH | O_CLOEXEC));
}

}  // namespace modelfs
