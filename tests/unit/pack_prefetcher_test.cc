// tests/unit/pack_prefetcher_test.cc — cache/pack_prefetcher.h: records read
// into the page cache in runs, never more than the window ahead of what the
// reader consumed; pages already cached not read again; chunks it cannot
// find skipped.
#include "cache/pack_prefetcher.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "cache/chunk_store.h"
#include "cache/chunk_writer.h"
#include "cache/index.h"
#include "tests/unit/test_util.h"
#include "util/unique_fd.h"

namespace modelfs::cache {
namespace {

namespace fs = std::filesystem;
using modelfs::testing::RandomBytes;
using modelfs::testing::TempDir;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kChunk = 512 << 10;

// Fraction of the pages of `path` in the page cache.
double ResidentFraction(const fs::path& path, uint64_t offset, uint64_t length) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY));
  REQUIRE(fd.valid());
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t start = offset / page * page, span = offset + length - start;
  void* map = ::mmap(nullptr, span, PROT_READ, MAP_SHARED, fd.get(), static_cast<off_t>(start));
  REQUIRE(map != MAP_FAILED);
  std::vector<unsigned char> pages((span + page - 1) / page);
  REQUIRE(::mincore(map, span, pages.data()) == 0);
  ::munmap(map, span);
  size_t in = 0;
  for (unsigned char p : pages) in += p & 1;
  return static_cast<double>(in) / static_cast<double>(pages.size());
}

template <typename Pred>
bool WaitFor(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

struct Fixture {
  TempDir dir{"prefetch"};
  std::unique_ptr<Index> index;
  std::unique_ptr<ChunkStore> store;
  std::vector<PackPrefetcher::Chunk> chunks;  // 40 random chunks of 512 KiB, in one pack
  fs::path pack;

  Fixture() {
    fs::create_directories(dir / "packs");
    index = Index::Open(dir / "index", false, true);
    store = std::make_unique<ChunkStore>(dir / "packs", index.get());
    auto writer = store->NewWriter();
    writer->BeginFile();
    for (int i = 0; i < 40; ++i) {
      const std::string data = RandomBytes(kChunk, 100 + i);
      const ChunkHash hash = ChunkHash::Of(data.data(), data.size());
      writer->Put(hash, reinterpret_cast<const uint8_t*>(data.data()), data.size());
      chunks.push_back({hash, kChunk});
    }
    Index::Batch batch;
    writer->Prepare(&batch);  // synced: the pages are clean and can be dropped
    index->Write(batch);
    writer->Committed();
    REQUIRE(store->ListPacks().size() == 1);
    pack = store->PackPath(store->ListPacks()[0].id);
  }

  // Drops the pack from the page cache; false where that cannot be done
  // (tmpfs keeps its pages).
  bool DropPack() {
    UniqueFd fd(::open(pack.c_str(), O_RDONLY));
    ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
    return ResidentFraction(pack, 0, fs::file_size(pack)) == 0.0;
  }
  uint64_t OffsetOf(size_t i) { return store->Locate(chunks[i].hash)->offset; }
};

TEST_CASE("PackPrefetcher: reads runs into the page cache, a window ahead", "[prefetch]") {
  Fixture f;
  if (!f.DropPack()) {
    WARN("the page cache keeps this file system's pages: nothing to observe");
    return;
  }
  // A window of 9 MiB: the first run (15 records, < 8 MiB) fits at once,
  // the second only once the reader is 6 MiB in.
  PackPrefetcher prefetcher(f.store.get(), f.chunks, 9 * kMiB);
  REQUIRE(WaitFor([&] { return prefetcher.runs_read() == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(prefetcher.runs_read() == 1);
  CHECK_FALSE(prefetcher.done());
  CHECK(ResidentFraction(f.pack, f.OffsetOf(0), 15 * kChunk) == 1.0);
  CHECK(ResidentFraction(f.pack, f.OffsetOf(16), 24 * kChunk) == 0.0);

  prefetcher.Consumed(6 * kMiB);
  REQUIRE(WaitFor([&] { return prefetcher.runs_read() == 2; }));
  prefetcher.Consumed(20 * kMiB);
  REQUIRE(WaitFor([&] { return prefetcher.done(); }));
  // The third run may be in the cache already (the kernel's own readahead
  // behind the second): then it is not read.
  CHECK(prefetcher.runs_read() >= 2);
  CHECK(prefetcher.bytes_read() <= fs::file_size(f.pack) - f.OffsetOf(0));
  CHECK(ResidentFraction(f.pack, f.OffsetOf(0), 40 * kChunk) == 1.0);

  // Everything cached now: a second pass reads nothing.
  PackPrefetcher again(f.store.get(), f.chunks, 256 * kMiB);
  REQUIRE(WaitFor([&] { return again.done(); }));
  CHECK(again.runs_read() == 0);
}

TEST_CASE("PackPrefetcher: chunks it cannot find are skipped", "[prefetch]") {
  Fixture f;
  const bool dropped = f.DropPack();
  std::vector<PackPrefetcher::Chunk> list = f.chunks;
  const std::string missing = "not stored";
  list.insert(list.begin() + 20, {ChunkHash::Of(missing.data(), missing.size()), 12345});
  PackPrefetcher prefetcher(f.store.get(), list, 256 * kMiB);
  REQUIRE(WaitFor([&] { return prefetcher.done(); }));
  if (dropped) {
    CHECK(prefetcher.runs_read() >= 2);  // a run breaks at the gap
    CHECK(ResidentFraction(f.pack, f.OffsetOf(0), 40 * kChunk) == 1.0);
  }
}

TEST_CASE("PackPrefetcher: destroyed while it waits for the reader", "[prefetch]") {
  Fixture f;
  f.DropPack();
  auto prefetcher = std::make_unique<PackPrefetcher>(f.store.get(), f.chunks, 1 * kMiB);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK_FALSE(prefetcher->done());
  prefetcher.reset();  // joins
  SUCCEED();
}

}  // namespace
}  // namespace modelfs::cache
