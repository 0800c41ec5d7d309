// Tests for util/file_stream and util/direct_writer: an AtomicFileSink's file
// holds exactly the bytes written, whatever their sizes against the direct
// I/O blocks, on a disk filesystem and on tmpfs; nothing is left behind
// without a commit; a failing write is reported.
#include <catch2/catch.hpp>

#include <fcntl.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/unit/test_util.h"
#include "util/direct_writer.h"
#include "util/file_stream.h"
#include "util/unique_fd.h"

namespace modelfs {
namespace {

using testing::RandomBytes;
using testing::ReadFile;
using testing::TempDir;

constexpr size_t kBlock = DirectWriter::kBlockSize;

// Writes `data` through an AtomicFileSink at `path` in pieces of `piece` bytes.
void WriteInPieces(const std::filesystem::path& path, const std::string& data, size_t piece) {
  AtomicFileSink sink(path, /*overwrite=*/false);
  for (size_t at = 0; at < data.size(); at += piece) {
    sink.Write(data.data() + at, std::min(piece, data.size() - at));
  }
  sink.Commit();
}

TEST_CASE("AtomicFileSink writes every size exactly, through direct I/O blocks", "[file_stream]") {
  const std::string data = RandomBytes(3 * kBlock + 12345, 7);
  TempDir disk("sink");
  // /dev/shm: tmpfs, which may refuse O_DIRECT (then plain writes do it all).
  std::vector<std::filesystem::path> dirs = {disk.path()};
  std::error_code ec;
  if (std::filesystem::is_directory("/dev/shm", ec)) dirs.push_back("/dev/shm");
  for (const auto& dir : dirs) {
    for (size_t size : {size_t{0}, size_t{1}, size_t{4096}, kBlock - 1, kBlock, kBlock + 1,
                        2 * kBlock, data.size()}) {
      for (size_t piece : {size_t{1} << 20, size_t{1048589}, kBlock + 7}) {
        const auto path = dir / ("modelfs-sink-test-" + std::to_string(::getpid()) + "-" +
                                 std::to_string(size) + "-" + std::to_string(piece));
        INFO(path << ": " << size << " bytes in pieces of " << piece);
        const std::string want = data.substr(0, size);
        WriteInPieces(path, want, piece);
        CHECK(ReadFile(path) == want);
        std::filesystem::remove(path);
      }
    }
  }
}

TEST_CASE("AtomicFileSink leaves nothing without a commit, and refuses to replace", "[file_stream]") {
  TempDir dir("sink");
  const std::string data = RandomBytes(kBlock + 100, 8);
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

TEST_CASE("DirectWriter reports a failing write", "[file_stream]") {
  // /dev/full refuses every write with ENOSPC, whichever way it is written.
  UniqueFd full(::open("/dev/full", O_WRONLY | O_CLOEXEC));
  REQUIRE(full.valid());
  const std::string data = RandomBytes(2 * kBlock + 1, 9);
  DirectWriter writer(full.get(), "/dev/full", "/dev/full");
  CHECK_THROWS_AS(
      [&] {
        writer.Append(data.data(), data.size());
        writer.Finish();
      }(),
      Error);
}

}  // namespace
}  // namespace modelfs
