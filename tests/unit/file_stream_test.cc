// Tests for util/file_stream, util/sequential_writer and
// util/writeback_window: an AtomicFileSink's file holds exactly the bytes
// written, whatever the sizes of the pieces, on a disk filesystem and on
// tmpfs; nothing is left behind without a commit; the bytes of a long file
// leave the page cache as the writing goes on; a failing write is reported.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/unit/test_util.h"
#include "util/file_stream.h"
#include "util/sequential_writer.h"
#include "util/unique_fd.h"

namespace modelfs {
namespace {

using testing::RandomBytes;
using testing::ReadFile;
using testing::TempDir;

constexpr size_t kBuffer = SequentialWriter::kBufferSize;
constexpr size_t kPassThroughMin = SequentialWriter::kPassThroughMin;

// Writes `data` through an AtomicFileSink at `path` in pieces of `piece` bytes.
void WriteInPieces(const std::filesystem::path& path, const std::string& data, size_t piece) {
  AtomicFileSink sink(path, /*overwrite=*/false);
  for (size_t at = 0; at < data.size(); at += piece) {
    sink.Write(data.data() + at, std::min(piece, data.size() - at));
  }
  sink.Commit();
}

std::vector<std::filesystem::path> DiskAndTmpfs(const TempDir& disk) {
  std::vector<std::filesystem::path> dirs = {disk.path()};
  std::error_code ec;
  if (std::filesystem::is_directory("/dev/shm", ec)) dirs.push_back("/dev/shm");
  return dirs;
}

std::filesystem::path TestPath(const std::filesystem::path& dir, size_t size, size_t piece) {
  return dir / ("modelfs-sink-test-" + std::to_string(::getpid()) + "-" + std::to_string(size) + "-" +
                std::to_string(piece));
}

TEST_CASE("AtomicFileSink writes every size exactly, in small and large pieces", "[file_stream]") {
  const std::string data = RandomBytes(3 * kBuffer + 12345, 7);
  TempDir disk("sink");
  for (const auto& dir : DiskAndTmpfs(disk)) {
    for (size_t size : {size_t{0}, size_t{1}, size_t{4096}, kBuffer - 1, kBuffer, kBuffer + 1, data.size()}) {
      for (size_t piece : {size_t{1000}, kPassThroughMin - 1, kPassThroughMin, kBuffer + 7}) {
        const auto path = TestPath(dir, size, piece);
        INFO(path << ": " << size << " bytes in pieces of " << piece);
        const std::string want = data.substr(0, size);
        WriteInPieces(path, want, piece);
        CHECK(ReadFile(path) == want);
        std::filesystem::remove(path);
      }
    }
  }
}

TEST_CASE("AtomicFileSink: a file longer than the writeback window", "[file_stream]") {
  // The byte at offset p is pattern[p % pattern.size()], a length prime to
  // every block size here, so a misplaced or lost piece shows.
  const std::string pattern = RandomBytes((3 << 20) + 7, 10);
  const uint64_t total = WritebackWindow::kUnsyncedLag + 3 * WritebackWindow::kStep + 333;
  TempDir disk("sink");
  for (const auto& dir : DiskAndTmpfs(disk)) {
    // Alternating small and large pieces: the buffer is flushed between them.
    const auto path = TestPath(dir, total, 0);
    {
      AtomicFileSink sink(path, /*overwrite=*/false);
      for (uint64_t at = 0, i = 0; at < total; ++i) {
        const size_t within = static_cast<size_t>(at % pattern.size());
        size_t n = static_cast<size_t>(std::min<uint64_t>(i % 2 ? size_t{3} << 20 : size_t{100}, total - at));
        n = std::min(n, pattern.size() - within);
        sink.Write(pattern.data() + within, n);
        at += n;
      }
      sink.Commit();
    }
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd.valid());
    CHECK(::lseek(fd.get(), 0, SEEK_END) == static_cast<off_t>(total));
    std::string block(pattern.size(), '\0');
    size_t mismatched_blocks = 0;
    for (uint64_t at = 0; at < total; at += pattern.size()) {
      const ssize_t got = ::pread(fd.get(), block.data(), block.size(), static_cast<off_t>(at));
      const size_t want = static_cast<size_t>(std::min<uint64_t>(pattern.size(), total - at));
      if (got != static_cast<ssize_t>(want) || block.compare(0, want, pattern, 0, want) != 0) ++mismatched_blocks;
    }
    CHECK(mismatched_blocks == 0);
    std::filesystem::remove(path);
  }
}

// Pages of the first `n` bytes of `fd` in the page cache.
size_t ResidentPages(int fd, size_t n) {
  void* map = ::mmap(nullptr, n, PROT_READ, MAP_SHARED, fd, 0);
  REQUIRE(map != MAP_FAILED);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((n + page - 1) / page);
  REQUIRE(::mincore(map, n, resident.data()) == 0);
  ::munmap(map, n);
  size_t count = 0;
  for (unsigned char r : resident) count += r & 1;
  return count;
}

// Writes `total` bytes to a new file through a SequentialWriter in steps;
// returns the pages of its first `probe` bytes left in the page cache.
size_t WriteAndProbe(const std::filesystem::path& path, WritebackWindow::Sync sync, uint64_t total,
                     size_t probe) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  REQUIRE(fd.valid());
  constexpr size_t kStep = WritebackWindow::kStep;
  const std::string piece = RandomBytes(kStep, 11);
  SequentialWriter writer(fd.get(), 0, path.string(), sync);
  for (uint64_t written = 0; written < total; written += kStep) writer.Append(piece.data(), piece.size());
  writer.Flush();
  UniqueFd reader(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(reader.valid());
  CHECK(::lseek(reader.get(), 0, SEEK_END) == static_cast<off_t>(total));
  return ResidentPages(reader.get(), probe);
}

TEST_CASE("SequentialWriter: written steps leave the page cache behind the window", "[file_stream]") {
  TempDir disk("sink");
  constexpr size_t kStep = WritebackWindow::kStep;
  const size_t step_pages = kStep / static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  // A pack: the first two steps were synced and dropped 256 MiB behind.
  CHECK(WriteAndProbe(disk / "pack", WritebackWindow::Sync::kByOwner, WritebackWindow::kLag + 2 * kStep,
                      2 * kStep) == 0);
  // An archive just short of 512 MiB: left whole to the kernel, all cached.
  CHECK(WriteAndProbe(disk / "short", WritebackWindow::Sync::kNever, WritebackWindow::kUnsyncedLag - kStep,
                      2 * kStep) == 2 * step_pages);
  // Past it: the window, 512 MiB behind.
  CHECK(WriteAndProbe(disk / "long", WritebackWindow::Sync::kNever, WritebackWindow::kUnsyncedLag + 2 * kStep,
                      2 * kStep) == 0);
}

TEST_CASE("AtomicFileSink leaves nothing without a commit, and refuses to replace", "[file_stream]") {
  TempDir dir("sink");
  const std::string data = RandomBytes(kBuffer + 100, 8);
  {
    AtomicFileSink sink(dir / "out", /*overwrite=*/false);
    sink.Write(data.data(), data.size());
  }
  CHECK(std::filesystem::is_empty(dir.path()));
  WriteInPieces(dir / "out", data, data.size());
  CHECK_THROWS_AS(WriteInPieces(dir / "out", "other", 5), Error);
  CHECK(ReadFile(dir / "out") == data);
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), {}) == 1);
}

TEST_CASE("SequentialWriter reports a failing write, large or small", "[file_stream]") {
  // /dev/full refuses every write with ENOSPC.
  UniqueFd full(::open("/dev/full", O_WRONLY | O_CLOEXEC));
  REQUIRE(full.valid());
  const std::string data = RandomBytes(2 * kBuffer + 1, 9);
  SequentialWriter large(full.get(), 0, "/dev/full", WritebackWindow::Sync::kByOwner);
  CHECK(testing::ThrownCode([&] { large.Append(data.data(), data.size()); }) == "kNoSpace");
  SequentialWriter small(full.get(), 0, "/dev/full", WritebackWindow::Sync::kNever);
  small.Append("abc", 3);  // buffered
  CHECK(testing::ThrownCode([&] { small.Flush(); }) == "kNoSpace");
}

}  // namespace
}  // namespace modelfs
