// util/file_io.h — whole-buffer read/write loops over POSIX descriptors, and
// the names of files being built.
//
// Each loop retries on EINTR and short transfers and throws modelfs::Error
// (naming `what`) on failure, so callers never see a partial transfer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace modelfs {

// Reads exactly `n` bytes at `offset`; returns fewer only at end of file.
size_t PreadFull(int fd, void* buf, size_t n, uint64_t offset, const std::string& what);
// Reads up to `n` bytes from the current position, looping until n or EOF.
size_t ReadFull(int fd, void* buf, size_t n, const std::string& what);
// Writes all `n` bytes at the current position.
void WriteFull(int fd, const void* buf, size_t n, const std::string& what);
// Writes all `n` bytes at `offset`.
void PwriteFull(int fd, const void* buf, size_t n, uint64_t offset, const std::string& what);
// fsync(2) of a file, and of a directory so that entries created in it persist.
void Fsync(int fd, const std::string& what);
void FsyncDirectory(const std::filesystem::path& dir);

// A fresh name beside `target` for building it before it is renamed into
// place: ".<name>.partial-<random>".
std::filesystem::path PartialPath(const std::filesystem::path& target);

}  // namespace modelfs
