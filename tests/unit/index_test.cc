// Tests for cache/index.h: the RocksDB-backed index.
#include "cache/index.h"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "tests/unit/test_util.h"
#include "util/error.h"

namespace modelfs::cache {
namespace {

using modelfs::testing::SmallTmpfs;
using modelfs::testing::TempDir;
using modelfs::testing::ThrownCode;

using KV = std::pair<std::string, std::string>;

std::vector<KV> ScanAll(const Index& index, Column column, std::string_view prefix) {
  std::vector<KV> out;
  index.Scan(column, prefix, [&](std::string_view k, std::string_view v) {
    out.emplace_back(std::string(k), std::string(v));
    return true;
  });
  return out;
}

TEST_CASE("Index: open with create makes a new database", "[index]") {
  TempDir dir("index");
  auto index = Index::Open(dir / "db", false, true);
  REQUIRE(index);
  CHECK_FALSE(index->read_only());
  CHECK(std::filesystem::exists(dir / "db" / "CURRENT"));
  CHECK_FALSE(index->Get(Column::kMeta, "x"));
  CHECK(ScanAll(*index, Column::kChunks, "").empty());
}

TEST_CASE("Index: open without create on an empty or missing dir is kNotFound", "[index]") {
  TempDir dir("index");
  CHECK(ThrownCode([&] { Index::Open(dir.path(), false, false); }) == "kNotFound");
  CHECK(ThrownCode([&] { Index::Open(dir / "missing", false, false); }) == "kNotFound");
  CHECK(ThrownCode([&] { Index::Open(dir / "missing", true, false); }) == "kNotFound");
  // Nothing was created.
  CHECK_FALSE(std::filesystem::exists(dir / "missing"));
}

TEST_CASE("Index: opens without writes leave no write-ahead logs behind", "[index]") {
  TempDir dir("index");
  auto wal_files = [&] {
    size_t n = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir / "db")) {
      n += entry.path().extension() == ".log";
    }
    return n;
  };
  Index::Open(dir / "db", false, true).reset();
  // RocksDB 7.8 used to keep one empty WAL per open (all replayed at each
  // open) when nothing was written: 12 opens left 12 of them.
  for (int i = 0; i < 12; ++i) {
    auto index = Index::Open(dir / "db", false, false);
    CHECK_FALSE(index->Get(Column::kModels, "m"));
  }
  CHECK(wal_files() <= 2);
  // And the data written before is all there.
  {
    auto index = Index::Open(dir / "db", false, false);
    Index::Batch batch;
    batch.Put(Column::kModels, "m", "v");
    index->Write(batch, true);
  }
  for (int i = 0; i < 6; ++i) Index::Open(dir / "db", false, false).reset();
  CHECK(wal_files() <= 2);
  CHECK(Index::Open(dir / "db", true, false)->Get(Column::kModels, "m") == "v");
}

TEST_CASE("Index: Put, Get and Delete through batches", "[index]") {
  TempDir dir("index");
  auto index = Index::Open(dir / "db", false, true);
  Index::Batch batch;
  CHECK(batch.count() == 0);
  batch.Put(Column::kModels, "a", "1");
  batch.Put(Column::kModels, "b", "2");
  batch.Put(Column::kModels, std::string("bin\0key", 7), std::string("v\0al", 4));
  CHECK(batch.count() == 3);
  // Nothing is visible before Write.
  CHECK_FALSE(index->Get(Column::kModels, "a"));
  index->Write(batch);
  CHECK(batch.count() == 0);  // a written batch is emptied
  CHECK(index->Get(Column::kModels, "a") == std::string("1"));
  CHECK(index->Get(Column::kModels, "b") == std::string("2"));
  CHECK(index->Get(Column::kModels, std::string("bin\0key", 7)) == std::string("v\0al", 4));
  CHECK_FALSE(index->Get(Column::kModels, "bin"));

  SECTION("overwrite and delete") {
    batch.Put(Column::kModels, "a", "one");
    batch.Delete(Column::kModels, "b");
    batch.Delete(Column::kModels, "never-there");
    index->Write(batch);
    CHECK(index->Get(Column::kModels, "a") == std::string("one"));
    CHECK_FALSE(index->Get(Column::kModels, "b"));
  }
  SECTION("operations in one batch apply in order") {
    batch.Put(Column::kModels, "c", "first");
    batch.Delete(Column::kModels, "c");
    batch.Put(Column::kModels, "d", "x");
    batch.Delete(Column::kModels, "d");
    batch.Put(Column::kModels, "d", "y");
    index->Write(batch);
    CHECK_FALSE(index->Get(Column::kModels, "c"));
    CHECK(index->Get(Column::kModels, "d") == std::string("y"));
  }
  SECTION("an empty batch is fine") {
    index->Write(batch);
    index->Write(batch, /*sync=*/false);
    CHECK(index->Get(Column::kModels, "a") == std::string("1"));
  }
  SECTION("unsynced writes are visible too") {
    batch.Put(Column::kModels, "u", "unsynced");
    index->Write(batch, false);
    CHECK(index->Get(Column::kModels, "u") == std::string("unsynced"));
  }
}

TEST_CASE("Index: columns are isolated", "[index]") {
  TempDir dir("index");
  auto index = Index::Open(dir / "db", false, true);
  Index::Batch batch;
  const Column columns[] = {Column::kMeta, Column::kModels, Column::kFiles, Column::kBlobs,
                            Column::kChunks};
  for (Column c : columns) {
    batch.Put(c, "same-key", "value-" + std::to_string(static_cast<int>(c)));
  }
  batch.Put(Column::kBlobs, "only-in-blobs", "b");
  index->Write(batch);
  for (Column c : columns) {
    CHECK(index->Get(c, "same-key") == "value-" + std::to_string(static_cast<int>(c)));
    CHECK(index->Get(c, "only-in-blobs").has_value() == (c == Column::kBlobs));
  }
  CHECK(ScanAll(*index, Column::kBlobs, "").size() == 2);
  CHECK(ScanAll(*index, Column::kChunks, "").size() == 1);

  batch.Delete(Column::kFiles, "same-key");
  index->Write(batch);
  CHECK_FALSE(index->Get(Column::kFiles, "same-key"));
  CHECK(index->Get(Column::kModels, "same-key"));

  SECTION("Clear drops one column only") {
    index->Clear(Column::kBlobs);
    CHECK(ScanAll(*index, Column::kBlobs, "").empty());
    CHECK(index->Get(Column::kChunks, "same-key"));
    CHECK(index->Get(Column::kMeta, "same-key"));
  }
}

TEST_CASE("Index: Scan by prefix, in key order, with early stop", "[index]") {
  TempDir dir("index");
  auto index = Index::Open(dir / "db", false, true);
  Index::Batch batch;
  for (const char* k : {"b/2", "a/1", "b/1", "b/10", "c", "b", "ba", "a/0"}) {
    batch.Put(Column::kFiles, k, std::string("v:") + k);
  }
  // A key with an embedded NUL, as catalog keys have.
  batch.Put(Column::kFiles, std::string("m\0v1\0f", 6), "f");
  batch.Put(Column::kFiles, std::string("m\0v10", 5), "g");
  index->Write(batch);

  auto keys = [&](std::string_view prefix) {
    std::vector<std::string> out;
    for (auto& [k, v] : ScanAll(*index, Column::kFiles, prefix)) {
      CHECK(v == (k[0] == 'm' ? v : "v:" + k));
      out.push_back(k);
    }
    return out;
  };
  CHECK(keys("b/") == std::vector<std::string>{"b/1", "b/10", "b/2"});
  CHECK(keys("b") == std::vector<std::string>{"b", "b/1", "b/10", "b/2", "ba"});
  CHECK(keys("a/") == std::vector<std::string>{"a/0", "a/1"});
  CHECK(keys("zz").empty());
  CHECK(keys("").size() == 10);
  CHECK(keys(std::string("m\0v1\0", 5)) == std::vector<std::string>{std::string("m\0v1\0f", 6)});
  CHECK(keys(std::string("m\0", 2)).size() == 2);

  SECTION("early stop") {
    std::vector<std::string> seen;
    index->Scan(Column::kFiles, "b", [&](std::string_view k, std::string_view) {
      seen.emplace_back(k);
      return seen.size() < 2;
    });
    CHECK(seen == std::vector<std::string>{"b", "b/1"});
  }
  SECTION("stop at the first key") {
    int calls = 0;
    index->Scan(Column::kFiles, "", [&](std::string_view, std::string_view) {
      ++calls;
      return false;
    });
    CHECK(calls == 1);
  }
}

TEST_CASE("Index: data persists across reopen", "[index]") {
  TempDir dir("index");
  {
    auto index = Index::Open(dir / "db", false, true);
    Index::Batch batch;
    for (int i = 0; i < 1000; ++i) {
      batch.Put(Column::kChunks, "key" + std::to_string(i), std::string(100, 'a' + i % 26));
    }
    batch.Put(Column::kMeta, "counter", "42");
    index->Write(batch);
    batch.Delete(Column::kChunks, "key7");
    index->Write(batch);
  }
  auto index = Index::Open(dir / "db", false, false);
  CHECK(index->Get(Column::kMeta, "counter") == std::string("42"));
  CHECK(index->Get(Column::kChunks, "key999") == std::string(100, 'a' + 999 % 26));
  CHECK_FALSE(index->Get(Column::kChunks, "key7"));
  CHECK(ScanAll(*index, Column::kChunks, "key").size() == 999);
}

TEST_CASE("Index: a read-only index sees the data and refuses writes", "[index]") {
  TempDir dir("index");
  {
    auto index = Index::Open(dir / "db", false, true);
    Index::Batch batch;
    batch.Put(Column::kModels, "m", "1");
    index->Write(batch);
  }
  auto ro = Index::Open(dir / "db", true, false);
  CHECK(ro->read_only());
  CHECK(ro->Get(Column::kModels, "m") == std::string("1"));
  CHECK(ScanAll(*ro, Column::kModels, "").size() == 1);
  Index::Batch batch;
  batch.Put(Column::kModels, "n", "2");
  const std::string code = ThrownCode([&] { ro->Write(batch); });
  CHECK(code != "no error");
  CHECK(code.rfind("k", 0) == 0);  // a modelfs::Error
  CHECK(ThrownCode([&] { ro->Clear(Column::kModels); }) != "no error");
  CHECK_FALSE(ro->Get(Column::kModels, "n"));

  SECTION("two read-only opens at once") {
    auto ro2 = Index::Open(dir / "db", true, false);
    CHECK(ro2->Get(Column::kModels, "m") == std::string("1"));
  }
}

TEST_CASE("Index: a second writer on the same directory is refused", "[index]") {
  TempDir dir("index");
  auto index = Index::Open(dir / "db", false, true);
  // RocksDB's own LOCK file prevents a second read-write open.
  CHECK(ThrownCode([&] { Index::Open(dir / "db", false, false); }) != "no error");
}

TEST_CASE("Index: a write on a full disk fails cleanly and writes work again once there is space",
          "[index][disk_full]") {
  SmallTmpfs disk(4 << 20);
  if (!disk.mounted()) {
    WARN("cannot mount a tmpfs here (needs root); nothing checked");
    return;
  }
  auto index = Index::Open(disk / "db", false, true);
  const std::string value(4000, 'v');
  {
    Index::Batch batch;
    for (int i = 0; i < 10; ++i) batch.Put(Column::kModels, "before" + std::to_string(i), value);
    index->Write(batch);
  }
  SmallTmpfs::Fill(disk / "filler");
  // RocksDB 7.8 aborted the process (an assertion in its log writer) at the
  // second failed write; then refused every write until restarted.
  for (int attempt = 0; attempt < 3; ++attempt) {
    Index::Batch batch;
    for (int i = 0; i < 100; ++i) batch.Put(Column::kModels, "full" + std::to_string(i), value);
    CHECK(ThrownCode([&] { index->Write(batch); }) == "kNoSpace");
    CHECK(index->Get(Column::kModels, "before3") == value);  // reads go on
  }
  CHECK_FALSE(index->Get(Column::kModels, "full1"));
  std::filesystem::remove(disk / "filler");
  {
    Index::Batch batch;
    batch.Put(Column::kModels, "after", "a");
    index->Write(batch);
  }
  CHECK(index->Get(Column::kModels, "after") == "a");
  index.reset();
  index = Index::Open(disk / "db", false, false);
  CHECK(index->Get(Column::kModels, "before9") == value);
  CHECK(index->Get(Column::kModels, "after") == "a");
  CHECK_FALSE(index->Get(Column::kModels, "full1"));
}

TEST_CASE("Index: a disk that stays full leaves the index readable, then writable at reopen",
          "[index][disk_full]") {
  SmallTmpfs disk(4 << 20);
  if (!disk.mounted()) {
    WARN("cannot mount a tmpfs here (needs root); nothing checked");
    return;
  }
  {
    auto index = Index::Open(disk / "db", false, true);
    Index::Batch batch;
    batch.Put(Column::kModels, "m", "v");
    index->Write(batch);
    SmallTmpfs::Fill(disk / "filler");
    batch.Put(Column::kModels, "big", std::string(1 << 20, 'x'));
    CHECK(ThrownCode([&] { index->Write(batch); }) == "kNoSpace");
    CHECK(index->Get(Column::kModels, "m") == "v");
  }  // closed on a full disk
  CHECK(ThrownCode([&] { Index::Open(disk / "db", false, false); }) == "kNoSpace");
  CHECK(Index::Open(disk / "db", true, false)->Get(Column::kModels, "m") == "v");
  std::filesystem::remove(disk / "filler");
  auto index = Index::Open(disk / "db", false, false);
  CHECK(index->Get(Column::kModels, "m") == "v");
  CHECK_FALSE(index->Get(Column::kModels, "big"));
}

}  // namespace
}  // namespace modelfs::cache
