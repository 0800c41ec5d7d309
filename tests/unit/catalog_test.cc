// Tests for src/catalog_records.h and src/catalog.h.
#include "src/catalog.h"

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "cache/index.h"
#include "src/catalog_records.h"
#include "src/tag.h"
#include "tests/unit/catalog_fixtures.h"
#include "tests/unit/test_util.h"
#include "util/coding.h"
#include "util/error.h"

namespace modelfs {
namespace {

using cache::ChunkHash;
using cache::Column;
using cache::Index;
using modelfs::testing::TempDir;
using modelfs::testing::ThrownCode;

using modelfs::testing::Sha;

using modelfs::testing::Blob;

ModelRecord Model(const std::string& name, const std::string& version, int64_t creation_ns) {
  ModelRecord m;
  m.name = name;
  m.version = version;
  m.module = "sklearn";
  m.yaml = "name: " + name + "\nversion: " + version + "\n";
  m.creation_ns = creation_ns;
  m.size = 0;
  m.file_count = 0;
  m.source = "local:/tmp/x";
  return m;
}

FileRecord File(const std::string& path, const std::string& sha, uint64_t size, bool exec = false) {
  return FileRecord::LocalFile(path, exec, size, sha);
}
FileRecord Dir(const std::string& path) {
  FileRecord dir = FileRecord::Directory(path);
  dir.executable = true;
  return dir;
}

TEST_CASE("catalog keys", "[catalog]") {
  CHECK(ModelKey("m", "v1") == std::string("m\0v1", 4));
  CHECK(FileKeyPrefix("m", "v1") == std::string("m\0v1\0", 5));
  CHECK(FileKey("m", "v1", "a/b.txt") == std::string("m\0v1\0a/b.txt", 12));
  // A model's file prefix does not cover a longer version or name.
  CHECK(FileKey("m", "v10", "x").rfind(FileKeyPrefix("m", "v1"), 0) == std::string::npos);
  CHECK(FileKey("mm", "v1", "x").rfind(FileKeyPrefix("m", "v1"), 0) == std::string::npos);
}

TEST_CASE("ModelRecord encodes and decodes", "[catalog]") {
  ModelRecord m = Model("iris", "v1", 1700000000123456789);
  m.size = 1ull << 40;
  m.file_count = 12;
  m.yaml = "name: iris\nunicode: \xc3\xa9t\xc3\xa9\nquote: \"x\"\n";
  auto d = ModelRecord::Decode(ModelKey(m.name, m.version), m.Encode());
  REQUIRE(d);
  CHECK(d->name == "iris");
  CHECK(d->version == "v1");
  CHECK(d->module == m.module);
  CHECK(d->yaml == m.yaml);
  CHECK(d->creation_ns == m.creation_ns);
  CHECK(d->size == m.size);
  CHECK(d->file_count == 12);
  CHECK(d->source == m.source);

  SECTION("negative creation time and empty strings") {
    ModelRecord e = Model("a", "b", -5);
    e.module.clear();
    e.yaml.clear();
    e.source.clear();
    auto de = ModelRecord::Decode(ModelKey("a", "b"), e.Encode());
    REQUIRE(de);
    CHECK(de->creation_ns == -5);
    CHECK(de->module.empty());
  }
  SECTION("garbage is refused") {
    const std::string key = ModelKey("iris", "v1");
    CHECK_FALSE(ModelRecord::Decode("no-separator", m.Encode()));
    CHECK_FALSE(ModelRecord::Decode(key, ""));
    CHECK_FALSE(ModelRecord::Decode(key, "not json"));
    CHECK_FALSE(ModelRecord::Decode(key, "[1,2,3]"));
    CHECK_FALSE(ModelRecord::Decode(key, "{}"));
    CHECK_FALSE(ModelRecord::Decode(key, "{\"module\": 5, \"yaml\": \"\", \"creation_ns\": 1, "
                                         "\"size\": 1, \"file_count\": 1}"));
    CHECK_FALSE(ModelRecord::Decode(key, m.Encode().substr(0, m.Encode().size() / 2)));
    CHECK_FALSE(ModelRecord::Decode(key, std::string("\xff\xfe\x00\x01", 4)));
  }
}

TEST_CASE("FileRecord encodes and decodes", "[catalog]") {
  FileRecord f = File("dir/weights.bin", Sha("abc"), 123456789012ull, true);
  auto d = FileRecord::Decode(f.path, f.Encode());
  REQUIRE(d);
  CHECK(d->path == f.path);
  CHECK(d->type == FileType::kFile);
  CHECK(d->executable);
  CHECK(d->size == f.size);
  CHECK(d->sha256 == f.sha256);

  FileRecord dir = Dir("dir");
  auto dd = FileRecord::Decode("dir", dir.Encode());
  REQUIRE(dd);
  CHECK(dd->type == FileType::kDirectory);
  CHECK(dd->sha256.empty());
  CHECK(dd->size == 0);

  SECTION("garbage is refused") {
    CHECK_FALSE(FileRecord::Decode("p", ""));
    CHECK_FALSE(FileRecord::Decode("p", "\x01"));
    CHECK_FALSE(FileRecord::Decode("p", std::string("\x03\x00\x00\x00", 4)));  // bad type
    CHECK_FALSE(FileRecord::Decode("p", std::string("\x00\x00\x00\x00", 4)));  // bad type
    const std::string enc = f.Encode();
    CHECK_FALSE(FileRecord::Decode("p", enc.substr(0, enc.size() - 1)));  // truncated sha
    CHECK_FALSE(FileRecord::Decode("p", enc.substr(0, 3)));               // truncated varint
  }
}

TEST_CASE("BlobRecord encodes and decodes", "[catalog]") {
  BlobRecord b = Blob("x", 5, 65536);
  b.refcount = 3;
  auto d = BlobRecord::Decode(b.Encode());
  REQUIRE(d);
  CHECK(d->size == b.size);
  CHECK(d->refcount == 3);
  REQUIRE(d->chunks.size() == 5);
  for (size_t i = 0; i < 5; ++i) {
    CHECK(d->chunks[i].hash == b.chunks[i].hash);
    CHECK(d->chunks[i].size == 65536);
  }
  BlobRecord empty;
  auto de = BlobRecord::Decode(empty.Encode());
  REQUIRE(de);
  CHECK(de->chunks.empty());

  SECTION("garbage is refused") {
    const std::string enc = b.Encode();
    CHECK_FALSE(BlobRecord::Decode(""));
    CHECK_FALSE(BlobRecord::Decode(enc.substr(0, enc.size() - 1)));
    CHECK_FALSE(BlobRecord::Decode(enc + "x"));
    CHECK_FALSE(BlobRecord::Decode("\xff\xff\xff"));
    CHECK_FALSE(BlobRecord::Decode("garbage text that is not a blob"));
  }
}

// A chunk count whose byte length overflows 64 bits passes the length check
// (count * 20 wraps to the remaining size, here 0), and Decode then calls
// reserve(count) which throws std::length_error instead of returning nullopt.
TEST_CASE("BlobRecord::Decode of a huge chunk count returns nullopt", "[catalog]") {
  std::string value;
  PutVarint64(&value, 0);         // size
  PutVarint64(&value, 0);         // refcount
  PutVarint64(&value, 1ull << 62);  // count: (1 << 62) * 20 == 0 mod 2^64
  std::optional<BlobRecord> decoded;
  CHECK(ThrownCode([&] { decoded = BlobRecord::Decode(value); }) == "no error");
  CHECK_FALSE(decoded);
}

struct CatalogFixture {
  TempDir dir{"catalog"};
  std::unique_ptr<Index> index = Index::Open(dir / "index", false, true);
  Catalog catalog{index.get()};

  void Add(const ModelRecord& m, const std::vector<FileRecord>& files,
           const std::map<std::string, BlobRecord>& blobs) {
    Index::Batch batch;
    catalog.AddModel(m, files, blobs, &batch);
    index->Write(batch);
  }
  uint64_t Remove(const ModelRecord& m) {
    Index::Batch batch;
    uint64_t released = catalog.RemoveModel(m, &batch).bytes;
    index->Write(batch);
    return released;
  }
};

TEST_CASE("Catalog: AddModel stores the model, its files and blobs", "[catalog]") {
  CatalogFixture f;
  ModelRecord m = Model("iris", "v1", 100);
  BlobRecord w = Blob("w", 3);
  BlobRecord c = Blob("c", 1, 10);
  f.Add(m, {Dir("sub"), File("sub/weights.bin", Sha("w"), w.size), File("config.json", Sha("c"), 10, true)},
        {{Sha("w"), w}, {Sha("c"), c}});

  auto found = f.catalog.FindModel("iris", "v1");
  REQUIRE(found);
  CHECK(found->module == "sklearn");
  CHECK_FALSE(f.catalog.FindModel("iris", "v2"));
  CHECK_FALSE(f.catalog.FindModel("iri", "v1"));

  auto files = f.catalog.ListFiles(m);
  REQUIRE(files.size() == 3);
  CHECK(files[0].path == "config.json");  // key order
  CHECK(files[0].executable);
  CHECK(files[1].path == "sub");
  CHECK(files[1].type == FileType::kDirectory);
  CHECK(files[2].path == "sub/weights.bin");
  CHECK(files[2].size == w.size);

  auto wf = f.catalog.FindFile(m, "sub/weights.bin");
  REQUIRE(wf);
  CHECK(wf->sha256 == Sha("w"));
  CHECK_FALSE(f.catalog.FindFile(m, "sub/nope"));
  CHECK_FALSE(f.catalog.FindFile(m, "sub/"));

  auto blob = f.catalog.FindBlob(Sha("w"));
  REQUIRE(blob);
  CHECK(blob->refcount == 1);
  CHECK(blob->chunks.size() == 3);
  CHECK_FALSE(f.catalog.FindBlob(Sha("nope")));

  auto live = f.catalog.LiveChunks();
  CHECK(live.size() == 4);
  for (const auto& ch : w.chunks) CHECK(live.count(ch.hash) == 1);
}

TEST_CASE("Catalog: ListFiles below a directory", "[catalog]") {
  CatalogFixture f;
  BlobRecord b = Blob("b", 1);
  ModelRecord m = Model("m", "v1", 1);
  f.Add(m,
        {File("a.txt", Sha("b"), 1), Dir("sub"), File("sub/x", Sha("b"), 1), Dir("sub/deep"),
         File("sub/deep/y", Sha("b"), 1), Dir("subway"), File("subway/z", Sha("b"), 1)},
        {{Sha("b"), b}});
  auto paths = [&](std::string_view dir) {
    std::vector<std::string> out;
    for (const auto& file : f.catalog.ListFiles(m, dir)) out.push_back(file.path);
    return out;
  };
  CHECK(paths("").size() == 7);
  CHECK(paths("sub") == std::vector<std::string>{"sub/deep", "sub/deep/y", "sub/x"});
  CHECK(paths("sub/deep") == std::vector<std::string>{"sub/deep/y"});
  CHECK(paths("subway") == std::vector<std::string>{"subway/z"});
  CHECK(paths("nope").empty());
  CHECK(paths("a.txt").empty());
  CHECK(f.catalog.FindBlob(Sha("b"))->refcount == 4);
}

TEST_CASE("Catalog: AddModel refuses a file whose content was not stored", "[catalog]") {
  CatalogFixture f;
  Index::Batch batch;
  CHECK(ThrownCode([&] {
          f.catalog.AddModel(Model("m", "v1", 1), {File("a", Sha("missing"), 5)}, {}, &batch);
        }) == "kCorruption");
}

TEST_CASE("Catalog: blob refcounts across models", "[catalog]") {
  CatalogFixture f;
  BlobRecord shared = Blob("shared", 4);
  BlobRecord only2 = Blob("only2", 2);
  ModelRecord m1 = Model("a", "v1", 1);
  ModelRecord m2 = Model("b", "v1", 2);
  f.Add(m1, {File("w.bin", Sha("shared"), shared.size)}, {{Sha("shared"), shared}});
  CHECK(f.catalog.FindBlob(Sha("shared"))->refcount == 1);
  // The second model finds the blob in the index; new_blobs need not repeat it.
  f.Add(m2, {File("copy.bin", Sha("shared"), shared.size), File("x.bin", Sha("only2"), only2.size)},
        {{Sha("only2"), only2}});
  CHECK(f.catalog.FindBlob(Sha("shared"))->refcount == 2);
  CHECK(f.catalog.FindBlob(Sha("only2"))->refcount == 1);
  CHECK(f.catalog.LiveChunks().size() == 6);

  SECTION("removing one model keeps the shared blob") {
    CHECK(f.Remove(m1) == 0);
    CHECK_FALSE(f.catalog.FindModel("a", "v1"));
    CHECK(f.catalog.ListFiles(m1).empty());
    auto blob = f.catalog.FindBlob(Sha("shared"));
    REQUIRE(blob);
    CHECK(blob->refcount == 1);
    CHECK(f.catalog.LiveChunks().size() == 6);

    SECTION("removing both deletes it and returns its size") {
      CHECK(f.Remove(m2) == shared.size + only2.size);
      CHECK_FALSE(f.catalog.FindBlob(Sha("shared")));
      CHECK_FALSE(f.catalog.FindBlob(Sha("only2")));
      CHECK(f.catalog.LiveChunks().empty());
      CHECK(f.catalog.ListModels().empty());
    }
  }
  SECTION("removing the other model first") {
    CHECK(f.Remove(m2) == only2.size);
    CHECK(f.catalog.FindBlob(Sha("shared"))->refcount == 1);
    CHECK(f.catalog.LiveChunks().size() == 4);
    CHECK(f.Remove(m1) == shared.size);
    CHECK_FALSE(f.catalog.FindBlob(Sha("shared")));
  }
  SECTION("a blob re-added after being released starts from refcount 1") {
    f.Remove(m1);
    f.Remove(m2);
    f.Add(Model("c", "v1", 3), {File("w.bin", Sha("shared"), shared.size)}, {{Sha("shared"), shared}});
    CHECK(f.catalog.FindBlob(Sha("shared"))->refcount == 1);
  }
}

TEST_CASE("Catalog: the same content twice in one model", "[catalog]") {
  CatalogFixture f;
  BlobRecord b = Blob("dup", 2);
  b.refcount = 99;  // a caller's refcount in new_blobs is ignored
  ModelRecord m = Model("m", "v1", 1);
  f.Add(m, {File("a.bin", Sha("dup"), b.size), File("b.bin", Sha("dup"), b.size)}, {{Sha("dup"), b}});
  CHECK(f.catalog.FindBlob(Sha("dup"))->refcount == 2);
  CHECK(f.Remove(m) == b.size);  // released once
  CHECK_FALSE(f.catalog.FindBlob(Sha("dup")));
}

TEST_CASE("Catalog: models of similar names do not mix", "[catalog]") {
  CatalogFixture f;
  BlobRecord b = Blob("b", 1);
  f.Add(Model("m", "v1", 1), {File("f", Sha("b"), b.size)}, {{Sha("b"), b}});
  f.Add(Model("m2", "v1", 2), {File("g", Sha("b"), b.size)}, {});
  f.Add(Model("m", "v10", 3), {File("h", Sha("b"), b.size)}, {});
  CHECK(f.catalog.ListModels("m").size() == 2);
  CHECK(f.catalog.ListModels("m2").size() == 1);
  CHECK(f.catalog.ListModels("").size() == 3);
  CHECK(f.catalog.ListModels("nope").empty());
  auto files = f.catalog.ListFiles(Model("m", "v1", 0));
  REQUIRE(files.size() == 1);
  CHECK(files[0].path == "f");
}

TEST_CASE("Catalog: ListModels is newest first", "[catalog]") {
  CatalogFixture f;
  BlobRecord b = Blob("b", 1);
  f.Add(Model("m", "bbb", 200), {File("f", Sha("b"), 1)}, {{Sha("b"), b}});
  f.Add(Model("m", "aaa", 300), {File("f", Sha("b"), 1)}, {});
  f.Add(Model("m", "ccc", 100), {File("f", Sha("b"), 1)}, {});
  f.Add(Model("z", "zzz", 250), {File("f", Sha("b"), 1)}, {});
  f.Add(Model("a", "v", 50), {File("f", Sha("b"), 1)}, {});
  std::vector<std::string> order;
  for (const auto& m : f.catalog.ListModels()) order.push_back(m.name + ":" + m.version);
  CHECK(order == std::vector<std::string>{"m:aaa", "z:zzz", "m:bbb", "m:ccc", "a:v"});
  order.clear();
  for (const auto& m : f.catalog.ListModels("m")) order.push_back(m.version);
  CHECK(order == std::vector<std::string>{"aaa", "bbb", "ccc"});
}

TEST_CASE("Catalog: Resolve", "[catalog]") {
  CatalogFixture f;
  BlobRecord b = Blob("b", 1);
  f.Add(Model("m", "abc1", 100), {File("f", Sha("b"), 1)}, {{Sha("b"), b}});
  f.Add(Model("m", "abc2", 300), {File("f", Sha("b"), 1)}, {});
  f.Add(Model("m", "xyz", 200), {File("f", Sha("b"), 1)}, {});
  f.Add(Model("m", "v1", 50), {File("f", Sha("b"), 1)}, {});
  f.Add(Model("m", "v10", 60), {File("f", Sha("b"), 1)}, {});
  f.Add(Model("other", "q", 999), {File("f", Sha("b"), 1)}, {});

  CHECK(f.catalog.Resolve(ParseTag("m")).version == "abc2");
  CHECK(f.catalog.Resolve(ParseTag("m:latest")).version == "abc2");
  CHECK(f.catalog.Resolve(ParseTag("m:abc1")).version == "abc1");
  CHECK(f.catalog.Resolve(ParseTag("m:xyz")).version == "xyz");
  CHECK(f.catalog.Resolve(ParseTag("m:x")).version == "xyz");      // unique prefix
  CHECK(f.catalog.Resolve(ParseTag("m:abc2")).version == "abc2");
  CHECK(f.catalog.Resolve(ParseTag("m:v1")).version == "v1");      // exact beats prefix
  CHECK(f.catalog.Resolve(ParseTag("m:v10")).version == "v10");
  CHECK(f.catalog.Resolve(ParseTag("other")).version == "q");
  CHECK(ThrownCode([&] { f.catalog.Resolve(ParseTag("m:abc")); }) == "kInvalidArgument");
  CHECK(ThrownCode([&] { f.catalog.Resolve(ParseTag("m:a")); }) == "kInvalidArgument");
  CHECK(ThrownCode([&] { f.catalog.Resolve(ParseTag("m:nope")); }) == "kNotFound");
  CHECK(ThrownCode([&] { f.catalog.Resolve(ParseTag("missing")); }) == "kNotFound");
  CHECK(ThrownCode([&] { f.catalog.Resolve(ParseTag("missing:v1")); }) == "kNotFound");
  CHECK(ThrownCode([&] { f.catalog.Resolve(ParseTag("o:q")); }) == "kNotFound");  // no name prefix
}

TEST_CASE("Catalog: a damaged record is kCorruption", "[catalog]") {
  CatalogFixture f;
  BlobRecord b = Blob("b", 1);
  ModelRecord m = Model("m", "v1", 1);
  f.Add(m, {File("f", Sha("b"), 1)}, {{Sha("b"), b}});
  Index::Batch batch;
  SECTION("model") {
    batch.Put(Column::kModels, ModelKey("m", "v2"), "garbage");
    f.index->Write(batch);
    CHECK(ThrownCode([&] { f.catalog.ListModels("m"); }) == "kCorruption");
    CHECK(ThrownCode([&] { f.catalog.FindModel("m", "v2"); }) == "kCorruption");
  }
  SECTION("file") {
    batch.Put(Column::kFiles, FileKey("m", "v1", "g"), "");
    f.index->Write(batch);
    CHECK(ThrownCode([&] { f.catalog.ListFiles(m); }) == "kCorruption");
    CHECK(ThrownCode([&] { f.catalog.FindFile(m, "g"); }) == "kCorruption");
  }
  SECTION("blob") {
    batch.Put(Column::kBlobs, Sha("b"), "x");
    f.index->Write(batch);
    CHECK(ThrownCode([&] { f.catalog.FindBlob(Sha("b")); }) == "kCorruption");
    CHECK(ThrownCode([&] { f.catalog.LiveChunks(); }) == "kCorruption");
  }
}

}  // namespace
}  // namespace modelfs
