// tests/unit/bentocloud_client_test.cc — BentoCloudClient against the
// BentoCloud simulator (tests/sims/bentocloud_sim.py, a child process; see
// sim_fixture.h): the configuration, repositories and models, the three
// upload strategies (one presigned URL, multipart, proxy) and their
// downloads, retries of failed PUTs and the error messages. Every flow ends
// by checking that the simulator saw nothing BentoML would not send.
#include "remote/bentocloud_client.h"

#include <catch2/catch.hpp>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "remote/http_client.h"
#include "remote/retrying_fetch.h"
#include "tests/unit/sim_fixture.h"
#include "tests/unit/test_util.h"

namespace modelfs::remote {
namespace {

using modelfs::testing::BentoCloudSim;
using modelfs::testing::BentoCloudSimServer;
using modelfs::testing::FastRetry;
using modelfs::testing::kBentoCloudApiKey;
using modelfs::testing::Python;
using modelfs::testing::RandomBytes;
using modelfs::testing::ReadFile;
using modelfs::testing::TempDir;
using modelfs::testing::ThrownCode;
using modelfs::testing::WriteFile;
using std::chrono::system_clock;

// A payload as BentoML makes it: an uncompressed tar of a model directory
// (model.yaml and weights.bin of `weights` random bytes) added as "./".
std::string ModelTar(size_t weights, uint64_t seed) {
  TempDir dir("bentotar");
  WriteFile(dir / "model/model.yaml", "name: demo\nversion: v1\nmodule: modelfs.test\n");
  WriteFile(dir / "model/weights.bin", RandomBytes(weights, seed));
  const std::string tar = (dir / "model.tar").string();
  Python("import tarfile; t = tarfile.open(\"" + tar + "\", \"w:\"); t.add(\"" +
         (dir / "model").string() + "\", arcname=\"./\"); t.close()");
  return ReadFile(tar);
}

// A body maker streaming `data` through RequestBody::read, each body from
// its first byte; counts how often it was called in *calls.
std::function<RequestBody()> Streamed(const std::string& data, int* calls) {
  return [&data, calls] {
    ++*calls;
    auto offset = std::make_shared<size_t>(0);
    RequestBody body;
    body.size = data.size();
    body.read = [&data, offset](char* buffer, size_t capacity) {
      const size_t n = std::min(capacity, data.size() - *offset);
      std::memcpy(buffer, data.data() + *offset, n);
      *offset += n;
      return n;
    };
    return body;
  };
}

system_clock::time_point Time(int year, unsigned month, unsigned day, int64_t micros = 0) {
  using namespace std::chrono;
  return sys_days{std::chrono::year{year} / month / day} + microseconds{micros};
}

CreateModelRequest NewModel(const std::string& version, system_clock::time_point build_at,
                            uint64_t size = 1234) {
  CreateModelRequest request;
  request.version = version;
  request.module = "modelfs.test";
  request.api_version = "v1";
  request.bentoml_version = kBentoMLVersion;
  request.size_bytes = size;
  request.metadata = {{"source", "modelfs"}};
  request.build_at = build_at;
  request.labels = {{"stage", "test"}};
  return request;
}

std::string Message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

// The simulator (reset), an HTTP client and a BentoCloudClient of it.
struct Fixture {
  Fixture() { sim.Reset(); }

  // That the simulator saw nothing BentoML would not send, and no API
  // header on a presigned URL.
  void CheckConformance() const {
    nlohmann::json stats = sim.Control("/_stats");
    INFO(stats["conformance"].dump(2) + "\n" + stats["errors"].dump(2));
    CHECK(stats["conformance"].empty());
    CHECK(stats["errors"].empty());
    CHECK(stats["auth_seen_on_blob"] == 0);
  }

  // The whole object stored for repo:version, through a presigned GET.
  std::string StoredObject(const std::string& repo, const std::string& version) {
    CloudModel model = client.PresignDownloadUrl(repo, version);
    HttpResponse response =
        http.Perform(client.DownloadRequest(repo, version, model.presigned_download_url));
    REQUIRE(response.status == 200);
    return response.body;
  }

  // A repository holding a pending model repo:version.
  void CreatePending(const std::string& repo, const std::string& version) {
    client.CreateRepository(repo);
    client.CreateModel(repo, NewModel(version, Time(2026, 1, 1)));
  }

  BentoCloudSimServer& sim = BentoCloudSim();
  HttpClient http;
  BentoCloudClient client{sim.Config(), &http, &FastRetry()};
};

}  // namespace

TEST_CASE("BentoCloud configuration comes from the environment", "[bentocloud]") {
  std::map<std::string, std::string> env;
  auto lookup = [&](const char* name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  BentoCloudConfig defaults = BentoCloudConfigFromEnvironment(lookup);
  CHECK(defaults.endpoint == "https://cloud.bentoml.com");
  CHECK(defaults.api_key.empty());

  env["BENTO_CLOUD_API_ENDPOINT"] = "http://127.0.0.1:9/ ";
  env["BENTO_CLOUD_API_KEY"] = " secret-key\n";
  BentoCloudConfig set = BentoCloudConfigFromEnvironment(lookup);
  CHECK(set.endpoint == "http://127.0.0.1:9");
  CHECK(set.api_key == "secret-key");

  HttpClient http;
  BentoCloudClient client(set, &http, &FastRetry());
  CHECK(client.config().endpoint == "http://127.0.0.1:9");

  env.erase("BENTO_CLOUD_API_KEY");
  BentoCloudConfig keyless = BentoCloudConfigFromEnvironment(lookup);
  CHECK(ThrownCode([&] { BentoCloudClient(keyless, &http, &FastRetry()); }) == "kInvalidArgument");
  CHECK_THAT(Message([&] { BentoCloudClient(keyless, &http, &FastRetry()); }),
             Catch::Contains("BENTO_CLOUD_API_KEY"));
  CHECK_THAT(Message([&] { BentoCloudClient({"cloud.bentoml.com", "k"}, &http, &FastRetry()); }),
             Catch::Contains("BENTO_CLOUD_API_ENDPOINT"));
}

TEST_CASE("FormatBuildAt writes the layout the API parses", "[bentocloud]") {
  CHECK(FormatBuildAt(Time(2026, 1, 2, 3723000001)) == "2026-01-02 01:02:03.000001");
  CHECK(FormatBuildAt(Time(1970, 1, 1)) == "1970-01-01 00:00:00.000000");
  CHECK(FormatBuildAt(Time(2024, 2, 29, 86399999999)) == "2024-02-29 23:59:59.999999");
}

TEST_CASE("BentoCloud repositories and models are created and read back", "[bentocloud]") {
  Fixture f;
  CHECK_FALSE(f.client.GetRepository("demo").has_value());
  nlohmann::json created = f.client.CreateRepository("demo");
  CHECK(created["name"] == "demo");
  std::optional<nlohmann::json> repository = f.client.GetRepository("demo");
  REQUIRE(repository.has_value());
  CHECK((*repository)["name"] == "demo");
  CHECK((*repository)["latest_model"].is_null());

  CHECK_FALSE(f.client.GetModel("demo", "v1").has_value());
  CloudModel v2 = f.client.CreateModel("demo", NewModel("v2", Time(2026, 2, 1, 123456), 4321));
  CHECK(v2.repository == "demo");
  CHECK(v2.version == "v2");
  CHECK(v2.upload_status == "pending");
  CHECK(v2.build_at == "2026-02-01T00:00:00.123456Z");
  CHECK(v2.manifest["module"] == "modelfs.test");
  CHECK(v2.manifest["size_bytes"] == 4321);
  CHECK(v2.manifest["metadata"]["source"] == "modelfs");
  REQUIRE(v2.labels.size() == 1);
  CHECK(v2.labels[0].key == "stage");
  CHECK(v2.labels[0].value == "test");
  CHECK_FALSE(v2.transmission_strategy.has_value());

  f.client.CreateModel("demo", NewModel("v1", Time(2026, 1, 1)));
  std::optional<CloudModel> v1 = f.client.GetModel("demo", "v1");
  REQUIRE(v1.has_value());
  CHECK(v1->repository == "demo");
  CHECK(v1->build_at == "2026-01-01T00:00:00Z");
  CHECK(v1->upload_status == "pending");

  // The latest is the one built last, not the one created last.
  CHECK(f.client.LatestModel("demo").version == "v2");

  SECTION("an empty or missing repository has no latest model") {
    f.client.CreateRepository("empty");
    CHECK(ThrownCode([&] { f.client.LatestModel("empty"); }) == "kNotFound");
    CHECK(ThrownCode([&] { f.client.LatestModel("absent"); }) == "kNotFound");
    CHECK_THAT(Message([&] { f.client.LatestModel("absent"); }),
               Catch::Contains("model repository absent does not exist on BentoCloud at " +
                               f.sim.endpoint()));
    CHECK(ThrownCode([&] { f.client.CreateModel("absent", NewModel("v1", Time(2026, 1, 1))); }) ==
          "kNotFound");
  }
  SECTION("other refusals name the call, the status and the server's text") {
    CHECK(ThrownCode([&] { f.client.CreateRepository("demo"); }) == "kAlreadyExists");
    const std::string message = Message([&] { f.client.CreateRepository("Not A Name"); });
    CHECK_THAT(message, Catch::Contains("answered POST /api/v1/model_repositories with HTTP 400: "
                                        "invalid model repository name"));
    CHECK(ThrownCode([&] { f.client.CreateRepository("Not A Name"); }) == "kInvalidArgument");
  }

  nlohmann::json stats = f.sim.Control("/_stats");
  CHECK(stats["x_bentoml_versions"].size() == 1);
  CHECK(stats["x_bentoml_versions"][kBentoMLVersion].get<int>() > 0);
  f.CheckConformance();
}

TEST_CASE("BentoCloud upload to one presigned URL, then a ranged download", "[bentocloud]") {
  Fixture f;
  const std::string tar = ModelTar(5000, 1);
  f.CreatePending("single", "v1");

  CloudModel presigned = f.client.PresignUploadUrl("single", "v1");
  CHECK_FALSE(presigned.transmission_strategy.has_value());
  REQUIRE_FALSE(presigned.presigned_upload_url.empty());
  CHECK(f.client.StartUpload("single", "v1").upload_status == "uploading");
  int calls = 0;
  const std::string etag = f.client.PutPresigned(presigned.presigned_upload_url, Streamed(tar, &calls));
  CHECK(calls == 1);
  CHECK(etag.size() > 2);
  CHECK(etag.front() == '"');
  CHECK(f.client.FinishUpload("single", "v1", true, "").upload_status == "success");
  CHECK(f.client.GetModel("single", "v1")->upload_status == "success");

  CloudModel download = f.client.PresignDownloadUrl("single", "v1");
  REQUIRE_FALSE(download.presigned_download_url.empty());
  HttpRequest request = f.client.DownloadRequest("single", "v1", download.presigned_download_url);
  CHECK(request.url == download.presigned_download_url);
  CHECK(request.credentials.empty());
  CHECK(request.headers.empty());
  std::string got;
  FetchResult result = RetryingFetch(&f.http, &FastRetry())
                           .FetchRange(request, ByteRange{700, 700 + 2047}, [&](const char* d, size_t n) {
                             got.append(d, n);
                             return true;
                           });
  CHECK(result.status == 206);
  CHECK(result.total_size == tar.size());
  CHECK(got == tar.substr(700, 2048));
  f.CheckConformance();
}

TEST_CASE("BentoCloud upload and download through the API (proxy)", "[bentocloud]") {
  Fixture f;
  f.sim.Control("/_config?strategy=proxy");
  const std::string tar = ModelTar(3000, 2);
  f.CreatePending("proxied", "v1");

  CloudModel model = *f.client.GetModel("proxied", "v1");
  CHECK(model.transmission_strategy == std::optional<std::string>("proxy"));
  f.client.StartUpload("proxied", "v1");
  int calls = 0;
  f.client.ProxyUpload("proxied", "v1", Streamed(tar, &calls));
  CHECK(calls == 1);
  CHECK(f.client.GetModel("proxied", "v1")->upload_status == "success");

  HttpRequest request = f.client.DownloadRequest("proxied", "v1", "");
  CHECK(request.url == f.sim.endpoint() + "/api/v1/model_repositories/proxied/models/v1/download");
  CHECK(std::count(request.credentials.begin(), request.credentials.end(),
                   std::pair<std::string, std::string>("X-YATAI-API-TOKEN", kBentoCloudApiKey)) == 1);
  HttpResponse response = f.http.Perform(request);
  CHECK(response.status == 200);
  CHECK(response.body == tar);
  CHECK(f.sim.Control("/_stats")["blobs"]["proxied:v1"]["proxy_puts"] == 1);
  f.CheckConformance();
}

TEST_CASE("BentoCloud multipart upload through presigned part URLs", "[bentocloud]") {
  Fixture f;
  f.sim.Control("/_config?strategy=multipart&min_part=1024");
  const std::string tar = ModelTar(6000, 3);
  REQUIRE(tar.size() > 4096 + 1024);
  f.CreatePending("parts", "v1");

  CHECK(f.client.GetModel("parts", "v1")->transmission_strategy ==
        std::optional<std::string>("presigned_url"));
  f.client.StartUpload("parts", "v1");
  const std::string upload_id = f.client.StartMultipartUpload("parts", "v1").upload_id;
  CHECK_FALSE(upload_id.empty());
  const std::string pieces[] = {tar.substr(0, 4096), tar.substr(4096)};
  std::vector<UploadedPart> parts;
  for (int number = 1; number <= 2; ++number) {
    const std::string url = f.client.PresignMultipartUploadUrl("parts", "v1", upload_id, number);
    int calls = 0;
    parts.push_back({number, f.client.PutPresigned(url, Streamed(pieces[number - 1], &calls))});
    CHECK(parts.back().etag.front() == '"');
  }
  f.client.CompleteMultipartUpload("parts", "v1", upload_id, parts);
  CHECK(f.client.FinishUpload("parts", "v1", true, "").upload_status == "success");

  nlohmann::json object = f.sim.Control("/_state")["repositories"]["parts"]["models"]["v1"]["object"];
  CHECK(object["size"] == tar.size());
  CHECK_THAT(object["etag"].get<std::string>(), Catch::EndsWith("-2\""));
  CHECK(f.StoredObject("parts", "v1") == tar);
  f.CheckConformance();
}

TEST_CASE("BentoCloud FinishUpload records a failed upload with its reason", "[bentocloud]") {
  Fixture f;
  f.CreatePending("broken", "v1");
  f.client.StartUpload("broken", "v1");
  CloudModel failed = f.client.FinishUpload("broken", "v1", false, "the disk filled up");
  CHECK(failed.upload_status == "failed");
  CHECK(f.client.GetModel("broken", "v1")->upload_status == "failed");
  nlohmann::json state = f.sim.Control("/_state")["repositories"]["broken"]["models"]["v1"];
  CHECK(state["upload_finished_reason"] == "the disk filled up");
  f.CheckConformance();
}

TEST_CASE("BentoCloud refusing the API key says to set BENTO_CLOUD_API_KEY", "[bentocloud]") {
  Fixture f;
  const int status = GENERATE(401, 403);
  f.sim.Control("/_config?auth_status=" + std::to_string(status));
  BentoCloudClient wrong(f.sim.Config("not-the-key"), &f.http, &FastRetry());
  const std::string expected = "BentoCloud at " + f.sim.endpoint() +
                               " refused the API key: set BENTO_CLOUD_API_KEY to a valid token.";
  CHECK(Message([&] { wrong.GetRepository("demo"); }) == expected);
  CHECK(ThrownCode([&] { wrong.GetRepository("demo"); }) == "kInvalidArgument");
  CHECK(ThrownCode([&] { wrong.GetModel("demo", "v1"); }) == "kInvalidArgument");
  CHECK(ThrownCode([&] { wrong.CreateRepository("demo"); }) == "kInvalidArgument");
  CHECK(f.sim.Control("/_stats")["auth_failures"] == 4);
  f.CheckConformance();
}

TEST_CASE("BentoCloud calls on a missing model throw kNotFound", "[bentocloud]") {
  Fixture f;
  f.client.CreateRepository("here");
  CHECK_FALSE(f.client.GetModel("here", "absent").has_value());
  CHECK_FALSE(f.client.GetModel("nowhere", "absent").has_value());
  const std::string expected =
      "model here:absent does not exist on BentoCloud at " + f.sim.endpoint() + ".";
  CHECK(Message([&] { f.client.PresignDownloadUrl("here", "absent"); }) == expected);
  CHECK(ThrownCode([&] { f.client.PresignDownloadUrl("here", "absent"); }) == "kNotFound");
  CHECK(ThrownCode([&] { f.client.StartUpload("nowhere", "absent"); }) == "kNotFound");
  int calls = 0;
  std::string tar = "x";
  CHECK(ThrownCode([&] { f.client.ProxyUpload("here", "absent", Streamed(tar, &calls)); }) ==
        "kNotFound");
  f.CheckConformance();
}

TEST_CASE("BentoCloud PutPresigned retries a 500 with a fresh body", "[bentocloud]") {
  Fixture f;
  const std::string tar = ModelTar(4000, 4);
  f.CreatePending("flaky", "v1");
  const std::string url = f.client.PresignUploadUrl("flaky", "v1").presigned_upload_url;
  f.client.StartUpload("flaky", "v1");
  // Every second PUT fails: the first succeeds, the second fails once.
  f.sim.Control("/_config?put_fault=500&fault_every=2");
  int calls = 0;
  const std::string first = f.client.PutPresigned(url, Streamed(tar, &calls));
  CHECK(calls == 1);
  const std::string second = f.client.PutPresigned(url, Streamed(tar, &calls));
  CHECK(calls == 3);
  CHECK(second == first);
  nlohmann::json stats = f.sim.Control("/_stats");
  CHECK(stats["faults"]["put"]["500"] == 1);
  CHECK(stats["blobs"]["flaky:v1"]["puts"] == 2);
  f.sim.Control("/_config?put_fault=none");
  f.client.FinishUpload("flaky", "v1", true, "");
  CHECK(f.StoredObject("flaky", "v1") == tar);

  SECTION("a refusal that is not transient fails at once with the server's text") {
    std::string tampered = url;
    tampered.back() = tampered.back() == '0' ? '1' : '0';
    const std::string message = Message([&] { f.client.PutPresigned(tampered, Streamed(tar, &calls)); });
    CHECK_THAT(message, Catch::Contains("HTTP 403") && Catch::Contains("SignatureDoesNotMatch"));
    CHECK_THAT(message, !Catch::Contains("X-Amz-Signature"));
  }
  f.CheckConformance();
}

TEST_CASE("BentoCloud ProxyUpload retries a 503 with a fresh body", "[bentocloud]") {
  Fixture f;
  f.sim.Control("/_config?strategy=proxy&put_fault=503&fault_every=2");
  const std::string tar = ModelTar(2000, 5);
  f.CreatePending("flaky", "v1");
  f.CreatePending("flaky2", "v1");
  int calls = 0;
  f.client.StartUpload("flaky", "v1");
  f.client.ProxyUpload("flaky", "v1", Streamed(tar, &calls));
  f.client.StartUpload("flaky2", "v1");
  f.client.ProxyUpload("flaky2", "v1", Streamed(tar, &calls));
  CHECK(calls == 3);
  CHECK(f.sim.Control("/_stats")["faults"]["put"]["503"] == 1);
  f.sim.Control("/_config?put_fault=none");
  HttpResponse response = f.http.Perform(f.client.DownloadRequest("flaky2", "v1", ""));
  CHECK(response.body == tar);
  f.CheckConformance();
}

}  // namespace modelfs::remote
