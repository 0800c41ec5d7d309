#include "util/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <thread>

#include "util/error.h"

namespace modelfs {

FileLock FileLock::Acquire(const std::filesystem::path& path, Mode mode,
                           std::chrono::milliseconds wait,
                           const std::string& busy_message) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) ThrowErrno("cannot open lock file " + path.string());
  const int op = (mode == Mode::kExclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (::flock(fd.get(), op) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) ThrowErrno("cannot lock " + path.string());
    if (std::chrono::steady_clock::now() >= deadline) {
      throw Error(ErrorCode::kBusy, busy_message);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return FileLock(std::move(fd));
}

}  // namespace modelfs
