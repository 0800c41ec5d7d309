#include "util/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include "util/error.h"
#include "util/unique_fd.h"

namespace modelfs {

namespace {

// Calls read_some(buf, n, done) until `n` bytes or end of file; retries EINTR.
template <typename ReadSome>
size_t ReadLoop(void* buf, size_t n, const std::string& what, ReadSome read_some) {
  char* p = static_cast<char*>(buf);
  size_t done = 0;
  while (done < n) {
    ssize_t r = read_some(p + done, n - done, done);
    if (r < 0) {
      if (errno == EINTR) continue;
      ThrowErrno("cannot read " + what);
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

// Calls write_some(p, n, done) until `n` bytes are written; retries EINTR.
template <typename WriteSome>
void WriteLoop(const void* buf, size_t n, WriteSome write_some, const std::string& message) {
  const char* p = static_cast<const char*>(buf);
  size_t done = 0;
  while (done < n) {
    ssize_t w = write_some(p + done, n - done, done);
    if (w < 0) {
      if (errno == EINTR) continue;
      ThrowErrno(message);
    }
    done += static_cast<size_t>(w);
  }
}

}  // namespace

size_t PreadFull(int fd, void* buf, size_t n, uint64_t offset, const std::string& what) {
  return ReadLoop(buf, n, what, [&](char* p, size_t want, size_t done) {
    return ::pread(fd, p, want, static_cast<off_t>(offset + done));
  });
}

size_t ReadFull(int fd, void* buf, size_t n, const std::string& what) {
  return ReadLoop(buf, n, what, [&](char* p, size_t want, size_t) { return ::read(fd, p, want); });
}

void WriteFull(int fd, const void* buf, size_t n, const std::string& what) {
  WriteLoop(buf, n, [&](const char* p, size_t want, size_t) { return ::write(fd, p, want); },
            "cannot write " + what);
}

void PwriteFull(int fd, const void* buf, size_t n, uint64_t offset, const std::string& what) {
  WriteLoop(buf, n,
            [&](const char* p, size_t want, size_t done) {
              return ::pwrite(fd, p, want, static_cast<off_t>(offset + done));
            },
            "cannot write " + what);
}

void Fsync(int fd, const std::string& what) {
  if (::fsync(fd) != 0) ThrowErrno("cannot sync " + what);
}

void FsyncDirectory(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) ThrowErrno("cannot open directory " + dir.string());
  Fsync(fd.get(), dir.string());
}

std::filesystem::path PartialPath(const std::filesystem::path& target) {
  std::random_device random;
  std::string name = ".";
  name += target.filename().string();
  name += ".partial-";
  name += std::to_string(random());
  name += std::to_string(::getpid());
  return target.parent_path() / name;
}

}  // namespace modelfs
