// Tests for src/store.h: the store as the CLI uses it.
#include "src/store.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "src/tag.h"
#include "tests/unit/test_util.h"
#include "util/error.h"

namespace modelfs {
namespace {

namespace fs = std::filesystem;
using modelfs::testing::CompressibleBytes;
using modelfs::testing::FlipByte;
using modelfs::testing::RandomBytes;
using modelfs::testing::ScopedEnv;
using modelfs::testing::TempDir;
using modelfs::testing::ThrownCode;
using modelfs::testing::WriteFile;

std::string ReadAll(const Store& store, const ModelRecord& model, const std::string& path) {
  std::string out;
  store.ReadFile(model, path, [&](const char* p, size_t n) { out.append(p, n); });
  return out;
}

SaveRequest Request(const std::string& tag, const fs::path& dir) {
  SaveRequest r;
  r.tag = ParseTag(tag);
  r.dir = dir;
  r.module = "unit";
  return r;
}

uint64_t PackBytes(const fs::path& home) {
  uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(home / "packs")) total += fs::file_size(e.path());
  return total;
}

struct StoreFixture {
  TempDir tmp{"store"};
  fs::path home = tmp / "home";
  fs::path model = tmp / "model";
  std::string weights = RandomBytes((3 << 20) + 123, 1);
  std::string config = "{\"hidden\": 768}\n";
  std::string text = CompressibleBytes(500000, 2);

  StoreFixture() {
    WriteFile(model / "weights.bin", weights);
    WriteFile(model / "config.json", config);
    WriteFile(model / "docs" / "README.md", text);
    WriteFile(model / "docs" / "copy.md", text);  // same content twice
    WriteFile(model / "empty.txt", "");
    fs::create_directories(model / "emptydir");
    WriteFile(model / "run.sh", "#!/bin/sh\necho hi\n");
    fs::permissions(model / "run.sh", fs::perms::owner_all);
  }
};

TEST_CASE("Store: save, list, get and read back byte for byte", "[store]") {
  StoreFixture f;
  auto store = Store::Open(f.home, Store::Access::kWrite);
  CHECK(fs::exists(f.home / "index" / "CURRENT"));
  CHECK(fs::is_directory(f.home / "packs"));
  CHECK(store->List().empty());

  SaveResult saved = store->SaveDirectory(Request("bert:v1", f.model));
  CHECK(saved.model.name == "bert");
  CHECK(saved.model.version == "v1");
  CHECK(saved.model.module == "unit");
  CHECK(saved.model.file_count == 6);
  CHECK(saved.model.size == f.weights.size() + f.config.size() + 2 * f.text.size() + 18);
  CHECK(saved.new_bytes > f.weights.size());
  CHECK(saved.new_bytes < saved.model.size);  // dedup + compression
  CHECK(saved.model.source.find("local:") == 0);
  CHECK(saved.model.yaml.find("bert") != std::string::npos);

  auto check_model = [&](const Store& s, const ModelRecord& m) {
    auto files = s.Files(m);
    std::vector<std::string> paths;
    for (const auto& file : files) paths.push_back(file.path);
    CHECK(paths == std::vector<std::string>{"config.json", "docs", "docs/README.md", "docs/copy.md",
                                            "empty.txt", "emptydir", "run.sh", "weights.bin"});
    for (const auto& file : files) {
      if (file.path == "run.sh") CHECK(file.executable);
      if (file.path == "config.json") CHECK_FALSE(file.executable);
      if (file.path == "docs" || file.path == "emptydir") CHECK(file.type == FileType::kDirectory);
    }
    CHECK(ReadAll(s, m, "weights.bin") == f.weights);
    CHECK(ReadAll(s, m, "config.json") == f.config);
    CHECK(ReadAll(s, m, "docs/README.md") == f.text);
    CHECK(ReadAll(s, m, "docs/copy.md") == f.text);
    CHECK(ReadAll(s, m, "empty.txt").empty());
    CHECK(ReadAll(s, m, "run.sh") == "#!/bin/sh\necho hi\n");
    CHECK(ThrownCode([&] { ReadAll(s, m, "nope"); }) == "kNotFound");
    CHECK(ThrownCode([&] { ReadAll(s, m, "docs"); }) == "kNotFound");  // a directory
  };
  check_model(*store, saved.model);
  CHECK(store->Get(ParseTag("bert")).version == "v1");
  CHECK(store->Get(ParseTag("bert:v1")).version == "v1");
  REQUIRE(store->List().size() == 1);
  CHECK(store->List("bert").size() == 1);
  CHECK(store->List("other").empty());

  SECTION("the same tag again is kAlreadyExists and changes nothing") {
    const uint64_t before = PackBytes(f.home);
    CHECK(ThrownCode([&] { store->SaveDirectory(Request("bert:v1", f.model)); }) == "kAlreadyExists");
    CHECK(ThrownCode([&] { store->SaveDirectory(Request("BERT:V1", f.model)); }) == "kAlreadyExists");
    CHECK(PackBytes(f.home) == before);
    CHECK(store->List().size() == 1);
  }
  SECTION("the same content under another tag costs nothing") {
    SaveResult again = store->SaveDirectory(Request("bert:v2", f.model));
    CHECK(again.new_bytes == 0);
    check_model(*store, again.model);
    CHECK(store->List("bert").size() == 2);
    CHECK(store->Get(ParseTag("bert")).version == "v2");
    StoreStats stats = store->Stats();
    CHECK(stats.models == 2);
    CHECK(stats.logical_bytes == 2 * saved.model.size);
    CHECK(stats.garbage_bytes == 0);
  }
  SECTION("a generated version when the tag has none") {
    SaveResult gen = store->SaveDirectory(Request("bert", f.model));
    CHECK(gen.model.version.size() == 16);
    CHECK(store->Get(ParseTag("bert")).version == gen.model.version);
  }
  SECTION("data persists across reopen, also read-only") {
    store.reset();
    {
      auto ro = Store::Open(f.home, Store::Access::kRead);
      check_model(*ro, ro->Get(ParseTag("bert:v1")));
      CHECK(ThrownCode([&] { ro->SaveDirectory(Request("bert:v9", f.model)); }) != "no error");
      CHECK(ThrownCode([&] { ro->Delete(ParseTag("bert:v1")); }) != "no error");
      CHECK(ro->List().size() == 1);
    }
    auto rw = Store::Open(f.home, Store::Access::kWrite);
    check_model(*rw, rw->Get(ParseTag("bert:v1")));
  }
  SECTION("stats") {
    StoreStats stats = store->Stats();
    CHECK(stats.models == 1);
    CHECK(stats.files == 6);
    CHECK(stats.logical_bytes == saved.model.size);
    CHECK(stats.unique_bytes == f.weights.size() + f.config.size() + f.text.size() + 18);
    CHECK(stats.stored_bytes < stats.unique_bytes);
    CHECK(stats.packs == 1);
    CHECK(stats.pack_bytes == PackBytes(f.home));
    CHECK(stats.garbage_bytes == 0);
    CHECK(stats.chunks >= 4);
  }
}

TEST_CASE("Store: model.yaml, labels and metadata", "[store]") {
  StoreFixture f;
  WriteFile(f.model / "model.yaml",
            "name: ignored\nversion: ignored\nmodule: from_yaml\nlabels:\n  owner: alice\n");
  auto store = Store::Open(f.home, Store::Access::kWrite);
  SaveRequest req = Request("m:v1", f.model);
  req.module.clear();
  req.labels = {{"team", "nlp"}};
  req.metadata = {{"accuracy", "0.91"}};
  ModelRecord m = store->SaveDirectory(req).model;
  CHECK(m.name == "m");
  CHECK(m.version == "v1");
  CHECK(m.module == "from_yaml");
  CHECK(m.file_count == 6);  // model.yaml is not one of the model's files
  for (const auto& file : store->Files(m)) CHECK(file.path != "model.yaml");
  CHECK(m.yaml.find("owner: alice") != std::string::npos);
  CHECK(m.yaml.find("team: nlp") != std::string::npos);
  CHECK(m.yaml.find("accuracy: 0.91") != std::string::npos);
  CHECK(m.yaml.find("ignored") == std::string::npos);
  CHECK(m.yaml.find("name: m\n") != std::string::npos);

  SECTION("the request's module wins over the file's") {
    SaveRequest r2 = Request("m:v2", f.model);
    r2.module = "explicit";
    CHECK(store->SaveDirectory(r2).model.module == "explicit");
  }
  SECTION("a broken model.yaml is refused before anything is stored") {
    WriteFile(f.model / "model.yaml", "labels: [unclosed\n");
    const uint64_t before = PackBytes(f.home);
    CHECK(ThrownCode([&] { store->SaveDirectory(Request("m:v3", f.model)); }) == "kInvalidArgument");
    CHECK(PackBytes(f.home) == before);
    CHECK(store->List().size() == 1);
  }
}

TEST_CASE("Store: bad save requests", "[store]") {
  StoreFixture f;
  auto store = Store::Open(f.home, Store::Access::kWrite);
  CHECK(ThrownCode([&] { store->SaveDirectory(Request("m:v1", f.tmp / "missing")); }) == "kNotFound");
  fs::create_directories(f.tmp / "emptytree" / "sub");
  CHECK(ThrownCode([&] { store->SaveDirectory(Request("m:v1", f.tmp / "emptytree")); }) ==
        "kInvalidArgument");
  fs::create_symlink("nowhere", f.model / "dangling");
  CHECK(ThrownCode([&] { store->SaveDirectory(Request("m:v1", f.model)); }) == "kInvalidArgument");
  // A refused save stores nothing.
  CHECK(store->List().empty());
  CHECK(PackBytes(f.home) == 0);
  CHECK(ThrownCode([&] { store->Get(ParseTag("m")); }) == "kNotFound");
}

TEST_CASE("Store: delete and garbage collection", "[store]") {
  StoreFixture f;
  const fs::path other = f.tmp / "other";
  const std::string other_weights = RandomBytes(4 << 20, 99);
  WriteFile(other / "weights.bin", other_weights);
  WriteFile(other / "config.json", f.config);  // shared with the first model

  auto store = Store::Open(f.home, Store::Access::kWrite);
  const ModelRecord a = store->SaveDirectory(Request("a:v1", f.model)).model;
  const ModelRecord b = store->SaveDirectory(Request("b:v1", other)).model;
  const uint64_t before = PackBytes(f.home);

  auto deleted = store->Delete(ParseTag("a:v1"));
  REQUIRE(deleted.size() == 1);
  CHECK(deleted[0].name == "a");
  CHECK(ThrownCode([&] { store->Get(ParseTag("a")); }) == "kNotFound");
  CHECK(ThrownCode([&] { store->Delete(ParseTag("a:v1")); }) == "kNotFound");
  CHECK(ThrownCode([&] { store->Delete(ParseTag("a")); }) == "kNotFound");
  CHECK(ThrownCode([&] { store->DeleteAllVersions("a"); }) == "kNotFound");
  StoreStats stats = store->Stats();
  CHECK(stats.garbage_bytes >= f.weights.size());
  CHECK(PackBytes(f.home) == before);  // nothing reclaimed yet

  cache::GcResult gc = store->CollectGarbage();
  CHECK(gc.chunks_dropped > 0);
  CHECK(gc.bytes_after < gc.bytes_before);
  const uint64_t after = PackBytes(f.home);
  CHECK(after < before);
  CHECK(after == gc.bytes_after);
  CHECK(before - after >= f.weights.size());
  CHECK(store->Stats().garbage_bytes == 0);
  // The survivor, including the content it shared with the deleted model, reads back.
  CHECK(ReadAll(*store, b, "weights.bin") == other_weights);
  CHECK(ReadAll(*store, b, "config.json") == f.config);
  CHECK(store->Verify(std::nullopt).ok());

  SECTION("name:latest deletes only the newest version") {
    store->SaveDirectory(Request("b:v2", other));
    store->SaveDirectory(Request("b:v3", f.model));
    auto gone = store->Delete(ParseTag("b:latest"));
    REQUIRE(gone.size() == 1);
    CHECK(gone[0].version == "v3");
    CHECK(store->List("b").size() == 2);
    CHECK(store->Get(ParseTag("b:latest")).version == "v2");
  }
  SECTION("deleting every version by name") {
    store->SaveDirectory(Request("b:v2", other));
    store->SaveDirectory(Request("b:v3", f.model));
    auto gone = store->DeleteAllVersions("b");
    CHECK(gone.size() == 3);
    CHECK(store->List().empty());
    store->CollectGarbage();
    CHECK(PackBytes(f.home) == 0);
    CHECK(store->Stats().chunks == 0);
  }
}

TEST_CASE("Store: one writer at a time", "[store]") {
  ScopedEnv timeout("MODELFS_LOCK_TIMEOUT_MS", "100");
  StoreFixture f;
  {
    auto writer = Store::Open(f.home, Store::Access::kWrite);
    writer->SaveDirectory(Request("m:v1", f.model));
    CHECK(ThrownCode([&] { Store::Open(f.home, Store::Access::kWrite); }) == "kBusy");
    CHECK(ThrownCode([&] { Store::Open(f.home, Store::Access::kRead); }) == "kBusy");
  }
  {
    auto reader1 = Store::Open(f.home, Store::Access::kRead);
    auto reader2 = Store::Open(f.home, Store::Access::kRead);
    CHECK(reader2->List().size() == 1);
    CHECK(ThrownCode([&] { Store::Open(f.home, Store::Access::kWrite); }) == "kBusy");
  }
  auto writer = Store::Open(f.home, Store::Access::kWrite);
  CHECK(writer->List().size() == 1);
}

TEST_CASE("Store: opening for write recovers interrupted writes", "[store]") {
  StoreFixture f;
  {
    auto store = Store::Open(f.home, Store::Access::kWrite);
    store->SaveDirectory(Request("m:v1", f.model));
  }
  const fs::path pack = f.home / "packs" / "pack-00000001.pack";
  const uint64_t committed = fs::file_size(pack);
  {
    std::ofstream out(pack, std::ios::binary | std::ios::app);
    out << "half a record";
  }
  WriteFile(f.home / "packs" / "pack-00000007.pack", "leftover");
  {
    auto ro = Store::Open(f.home, Store::Access::kRead);  // readers do not touch packs
    CHECK(fs::exists(f.home / "packs" / "pack-00000007.pack"));
  }
  auto store = Store::Open(f.home, Store::Access::kWrite);
  CHECK(fs::file_size(pack) == committed);
  CHECK_FALSE(fs::exists(f.home / "packs" / "pack-00000007.pack"));
  CHECK(ReadAll(*store, store->Get(ParseTag("m")), "weights.bin") == f.weights);
}

TEST_CASE("Store: a lost index with data left in packs is refused", "[store]") {
  StoreFixture f;
  {
    auto store = Store::Open(f.home, Store::Access::kWrite);
    store->SaveDirectory(Request("m:v1", f.model));
  }
  fs::remove_all(f.home / "index");
  CHECK(ThrownCode([&] { Store::Open(f.home, Store::Access::kWrite); }) == "kCorruption");
}

TEST_CASE("Store: verify", "[store]") {
  StoreFixture f;
  auto store = Store::Open(f.home, Store::Access::kWrite);
  const ModelRecord m = store->SaveDirectory(Request("m:v1", f.model)).model;
  const fs::path other = f.tmp / "other";
  WriteFile(other / "x.bin", RandomBytes(100000, 5));
  store->SaveDirectory(Request("n:v1", other));

  VerifyReport clean = store->Verify(std::nullopt);
  CHECK(clean.ok());
  CHECK(clean.models == 2);
  CHECK(clean.files == 7);
  CHECK(clean.chunks > 0);
  CHECK(clean.bytes == PackBytes(f.home));
  CHECK(store->Verify(ParseTag("m:v1")).ok());

  // Damage a byte in the middle of weights.bin's data (random data is stored raw).
  const fs::path pack = f.home / "packs" / "pack-00000001.pack";
  const std::string bytes = modelfs::testing::ReadFile(pack);
  const size_t where = bytes.find(f.weights.substr(1 << 20, 64));
  REQUIRE(where != std::string::npos);
  FlipByte(pack, where + 10);

  VerifyReport damaged = store->Verify(std::nullopt);
  CHECK_FALSE(damaged.ok());
  CHECK(damaged.pack_damage.size() == 1);
  REQUIRE(damaged.damaged_files.size() == 1);
  CHECK(damaged.damaged_files[0].tag == "m:v1");
  CHECK(damaged.damaged_files[0].path == "weights.bin");

  VerifyReport one = store->Verify(ParseTag("m"));
  CHECK_FALSE(one.ok());
  REQUIRE(one.damaged_files.size() == 1);
  CHECK(one.damaged_files[0].path == "weights.bin");
  CHECK(store->Verify(ParseTag("n:v1")).ok());

  CHECK(ThrownCode([&] { ReadAll(*store, m, "weights.bin"); }) == "kCorruption");
  CHECK(ReadAll(*store, m, "config.json") == f.config);

  SECTION("repair rebuilds the index but cannot restore the damaged chunk") {
    VerifyReport repaired = store->Repair();
    CHECK_FALSE(repaired.ok());
    REQUIRE(repaired.damaged_files.size() == 1);
    CHECK(repaired.damaged_files[0].path == "weights.bin");
    CHECK(ReadAll(*store, m, "docs/README.md") == f.text);
  }
}

TEST_CASE("ResolveHome", "[store]") {
  CHECK(ResolveHome("/x/y") == fs::path("/x/y"));
  {
    ScopedEnv home("MODELFS_HOME", "/from/env");
    CHECK(ResolveHome("") == fs::path("/from/env"));
    CHECK(ResolveHome("/flag") == fs::path("/flag"));
  }
  {
    ScopedEnv home("MODELFS_HOME", "");
    ScopedEnv xdg("XDG_DATA_HOME", "/xdg");
    CHECK(ResolveHome("") == fs::path("/xdg/modelfs"));
  }
  {
    ScopedEnv home("MODELFS_HOME", "");
    ScopedEnv xdg("XDG_DATA_HOME", "");
    ScopedEnv h("HOME", "/home/u");
    CHECK(ResolveHome("") == fs::path("/home/u/.local/share/modelfs"));
  }
}

}  // namespace
}  // namespace modelfs
