// Tests for cache/chunk_store.h, chunk_writer.h, garbage_collector.h,
// chunk_verifier.h, and src/file_ingester.h on top of them.
#include "cache/chunk_store.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cache/chunk_verifier.h"
#include "cache/chunk_writer.h"
#include "cache/chunker.h"
#include "cache/garbage_collector.h"
#include "cache/index.h"
#include "src/file_ingester.h"
#include "tests/unit/test_util.h"
#include "util/error.h"
#include "util/digest.h"
#include "util/unique_fd.h"

namespace modelfs::cache {
namespace {

namespace fs = std::filesystem;
using modelfs::testing::CompressibleBytes;
using modelfs::testing::FlipByte;
using modelfs::testing::RandomBytes;
using modelfs::testing::SmallTmpfs;
using modelfs::testing::TempDir;
using modelfs::testing::ThrownCode;

struct Chunk {
  std::string data;
  ChunkHash hash;
};

Chunk MakeChunk(std::string data) {
  Chunk c;
  c.hash = ChunkHash::Of(data.data(), data.size());
  c.data = std::move(data);
  return c;
}

std::vector<Chunk> RandomChunks(int n, size_t size, uint64_t seed) {
  std::vector<Chunk> out;
  for (int i = 0; i < n; ++i) out.push_back(MakeChunk(RandomBytes(size, seed * 1000 + i)));
  return out;
}

ChunkSet SetOf(const std::vector<Chunk>& chunks, bool (*pick)(size_t)) {
  ChunkSet set;
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (pick(i)) set.insert(chunks[i].hash);
  }
  return set;
}

const uint8_t* U8(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

struct Fixture {
  TempDir temp{"chunks"};
  fs::path dir;  // the store's directory: in `temp` unless given
  std::unique_ptr<Index> index;
  std::unique_ptr<ChunkStore> store;

  explicit Fixture(std::optional<fs::path> on = std::nullopt) : dir(on ? *on : temp.path()) {
    fs::create_directories(dir / "packs");
    index = Index::Open(dir / "index", false, true);
    store = std::make_unique<ChunkStore>(dir / "packs", index.get());
  }

  // Stores `chunks` in one committed transaction; returns the pack bytes written.
  uint64_t Commit(const std::vector<Chunk>& chunks, bool fresh_packs = false) {
    auto writer = store->NewWriter(fresh_packs);
    writer->BeginFile();
    for (const auto& c : chunks) writer->Put(c.hash, U8(c.data), c.data.size());
    Index::Batch batch;
    writer->Prepare(&batch);
    index->Write(batch);
    writer->Committed();
    return writer->stored_bytes();
  }

  std::string Read(const ChunkHash& hash) const {
    std::string out;
    store->Read(hash, &out);
    return out;
  }

  uint64_t CommittedBytes() const {
    uint64_t total = 0;
    for (const auto& p : store->ListPacks()) total += p.committed_length;
    return total;
  }

  std::vector<fs::path> PackFiles() const {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir / "packs")) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    return files;
  }

  uint64_t PackFileBytes() const {
    uint64_t total = 0;
    for (const auto& f : PackFiles()) total += fs::file_size(f);
    return total;
  }
};

TEST_CASE("ChunkStore: committed chunks read back", "[chunk_store]") {
  Fixture f;
  auto chunks = RandomChunks(10, 20000, 1);
  chunks.push_back(MakeChunk(CompressibleBytes(100000, 1)));
  chunks.push_back(MakeChunk("tiny"));
  chunks.push_back(MakeChunk(std::string()));  // an empty chunk

  auto writer = f.store->NewWriter();
  writer->BeginFile();
  for (const auto& c : chunks) CHECK(writer->Put(c.hash, U8(c.data), c.data.size()));
  CHECK(writer->new_chunks() == chunks.size());
  // Nothing is visible before the batch is written.
  for (const auto& c : chunks) CHECK_FALSE(f.store->Locate(c.hash));
  Index::Batch batch;
  writer->Prepare(&batch);
  CHECK(batch.count() == chunks.size() + 1);  // chunk locations + one pack length
  for (const auto& c : chunks) CHECK_FALSE(f.store->Locate(c.hash));
  f.index->Write(batch);
  writer->Committed();
  CHECK(writer->packs_written() == std::vector<uint32_t>{1});
  writer.reset();

  for (const auto& c : chunks) {
    auto loc = f.store->Locate(c.hash);
    REQUIRE(loc);
    CHECK(loc->pack_id == 1);
    CHECK(loc->raw_size == c.data.size());
    CHECK(f.Read(c.hash) == c.data);
  }
  auto packs = f.store->ListPacks();
  REQUIRE(packs.size() == 1);
  CHECK(packs[0].id == 1);
  CHECK(packs[0].committed_length == fs::file_size(f.store->PackPath(1)));
  CHECK(f.store->PackPath(1).filename() == "pack-00000001.pack");
  CHECK(f.store->Recover() == 0);

  SECTION("a fresh ChunkStore on the same index reads the same") {
    ChunkStore again(f.dir / "packs", f.index.get());
    std::string out;
    for (const auto& c : chunks) {
      again.Read(c.hash, &out);
      CHECK(out == c.data);
    }
  }
  SECTION("concurrent reads") {
    std::vector<std::thread> threads;
    std::atomic<int> bad{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        std::string out;
        for (int round = 0; round < 20; ++round) {
          for (const auto& c : chunks) {
            f.store->Read(c.hash, &out);
            if (out != c.data) ++bad;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(bad == 0);
  }
}

TEST_CASE("ChunkWriter: Put dedups within a writer and against the store", "[chunk_store]") {
  Fixture f;
  auto chunks = RandomChunks(3, 5000, 2);
  {
    auto writer = f.store->NewWriter();
    CHECK(writer->Put(chunks[0].hash, U8(chunks[0].data), chunks[0].data.size()));
    const uint64_t after_one = writer->stored_bytes();
    CHECK_FALSE(writer->Put(chunks[0].hash, U8(chunks[0].data), chunks[0].data.size()));
    CHECK(writer->stored_bytes() == after_one);
    CHECK(writer->Put(chunks[1].hash, U8(chunks[1].data), chunks[1].data.size()));
    CHECK(writer->new_chunks() == 2);
    Index::Batch batch;
    writer->Prepare(&batch);
    f.index->Write(batch);
    writer->Committed();
  }
  const uint64_t bytes = f.PackFileBytes();
  auto writer = f.store->NewWriter();
  CHECK_FALSE(writer->Put(chunks[0].hash, U8(chunks[0].data), chunks[0].data.size()));
  CHECK_FALSE(writer->Put(chunks[1].hash, U8(chunks[1].data), chunks[1].data.size()));
  CHECK(writer->Put(chunks[2].hash, U8(chunks[2].data), chunks[2].data.size()));
  CHECK(writer->new_chunks() == 1);
  CHECK(writer->stored_bytes() == kRecordHeaderSize + chunks[2].data.size());
  Index::Batch batch;
  writer->Prepare(&batch);
  f.index->Write(batch);
  writer->Committed();
  CHECK(f.PackFileBytes() == bytes + kRecordHeaderSize + chunks[2].data.size());
}

TEST_CASE("ChunkWriter: compressible chunks are stored compressed, random ones raw",
          "[chunk_store]") {
  Fixture f;
  const Chunk text = MakeChunk(CompressibleBytes(256 << 10, 3));
  const Chunk noise = MakeChunk(RandomBytes(256 << 10, 3));
  auto writer = f.store->NewWriter();
  writer->BeginFile();
  REQUIRE(writer->Put(text.hash, U8(text.data), text.data.size()));
  const uint64_t text_stored = writer->stored_bytes();
  CHECK(text_stored < text.data.size());
  CHECK(text_stored < text.data.size() / 2);
  REQUIRE(writer->Put(noise.hash, U8(noise.data), noise.data.size()));
  CHECK(writer->stored_bytes() - text_stored == kRecordHeaderSize + noise.data.size());
  Index::Batch batch;
  writer->Prepare(&batch);
  f.index->Write(batch);
  writer->Committed();

  auto tl = f.store->Locate(text.hash);
  REQUIRE(tl);
  CHECK(tl->codec == Codec::kZstd);
  CHECK(tl->stored_size < tl->raw_size);
  CHECK(tl->raw_size == text.data.size());
  auto nl = f.store->Locate(noise.hash);
  REQUIRE(nl);
  CHECK(nl->codec == Codec::kRaw);
  CHECK(nl->stored_size == nl->raw_size);
  CHECK(f.Read(text.hash) == text.data);
  CHECK(f.Read(noise.hash) == noise.data);
}

TEST_CASE("ChunkWriter: BeginFile probes compressibility afresh", "[chunk_store]") {
  Fixture f;
  auto noise = RandomChunks(8, 4096, 4);
  std::vector<Chunk> text;
  for (int i = 0; i < 3; ++i) text.push_back(MakeChunk(CompressibleBytes(8192, 100 + i)));
  auto writer = f.store->NewWriter();
  writer->BeginFile();
  for (const auto& c : noise) writer->Put(c.hash, U8(c.data), c.data.size());
  // A new file whose chunks compress well: they must be compressed even
  // though the previous file gave up on compression.
  writer->BeginFile();
  for (const auto& c : text) writer->Put(c.hash, U8(c.data), c.data.size());
  Index::Batch batch;
  writer->Prepare(&batch);
  f.index->Write(batch);
  writer->Committed();
  for (const auto& c : text) {
    auto loc = f.store->Locate(c.hash);
    REQUIRE(loc);
    CHECK(loc->codec == Codec::kZstd);
    CHECK(f.Read(c.hash) == c.data);
  }
}

TEST_CASE("ChunkWriter: appends to the newest pack unless fresh packs are asked for",
          "[chunk_store]") {
  Fixture f;
  f.Commit(RandomChunks(3, 1000, 5));
  const uint64_t len1 = f.store->ListPacks().at(0).committed_length;
  {
    auto writer = f.store->NewWriter();
    auto c = MakeChunk(RandomBytes(1000, 6));
    writer->Put(c.hash, U8(c.data), c.data.size());
    CHECK(writer->packs_written() == std::vector<uint32_t>{1});
    Index::Batch batch;
    writer->Prepare(&batch);
    f.index->Write(batch);
    writer->Committed();
    CHECK(f.store->Locate(c.hash)->offset == len1);
  }
  {
    auto writer = f.store->NewWriter(/*fresh_packs=*/true);
    auto c = MakeChunk(RandomBytes(1000, 7));
    writer->Put(c.hash, U8(c.data), c.data.size());
    CHECK(writer->packs_written() == std::vector<uint32_t>{2});
    Index::Batch batch;
    writer->Prepare(&batch);
    f.index->Write(batch);
    writer->Committed();
    CHECK(f.store->Locate(c.hash)->pack_id == 2);
    CHECK(f.store->Locate(c.hash)->offset == kPackFileHeaderSize);
  }
  auto packs = f.store->ListPacks();
  REQUIRE(packs.size() == 2);
  CHECK(packs[0].committed_length == len1 + kRecordHeaderSize + 1000);
  CHECK(packs[1].committed_length == kPackFileHeaderSize + kRecordHeaderSize + 1000);
}

TEST_CASE("ChunkWriter: a writer destroyed without Committed rolls back", "[chunk_store]") {
  Fixture f;
  auto chunks = RandomChunks(5, 10000, 8);
  // Large payloads take the pack writer's direct-write path.
  chunks.push_back(MakeChunk(RandomBytes(300000, 8)));
  chunks.push_back(MakeChunk(RandomBytes(70000, 9)));

  SECTION("new pack: removed") {
    {
      auto writer = f.store->NewWriter();
      for (const auto& c : chunks) writer->Put(c.hash, U8(c.data), c.data.size());
      Index::Batch batch;
      writer->Prepare(&batch);  // synced, but the batch is never written
    }
    CHECK(f.PackFiles().empty());
    CHECK(f.store->ListPacks().empty());
    for (const auto& c : chunks) CHECK_FALSE(f.store->Locate(c.hash));
    CHECK(f.store->Recover() == 0);
  }
  SECTION("new pack, never prepared: removed") {
    {
      auto writer = f.store->NewWriter();
      for (const auto& c : chunks) writer->Put(c.hash, U8(c.data), c.data.size());
    }
    CHECK(f.PackFiles().empty());
    CHECK(f.store->Recover() == 0);
  }
  SECTION("existing pack: truncated to its committed length") {
    f.Commit({chunks[0]});
    const uint64_t committed = f.store->ListPacks().at(0).committed_length;
    {
      auto writer = f.store->NewWriter();
      for (size_t i = 1; i < chunks.size(); ++i) {
        writer->Put(chunks[i].hash, U8(chunks[i].data), chunks[i].data.size());
      }
      Index::Batch batch;
      writer->Prepare(&batch);
      CHECK(fs::file_size(f.store->PackPath(1)) > committed);
    }
    CHECK(fs::file_size(f.store->PackPath(1)) == committed);
    CHECK(f.store->Recover() == 0);
    CHECK(f.Read(chunks[0].hash) == chunks[0].data);
    for (size_t i = 1; i < chunks.size(); ++i) CHECK_FALSE(f.store->Locate(chunks[i].hash));
    // The chunks can be written again afterwards.
    f.Commit(chunks);
    for (const auto& c : chunks) CHECK(f.Read(c.hash) == c.data);
  }
}

TEST_CASE("ChunkStore::Recover cleans up after a simulated crash", "[chunk_store]") {
  Fixture f;
  auto chunks = RandomChunks(6, 30000, 9);

  SECTION("a pack the index never heard of is deleted") {
    const fs::path aside = f.dir / "aside.pack";
    {
      auto writer = f.store->NewWriter();
      for (const auto& c : chunks) writer->Put(c.hash, U8(c.data), c.data.size());
      Index::Batch batch;
      writer->Prepare(&batch);  // durable pack; the process "dies" before Write
      fs::copy_file(f.store->PackPath(1), aside);
    }
    fs::copy_file(aside, f.store->PackPath(1));
    const uint64_t leaked = fs::file_size(f.store->PackPath(1));
    CHECK(leaked > 6 * 30000);
    // Stray temporary files go too; other files stay.
    modelfs::testing::WriteFile(f.dir / "packs" / "x.tmp", "tmp");
    modelfs::testing::WriteFile(f.dir / "packs" / "README", "keep");
    CHECK(f.store->Recover() == leaked);
    CHECK_FALSE(fs::exists(f.store->PackPath(1)));
    CHECK_FALSE(fs::exists(f.dir / "packs" / "x.tmp"));
    CHECK(fs::exists(f.dir / "packs" / "README"));
    CHECK(f.store->Recover() == 0);
    // A later write works and gets pack id 1 again.
    f.Commit(chunks);
    for (const auto& c : chunks) CHECK(f.Read(c.hash) == c.data);
  }
  SECTION("uncommitted bytes past a pack's committed length are cut off") {
    f.Commit({chunks[0], chunks[1]});
    const uint64_t committed = f.store->ListPacks().at(0).committed_length;
    const fs::path aside = f.dir / "aside.pack";
    {
      auto writer = f.store->NewWriter();
      for (size_t i = 2; i < chunks.size(); ++i) {
        writer->Put(chunks[i].hash, U8(chunks[i].data), chunks[i].data.size());
      }
      Index::Batch batch;
      writer->Prepare(&batch);
      fs::copy_file(f.store->PackPath(1), aside);
    }
    fs::copy_file(aside, f.store->PackPath(1), fs::copy_options::overwrite_existing);
    const uint64_t size = fs::file_size(f.store->PackPath(1));
    REQUIRE(size > committed);
    CHECK(f.store->Recover() == size - committed);
    CHECK(fs::file_size(f.store->PackPath(1)) == committed);
    CHECK(f.Read(chunks[0].hash) == chunks[0].data);
    CHECK(f.Read(chunks[1].hash) == chunks[1].data);
    CHECK(f.store->Recover() == 0);
  }
  SECTION("a leaked pack next to committed ones") {
    f.Commit({chunks[0]});
    {
      auto writer = f.store->NewWriter(/*fresh_packs=*/true);
      writer->Put(chunks[1].hash, U8(chunks[1].data), chunks[1].data.size());
      Index::Batch batch;
      writer->Prepare(&batch);
      fs::copy_file(f.store->PackPath(2), f.dir / "aside.pack");
    }
    fs::copy_file(f.dir / "aside.pack", f.store->PackPath(2));
    CHECK(f.store->Recover() == kPackFileHeaderSize + kRecordHeaderSize + 30000);
    CHECK(fs::exists(f.store->PackPath(1)));
    CHECK_FALSE(fs::exists(f.store->PackPath(2)));
    CHECK(f.Read(chunks[0].hash) == chunks[0].data);
  }
}

TEST_CASE("ChunkStore: reading an unknown chunk is kCorruption", "[chunk_store]") {
  Fixture f;
  f.Commit(RandomChunks(1, 100, 10));
  std::string out;
  const auto unknown = ChunkHash::Of("unknown", 7);
  CHECK_FALSE(f.store->Locate(unknown));
  // chunk_store.h: "throws kCorruption when it is missing or damaged".
  CHECK(ThrownCode([&] { f.store->Read(unknown, &out); }) == "kCorruption");
  std::optional<ChunkLocation> cached;
  CHECK(ThrownCode([&] { f.store->Read(unknown, &out, &cached); }) == "kCorruption");
}

TEST_CASE("ChunkStore: Read with a cached location", "[chunk_store]") {
  Fixture f;
  auto chunks = RandomChunks(10, 5000, 25);
  f.Commit(chunks);
  std::string out;
  std::optional<ChunkLocation> cached;
  f.store->Read(chunks[8].hash, &out, &cached);
  CHECK(out == chunks[8].data);
  REQUIRE(cached);
  CHECK(cached->pack_id == 1);
  CHECK(cached->Encode() == f.store->Locate(chunks[8].hash)->Encode());
  out.clear();
  f.store->Read(chunks[8].hash, &out, &cached);  // served from the cached location
  CHECK(out == chunks[8].data);

  SECTION("a stale location after GC moved the chunk is looked up again") {
    const ChunkLocation old = *cached;
    GcResult r = GarbageCollector(f.store.get()).Collect(SetOf(chunks, [](size_t i) { return i >= 8; }));
    REQUIRE(r.packs_compacted == 1);
    REQUIRE_FALSE(fs::exists(f.store->PackPath(1)));
    out.clear();
    f.store->Read(chunks[8].hash, &out, &cached);
    CHECK(out == chunks[8].data);
    REQUIRE(cached);
    CHECK(cached->pack_id == 2);
    CHECK(cached->offset != old.offset);
    // An uncached read of the other live chunk works too.
    CHECK(f.Read(chunks[9].hash) == chunks[9].data);
  }
  SECTION("a stale location pointing at another chunk's record is looked up again") {
    std::optional<ChunkLocation> wrong = f.store->Locate(chunks[3].hash);
    f.store->Read(chunks[5].hash, &out, &wrong);
    CHECK(out == chunks[5].data);
    CHECK(wrong->offset == f.store->Locate(chunks[5].hash)->offset);
  }
  SECTION("real damage still fails") {
    FlipByte(f.store->PackPath(1), cached->offset + kRecordHeaderSize + 1);
    CHECK(ThrownCode([&] { f.store->Read(chunks[8].hash, &out, &cached); }) == "kCorruption");
    std::optional<ChunkLocation> fresh;
    CHECK(ThrownCode([&] { f.store->Read(chunks[8].hash, &out, &fresh); }) == "kCorruption");
  }
}

TEST_CASE("ChunkStore: damaged or missing packs are corruption on read", "[chunk_store]") {
  Fixture f;
  auto chunks = RandomChunks(4, 5000, 11);
  f.Commit(chunks);
  std::string out;
  SECTION("flipped payload byte") {
    auto loc = *f.store->Locate(chunks[2].hash);
    FlipByte(f.store->PackPath(1), loc.offset + kRecordHeaderSize + 1);
    CHECK(ThrownCode([&] { f.store->Read(chunks[2].hash, &out); }) == "kCorruption");
    CHECK(f.Read(chunks[1].hash) == chunks[1].data);
  }
  SECTION("pack file deleted") {
    f.store->DropReaders();
    fs::remove(f.store->PackPath(1));
    CHECK(ThrownCode([&] { f.store->Read(chunks[0].hash, &out); }) == "kCorruption");
  }
  SECTION("damaged index entry") {
    Index::Batch batch;
    batch.Put(Column::kChunks, chunks[0].hash.bytes(), "short");
    f.index->Write(batch);
    CHECK(ThrownCode([&] { f.store->Locate(chunks[0].hash); }) == "kCorruption");
    CHECK(ThrownCode([&] { f.store->Read(chunks[0].hash, &out); }) == "kCorruption");
  }
}

TEST_CASE("GarbageCollector: Estimate", "[gc]") {
  Fixture f;
  auto chunks = RandomChunks(20, 10000, 12);
  f.Commit(chunks);
  GarbageCollector gc(f.store.get());
  const uint64_t committed = f.CommittedBytes();

  auto all = gc.Estimate(SetOf(chunks, [](size_t) { return true; }));
  CHECK(all.pack_bytes == committed);
  CHECK(all.garbage_bytes == 0);

  auto half = gc.Estimate(SetOf(chunks, [](size_t i) { return i % 2 == 0; }));
  CHECK(half.pack_bytes == committed);
  CHECK(half.garbage_bytes == 10 * (kRecordHeaderSize + 10000));

  // With nothing live the whole pack is garbage, save (at most) its file header.
  auto none = gc.Estimate({});
  CHECK(none.pack_bytes == committed);
  CHECK(none.garbage_bytes <= committed);
  CHECK(none.garbage_bytes >= committed - kPackFileHeaderSize);

  // Estimate changes nothing.
  for (const auto& c : chunks) CHECK(f.Read(c.hash) == c.data);
  CHECK(f.CommittedBytes() == committed);
}

TEST_CASE("GarbageCollector: Collect drops dead chunks and compacts", "[gc]") {
  Fixture f;
  auto chunks = RandomChunks(40, 8000, 13);
  f.Commit(chunks);
  const uint64_t before = f.CommittedBytes();
  const ChunkSet live = SetOf(chunks, [](size_t i) { return i % 2 == 0; });

  GarbageCollector gc(f.store.get());
  const auto estimate = gc.Estimate(live);
  GcResult r = gc.Collect(live);
  CHECK(r.chunks_dropped == 20);
  CHECK(r.packs_compacted == 1);
  CHECK(r.packs_deleted == 0);
  CHECK(r.bytes_before == before);
  CHECK(r.bytes_after == before - estimate.garbage_bytes);
  CHECK(r.bytes_after == f.CommittedBytes());
  CHECK(f.PackFileBytes() == r.bytes_after);  // the old pack file is gone

  CHECK_FALSE(fs::exists(f.store->PackPath(1)));
  auto packs = f.store->ListPacks();
  REQUIRE(packs.size() == 1);
  CHECK(packs[0].id == 2);
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (i % 2 == 0) {
      auto loc = f.store->Locate(chunks[i].hash);
      REQUIRE(loc);
      CHECK(loc->pack_id == 2);
      CHECK(f.Read(chunks[i].hash) == chunks[i].data);
    } else {
      CHECK_FALSE(f.store->Locate(chunks[i].hash));
    }
  }
  CHECK(gc.Estimate(live).garbage_bytes == 0);
  CHECK(f.store->Recover() == 0);

  SECTION("a second collection with the same live set does nothing") {
    GcResult again = gc.Collect(live);
    CHECK(again.chunks_dropped == 0);
    CHECK(again.packs_compacted == 0);
    CHECK(again.packs_deleted == 0);
    CHECK(again.bytes_after == again.bytes_before);
  }
  SECTION("new writes after a collection") {
    auto more = RandomChunks(3, 8000, 14);
    f.Commit(more);
    for (const auto& c : more) CHECK(f.Read(c.hash) == c.data);
    for (size_t i = 0; i < chunks.size(); i += 2) CHECK(f.Read(chunks[i].hash) == chunks[i].data);
  }
  SECTION("the verifier finds the compacted store healthy") {
    auto v = ChunkVerifier(f.store.get()).VerifyAll();
    CHECK(v.damage.empty());
    CHECK(v.bad_chunks.empty());
    CHECK(v.records == 20);
  }
}

TEST_CASE("GarbageCollector: packs without live data are deleted", "[gc]") {
  Fixture f;
  auto old_chunks = RandomChunks(5, 5000, 15);
  auto new_chunks = RandomChunks(5, 5000, 16);
  f.Commit(old_chunks);
  f.Commit(new_chunks, /*fresh_packs=*/true);
  REQUIRE(f.store->ListPacks().size() == 2);
  GcResult r = GarbageCollector(f.store.get()).Collect(SetOf(new_chunks, [](size_t) { return true; }));
  CHECK(r.chunks_dropped == 5);
  CHECK(r.packs_deleted == 1);
  CHECK(r.packs_compacted == 0);
  CHECK_FALSE(fs::exists(f.store->PackPath(1)));
  CHECK(fs::exists(f.store->PackPath(2)));
  for (const auto& c : new_chunks) CHECK(f.Read(c.hash) == c.data);

  SECTION("nothing live: everything goes") {
    GcResult all = GarbageCollector(f.store.get()).Collect({});
    CHECK(all.chunks_dropped == 5);
    CHECK(all.packs_deleted == 1);
    CHECK(all.bytes_after == 0);
    CHECK(f.store->ListPacks().empty());
    CHECK(f.PackFiles().empty());
  }
}

// Three packs on a 32 MiB disk: 4 MiB all dead; 1 MiB live and 3 dead;
// `live3` MiB live and 3 dead. The disk is then filled to 0.5 MiB free.
struct NearlyFullDisk {
  SmallTmpfs disk{32 << 20};
  std::optional<Fixture> f;
  std::vector<Chunk> live;

  bool Setup(int live3) {
    if (!disk.mounted()) return false;
    f.emplace(disk / "store");
    auto mib = [](int n, uint64_t seed) { return RandomChunks(n, 1 << 20, seed); };
    f->Commit(mib(4, 20), true);
    for (const auto& [live_mib, seed] : {std::pair{1, 21}, std::pair{live3, 22}}) {
      auto kept = mib(live_mib, seed);
      auto dead = mib(3, seed + 10);
      kept.insert(kept.end(), dead.begin(), dead.end());
      f->Commit(kept, true);
      live.insert(live.end(), kept.begin(), kept.begin() + live_mib);
    }
    SmallTmpfs::Fill(disk / "filler");
    fs::resize_file(disk / "filler", fs::file_size(disk / "filler") - (512 << 10));
    return true;
  }
  ChunkSet LiveSet() const {
    ChunkSet set;
    for (const auto& c : live) set.insert(c.hash);
    return set;
  }
};

TEST_CASE("GarbageCollector: on a nearly full disk dead packs go first and each round makes room",
          "[gc][disk_full]") {
  NearlyFullDisk d;
  if (!d.Setup(/*live3=*/5)) {
    WARN("cannot mount a tmpfs here (needs root); nothing checked");
    return;
  }
  // Deleting the dead pack leaves room to copy 1 MiB, not 5; copying it frees 3 more.
  GcResult r = GarbageCollector(d.f->store.get()).Collect(d.LiveSet());
  CHECK(r.packs_deleted == 1);
  CHECK(r.packs_compacted == 2);
  CHECK(r.packs_too_big == 0);
  CHECK(r.bytes_after < r.bytes_before - (9 << 20));
  for (const auto& c : d.live) CHECK(d.f->Read(c.hash) == c.data);
}

TEST_CASE("GarbageCollector: a pack whose copy does not fit stays and is counted", "[gc][disk_full]") {
  NearlyFullDisk d;
  if (!d.Setup(/*live3=*/10)) {
    WARN("cannot mount a tmpfs here (needs root); nothing checked");
    return;
  }
  GcResult r = GarbageCollector(d.f->store.get()).Collect(d.LiveSet());
  CHECK(r.packs_deleted == 1);
  CHECK(r.packs_compacted == 1);
  CHECK(r.packs_too_big == 1);
  CHECK(r.garbage_left >= (3 << 20));
  CHECK(r.space_needed > (10 << 20));
  for (const auto& c : d.live) CHECK(d.f->Read(c.hash) == c.data);
  fs::remove(d.disk / "filler");
  r = GarbageCollector(d.f->store.get()).Collect(d.LiveSet());
  CHECK(r.packs_compacted == 1);
  CHECK(r.packs_too_big == 0);
  for (const auto& c : d.live) CHECK(d.f->Read(c.hash) == c.data);
}

TEST_CASE("GarbageCollector: little garbage leaves the pack alone", "[gc]") {
  Fixture f;
  auto chunks = RandomChunks(40, 4000, 17);
  f.Commit(chunks);
  const uint64_t before = f.CommittedBytes();
  GcResult r =
      GarbageCollector(f.store.get()).Collect(SetOf(chunks, [](size_t i) { return i != 7; }));
  CHECK(r.chunks_dropped == 1);
  CHECK(r.packs_compacted == 0);
  CHECK(r.packs_deleted == 0);
  CHECK(r.bytes_after == before);
  CHECK_FALSE(f.store->Locate(chunks[7].hash));
  CHECK(fs::exists(f.store->PackPath(1)));
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (i != 7) CHECK(f.Read(chunks[i].hash) == chunks[i].data);
  }
  SECTION("a lower threshold compacts it") {
    GcResult r2 = GarbageCollector(f.store.get(), 0.01)
                      .Collect(SetOf(chunks, [](size_t i) { return i != 7; }));
    CHECK(r2.packs_compacted == 1);
    CHECK(r2.bytes_after == before - (kRecordHeaderSize + 4000));
    for (size_t i = 0; i < chunks.size(); ++i) {
      if (i != 7) CHECK(f.Read(chunks[i].hash) == chunks[i].data);
    }
  }
}

TEST_CASE("GarbageCollector: a pack with a damaged live chunk is not compacted", "[gc]") {
  Fixture f;
  auto chunks = RandomChunks(10, 4000, 18);
  f.Commit(chunks);
  auto loc = *f.store->Locate(chunks[4].hash);
  FlipByte(f.store->PackPath(1), loc.offset + kRecordHeaderSize + 10);
  GcResult r = GarbageCollector(f.store.get()).Collect(SetOf(chunks, [](size_t i) { return i < 5; }));
  CHECK(r.chunks_dropped == 5);
  CHECK(r.packs_compacted == 0);
  CHECK(r.packs_deleted == 0);
  CHECK(fs::exists(f.store->PackPath(1)));
  for (size_t i = 0; i < 4; ++i) CHECK(f.Read(chunks[i].hash) == chunks[i].data);
  std::string out;
  CHECK(ThrownCode([&] { f.store->Read(chunks[4].hash, &out); }) == "kCorruption");
}

TEST_CASE("ChunkVerifier: VerifyAll", "[verify]") {
  Fixture f;
  // The compressible chunk comes first: after a few incompressible chunks
  // the writer only probes compression now and then.
  std::vector<Chunk> chunks{MakeChunk(CompressibleBytes(50000, 19))};
  for (auto& c : RandomChunks(8, 6000, 19)) chunks.push_back(std::move(c));
  f.Commit(chunks);
  f.Commit(RandomChunks(2, 6000, 20), /*fresh_packs=*/true);
  ChunkVerifier verifier(f.store.get());

  auto clean = verifier.VerifyAll();
  CHECK(clean.packs == 2);
  CHECK(clean.records == chunks.size() + 2);
  CHECK(clean.bytes == f.CommittedBytes());
  CHECK(clean.damage.empty());
  CHECK(clean.bad_chunks.empty());

  SECTION("a flipped payload byte names the chunk") {
    auto loc = *f.store->Locate(chunks[3].hash);
    FlipByte(f.store->PackPath(1), loc.offset + kRecordHeaderSize + 3000);
    auto v = verifier.VerifyAll();
    REQUIRE(v.damage.size() == 1);
    CHECK(v.damage[0].pack == "pack-00000001.pack");
    CHECK(v.damage[0].offset == loc.offset);
    CHECK(v.bad_chunks.size() == 1);
    CHECK(v.bad_chunks.count(chunks[3].hash) == 1);
  }
  SECTION("a flipped byte in a compressed payload") {
    auto loc = *f.store->Locate(chunks[0].hash);
    REQUIRE(loc.codec == Codec::kZstd);
    FlipByte(f.store->PackPath(1), loc.offset + kRecordHeaderSize + loc.stored_size / 2);
    auto v = verifier.VerifyAll();
    CHECK(v.bad_chunks.size() == 1);
    CHECK(v.bad_chunks.count(chunks[0].hash) == 1);
  }
  SECTION("a flipped header byte names the chunk; its neighbours are fine") {
    auto loc = *f.store->Locate(chunks[5].hash);
    FlipByte(f.store->PackPath(1), loc.offset + 9);
    auto v = verifier.VerifyAll();
    REQUIRE(v.damage.size() == 1);
    CHECK(v.damage[0].offset == loc.offset);
    CHECK(v.bad_chunks.size() == 1);
    CHECK(v.bad_chunks.count(chunks[5].hash) == 1);
    CHECK(v.records == chunks.size() + 1);
  }
  SECTION("a missing pack file") {
    fs::remove(f.store->PackPath(2));
    auto v = verifier.VerifyAll();
    REQUIRE(v.damage.size() == 1);
    CHECK(v.damage[0].pack == "pack-00000002.pack");
    CHECK(v.bad_chunks.size() == 2);
  }
  SECTION("a truncated pack") {
    auto loc = *f.store->Locate(chunks[8].hash);
    REQUIRE(::truncate(f.store->PackPath(1).c_str(), static_cast<off_t>(loc.offset + 10)) == 0);
    auto v = verifier.VerifyAll();
    CHECK_FALSE(v.damage.empty());
    CHECK(v.bad_chunks.count(chunks[8].hash) == 1);
    CHECK(v.bad_chunks.size() == 1);
  }
  SECTION("an index entry pointing at the wrong record") {
    auto other = *f.store->Locate(chunks[1].hash);
    Index::Batch batch;
    batch.Put(Column::kChunks, chunks[0].hash.bytes(), other.Encode());
    f.index->Write(batch);
    auto v = verifier.VerifyAll();
    CHECK(v.damage.empty());
    CHECK(v.bad_chunks.size() == 1);
    CHECK(v.bad_chunks.count(chunks[0].hash) == 1);
  }
}

TEST_CASE("ChunkVerifier: RebuildIndex restores every chunk", "[verify]") {
  Fixture f;
  std::vector<Chunk> a{MakeChunk(CompressibleBytes(40000, 21))};
  for (auto& c : RandomChunks(10, 7000, 21)) a.push_back(std::move(c));
  REQUIRE(a.size() == 11);
  auto b = RandomChunks(5, 7000, 22);
  f.Commit(a);
  f.Commit(b, /*fresh_packs=*/true);
  const auto packs_before = f.store->ListPacks();
  std::vector<Chunk> all = a;
  all.insert(all.end(), b.begin(), b.end());
  std::map<ChunkHash, std::string> locations;
  for (const auto& c : all) locations[c.hash] = f.store->Locate(c.hash)->Encode();

  SECTION("after clearing the chunks column") {
    f.index->Clear(Column::kChunks);
    for (const auto& c : all) CHECK_FALSE(f.store->Locate(c.hash));
    RebuildResult r = ChunkVerifier(f.store.get()).RebuildIndex();
    CHECK(r.packs == 2);
    CHECK(r.chunks == all.size());
    CHECK(r.damage.empty());
    for (const auto& c : all) {
      REQUIRE(f.store->Locate(c.hash));
      CHECK(f.store->Locate(c.hash)->Encode() == locations[c.hash]);
      CHECK(f.Read(c.hash) == c.data);
    }
    auto packs = f.store->ListPacks();
    REQUIRE(packs.size() == packs_before.size());
    for (size_t i = 0; i < packs.size(); ++i) {
      CHECK(packs[i].id == packs_before[i].id);
      CHECK(packs[i].committed_length == packs_before[i].committed_length);
    }
    CHECK(ChunkVerifier(f.store.get()).VerifyAll().bad_chunks.empty());
  }
  SECTION("after clearing the pack table too") {
    f.index->Clear(Column::kChunks);
    Index::Batch batch;
    for (const auto& p : packs_before) batch.Delete(Column::kMeta, ChunkStore::PackKey(p.id));
    f.index->Write(batch);
    CHECK(f.store->ListPacks().empty());
    RebuildResult r = ChunkVerifier(f.store.get()).RebuildIndex();
    CHECK(r.chunks == all.size());
    CHECK(f.store->ListPacks().size() == 2);
    for (const auto& c : all) CHECK(f.Read(c.hash) == c.data);
  }
  SECTION("stale and bogus entries are replaced") {
    Index::Batch batch;
    batch.Put(Column::kChunks, ChunkHash::Of("ghost", 5).bytes(), f.store->Locate(a[0].hash)->Encode());
    batch.Put(Column::kChunks, a[1].hash.bytes(), "bogus");
    f.index->Write(batch);
    RebuildResult r = ChunkVerifier(f.store.get()).RebuildIndex();
    CHECK(r.chunks == all.size());
    CHECK_FALSE(f.store->Locate(ChunkHash::Of("ghost", 5)));
    CHECK(f.Read(a[1].hash) == a[1].data);
  }
  SECTION("a damaged record is left out and reported") {
    auto loc = *f.store->Locate(a[2].hash);
    FlipByte(f.store->PackPath(1), loc.offset + kRecordHeaderSize + 5);
    f.index->Clear(Column::kChunks);
    RebuildResult r = ChunkVerifier(f.store.get()).RebuildIndex();
    CHECK(r.chunks == all.size() - 1);
    CHECK(r.damage.size() == 1);
    CHECK_FALSE(f.store->Locate(a[2].hash));
    CHECK(f.Read(a[3].hash) == a[3].data);
  }
  SECTION("a second intact copy is used when the first is damaged") {
    // Write a[2] again into a fresh pack (by relocating its record), then damage the original.
    auto loc = *f.store->Locate(a[2].hash);
    {
      auto writer = f.store->NewWriter(true);
      RecordHeader h;
      h.hash = a[2].hash;
      h.raw_size = h.stored_size = static_cast<uint32_t>(a[2].data.size());
      writer->Relocate(h, a[2].data.data());
      Index::Batch batch;
      writer->Prepare(&batch);
      f.index->Write(batch);  // points a[2] at pack 3
      writer->Committed();
    }
    FlipByte(f.store->PackPath(1), loc.offset + kRecordHeaderSize + 5);
    f.index->Clear(Column::kChunks);
    RebuildResult r = ChunkVerifier(f.store.get()).RebuildIndex();
    CHECK(r.chunks == all.size());
    REQUIRE(f.store->Locate(a[2].hash));
    CHECK(f.store->Locate(a[2].hash)->pack_id == 3);
    CHECK(f.Read(a[2].hash) == a[2].data);
  }
}

// FileIngester on top of a ChunkWriter: chunks as the chunker cuts the whole
// file, the SHA-256 of the whole file, and bytes that read back.
TEST_CASE("FileIngester: chunks, sha256 and stored bytes", "[ingest]") {
  Fixture f;
  const Chunker chunker(ChunkerParams::Default());
  // Larger than the ingester's 16 MiB read block, so cuts cross a refill.
  const std::string data = RandomBytes((18 << 20) + 777, 23) + CompressibleBytes(3 << 20, 23);
  const fs::path file = f.dir / "input.bin";
  modelfs::testing::WriteFile(file, data);

  std::vector<size_t> expected;
  for (size_t pos = 0; pos < data.size();) {
    size_t len = chunker.NextChunkLength(U8(data) + pos, data.size() - pos, true);
    expected.push_back(len);
    pos += len;
  }

  auto writer = f.store->NewWriter();
  modelfs::IngestedContent content;
  {
    modelfs::FileIngester ingester(writer.get(), chunker);
    UniqueFd fd(::open(file.c_str(), O_RDONLY));
    REQUIRE(fd.valid());
    content = ingester.Ingest(fd.get(), file.string(), data.size());
  }
  CHECK(content.size == data.size());
  CHECK(content.sha256 == Sha256::Digest(data.data(), data.size()));
  REQUIRE(content.chunks.size() == expected.size());
  size_t pos = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    CHECK(content.chunks[i].size == expected[i]);
    CHECK(content.chunks[i].hash == ChunkHash::Of(data.data() + pos, expected[i]));
    pos += expected[i];
  }
  Index::Batch batch;
  writer->Prepare(&batch);
  f.index->Write(batch);
  writer->Committed();
  std::string rebuilt, chunk;
  for (const auto& c : content.chunks) {
    f.store->Read(c.hash, &chunk);
    rebuilt += chunk;
  }
  CHECK(rebuilt == data);
  // Random data is stored raw: the pack holds the data plus record headers.
  CHECK(f.CommittedBytes() <= kPackFileHeaderSize + data.size() + expected.size() * kRecordHeaderSize);

  // Ingesting the same file again stores nothing new.
  auto w = f.store->NewWriter();
  modelfs::FileIngester ingester(w.get(), chunker);
  UniqueFd fd(::open(file.c_str(), O_RDONLY));
  auto again = ingester.Ingest(fd.get(), "again", 0);  // the inline-hash path
  CHECK(again.sha256 == content.sha256);
  CHECK(again.chunks.size() == content.chunks.size());
  CHECK(w->new_chunks() == 0);
  CHECK(w->stored_bytes() == 0);

  // A stream (an archive member) handed out in odd pieces: the same chunks
  // and sha256, whether it is read a block ahead on a second thread (size
  // unknown or large) or inline (said to be small).
  for (std::optional<uint64_t> hint : {std::optional<uint64_t>(), std::optional<uint64_t>(data.size()),
                                       std::optional<uint64_t>(1000)}) {
    auto w2 = f.store->NewWriter();
    modelfs::FileIngester streamer(w2.get(), chunker);
    size_t at = 0;
    auto streamed = streamer.IngestStream(
        [&](char* buffer, size_t capacity) {
          const size_t n = std::min({capacity, data.size() - at, size_t{777777}});
          std::memcpy(buffer, data.data() + at, n);
          at += n;
          return n;
        },
        hint);
    CHECK(streamed.size == data.size());
    CHECK(streamed.sha256 == content.sha256);
    REQUIRE(streamed.chunks.size() == content.chunks.size());
    for (size_t i = 0; i < content.chunks.size(); ++i) {
      CHECK(streamed.chunks[i].hash == content.chunks[i].hash);
      CHECK(streamed.chunks[i].size == content.chunks[i].size);
    }
  }
}

TEST_CASE("FileIngester: empty and compressible files", "[ingest]") {
  Fixture f;
  const Chunker chunker(ChunkerParams::Default());
  auto writer = f.store->NewWriter();
  modelfs::FileIngester ingester(writer.get(), chunker);

  const fs::path empty = f.dir / "empty.bin";
  modelfs::testing::WriteFile(empty, "");
  UniqueFd efd(::open(empty.c_str(), O_RDONLY));
  auto e = ingester.Ingest(efd.get(), "empty", 0);
  CHECK(e.size == 0);
  CHECK(e.chunks.empty());
  CHECK(e.sha256 == Sha256::Digest("", 0));
  CHECK(writer->new_chunks() == 0);

  const std::string text = CompressibleBytes(3 << 20, 24);
  const fs::path tf = f.dir / "text.txt";
  modelfs::testing::WriteFile(tf, text);
  UniqueFd tfd(::open(tf.c_str(), O_RDONLY));
  auto t = ingester.Ingest(tfd.get(), "text", text.size());
  CHECK(t.size == text.size());
  CHECK(t.sha256 == Sha256::Digest(text.data(), text.size()));
  CHECK(writer->stored_bytes() < text.size() / 2);

  // Reading from the middle of a descriptor ingests the rest of the file.
  UniqueFd mfd(::open(tf.c_str(), O_RDONLY));
  REQUIRE(::lseek(mfd.get(), 1000, SEEK_SET) == 1000);
  auto m = ingester.Ingest(mfd.get(), "middle", text.size() - 1000);
  CHECK(m.size == text.size() - 1000);
  CHECK(m.sha256 == Sha256::Digest(text.data() + 1000, text.size() - 1000));
}

}  // namespace
}  // namespace modelfs::cache
