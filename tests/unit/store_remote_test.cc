// tests/unit/store_remote_test.cc — remote models in the Store against the
// Hub simulator (sim_fixture.h): PlanHfPull + RegisterRemote fetch nothing,
// OpenFile fetches lazily and the verified content becomes chunks, Prefetch,
// eviction, the fetch limit, deletion of staged bytes and resuming a partial
// fetch after the store is reopened; a digest mismatch dropping every staged
// byte at once (and counted), and strict reads.
//
// Each test case uses its own repo of the shared simulator ("remote/<x>"),
// and counts the bytes the simulator served from a baseline taken when the
// fixture starts, so cases (and Catch2 sections re-running them) do not see
// each other's traffic. RemoteSources reads the Hub configuration from the
// environment when the store opens: the fixture points HF_ENDPOINT at the
// simulator first (and restores it after).
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "remote/http_client.h"
#include "src/catalog_records.h"
#include "src/hf_pull.h"
#include "src/remote_file_reader.h"
#include "src/segment_map.h"
#include "src/store.h"
#include "src/tag.h"
#include "tests/unit/sim_fixture.h"
#include "tests/unit/test_util.h"
#include "util/digest.h"
#include "util/error.h"
#include "util/hex.h"

namespace modelfs {
namespace {

namespace fs = std::filesystem;
using modelfs::testing::FastRetry;
using modelfs::testing::kToken;
using modelfs::testing::RandomBytes;
using modelfs::testing::ScopedEnv;
using modelfs::testing::Sim;
using modelfs::testing::SimHub;
using modelfs::testing::TempDir;
using modelfs::testing::ThrownCode;
using modelfs::testing::WriteFile;

constexpr uint64_t kMiB = 1 << 20;

std::string Sha256Of(const std::string& data) { return Sha256::Digest(data.data(), data.size()); }

std::map<std::string, std::string> SmallModel(uint64_t seed) {
  return {{"config.json", "{\"model_type\": \"remote-test-" + std::to_string(seed) + "\"}\n"},
          {"model.safetensors", RandomBytes(2 * kMiB + 4321, seed)},
          {"sub/tok.json", "{\"tokens\": [" + std::to_string(seed) + "]}\n"}};
}

// The repos of these tests, by repo id. They are all added to the simulator
// at once, on first use: each reload (and each python3 the fixture runs to
// ask for it) costs the better part of a second.
const std::map<std::string, std::map<std::string, std::string>>& Repos() {
  static const auto repos = [] {
    std::map<std::string, std::map<std::string, std::string>> r;
    uint64_t seed = 100;
    for (const char* name : {"register", "read", "prefetch", "evict", "evictopen", "shared", "limit",
                             "delete", "deletefetched", "readonly", "verify"}) {
      r[std::string("remote/") + name] = SmallModel(++seed);
    }
    r["remote/resume"] = {{"big.safetensors", RandomBytes(8 * kMiB, 201)}};
    r["remote/resumeseq"] = {{"big.safetensors", RandomBytes(8 * kMiB, 202)}};
    r["remote/resumeahead"] = {{"big.safetensors", RandomBytes(8 * kMiB, 203)}};
    r["remote/limitpartial"] = {{"a.safetensors", RandomBytes(8 * kMiB, 204)},
                                {"b.safetensors", RandomBytes(8 * kMiB, 205)}};
    r["remote/empty"] = {{"empty.txt", ""}, {"config.json", "{}\n"}};
    r["remote/mismatch"] = {{"big.safetensors", RandomBytes(8 * kMiB, 206)}};
    r["remote/strictmodel"] = {{"big.safetensors", RandomBytes(8 * kMiB, 207)}};
    r["remote/strictstore"] = {{"big.safetensors", RandomBytes(8 * kMiB, 208)}};
    for (const auto& [repo, files] : r) {
      for (const auto& [path, data] : files) WriteFile(Sim().repos() / repo / "main" / path, data);
    }
    Sim().Control("/_sim/reload", "{}");
    return r;
  }();
  return repos;
}

struct RemoteStore {
  SimHub& sim = Sim();
  TempDir tmp{"storeremote"};
  fs::path home = tmp / "home";
  ScopedEnv endpoint_env{"HF_ENDPOINT", Sim().endpoint().c_str()};
  ScopedEnv token_env{"HF_TOKEN", kToken};
  ScopedEnv offline_env{"HF_HUB_OFFLINE", ""};
  ScopedEnv offline2_env{"TRANSFORMERS_OFFLINE", ""};
  std::string repo;
  std::map<std::string, std::string> files;
  remote::HttpClient client;
  std::map<std::string, uint64_t> baseline;
  std::unique_ptr<Store> store;

  explicit RemoteStore(std::string repo_id) : repo(std::move(repo_id)), files(Repos().at(repo)) {
    baseline = ServedBytes();
    store = Store::Open(home, Store::Access::kWrite);
  }

  void Reopen() {
    store.reset();
    store = Store::Open(home, Store::Access::kWrite);
  }

  RegisterRequest Plan() {
    HfPullOptions options;
    options.url = "hf://" + repo;
    options.config = sim.Config(kToken);
    return PlanHfPull(options, &client, &FastRetry());
  }
  ModelRecord Register() {
    RegisterResult r = store->RegisterRemote(Plan());
    REQUIRE_FALSE(r.already_registered);
    return r.model;
  }

  // Body bytes the simulator served per file of this repo (hub + CDN), from
  // GET /_sim/stats (asked with the HttpClient: no python3 to start).
  std::map<std::string, uint64_t> ServedBytes() {
    remote::HttpRequest request;
    request.url = sim.endpoint() + "/_sim/stats?requests=0";
    remote::HttpResponse response = client.Perform(request);
    REQUIRE(response.status == 200);
    nlohmann::json stats = nlohmann::json::parse(response.body);
    std::map<std::string, uint64_t> out;
    for (const auto& [path, data] : files) {
      auto it = stats["files"].find(repo + "/" + path);
      if (it == stats["files"].end()) continue;
      out[path] = it->value("hub_bytes", uint64_t{0}) + it->value("cdn_bytes", uint64_t{0});
    }
    return out;
  }
  // Bytes of `path` served since the fixture started.
  uint64_t Served(const std::string& path) {
    auto now = ServedBytes();
    return now[path] - baseline[path];
  }
  uint64_t ServedAll() {
    auto now = ServedBytes();
    uint64_t total = 0;
    for (const auto& [path, data] : files) total += now[path] - baseline[path];
    return total;
  }
  uint64_t TotalSize() const {
    uint64_t total = 0;
    for (const auto& [path, data] : files) total += data.size();
    return total;
  }

  std::string RemoteIdOf(const ModelRecord& model, const std::string& path) {
    auto file = store->catalog().FindFile(model, path);
    REQUIRE(file);
    REQUIRE(file->is_remote());
    return file->remote_id;
  }
  bool Materialized(const std::string& id) {
    auto r = store->catalog().FindRemote(id);
    return r && r->materialized;
  }
  // Waits (up to 5 s) for the background thread to store content `id`.
  bool WaitMaterialized(const std::string& id) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!Materialized(id)) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }
  bool WaitGone(const fs::path& path) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (fs::exists(path)) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }
  fs::path StagingPath(const std::string& id) const { return home / "staging" / HexEncode(id); }
};

std::string ReadAll(FileReader& reader, size_t piece = 1 << 20) {
  std::string out(reader.size(), '\0');
  for (uint64_t at = 0; at < out.size();) {
    size_t n = reader.ReadAt(at, std::min<uint64_t>(piece, out.size() - at), out.data() + at);
    REQUIRE(n > 0);
    at += n;
  }
  return out;
}

std::string StoreRead(const Store& store, const ModelRecord& model, const std::string& path) {
  std::string out;
  store.ReadFile(model, path, [&](const char* p, size_t n) { out.append(p, n); });
  return out;
}

bool IsRemoteReader(const FileReader& reader) { return dynamic_cast<const RemoteFileReader*>(&reader) != nullptr; }

TEST_CASE("Store: a pull registers a remote model without fetching", "[store_remote]") {
  RemoteStore f("remote/register");
  RegisterRequest request = f.Plan();
  CHECK(request.tag.name == "remote--register");
  CHECK(request.tag.version.size() == 16);
  CHECK(request.origin.kind == "hf");
  CHECK(request.origin.repo == "remote/register");
  CHECK(request.origin.endpoint == f.sim.endpoint());
  CHECK(request.origin.commit.size() == 40);
  REQUIRE(request.files.size() == 3);

  RegisterResult r = f.store->RegisterRemote(request);
  CHECK_FALSE(r.already_registered);
  CHECK(r.present_bytes == 0);
  CHECK(r.model.size == f.TotalSize());
  CHECK(r.model.file_count == 3);
  CHECK(r.model.origin.commit == request.origin.commit);
  CHECK(f.ServedAll() == 0);

  // Files are remote: LFS ones named by sha256, small ones by git sha1.
  const ModelRecord model = f.store->Get(ParseTag("remote--register"));
  std::vector<FileRecord> files = f.store->Files(model);
  REQUIRE(files.size() == 4);  // three files and "sub"
  for (const auto& file : files) {
    if (file.type == FileType::kDirectory) {
      CHECK(file.path == "sub");
      continue;
    }
    INFO(file.path);
    CHECK(file.is_remote());
    CHECK(file.size == f.files[file.path].size());
    if (file.path == "model.safetensors") {
      CHECK(file.remote_id == remote_id::FromSha256(Sha256Of(f.files[file.path])));
    } else {
      CHECK(remote_id::IsGitSha1(file.remote_id));
    }
    auto remote = f.store->catalog().FindRemote(file.remote_id);
    REQUIRE(remote);
    CHECK_FALSE(remote->materialized);
  }
  FetchStats stats = f.store->FetchedStats();
  CHECK(stats.registered == f.TotalSize());
  CHECK(stats.fetched == 0);
  REQUIRE(stats.models.size() == 1);
  CHECK(stats.models[0].tag == "remote--register:" + request.tag.version);
  CHECK(stats.models[0].registered == f.TotalSize());
  CHECK(stats.models[0].fetched == 0);

  // The same commit again: nothing happens.
  RegisterResult again = f.store->RegisterRemote(f.Plan());
  CHECK(again.already_registered);
  CHECK(again.model.version == r.model.version);
  CHECK(f.store->List().size() == 1);
  // Another commit under the same tag is refused.
  request.origin.commit = std::string(40, 'f');
  CHECK(ThrownCode([&] { f.store->RegisterRemote(request); }) == "kAlreadyExists");
  CHECK(f.ServedAll() == 0);
}

TEST_CASE("Store: a remote file reads lazily, then from the store", "[store_remote]") {
  RemoteStore f("remote/read");
  ModelRecord model = f.Register();
  const std::string& weights = f.files["model.safetensors"];
  const std::string id = f.RemoteIdOf(model, "model.safetensors");

  {
    auto reader = f.store->OpenFile(model, "model.safetensors");
    REQUIRE(IsRemoteReader(*reader));
    CHECK(reader->size() == weights.size());
    CHECK_FALSE(reader->verified());
    std::string head(1000, '\0');
    CHECK(reader->ReadAt(0, head.size(), head.data()) == head.size());
    CHECK(head == weights.substr(0, 1000));
    CHECK(ReadAll(*reader) == weights);
    CHECK(reader->verified());
  }
  CHECK(f.Served("model.safetensors") == weights.size());
  REQUIRE(f.WaitMaterialized(id));
  // The staging file goes right after the index says "stored".
  CHECK(f.WaitGone(f.StagingPath(id)));

  // Now from chunks: no network.
  auto reader = f.store->OpenFile(model, "model.safetensors");
  CHECK_FALSE(IsRemoteReader(*reader));
  CHECK(ReadAll(*reader, 12345) == weights);
  CHECK(StoreRead(*f.store, model, "model.safetensors") == weights);
  CHECK(f.Served("model.safetensors") == weights.size());

  // A small file, known by its git sha1, learns its sha256 when stored.
  const std::string cid = f.RemoteIdOf(model, "config.json");
  CHECK(StoreRead(*f.store, model, "config.json") == f.files["config.json"]);
  REQUIRE(f.WaitMaterialized(cid));
  auto remote = f.store->catalog().FindRemote(cid);
  CHECK(remote->sha256 == Sha256Of(f.files["config.json"]));
  CHECK(f.Served("config.json") == f.files["config.json"].size());
  CHECK(StoreRead(*f.store, model, "config.json") == f.files["config.json"]);
  CHECK(f.Served("config.json") == f.files["config.json"].size());
  CHECK(f.Served("sub/tok.json") == 0);

  FetchStats stats = f.store->FetchedStats();
  CHECK(stats.fetched == weights.size() + f.files["config.json"].size());
  CHECK(ThrownCode([&] { f.store->OpenFile(model, "nope"); }) == "kNotFound");
  CHECK(ThrownCode([&] { f.store->OpenFile(model, "sub"); }) == "kNotFound");
}

TEST_CASE("Store: Prefetch fetches every file and reports progress", "[store_remote]") {
  RemoteStore f("remote/prefetch");
  ModelRecord model = f.Register();
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  f.store->Prefetch(model, [&](uint64_t done, uint64_t total) { calls.emplace_back(done, total); });
  // Everything is stored when Prefetch returns (checked before anything
  // else gives the background thread time to finish).
  std::vector<std::string> not_stored;
  for (const auto& [path, data] : f.files) {
    if (!f.Materialized(f.RemoteIdOf(model, path))) not_stored.push_back(path);
  }
  CHECK(not_stored.empty());
  CHECK(fs::is_empty(f.home / "staging"));
  REQUIRE_FALSE(calls.empty());
  CHECK(calls.front().first == 0);
  CHECK(calls.back().first == f.TotalSize());
  CHECK(calls.back().second == f.TotalSize());
  for (size_t i = 1; i < calls.size(); ++i) {
    CHECK(calls[i].first >= calls[i - 1].first);
    CHECK(calls[i].second == f.TotalSize());
  }
  CHECK(f.ServedAll() == f.TotalSize());
  for (const auto& [path, data] : f.files) {
    INFO(path);
    CHECK(f.Materialized(f.RemoteIdOf(model, path)));
    CHECK(f.Served(path) == data.size());
  }
  FetchStats stats = f.store->FetchedStats();
  CHECK(stats.fetched == f.TotalSize());
  CHECK(stats.evictable == f.TotalSize());
  CHECK(fs::is_empty(f.home / "staging"));

  // Again: nothing to fetch.
  calls.clear();
  f.store->Prefetch(model, [&](uint64_t done, uint64_t total) { calls.emplace_back(done, total); });
  REQUIRE(calls.size() == 1);
  CHECK(calls[0] == std::make_pair(f.TotalSize(), f.TotalSize()));
  CHECK(f.ServedAll() == f.TotalSize());
  for (const auto& [path, data] : f.files) CHECK(StoreRead(*f.store, model, path) == data);
  CHECK(f.ServedAll() == f.TotalSize());
}

TEST_CASE("Store: eviction drops fetched contents, which are fetched again", "[store_remote]") {
  RemoteStore f("remote/evict");
  ModelRecord model = f.Register();
  f.store->Prefetch(model, [](uint64_t, uint64_t) {});
  REQUIRE(f.ServedAll() == f.TotalSize());

  SECTION("everything") {
    EvictResult r = f.store->Evict(std::nullopt, 0);
    CHECK(r.contents == 3);
    CHECK(r.bytes == f.TotalSize());
    CHECK(f.store->FetchedStats().fetched == 0);
    for (const auto& [path, data] : f.files) CHECK_FALSE(f.Materialized(f.RemoteIdOf(model, path)));
    CHECK(f.store->Stats().garbage_bytes == 0);  // collected
  }
  SECTION("down to a budget, of one model") {
    EvictResult r = f.store->Evict(model, f.TotalSize() - 1);
    CHECK(r.contents >= 1);
    CHECK(f.store->FetchedStats().fetched <= f.TotalSize() - 1);
    CHECK(f.store->Evict(model, f.TotalSize()).contents == 0);
  }
  // Every file still reads, fetched again where it was evicted.
  for (const auto& [path, data] : f.files) CHECK(StoreRead(*f.store, model, path) == data);
  CHECK(f.ServedAll() > f.TotalSize());
  CHECK(f.ServedAll() <= 2 * f.TotalSize());
}

TEST_CASE("Store: an open content is not evicted", "[store_remote]") {
  RemoteStore f("remote/evictopen");
  ModelRecord model = f.Register();
  auto reader = f.store->OpenFile(model, "model.safetensors");
  std::string buf(kMiB, '\0');
  REQUIRE(reader->ReadAt(kMiB, kMiB, buf.data()) == kMiB);
  const std::string id = f.RemoteIdOf(model, "model.safetensors");
  CHECK(f.store->Evict(std::nullopt, 0).contents == 0);
  CHECK(fs::exists(f.StagingPath(id)));
  reader.reset();
  CHECK(f.store->Evict(std::nullopt, 0).contents == 1);
  CHECK_FALSE(fs::exists(f.StagingPath(id)));
  CHECK_FALSE(f.store->catalog().FindFetchState(id));
}

TEST_CASE("Store: content saved locally is present at once and never evicted", "[store_remote]") {
  RemoteStore f("remote/shared");
  const std::string& weights = f.files["model.safetensors"];
  WriteFile(f.tmp / "local/weights.bin", weights);
  WriteFile(f.tmp / "local/other.txt", "other\n");
  SaveRequest save;
  save.tag = ParseTag("local:v1");
  save.dir = f.tmp / "local";
  f.store->SaveDirectory(save);

  RegisterResult r = f.store->RegisterRemote(f.Plan());
  CHECK(r.present_bytes == weights.size());
  const std::string id = f.RemoteIdOf(r.model, "model.safetensors");
  CHECK(f.Materialized(id));

  auto reader = f.store->OpenFile(r.model, "model.safetensors");
  CHECK_FALSE(IsRemoteReader(*reader));
  CHECK(ReadAll(*reader) == weights);
  reader.reset();

  FetchStats stats = f.store->FetchedStats();
  CHECK(stats.fetched == weights.size());
  CHECK(stats.evictable == 0);
  CHECK(f.store->Evict(std::nullopt, 0).contents == 0);
  CHECK(f.Materialized(id));
  CHECK(StoreRead(*f.store, r.model, "model.safetensors") == weights);
  CHECK(f.Served("model.safetensors") == 0);

  // Deleting the local model makes the content evictable.
  f.store->Delete(ParseTag("local:v1"));
  CHECK(f.store->FetchedStats().evictable == weights.size());
  CHECK(f.store->Evict(std::nullopt, 0).contents == 1);
  CHECK_FALSE(f.Materialized(id));
  CHECK(StoreRead(*f.store, r.model, "model.safetensors") == weights);
  CHECK(f.Served("model.safetensors") == weights.size());
}

TEST_CASE("Store: the fetch limit", "[store_remote]") {
  RemoteStore f("remote/limit");
  CHECK_FALSE(f.store->FetchLimit());
  f.store->SetFetchLimit(10ull << 30);
  CHECK(f.store->FetchLimit() == std::optional<uint64_t>(10ull << 30));
  f.Reopen();
  CHECK(f.store->FetchLimit() == std::optional<uint64_t>(10ull << 30));
  f.store->SetFetchLimit(std::nullopt);
  CHECK_FALSE(f.store->FetchLimit());

  // A limit below what is fetched evicts at once.
  ModelRecord model = f.Register();
  f.store->Prefetch(model, [](uint64_t, uint64_t) {});
  CHECK(f.store->FetchedStats().fetched == f.TotalSize());
  f.store->SetFetchLimit(kMiB);
  FetchStats stats = f.store->FetchedStats();
  CHECK(stats.limit == std::optional<uint64_t>(kMiB));
  CHECK(stats.fetched <= kMiB);
  CHECK_FALSE(f.Materialized(f.RemoteIdOf(model, "model.safetensors")));

  // A prefetch under a limit ends within it. (Soon after it returns, not at
  // once: the background thread may still hold the last content it stored,
  // and Evict skips open contents; that thread enforces the limit itself
  // when it lets go.)
  f.store->SetFetchLimit(0);
  f.store->Prefetch(model, [](uint64_t, uint64_t) {});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (f.store->FetchedStats().fetched != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(f.store->FetchedStats().fetched == 0);
}

// Random reads of many large files complete none of them; the limit must
// hold for their staged bytes too, not only once a file is stored.
TEST_CASE("Store: the fetch limit holds for partly fetched contents", "[store_remote]") {
  RemoteStore f("remote/limitpartial");
  ModelRecord model = f.Register();
  f.store->SetFetchLimit(3 * kMiB);
  auto read_head = [&](const std::string& path) {
    auto reader = f.store->OpenFile(model, path);
    std::string head(2 * kMiB, '\0');
    for (int s = 1; s >= 0; --s) {  // backwards: random reads start no readahead
      REQUIRE(reader->ReadAt(s * kMiB, kMiB, head.data() + s * kMiB) == kMiB);
    }
    CHECK(head == f.files[path].substr(0, 2 * kMiB));
  };  // the last reader leaves
  read_head("a.safetensors");
  CHECK(f.store->FetchedStats().fetched == 2 * kMiB);  // under the limit: kept
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a's access time is older
  read_head("b.safetensors");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (f.store->FetchedStats().fetched > 3 * kMiB && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(f.store->FetchedStats().fetched == 2 * kMiB);
  CHECK_FALSE(fs::exists(f.StagingPath(f.RemoteIdOf(model, "a.safetensors"))));  // least recently opened
  CHECK(fs::exists(f.StagingPath(f.RemoteIdOf(model, "b.safetensors"))));
}

TEST_CASE("Store: deleting a remote model removes its staged bytes", "[store_remote]") {
  RemoteStore f("remote/delete");
  ModelRecord model = f.Register();
  const std::string id = f.RemoteIdOf(model, "model.safetensors");
  {
    auto reader = f.store->OpenFile(model, "model.safetensors");
    std::string buf(kMiB, '\0');
    REQUIRE(reader->ReadAt(kMiB, kMiB, buf.data()) == kMiB);
  }
  CHECK(fs::exists(f.StagingPath(id)));
  CHECK(f.store->catalog().FindFetchState(id));
  CHECK(f.store->FetchedStats().fetched == kMiB);

  f.store->DeleteAllVersions(model.name);
  CHECK_FALSE(fs::exists(f.StagingPath(id)));
  CHECK_FALSE(f.store->catalog().FindRemote(id));
  CHECK_FALSE(f.store->catalog().FindFetchState(id));
  CHECK(f.store->catalog().ListRemotes().empty());
  CHECK(f.store->List().empty());
}

TEST_CASE("Store: deleting a fetched remote model releases its chunks", "[store_remote]") {
  RemoteStore f("remote/deletefetched");
  ModelRecord model = f.Register();
  f.store->Prefetch(model, [](uint64_t, uint64_t) {});
  CHECK(f.store->Stats().unique_bytes >= f.TotalSize());
  f.store->DeleteAllVersions(model.name);
  CHECK(f.store->catalog().ListRemotes().empty());
  f.store->CollectGarbage();
  CHECK(f.store->Stats().unique_bytes == 0);
}

TEST_CASE("Store: a partial fetch resumes after the store is reopened", "[store_remote]") {
  RemoteStore f("remote/resume");
  const std::string& data = f.files["big.safetensors"];
  ModelRecord model = f.Register();
  const std::string id = f.RemoteIdOf(model, "big.safetensors");
  {
    auto reader = f.store->OpenFile(model, "big.safetensors");
    std::string head(3 * kMiB, '\0');
    // Backwards, one segment at a time: random reads start no readahead.
    for (int s = 2; s >= 0; --s) {
      REQUIRE(reader->ReadAt(s * kMiB, kMiB, head.data() + s * kMiB) == kMiB);
    }
    CHECK(head == data.substr(0, 3 * kMiB));
  }  // the last reader leaves: progress is checkpointed
  CHECK(f.Served("big.safetensors") == 3 * kMiB);
  f.Reopen();
  CHECK(f.store->FetchedStats().fetched == 3 * kMiB);

  auto reader = f.store->OpenFile(model, "big.safetensors");
  CHECK(ReadAll(*reader) == data);
  CHECK(f.Served("big.safetensors") == 8 * kMiB);  // only the 5 MiB missing were fetched
  reader.reset();
  CHECK(f.WaitMaterialized(id));
}

// Sequential reads start readahead. When the last reader of a content leaves,
// RemoteCache waits for that readahead before it checkpoints the segment map,
// so what readahead fetched is recorded and not fetched again after a
// restart. (It used to checkpoint first: up to the readahead window was
// fetched twice.)
TEST_CASE("Store: a sequential partial fetch resumes after the store is reopened", "[store_remote]") {
  RemoteStore f("remote/resumeseq");
  const std::string& data = f.files["big.safetensors"];
  ModelRecord model = f.Register();
  {
    auto reader = f.store->OpenFile(model, "big.safetensors");
    std::string head(3 * kMiB, '\0');
    REQUIRE(reader->ReadAt(0, head.size(), head.data()) == head.size());
    CHECK(head == data.substr(0, 3 * kMiB));
  }
  CHECK(f.Served("big.safetensors") >= 3 * kMiB);  // plus readahead
  f.Reopen();
  auto reader = f.store->OpenFile(model, "big.safetensors");
  CHECK(ReadAll(*reader) == data);
  // Nothing fetched before the store closed (readahead included) is fetched again.
  CHECK(f.Served("big.safetensors") == 8 * kMiB);
}

TEST_CASE("Store: readahead in flight when the last reader leaves is not fetched again",
          "[store_remote]") {
  RemoteStore f("remote/resumeahead");
  const std::string& data = f.files["big.safetensors"];
  ModelRecord model = f.Register();
  {
    auto reader = f.store->OpenFile(model, "big.safetensors");
    // Sequential reads of one segment each: the readahead window grows to
    // 4 segments, which are still being fetched when the reader goes.
    std::string buf(kMiB, '\0');
    for (int s = 0; s < 3; ++s) REQUIRE(reader->ReadAt(s * kMiB, kMiB, buf.data()) == kMiB);
  }
  f.Reopen();
  auto reader = f.store->OpenFile(model, "big.safetensors");
  CHECK(ReadAll(*reader) == data);
  CHECK(f.Served("big.safetensors") == 8 * kMiB);
}

TEST_CASE("Store: an unfetched remote file cannot be read from a read-only store", "[store_remote]") {
  RemoteStore f("remote/readonly");
  ModelRecord model = f.Register();
  f.store->Prefetch(model, [](uint64_t, uint64_t) {});
  f.store->Evict(model, 0);
  StoreRead(*f.store, model, "config.json");  // stored again; the others are not
  REQUIRE(f.WaitMaterialized(f.RemoteIdOf(model, "config.json")));
  f.store.reset();
  auto ro = Store::Open(f.home, Store::Access::kRead);
  CHECK(StoreRead(*ro, model, "config.json") == f.files["config.json"]);
  CHECK(ThrownCode([&] { ro->OpenFile(model, "model.safetensors"); }) == "kIOError");
}

TEST_CASE("Store: a 0-byte remote file", "[store_remote]") {
  RemoteStore f("remote/empty");
  ModelRecord model = f.Register();
  const std::string id = f.RemoteIdOf(model, "empty.txt");
  CHECK(id == remote_id::FromGitSha1(*HexDecode("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")));
  CHECK(StoreRead(*f.store, model, "empty.txt").empty());

  std::vector<std::pair<uint64_t, uint64_t>> calls;
  f.store->Prefetch(model, [&](uint64_t done, uint64_t total) { calls.emplace_back(done, total); });
  REQUIRE_FALSE(calls.empty());
  CHECK(calls.back() == std::make_pair(uint64_t{3}, uint64_t{3}));
  // Stored like any other content once prefetched: nothing left staged.
  CHECK(f.Materialized(id));
  CHECK(f.Materialized(f.RemoteIdOf(model, "config.json")));
  CHECK(fs::is_empty(f.home / "staging"));
  auto reader = f.store->OpenFile(model, "empty.txt");
  CHECK(reader->size() == 0);
  CHECK(reader->verified());
  CHECK_FALSE(IsRemoteReader(*reader));
}

TEST_CASE("Store: verify of a store holding remote models", "[store_remote]") {
  RemoteStore f("remote/verify");
  ModelRecord model = f.Register();
  // Remote files not fetched yet are not damaged: there is nothing to check.
  VerifyReport before = f.store->Verify(std::nullopt);
  for (const auto& d : before.damaged_files) UNSCOPED_INFO(d.path << ": " << d.reason);
  CHECK(before.ok());
  CHECK(f.store->Verify(ParseTag(model.name)).ok());

  f.store->Prefetch(model, [](uint64_t, uint64_t) {});
  VerifyReport after = f.store->Verify(std::nullopt);
  for (const auto& d : after.damaged_files) UNSCOPED_INFO(d.path << ": " << d.reason);
  CHECK(after.ok());
  VerifyReport one = f.store->Verify(ParseTag(model.name));
  CHECK(one.ok());
  CHECK(one.bytes >= f.TotalSize());  // every fetched byte was read back
}

// Armed for one repo of the shared simulator, cleared when the case ends.
struct CdnFault {
  CdnFault(SimHub& sim, const std::string& kind, const std::string& repo) : sim(sim) {
    sim.Control("/_sim/faults", R"({"kind": ")" + kind + R"(", "repo": ")" + repo +
                                    R"(", "server": "cdn", "method": "GET", "count": -1})");
  }
  ~CdnFault() { sim.ClearFaults(); }
  SimHub& sim;
};

TEST_CASE("Store: a digest mismatch drops the staged bytes at once, and is counted", "[store_remote]") {
  RemoteStore f("remote/mismatch");
  const std::string& data = f.files["big.safetensors"];
  ModelRecord model = f.Register();
  const std::string id = f.RemoteIdOf(model, "big.safetensors");
  const uint64_t before = f.store->FetchedStats().digest_mismatches;
  std::unique_ptr<FileReader> held;
  {
    CdnFault fault(f.sim, "corrupt", "remote/mismatch");
    {
      // Served as fetched (the default mode cannot know yet), and staged.
      auto reader = f.store->OpenFile(model, "big.safetensors");
      std::string buf(4096, '\0');
      REQUIRE(reader->ReadAt(5 * kMiB, buf.size(), buf.data()) == buf.size());
    }
    CHECK(f.store->FetchedStats().fetched > 0);
    held = f.store->OpenFile(model, "big.safetensors");
    auto reader = f.store->OpenFile(model, "big.safetensors");
    CHECK(ThrownCode([&] { ReadAll(*reader); }) == "kCorruption");
  }
  // With both readers still open: the index says nothing is staged, and the
  // mismatch is counted.
  auto state = f.store->catalog().FindFetchState(id);
  REQUIRE(state);
  auto map = SegmentMap::Decode(state->segments);
  REQUIRE(map);
  CHECK(map->count() == 0);
  FetchStats stats = f.store->FetchedStats();
  CHECK(stats.fetched == 0);
  CHECK(stats.digest_mismatches == before + 1);
  // A reader opened before the mismatch fails from now on; a new one is right.
  std::string buf(4096, '\0');
  CHECK(ThrownCode([&] { held->ReadAt(0, buf.size(), buf.data()); }) == "kCorruption");
  auto fresh = f.store->OpenFile(model, "big.safetensors");
  CHECK(ReadAll(*fresh) == data);
  held.reset();
  fresh.reset();
  CHECK(f.WaitMaterialized(id));
  f.Reopen();
  CHECK(f.store->FetchedStats().digest_mismatches == before + 1);
}

TEST_CASE("Store: strict reads serve nothing before the whole file matched", "[store_remote]") {
  const bool by_model = GENERATE(true, false);
  RemoteStore f(by_model ? "remote/strictmodel" : "remote/strictstore");
  const std::string& data = f.files["big.safetensors"];
  RegisterRequest request = f.Plan();
  request.strict = by_model;
  ModelRecord model = f.store->RegisterRemote(request).model;
  CHECK(model.strict == by_model);
  CHECK(f.store->Get(ParseTag(model.name)).strict == by_model);
  f.store->SetStrictReads(!by_model);
  std::string buf(4096, '\0');
  {
    CdnFault fault(f.sim, "shift", f.repo);
    auto reader = f.store->OpenFile(model, "big.safetensors");
    CHECK(ThrownCode([&] { reader->ReadAt(7 * kMiB, buf.size(), buf.data()); }) == "kCorruption");
    CHECK(f.Served("big.safetensors") == data.size());
  }
  auto reader = f.store->OpenFile(model, "big.safetensors");
  REQUIRE(reader->ReadAt(7 * kMiB, buf.size(), buf.data()) == buf.size());
  CHECK(buf == data.substr(7 * kMiB, buf.size()));
  CHECK(reader->verified());
  CHECK(f.Served("big.safetensors") == 2 * data.size());
  // Pulling the same commit again with strict makes a lax model strict.
  if (!by_model) {
    request.strict = true;
    RegisterResult again = f.store->RegisterRemote(request);
    CHECK(again.already_registered);
    CHECK(again.made_strict);
    CHECK(f.store->Get(ParseTag(model.name)).strict);
    CHECK_FALSE(f.store->RegisterRemote(request).made_strict);
  }
}

}  // namespace
}  // namespace modelfs
