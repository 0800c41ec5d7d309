// tests/unit/catalog_remote_test.cc — the remote side of the catalog
// (src/catalog_records.h, src/catalog.h): remote ids, FileRecord with a
// remote id, RemoteRecord and FetchState encodings, and the reference counts
// AddModel, RemoveModel, Materialize and Dematerialize keep on remote
// contents and on the blobs materialized ones hold.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "cache/index.h"
#include "src/catalog.h"
#include "src/catalog_records.h"
#include "tests/unit/catalog_fixtures.h"
#include "tests/unit/test_util.h"
#include "util/coding.h"
#include "util/error.h"
#include "util/hex.h"

namespace modelfs {
namespace {

using cache::ChunkHash;
using cache::Column;
using cache::Index;
using modelfs::testing::TempDir;
using modelfs::testing::ThrownCode;

using modelfs::testing::Sha;
std::string Sha1(const std::string& seed) {
  std::string s = seed;
  s.resize(20, '%');
  return s;
}

using modelfs::testing::Blob;

ModelRecord Model(const std::string& name, const std::string& version, bool remote = true) {
  ModelRecord m;
  m.name = name;
  m.version = version;
  m.yaml = "name: " + name + "\n";
  m.creation_ns = 1;
  if (remote) {
    m.source = "hf://org/" + name;
    m.origin = {"hf", "http://hub", "org/" + name, "main", std::string(40, 'a')};
  } else {
    m.source = "local:/tmp/x";
  }
  return m;
}

FileRecord Local(const std::string& path, const std::string& sha, uint64_t size) {
  return {path, FileType::kFile, false, size, sha, {}};
}
// A remote LFS file: known by its sha256.
FileRecord Lfs(const std::string& path, const std::string& sha, uint64_t size) {
  return {path, FileType::kFile, false, size, sha, remote_id::FromSha256(sha)};
}
// A small remote file: known by its git blob sha1 only.
FileRecord Small(const std::string& path, const std::string& sha1, uint64_t size) {
  return {path, FileType::kFile, false, size, {}, remote_id::FromGitSha1(sha1)};
}

struct Fixture {
  TempDir dir{"catremote"};
  std::unique_ptr<Index> index = Index::Open(dir / "index", false, true);
  Catalog catalog{index.get()};

  void Add(const ModelRecord& m, const std::vector<FileRecord>& files,
           const std::map<std::string, BlobRecord>& blobs = {}) {
    Index::Batch batch;
    catalog.AddModel(m, files, blobs, &batch);
    index->Write(batch);
  }
  Catalog::Released Remove(const ModelRecord& m) {
    Index::Batch batch;
    Catalog::Released r = catalog.RemoveModel(m, &batch);
    index->Write(batch);
    return r;
  }
  bool Materialize(const std::string& id, const std::string& sha, const BlobRecord* fresh) {
    Index::Batch batch;
    bool ok = catalog.Materialize(id, sha, fresh, &batch);
    index->Write(batch);
    return ok;
  }
  uint64_t Dematerialize(const std::string& id) {
    Index::Batch batch;
    uint64_t released = catalog.Dematerialize(id, &batch);
    index->Write(batch);
    return released;
  }
  void PutFetchState(const std::string& id, int64_t access_ns, const std::string& segments) {
    Index::Batch batch;
    batch.Put(Column::kFetch, id, FetchState{access_ns, segments}.Encode());
    index->Write(batch);
  }
  uint64_t BlobRefs(const std::string& sha) {
    auto b = catalog.FindBlob(sha);
    return b ? b->refcount : 0;
  }
};

// --- remote ids ------------------------------------------------------------------------------

TEST_CASE("remote ids name their digest kind", "[catalog_remote]") {
  const std::string sha = Sha("abc");
  const std::string sha1 = Sha1("xyz");
  std::string l = remote_id::FromSha256(sha);
  std::string g = remote_id::FromGitSha1(sha1);
  CHECK(l.size() == 33);
  CHECK(g.size() == 21);
  CHECK(remote_id::IsSha256(l));
  CHECK_FALSE(remote_id::IsGitSha1(l));
  CHECK(remote_id::IsGitSha1(g));
  CHECK_FALSE(remote_id::IsSha256(g));
  CHECK(remote_id::Digest(l) == sha);
  CHECK(remote_id::Digest(g) == sha1);
  CHECK(remote_id::Describe(l) == "sha256:" + HexEncode(sha));
  CHECK(remote_id::Describe(g) == "git-sha1:" + HexEncode(sha1));
  // Wrong lengths or tags are neither kind.
  CHECK_FALSE(remote_id::IsSha256("L" + sha1));
  CHECK_FALSE(remote_id::IsGitSha1("G" + sha));
  CHECK_FALSE(remote_id::IsSha256("G" + sha));
  CHECK_FALSE(remote_id::IsGitSha1(""));
}

// --- FileRecord ------------------------------------------------------------------------------

TEST_CASE("FileRecord with a remote id encodes and decodes", "[catalog_remote]") {
  SECTION("an LFS file (sha256 and remote id)") {
    FileRecord f = Lfs("dir/model.safetensors", Sha("w"), 5ull << 30);
    f.executable = true;
    auto d = FileRecord::Decode(f.path, f.Encode());
    REQUIRE(d);
    CHECK(d->path == f.path);
    CHECK(d->type == FileType::kFile);
    CHECK(d->executable);
    CHECK(d->size == f.size);
    CHECK(d->sha256 == f.sha256);
    CHECK(d->remote_id == f.remote_id);
    CHECK(d->is_remote());
  }
  SECTION("a small file (no sha256, git sha1 id)") {
    FileRecord f = Small("config.json", Sha1("c"), 17);
    auto d = FileRecord::Decode(f.path, f.Encode());
    REQUIRE(d);
    CHECK(d->sha256.empty());
    CHECK(d->remote_id == f.remote_id);
    CHECK(remote_id::IsGitSha1(d->remote_id));
    CHECK(d->size == 17);
  }
  SECTION("a local file has no remote id, and its encoding is the old one") {
    FileRecord f = Local("a.bin", Sha("a"), 10);
    auto d = FileRecord::Decode(f.path, f.Encode());
    REQUIRE(d);
    CHECK_FALSE(d->is_remote());
    CHECK(d->remote_id.empty());

    // The encoding before remote ids existed: type, exec, varint size, sha256.
    std::string old;
    old.push_back(static_cast<char>(FileType::kFile));
    old.push_back(0);
    PutVarint64(&old, 10);
    PutLengthPrefixed(&old, Sha("a"));
    CHECK(f.Encode() == old);
    auto od = FileRecord::Decode("a.bin", old);
    REQUIRE(od);
    CHECK(od->sha256 == Sha("a"));
    CHECK(od->size == 10);
    CHECK_FALSE(od->is_remote());
  }
  SECTION("garbage after the sha256 is refused") {
    FileRecord f = Lfs("w.bin", Sha("w"), 100);
    f.remote_offset = 1536;  // a member of a remote tar
    std::string value = f.Encode();
    auto decoded = FileRecord::Decode("w.bin", value);
    REQUIRE(decoded);
    CHECK(decoded->remote_offset == 1536);
    CHECK_FALSE(FileRecord::Decode("w.bin", value + "x"));               // trailing byte
    CHECK_FALSE(FileRecord::Decode("w.bin", value.substr(0, value.size() - 1)));  // truncated id

    std::string base = Local("w.bin", Sha("w"), 100).Encode();
    std::string bad_id = base;
    PutLengthPrefixed(&bad_id, "not-an-id");
    CHECK_FALSE(FileRecord::Decode("w.bin", bad_id));
    std::string wrong_tag = base;
    PutLengthPrefixed(&wrong_tag, "G" + Sha("w"));  // 'G' with a 32-byte digest
    CHECK_FALSE(FileRecord::Decode("w.bin", wrong_tag));
    std::string empty_id = base;
    PutLengthPrefixed(&empty_id, "");
    CHECK_FALSE(FileRecord::Decode("w.bin", empty_id));
  }
}

// --- RemoteRecord and FetchState -------------------------------------------------------------

TEST_CASE("RemoteRecord encodes and decodes", "[catalog_remote]") {
  RemoteRecord r{123456789012ull, 3, Sha("s"), true};
  auto d = RemoteRecord::Decode(r.Encode());
  REQUIRE(d);
  CHECK(d->size == r.size);
  CHECK(d->refcount == 3);
  CHECK(d->sha256 == Sha("s"));
  CHECK(d->materialized);

  RemoteRecord unknown{17, 1, {}, false};  // a small file not fetched yet
  auto du = RemoteRecord::Decode(unknown.Encode());
  REQUIRE(du);
  CHECK(du->sha256.empty());
  CHECK_FALSE(du->materialized);
  CHECK(du->size == 17);

  SECTION("garbage is refused") {
    const std::string good = r.Encode();
    CHECK_FALSE(RemoteRecord::Decode(""));
    CHECK_FALSE(RemoteRecord::Decode(good.substr(0, good.size() - 1)));  // no flag
    CHECK_FALSE(RemoteRecord::Decode(good + "x"));                       // trailing byte
    std::string flag2 = good;
    flag2.back() = 2;
    CHECK_FALSE(RemoteRecord::Decode(flag2));
    // A sha256 of the wrong length.
    std::string short_sha;
    PutVarint64(&short_sha, 1);
    PutVarint64(&short_sha, 1);
    PutLengthPrefixed(&short_sha, "abc");
    short_sha.push_back(0);
    CHECK_FALSE(RemoteRecord::Decode(short_sha));
    // Materialized without a sha256.
    std::string no_sha;
    PutVarint64(&no_sha, 1);
    PutVarint64(&no_sha, 1);
    PutLengthPrefixed(&no_sha, "");
    no_sha.push_back(1);
    CHECK_FALSE(RemoteRecord::Decode(no_sha));
    CHECK_FALSE(RemoteRecord::Decode(std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11)));
  }
}

TEST_CASE("FetchState encodes and decodes", "[catalog_remote]") {
  FetchState s{-1234567890123, std::string("seg\0ments", 9)};
  auto d = FetchState::Decode(s.Encode());
  REQUIRE(d);
  CHECK(d->access_ns == s.access_ns);
  CHECK(d->segments == s.segments);

  FetchState empty{42, ""};
  auto de = FetchState::Decode(empty.Encode());
  REQUIRE(de);
  CHECK(de->access_ns == 42);
  CHECK(de->segments.empty());

  CHECK_FALSE(FetchState::Decode(""));
  CHECK_FALSE(FetchState::Decode("1234567"));  // shorter than the access time
}

// --- AddModel / RemoveModel ------------------------------------------------------------------

TEST_CASE("Catalog: AddModel with remote files creates counted RemoteRecords", "[catalog_remote]") {
  Fixture f;
  const std::string w = Sha("w"), cfg1 = Sha1("cfg");
  const std::string lw = remote_id::FromSha256(w), gcfg = remote_id::FromGitSha1(cfg1);
  ModelRecord a = Model("a", "v1");
  f.Add(a, {Small("config.json", cfg1, 17), {"sub", FileType::kDirectory, true, 0, {}, {}},
            Lfs("sub/w.safetensors", w, 5000)});

  auto rw = f.catalog.FindRemote(lw);
  REQUIRE(rw);
  CHECK(rw->refcount == 1);
  CHECK(rw->size == 5000);
  CHECK(rw->sha256 == w);
  CHECK_FALSE(rw->materialized);
  auto rc = f.catalog.FindRemote(gcfg);
  REQUIRE(rc);
  CHECK(rc->refcount == 1);
  CHECK(rc->sha256.empty());
  CHECK(rc->size == 17);
  CHECK_FALSE(f.catalog.FindBlob(w));  // nothing stored yet
  CHECK(f.catalog.ListRemotes().size() == 2);

  auto file = f.catalog.FindFile(a, "sub/w.safetensors");
  REQUIRE(file);
  CHECK(file->remote_id == lw);
  CHECK(f.catalog.FindModel("a", "v1")->origin.repo == "org/a");

  // A second model sharing both contents.
  ModelRecord b = Model("b", "v1");
  f.Add(b, {Lfs("other/name.bin", w, 5000), Small("config.json", cfg1, 17)});
  CHECK(f.catalog.FindRemote(lw)->refcount == 2);
  CHECK(f.catalog.FindRemote(gcfg)->refcount == 2);
  CHECK(f.catalog.ListRemotes().size() == 2);

  // The same content twice in one model counts twice.
  ModelRecord c = Model("c", "v1");
  f.Add(c, {Lfs("x.bin", w, 5000), Lfs("y.bin", w, 5000)});
  CHECK(f.catalog.FindRemote(lw)->refcount == 4);

  // Removing one model leaves the others' records.
  f.PutFetchState(lw, 7, "partial");
  Catalog::Released r = f.Remove(c);
  CHECK(r.remote_ids.empty());
  CHECK(r.bytes == 0);
  CHECK(f.catalog.FindRemote(lw)->refcount == 2);
  CHECK(f.catalog.FindFetchState(lw));
  r = f.Remove(a);
  CHECK(r.remote_ids.empty());
  CHECK(f.catalog.FindRemote(lw)->refcount == 1);
  CHECK(f.catalog.FindRemote(gcfg)->refcount == 1);
  CHECK(f.catalog.ListFiles(a).empty());

  // The last one releases both ids, and the fetch state goes with them.
  f.PutFetchState(gcfg, 8, "");
  r = f.Remove(b);
  std::sort(r.remote_ids.begin(), r.remote_ids.end());
  std::vector<std::string> expected{gcfg, lw};
  std::sort(expected.begin(), expected.end());
  CHECK(r.remote_ids == expected);
  CHECK(r.bytes == 0);  // nothing was materialized
  CHECK_FALSE(f.catalog.FindRemote(lw));
  CHECK_FALSE(f.catalog.FindRemote(gcfg));
  CHECK_FALSE(f.catalog.FindFetchState(lw));
  CHECK_FALSE(f.catalog.FindFetchState(gcfg));
  CHECK(f.catalog.ListRemotes().empty());
}

TEST_CASE("Catalog: a remote file whose content is stored is materialized at once", "[catalog_remote]") {
  Fixture f;
  const std::string w = Sha("w");
  BlobRecord blob = Blob("w", 3);
  ModelRecord local = Model("local", "v1", /*remote=*/false);
  f.Add(local, {Local("weights.bin", w, blob.size)}, {{w, blob}});
  CHECK(f.BlobRefs(w) == 1);

  ModelRecord remote = Model("remote", "v1");
  const std::string id = remote_id::FromSha256(w);
  f.Add(remote, {Lfs("model.safetensors", w, blob.size)});
  auto r = f.catalog.FindRemote(id);
  REQUIRE(r);
  CHECK(r->materialized);
  CHECK(r->refcount == 1);
  CHECK(f.BlobRefs(w) == 2);  // the file's and the remote content's

  // A second remote model adds a remote reference, not a blob reference.
  ModelRecord remote2 = Model("remote2", "v1");
  f.Add(remote2, {Lfs("m.safetensors", w, blob.size)});
  CHECK(f.catalog.FindRemote(id)->refcount == 2);
  CHECK(f.BlobRefs(w) == 2);

  // Removing the local model keeps the blob, held by the remote content.
  CHECK(f.Remove(local).bytes == 0);
  CHECK(f.BlobRefs(w) == 1);
  CHECK(f.Remove(remote).remote_ids.empty());
  CHECK(f.BlobRefs(w) == 1);
  // The last remote model drops the remote content and its blob reference.
  Catalog::Released rel = f.Remove(remote2);
  CHECK(rel.remote_ids == std::vector<std::string>{id});
  CHECK(rel.bytes == blob.size);
  CHECK_FALSE(f.catalog.FindBlob(w));
  CHECK_FALSE(f.catalog.FindRemote(id));
  CHECK(f.catalog.LiveChunks().empty());
}

TEST_CASE("Catalog: a small remote file (no sha256) is never materialized by AddModel", "[catalog_remote]") {
  Fixture f;
  ModelRecord m = Model("m", "v1");
  const std::string id = remote_id::FromGitSha1(Sha1("s"));
  f.Add(m, {Small("config.json", Sha1("s"), 10)});
  auto r = f.catalog.FindRemote(id);
  REQUIRE(r);
  CHECK_FALSE(r->materialized);
  CHECK(r->sha256.empty());
}

// --- Materialize / Dematerialize -------------------------------------------------------------

TEST_CASE("Catalog: Materialize and Dematerialize", "[catalog_remote]") {
  Fixture f;
  const std::string w = Sha("w");
  const std::string id = remote_id::FromSha256(w);
  BlobRecord blob = Blob("w", 2);
  ModelRecord m = Model("m", "v1");
  f.Add(m, {Lfs("model.safetensors", w, blob.size)});
  CHECK(f.catalog.LiveChunks().empty());

  SECTION("materialize with a fresh blob, then dematerialize releases it") {
    REQUIRE(f.Materialize(id, w, &blob));
    auto r = f.catalog.FindRemote(id);
    REQUIRE(r);
    CHECK(r->materialized);
    CHECK(r->refcount == 1);
    CHECK(f.BlobRefs(w) == 1);
    auto live = f.catalog.LiveChunks();
    CHECK(live.size() == 2);
    for (const auto& c : blob.chunks) CHECK(live.count(c.hash) == 1);

    // Again: a no-op, no second reference.
    CHECK(f.Materialize(id, w, &blob));
    CHECK(f.BlobRefs(w) == 1);

    CHECK(f.Dematerialize(id) == blob.size);
    r = f.catalog.FindRemote(id);
    REQUIRE(r);
    CHECK_FALSE(r->materialized);
    CHECK(r->refcount == 1);
    CHECK(r->sha256 == w);
    CHECK_FALSE(f.catalog.FindBlob(w));
    CHECK(f.catalog.LiveChunks().empty());
    // Dematerializing what is not materialized releases nothing.
    CHECK(f.Dematerialize(id) == 0);
    CHECK(f.Dematerialize(remote_id::FromSha256(Sha("unknown"))) == 0);

    // And it can be materialized again.
    CHECK(f.Materialize(id, w, &blob));
    CHECK(f.BlobRefs(w) == 1);
  }
  SECTION("dematerializing a shared blob releases no bytes") {
    ModelRecord local = Model("local", "v1", false);
    f.Add(local, {Local("w.bin", w, blob.size)}, {{w, blob}});
    CHECK(f.BlobRefs(w) == 1);
    REQUIRE(f.Materialize(id, w, nullptr));  // the blob exists: no chunk list needed
    CHECK(f.BlobRefs(w) == 2);
    CHECK(f.Dematerialize(id) == 0);
    CHECK(f.BlobRefs(w) == 1);
    CHECK(f.catalog.LiveChunks().size() == 2);
  }
  SECTION("materializing without the blob nor a chunk list is corruption") {
    CHECK(ThrownCode([&] { f.Materialize(id, w, nullptr); }) == "kCorruption");
    CHECK_FALSE(f.catalog.FindRemote(id)->materialized);
  }
  SECTION("a content no file names any more is not materialized") {
    f.Remove(m);
    CHECK_FALSE(f.Materialize(id, w, &blob));
    CHECK_FALSE(f.catalog.FindBlob(w));
    CHECK_FALSE(f.catalog.FindRemote(id));
  }
  SECTION("a small file learns its sha256 when materialized") {
    const std::string gid = remote_id::FromGitSha1(Sha1("g"));
    ModelRecord s = Model("s", "v1");
    BlobRecord small = Blob("g", 1, 10);
    f.Add(s, {Small("config.json", Sha1("g"), 10)});
    REQUIRE(f.Materialize(gid, Sha("g"), &small));
    auto r = f.catalog.FindRemote(gid);
    REQUIRE(r);
    CHECK(r->materialized);
    CHECK(r->sha256 == Sha("g"));
    CHECK(f.BlobRefs(Sha("g")) == 1);
  }
}

TEST_CASE("Catalog: RemoveModel of the last model drops a materialized content's blob", "[catalog_remote]") {
  Fixture f;
  const std::string w = Sha("w");
  const std::string id = remote_id::FromSha256(w);
  BlobRecord blob = Blob("w", 3);
  ModelRecord a = Model("a", "v1");
  ModelRecord b = Model("b", "v1");
  f.Add(a, {Lfs("model.safetensors", w, blob.size)});
  f.Add(b, {Lfs("model.safetensors", w, blob.size)});
  REQUIRE(f.Materialize(id, w, &blob));
  f.PutFetchState(id, 99, "");
  CHECK(f.catalog.LiveChunks().size() == 3);

  Catalog::Released r = f.Remove(a);
  CHECK(r.remote_ids.empty());
  CHECK(r.bytes == 0);
  CHECK(f.BlobRefs(w) == 1);
  CHECK(f.catalog.FindFetchState(id));

  r = f.Remove(b);
  CHECK(r.remote_ids == std::vector<std::string>{id});
  CHECK(r.bytes == blob.size);
  CHECK_FALSE(f.catalog.FindRemote(id));
  CHECK_FALSE(f.catalog.FindFetchState(id));
  CHECK_FALSE(f.catalog.FindBlob(w));
  CHECK(f.catalog.LiveChunks().empty());
}

TEST_CASE("Catalog: a damaged RemoteRecord is kCorruption; a damaged FetchState is ignored",
          "[catalog_remote]") {
  Fixture f;
  const std::string id = remote_id::FromSha256(Sha("w"));
  Index::Batch batch;
  batch.Put(Column::kRemotes, id, "garbage");
  batch.Put(Column::kFetch, id, "short");
  f.index->Write(batch);
  CHECK(ThrownCode([&] { f.catalog.FindRemote(id); }) == "kCorruption");
  CHECK(ThrownCode([&] { f.catalog.ListRemotes(); }) == "kCorruption");
  CHECK_FALSE(f.catalog.FindFetchState(id));
}

}  // namespace
}  // namespace modelfs
