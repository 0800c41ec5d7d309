#include "util/file_stream.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/file_io.h"

namespace modelfs {

namespace fs = std::filesystem;

FileSource::FileSource(fs::path path) : path_(std::move(path)) {
  fd_ = UniqueFd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd_.valid()) {
    if (errno == ENOENT) throw Error(ErrorCode::kNotFound, path_.string() + " does not exist");
    ThrowErrno("cannot read " + path_.string());
  }
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) ThrowErrno("cannot read " + path_.string());
  if (S_ISDIR(st.st_mode)) throw Error(ErrorCode::kInvalidArgument, path_.string() + " is a directory");
  size_ = static_cast<uint64_t>(st.st_size);
  ::posix_fadvise(fd_.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
}

size_t FileSource::Read(char* buffer, size_t capacity) {
  for (;;) {
    ssize_t n = ::read(fd_.get(), buffer, capacity);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) ThrowErrno("cannot read " + path_.string());
  }
}

bool FileSource::Seek(uint64_t offset) {
  if (::lseek(fd_.get(), static_cast<off_t>(offset), SEEK_SET) < 0) ThrowErrno("cannot read " + path_.string());
  return true;
}

namespace {

// Creates `temp`, the file that becomes `path` on Commit().
UniqueFd CreateTemporary(const fs::path& temp, const fs::path& path) {
  UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) ThrowErrno("cannot create " + path.string());
  return fd;
}

}  // namespace

AtomicFileSink::AtomicFileSink(fs::path path, bool overwrite)
    : path_(std::move(path)),
      temp_(PartialPath(path_)),
      overwrite_(overwrite),
      fd_(CreateTemporary(temp_, path_)),
      writer_(fd_.get(), 0, path_.string(), WritebackWindow::Sync::kNever) {}

AtomicFileSink::~AtomicFileSink() {
  if (!committed_) ::unlink(temp_.c_str());
}

void AtomicFileSink::Write(const char* data, size_t size) { writer_.Append(data, size); }

void AtomicFileSink::Commit() {
  writer_.Flush();
  if (::close(fd_.Release()) != 0) ThrowErrno("cannot write " + path_.string());
  if (overwrite_) {
    if (::rename(temp_.c_str(), path_.c_str()) != 0) ThrowErrno("cannot create " + path_.string());
  } else {
    // link() fails if the name exists, where rename() would replace it.
    if (::link(temp_.c_str(), path_.c_str()) != 0) {
      if (errno == EEXIST) throw Error(ErrorCode::kAlreadyExists, path_.string() + " already exists");
      ThrowErrno("cannot create " + path_.string());
    }
    ::unlink(temp_.c_str());
  }
  committed_ = true;
}

}  // namespace modelfs
