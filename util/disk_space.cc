// util/disk_space.cc — see disk_space.h.
#include "util/disk_space.h"

#include <sys/statvfs.h>

#include "util/error.h"

namespace modelfs {
namespace {

// "12 MiB", or "256 KiB" below one MiB.
std::string Mib(uint64_t bytes) {
  if (bytes < (1 << 20)) return std::to_string((bytes + 512) >> 10) + " KiB";
  return std::to_string((bytes + (1 << 19)) >> 20) + " MiB";
}

}  // namespace

uint64_t AvailableBytes(const std::filesystem::path& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return UINT64_MAX;
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

uint64_t BulkWritableBytes(const std::filesystem::path& path, uint64_t reserve) {
  const uint64_t available = AvailableBytes(path);
  return available > reserve ? available - reserve : 0;
}

void RequireRoomFor(const std::filesystem::path& path, uint64_t n, const std::string& what,
                    uint64_t reserve) {
  const uint64_t available = AvailableBytes(path);
  if (available == UINT64_MAX || (available >= n && available - n >= reserve)) return;
  throw Error(ErrorCode::kNoSpace,
              "no space left on the disk holding " + what + ": " + Mib(available) + " free, " +
                  Mib(n) + " more needed and " + Mib(reserve) +
                  " kept for the store's index; free some space (e.g. `modelfs cache evict`, "
                  "`modelfs cache gc`) and try again");
}

}  // namespace modelfs
