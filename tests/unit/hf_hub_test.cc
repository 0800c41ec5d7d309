// tests/unit/hf_hub_test.cc — HfHub against the Hub simulator
// (tests/sims/hf_hub_sim.py, run as a child process), plus the pure parts:
// hf:// URLs and the configuration from the environment.
#include "remote/hf_hub.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "remote/http_client.h"
#include "remote/retry_policy.h"
#include "tests/unit/sim_fixture.h"
#include "tests/unit/test_util.h"

namespace modelfs::remote {
namespace {

namespace fs = std::filesystem;
using modelfs::testing::ScopedEnv;
using modelfs::testing::TempDir;
using modelfs::testing::ThrownCode;
using modelfs::testing::WriteFile;

using modelfs::testing::FastRetry;
using modelfs::testing::kLimitedToken;
using modelfs::testing::kToken;
using modelfs::testing::Python;
using modelfs::testing::Sim;
using modelfs::testing::SimHub;

std::string PySha256(const fs::path& file) {
  return Python("import hashlib,sys; print(hashlib.sha256(open(\"" + file.string() +
                "\",\"rb\").read()).hexdigest())");
}
std::string PyGitSha1(const fs::path& file) {
  return Python("import hashlib; d=open(\"" + file.string() +
                "\",\"rb\").read(); print(hashlib.sha1(b\"blob %d\\0\" % len(d) + d).hexdigest())");
}
std::string PyLfsPointerSha1(const fs::path& file) {
  return Python("import hashlib; d=open(\"" + file.string() +
                "\",\"rb\").read(); p=(\"version https://git-lfs.github.com/spec/v1\\noid sha256:%s\\nsize %d\\n\" "
                "% (hashlib.sha256(d).hexdigest(), len(d))).encode(); "
                "print(hashlib.sha1(b\"blob %d\\0\" % len(p) + p).hexdigest())");
}

std::string ErrorMessage(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

const HfFile* FindFile(const HfListing& l, const std::string& path) {
  for (const auto& f : l.files) {
    if (f.path == path) return &f;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("ParseHfUrl accepts repo ids with and without org and revisions", "[hf_hub]") {
  HfRepoRef a = ParseHfUrl("hf://org/name");
  CHECK(a.repo_id == "org/name");
  CHECK(a.revision == "main");
  HfRepoRef b = ParseHfUrl("hf://gpt2");
  CHECK(b.repo_id == "gpt2");
  CHECK(b.revision == "main");
  HfRepoRef c = ParseHfUrl("hf://Org-1/my_model.v2@refs/pr/1");
  CHECK(c.repo_id == "Org-1/my_model.v2");
  CHECK(c.revision == "refs/pr/1");
  HfRepoRef d = ParseHfUrl("hf://org/name@0123456789abcdef0123456789abcdef01234567");
  CHECK(d.revision == "0123456789abcdef0123456789abcdef01234567");
}

TEST_CASE("ParseHfUrl rejects malformed URLs", "[hf_hub]") {
  for (const char* bad :
       {"org/name", "https://huggingface.co/org/name", "hf://", "hf://org/name@", "hf://a/b/c",
        "hf://org/", "hf:///name", "hf://org/na me", "hf://org/../x", "hf://org/a..b",
        "hf://@main", "hf://org/name@a b", "hf://org/na%2Fme"}) {
    INFO(bad);
    CHECK(ThrownCode([&] { ParseHfUrl(bad); }) == "kInvalidArgument");
  }
  CHECK_THAT(ErrorMessage([] { ParseHfUrl("hf://org/../x"); }),
             Catch::Contains("invalid repository id"));
  CHECK_THAT(ErrorMessage([] { ParseHfUrl("s3://x"); }), Catch::Contains("hf://org/name"));
}

TEST_CASE("HfConfigFromEnvironment honours the Hugging Face variables", "[hf_hub]") {
  TempDir dir("hfenv");
  ScopedEnv e1("HF_ENDPOINT", "http://hub.example:8080//");
  ScopedEnv e2("HF_TOKEN", "");
  ScopedEnv e3("HUGGING_FACE_HUB_TOKEN", "");
  ScopedEnv e4("HF_TOKEN_PATH", "");
  ScopedEnv e5("HF_HOME", "");
  ScopedEnv e6("XDG_CACHE_HOME", "");
  ScopedEnv e7("HOME", (dir.path() / "home").c_str());
  ScopedEnv e8("HF_HUB_OFFLINE", "");
  ScopedEnv e9("TRANSFORMERS_OFFLINE", "");

  HfConfig c = HfConfigFromEnvironment(std::nullopt);
  CHECK(c.endpoint == "http://hub.example:8080");
  CHECK_FALSE(c.token.has_value());
  CHECK_FALSE(c.offline);

  WriteFile(dir.path() / "home/.cache/huggingface/token", "  from_home\n");
  CHECK(HfConfigFromEnvironment(std::nullopt).token == std::optional<std::string>("from_home"));
  {
    ScopedEnv x("XDG_CACHE_HOME", (dir.path() / "xdg").c_str());
    WriteFile(dir.path() / "xdg/huggingface/token", "from_xdg\n");
    CHECK(HfConfigFromEnvironment(std::nullopt).token == std::optional<std::string>("from_xdg"));
    ScopedEnv h("HF_HOME", (dir.path() / "hfhome").c_str());
    CHECK_FALSE(HfConfigFromEnvironment(std::nullopt).token.has_value());  // missing file
    WriteFile(dir.path() / "hfhome/token", "from_hf_home");
    CHECK(HfConfigFromEnvironment(std::nullopt).token == std::optional<std::string>("from_hf_home"));
    ScopedEnv p("HF_TOKEN_PATH", (dir.path() / "tokfile").c_str());
    WriteFile(dir.path() / "tokfile", "\tfrom_path \n");
    CHECK(HfConfigFromEnvironment(std::nullopt).token == std::optional<std::string>("from_path"));
    ScopedEnv t2("HUGGING_FACE_HUB_TOKEN", "from_legacy");
    CHECK(HfConfigFromEnvironment(std::nullopt).token == std::optional<std::string>("from_legacy"));
    ScopedEnv t1("HF_TOKEN", "from_env");
    CHECK(HfConfigFromEnvironment(std::nullopt).token == std::optional<std::string>("from_env"));
    CHECK(HfConfigFromEnvironment("from_flag").token == std::optional<std::string>("from_flag"));
  }
  {
    ScopedEnv d("HF_ENDPOINT", "");
    CHECK(HfConfigFromEnvironment(std::nullopt).endpoint == "https://huggingface.co");
  }
  for (const char* yes : {"1", "on", "Yes", "TRUE", "true"}) {
    ScopedEnv o("HF_HUB_OFFLINE", yes);
    CHECK(HfConfigFromEnvironment(std::nullopt).offline);
  }
  for (const char* no : {"0", "off", "no", "false", "2"}) {
    ScopedEnv o("HF_HUB_OFFLINE", no);
    CHECK_FALSE(HfConfigFromEnvironment(std::nullopt).offline);
  }
  ScopedEnv t("TRANSFORMERS_OFFLINE", "1");
  CHECK(HfConfigFromEnvironment(std::nullopt).offline);
}

TEST_CASE("HfHub lists every file of a revision across pages", "[hf_hub]") {
  SimHub& sim = Sim();
  HttpClient client;
  HfHub hub(sim.Config(), &client, &FastRetry());
  HfListing l = hub.List(ParseHfUrl("hf://org/model"));
  CHECK(l.repo_id == "org/model");
  CHECK(l.revision == "main");
  CHECK(l.commit.size() == 40);
  CHECK_FALSE(l.gated);
  REQUIRE(l.files.size() == 3);  // page size 2: two pages at least

  fs::path main = sim.repos() / "org/model/main";
  const HfFile* config = FindFile(l, "config.json");
  REQUIRE(config != nullptr);
  CHECK(config->size == fs::file_size(main / "config.json"));
  CHECK(config->git_oid == PyGitSha1(main / "config.json"));
  CHECK_FALSE(config->sha256.has_value());

  const HfFile* tok = FindFile(l, "sub/tok.json");
  REQUIRE(tok != nullptr);
  CHECK(tok->size == fs::file_size(main / "sub/tok.json"));
  CHECK(tok->git_oid == PyGitSha1(main / "sub/tok.json"));

  const HfFile* weights = FindFile(l, "model.safetensors");
  REQUIRE(weights != nullptr);
  CHECK(weights->size == 2u << 20);
  REQUIRE(weights->sha256.has_value());
  CHECK(*weights->sha256 == PySha256(main / "model.safetensors"));
  CHECK(weights->git_oid == PyLfsPointerSha1(main / "model.safetensors"));

  CHECK(hub.ResolveUrl(l, "sub/tok.json") ==
        sim.endpoint() + "/org/model/resolve/" + l.commit + "/sub/tok.json");
  HttpRequest get = hub.DownloadRequest(l, "sub/tok.json");
  CHECK(get.redirects == RedirectMode::kFollow);
  CHECK(get.credentials.empty());
  HttpResponse r = client.Perform(get);
  CHECK(r.status == 200);
  CHECK(r.body == modelfs::testing::ReadFile(main / "sub/tok.json"));

  HfHub authed(sim.Config(kToken), &client, &FastRetry());
  HttpRequest with_token = authed.DownloadRequest(l, "model.safetensors");
  REQUIRE(with_token.credentials.size() == 1);
  CHECK(with_token.credentials[0].first == "Authorization");
  CHECK(with_token.headers.empty());
}

TEST_CASE("HfHub lists a revision containing '/'", "[hf_hub]") {
  SimHub& sim = Sim();
  HttpClient client;
  HfHub hub(sim.Config(), &client, &FastRetry());
  HfListing pr = hub.List(ParseHfUrl("hf://org/model@refs/pr/1"));
  HfListing main = hub.List(ParseHfUrl("hf://org/model"));
  CHECK(pr.revision == "refs/pr/1");
  CHECK(pr.commit != main.commit);
  REQUIRE(pr.files.size() == 1);
  CHECK(pr.files[0].path == "config.json");
}

TEST_CASE("HfHub reports unknown repos and revisions clearly", "[hf_hub]") {
  SimHub& sim = Sim();
  HttpClient client;
  HfHub hub(sim.Config(), &client, &FastRetry());
  auto missing = [&] { hub.List(ParseHfUrl("hf://org/missing")); };
  CHECK(ThrownCode(missing) == "kNotFound");
  CHECK_THAT(ErrorMessage(missing), Catch::Contains("model org/missing was not found") &&
                                        Catch::Contains("authenticate"));
  HfHub authed(sim.Config(kToken), &client, &FastRetry());
  CHECK(ThrownCode([&] { authed.List(ParseHfUrl("hf://org/missing")); }) == "kNotFound");

  auto bad_rev = [&] { hub.List(ParseHfUrl("hf://org/model@v9")); };
  CHECK(ThrownCode(bad_rev) == "kNotFound");
  CHECK_THAT(ErrorMessage(bad_rev), Catch::Contains("model org/model has no revision \"v9\""));
}

TEST_CASE("HfHub checks access to gated repos", "[hf_hub]") {
  SimHub& sim = Sim();
  HttpClient client;
  HfHub anonymous(sim.Config(), &client, &FastRetry());
  HfListing l = anonymous.List(ParseHfUrl("hf://org/gated"));  // listings are public
  CHECK(l.gated);
  CHECK(l.files.size() == 2);
  std::string message = ErrorMessage([&] { anonymous.CheckAccess(l); });
  CHECK(message ==
        "model org/gated is gated: request access on the Hub and authenticate (set HF_TOKEN or log in).");

  HfHub authed(sim.Config(kToken), &client, &FastRetry());
  CHECK(ThrownCode([&] { authed.CheckAccess(authed.List(ParseHfUrl("hf://org/gated"))); }) ==
        "no error");

  HfHub limited(sim.Config(kLimitedToken), &client, &FastRetry());
  std::string denied = ErrorMessage([&] { limited.CheckAccess(l); });
  CHECK_THAT(denied, Catch::Contains("is gated") && Catch::Contains("not been granted access"));
  CHECK_THAT(denied, !Catch::Contains(kLimitedToken));

  // An ungated repo passes.
  CHECK(ThrownCode([&] { anonymous.CheckAccess(anonymous.List(ParseHfUrl("hf://org/model"))); }) ==
        "no error");
}

TEST_CASE("HfHub reports a rejected token", "[hf_hub]") {
  SimHub& sim = Sim();
  HttpClient client;
  HfHub hub(sim.Config("hf_wrong_token"), &client, &FastRetry());
  std::string message = ErrorMessage([&] { hub.List(ParseHfUrl("hf://org/model")); });
  CHECK_THAT(message, Catch::Contains("the Hugging Face token was rejected"));
  CHECK_THAT(message, !Catch::Contains("hf_wrong_token"));
}

TEST_CASE("HfHub in offline mode fails before any network access", "[hf_hub]") {
  HttpClient client;
  HfConfig config;
  config.endpoint = "http://127.0.0.1:1";  // nothing listens there
  config.offline = true;
  HfHub hub(config, &client, &FastRetry());
  auto list = [&] { hub.List(ParseHfUrl("hf://org/model")); };
  CHECK(ThrownCode(list) == "kIOError");
  CHECK_THAT(ErrorMessage(list), Catch::StartsWith("offline (HF_HUB_OFFLINE is set): cannot list"));
}

TEST_CASE("HfHub reports an answer that is not JSON", "[hf_hub]") {
  SimHub& sim = Sim();
  sim.ClearFaults();
  sim.Control("/_sim/faults", R"({"kind": "json_garbage", "path": "/api/*", "count": 1})");
  HttpClient client;
  HfHub hub(sim.Config(), &client, &FastRetry());
  std::string message = ErrorMessage([&] { hub.List(ParseHfUrl("hf://org/model")); });
  CHECK_THAT(message,
             Catch::Contains("the Hub at " + sim.endpoint() + " answered with something that is not JSON"));
  sim.ClearFaults();
  CHECK(hub.List(ParseHfUrl("hf://org/model")).files.size() == 3);
}

TEST_CASE("HfHub retries a 500", "[hf_hub]") {
  SimHub& sim = Sim();
  sim.ClearFaults();
  sim.Control("/_sim/faults", R"({"kind": "status", "status": 500, "path": "*/tree/*", "count": 1})");
  HttpClient client;
  HfHub hub(sim.Config(), &client, &FastRetry());
  CHECK(hub.List(ParseHfUrl("hf://org/model")).files.size() == 3);
  sim.ClearFaults();
}

}  // namespace modelfs::remote
