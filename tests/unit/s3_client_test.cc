// Tests of remote/s3_location.h (pure) and remote/s3_client.h against a real
// s3rver behind a proxy that checks SigV4 signatures (tests/sims/s3rver.py).
#include <catch2/catch.hpp>

#include <map>
#include <thread>

#include "remote/http_client.h"
#include "remote/retry_policy.h"
#include "remote/s3_client.h"
#include "remote/s3_location.h"
#include "tests/unit/s3rver_fixture.h"
#include "tests/unit/test_util.h"
#include "util/digest.h"
#include "util/error.h"

using modelfs::ByteSink;
using modelfs::ByteSource;
using modelfs::Error;
using modelfs::Sha256;
using modelfs::remote::EnvironmentLookup;
using modelfs::remote::HttpClient;
using modelfs::remote::ParseS3Url;
using modelfs::remote::RetryOptions;
using modelfs::remote::RetryPolicy;
using modelfs::remote::S3Client;
using modelfs::remote::S3Config;
using modelfs::remote::S3ConfigFromEnvironment;
using modelfs::remote::S3Location;
using modelfs::remote::S3ObjectUrl;
using modelfs::remote::S3TransferOptions;
using modelfs::testing::kS3Bucket;
using modelfs::testing::RandomBytes;
using modelfs::testing::S3rver;

namespace {

constexpr uint64_t kMiB = 1 << 20;

// What `fn` threw: "<ErrorCode name>: <message>", or "no error".
template <typename Fn>
std::string Thrown(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return std::string(modelfs::testing::ErrorCodeName(e.code())) + ": " + e.what();
  } catch (const std::exception& e) {
    return std::string("other: ") + e.what();
  }
  return "no error";
}

EnvironmentLookup Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

const std::map<std::string, std::string> kCredentials = {{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"},
                                                         {"AWS_SECRET_ACCESS_KEY", "s3cr3t/KEY"}};

std::map<std::string, std::string> WithCredentials(std::map<std::string, std::string> more) {
  more.insert(kCredentials.begin(), kCredentials.end());
  return more;
}

// Retries without sleeping.
const RetryPolicy& NoSleepRetry() {
  static RetryPolicy policy(RetryOptions{}, [](std::chrono::milliseconds) {});
  return policy;
}

HttpClient& Http() {
  static HttpClient client;
  return client;
}

S3Client Client(S3TransferOptions options = {}, S3Config config = S3rver().Config()) {
  return S3Client(std::move(config), &Http(), &NoSleepRetry(), options);
}

S3Location Object(const std::string& key) { return S3Location{kS3Bucket, key}; }

// Writes `data` in pieces of `piece` bytes and commits.
void Upload(const S3Client& client, const S3Location& where, const std::string& data,
            size_t piece = 1 << 20) {
  std::unique_ptr<ByteSink> sink = client.OpenWrite(where);
  for (size_t at = 0; at < data.size(); at += piece) {
    sink->Write(data.data() + at, std::min(piece, data.size() - at));
  }
  sink->Commit();
}

// Reads the whole object with reads of `piece` bytes.
std::string Download(const S3Client& client, const S3Location& where, size_t piece = 100000) {
  std::unique_ptr<ByteSource> source = client.OpenRead(where);
  std::string out, buffer(piece, '\0');
  for (size_t n; (n = source->Read(buffer.data(), buffer.size())) > 0;) out.append(buffer, 0, n);
  REQUIRE(source->size() == out.size());
  return out;
}

size_t CountRequests(const std::string& prefix) {
  size_t n = 0;
  for (const auto& r : S3rver().Requests()) n += r.starts_with(prefix);
  return n;
}

}  // namespace

TEST_CASE("s3:// URLs are parsed into bucket and key, prefixes recognized", "[s3]") {
  S3Location a = ParseS3Url("s3://my-bucket/models/llama.bentomodel");
  CHECK(a.bucket == "my-bucket");
  CHECK(a.key == "models/llama.bentomodel");
  CHECK_FALSE(a.is_prefix());
  CHECK(a.ToString() == "s3://my-bucket/models/llama.bentomodel");
  CHECK(ParseS3Url("s3://my-bucket/exports/").is_prefix());
  CHECK(ParseS3Url("s3://my-bucket/").is_prefix());
  S3Location bare = ParseS3Url("s3://my.bucket.example");
  CHECK(bare.key.empty());
  CHECK(bare.is_prefix());
  CHECK(ParseS3Url("s3://b12/a b+c=d/é").key == "a b+c=d/é");  // literal, not decoded

  for (const char* bad : {"s3:/bucket/k", "http://bucket/k", "s3://", "s3:///key", "S3://bucket/k",
                          "s3://ab/k", "s3://Bucket/k", "s3://bu_cket/k", "s3://-bucket/k",
                          "s3://bucket-/k", "s3://bu..cket/k", "s3://192.168.1.10/k",
                          "s3://bucket/a/../b", "s3://bucket/./b", "s3://bucket/a\nb"}) {
    INFO(bad);
    CHECK(Thrown([&] { ParseS3Url(bad); }).starts_with("kInvalidArgument: "));
  }
  CHECK(Thrown([] { ParseS3Url("s3://bu_cket/k"); }).find("bucket names have 3 to 63") !=
        std::string::npos);
  CHECK(Thrown([] { ParseS3Url("s3://bucket/" + std::string(1025, 'k')); })
            .find("at most 1024") != std::string::npos);
  CHECK(ParseS3Url("s3://bucket/" + std::string(1024, 'k')).key.size() == 1024);
}

TEST_CASE("S3 configuration comes from the AWS environment variables", "[s3]") {
  SECTION("defaults: AWS's regional endpoint, virtual-hosted") {
    S3Config c = S3ConfigFromEnvironment(std::nullopt, Env(kCredentials));
    CHECK(c.region == "us-east-1");
    CHECK(c.endpoint == "https://s3.us-east-1.amazonaws.com");
    CHECK_FALSE(c.path_style);
    CHECK(c.access_key_id == "AKIDEXAMPLE");
    CHECK(c.secret_access_key == "s3cr3t/KEY");
    CHECK(c.session_token.empty());
    CHECK(S3ObjectUrl(c, {"bucket", "dir/a b+c.bin"}) ==
          "https://bucket.s3.us-east-1.amazonaws.com/dir/a%20b%2Bc.bin");
    // Virtual-hosted TLS certificates do not cover dotted bucket names.
    CHECK(S3ObjectUrl(c, {"my.bucket", "k"}) == "https://s3.us-east-1.amazonaws.com/my.bucket/k");
    CHECK(modelfs::remote::S3SigV4Provider(c) == "aws:amz:us-east-1:s3");
  }
  SECTION("AWS_REGION wins over AWS_DEFAULT_REGION") {
    S3Config c = S3ConfigFromEnvironment(
        std::nullopt, Env(WithCredentials({{"AWS_REGION", "eu-west-3"},
                                           {"AWS_DEFAULT_REGION", "ap-south-1"},
                                           {"AWS_SESSION_TOKEN", "tok"}})));
    CHECK(c.region == "eu-west-3");
    CHECK(c.endpoint == "https://s3.eu-west-3.amazonaws.com");
    CHECK(c.session_token == "tok");
    c = S3ConfigFromEnvironment(std::nullopt,
                                Env(WithCredentials({{"AWS_DEFAULT_REGION", "ap-south-1"}})));
    CHECK(c.region == "ap-south-1");
  }
  SECTION("endpoint: flag, then AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL; custom is path-style") {
    auto env = Env(WithCredentials({{"AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000/"},
                                    {"AWS_ENDPOINT_URL", "http://10.0.0.1:9000"}}));
    S3Config flag = S3ConfigFromEnvironment("http://localhost:4568", env);
    CHECK(flag.endpoint == "http://localhost:4568");
    CHECK(flag.path_style);
    CHECK(S3ObjectUrl(flag, {"bucket", "a/b"}) == "http://localhost:4568/bucket/a/b");
    CHECK(S3ConfigFromEnvironment(std::nullopt, env).endpoint == "http://127.0.0.1:9000");
    auto generic = Env(WithCredentials({{"AWS_ENDPOINT_URL", "http://10.0.0.1:9000"}}));
    CHECK(S3ConfigFromEnvironment(std::nullopt, generic).endpoint == "http://10.0.0.1:9000");
    S3Config aws = S3ConfigFromEnvironment("https://s3.eu-central-1.amazonaws.com", env);
    CHECK_FALSE(aws.path_style);
  }
  SECTION("missing credentials name the variables") {
    std::string neither = Thrown([] { S3ConfigFromEnvironment(std::nullopt, Env({})); });
    CHECK(neither.starts_with("kInvalidArgument: no S3 credentials"));
    CHECK(neither.find("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set") !=
          std::string::npos);
    std::string no_secret = Thrown([] {
      S3ConfigFromEnvironment(std::nullopt, Env({{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"}}));
    });
    CHECK(no_secret.find("AWS_SECRET_ACCESS_KEY is not set") != std::string::npos);
    std::string empty_id = Thrown([] {
      S3ConfigFromEnvironment(std::nullopt,
                              Env({{"AWS_ACCESS_KEY_ID", ""}, {"AWS_SECRET_ACCESS_KEY", "x"}}));
    });
    CHECK(empty_id.find("AWS_ACCESS_KEY_ID is not set") != std::string::npos);
  }
  SECTION("malformed endpoints and regions are refused without echoing secrets") {
    auto env = Env(kCredentials);
    for (const char* bad : {"ftp://host", "not a url", "http://user:hunter2@host:9000",
                            "http://host:9000/?x=1", "http://host#frag"}) {
      INFO(bad);
      std::string message = Thrown([&] { S3ConfigFromEnvironment(std::string(bad), env); });
      CHECK(message.starts_with("kInvalidArgument: the S3 endpoint"));
      CHECK(message.find("hunter2") == std::string::npos);
    }
    auto bad_region = Env(WithCredentials({{"AWS_REGION", "us:east"}}));
    CHECK(Thrown([&] { S3ConfigFromEnvironment(std::nullopt, bad_region); }).find("AWS_REGION") !=
          std::string::npos);
  }
}

TEST_CASE("S3 objects of 0 B, 1 B and 40 MiB round-trip through s3rver", "[s3]") {
  S3Client client = Client();
  for (size_t size : {size_t{0}, size_t{1}, size_t{40 * kMiB}}) {
    INFO("size " << size);
    const std::string data = RandomBytes(size, size + 1);
    const S3Location where = Object("roundtrip/" + std::to_string(size) + ".bin");
    const std::string part_puts = "PUT /modelfs-test/" + where.key + "?partNumber=";
    Upload(client, where, data, 3 * kMiB + 7);
    // Parts of 16 + 16 + 8 MiB; the small ones go up with one PutObject.
    CHECK(CountRequests(part_puts) == (size == 40 * kMiB ? 3 : 0));
    auto info = client.Head(where);
    REQUIRE(info);
    CHECK(info->size == size);
    std::string back = Download(client, where);
    CHECK(back.size() == size);
    CHECK(Sha256::Digest(back.data(), back.size()) == Sha256::Digest(data.data(), data.size()));
  }
  CHECK(client.ListMultipartUploads(Object("roundtrip/")).empty());
}

TEST_CASE("S3 writes of exactly one part use a single PutObject", "[s3]") {
  S3Client client = Client({.part_size = 5 * kMiB});
  const std::string data = RandomBytes(5 * kMiB, 3);
  Upload(client, Object("one-part.bin"), data);
  CHECK(CountRequests("POST /modelfs-test/one-part.bin?uploads") == 0);
  CHECK(CountRequests("PUT /modelfs-test/one-part.bin") == 1);
  CHECK(Download(client, Object("one-part.bin")) == data);
}

TEST_CASE("S3 reads stream the object in ranges and survive failed requests", "[s3]") {
  S3Client writer = Client({.part_size = 5 * kMiB});
  const std::string data = RandomBytes(11 * kMiB + 5, 9);
  const S3Location where = Object("ranged/data.bin");
  // A failing part is retried: the upload still completes.
  S3rver().InjectFaults(R"([{"method": "PUT", "query_contains": "partNumber=2", "status": 500}])");
  Upload(writer, where, data);
  CHECK(CountRequests("PUT /modelfs-test/ranged/data.bin?partNumber=2&") == 2);

  S3Client reader = Client({.read_range_size = 1 * kMiB + 3});
  const size_t gets_before = CountRequests("GET /modelfs-test/ranged/data.bin");
  S3rver().InjectFaults(
      R"([{"method": "GET", "path_contains": "ranged/data.bin", "status": 503}])");
  CHECK(Download(reader, where, 4096 + 1) == data);
  const size_t ranges = (data.size() + kMiB + 2) / (kMiB + 3);
  CHECK(CountRequests("GET /modelfs-test/ranged/data.bin") - gets_before == ranges + 1);
  S3rver().InjectFaults("[]");
}

TEST_CASE("S3's 200 answer with an <Error> to CompleteMultipartUpload is retried", "[s3]") {
  S3Client client = Client({.part_size = 5 * kMiB});
  const S3Location where = Object("complete-retry.bin");
  const std::string data = RandomBytes(6 * kMiB, 5);
  S3rver().InjectFaults(R"([{"method": "POST", "query_contains": "uploadId=", "status": 200}])");
  Upload(client, where, data);
  CHECK(CountRequests("POST /modelfs-test/complete-retry.bin?uploadId=") == 2);
  CHECK(Download(client, where) == data);
}

TEST_CASE("S3 keys with spaces, '+', '=' and UTF-8 are encoded and signed right", "[s3]") {
  S3Client client = Client();
  const S3Location where = Object("odd keys/a+b=c, d (1)~/é✓.bin");
  Upload(client, where, "payload");
  CHECK(Download(client, where) == "payload");
}

TEST_CASE("S3 reads notice an object replaced while it is read", "[s3]") {
  S3Client client = Client({.read_range_size = 1 * kMiB, .part_size = 5 * kMiB});
  const S3Location where = Object("changing.bin");
  Upload(client, where, RandomBytes(4 * kMiB, 1));
  std::unique_ptr<ByteSource> source = client.OpenRead(where);
  char c;
  REQUIRE(source->Read(&c, 1) == 1);
  // The read-ahead of the second range is under way: s3rver rewrites files
  // in place, so a GET in flight during the overwrite would be torn (S3
  // itself serves the old version to the end).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Upload(client, where, RandomBytes(4 * kMiB, 2));
  std::string message = Thrown([&] {
    std::string buffer(1 << 16, '\0');
    while (source->Read(buffer.data(), buffer.size()) > 0) {
    }
  });
  CHECK(message == "kIOError: s3://modelfs-test/changing.bin changed while it was being read (its "
                   "ETag or size differs from when it was opened); read it again.");
}

TEST_CASE("an S3 sink destroyed without Commit leaves no object and no upload", "[s3]") {
  S3Client client = Client({.part_size = 5 * kMiB});
  const S3Location where = Object("abandoned/big.bin");
  const std::string data = RandomBytes(12 * kMiB, 4);
  {
    std::unique_ptr<ByteSink> sink = client.OpenWrite(where);
    sink->Write(data.data(), data.size());  // two parts started, the third buffered
    auto pending = client.ListMultipartUploads(Object("abandoned/"));
    REQUIRE(pending.size() == 1);
    CHECK(pending[0].key == "abandoned/big.bin");
  }
  CHECK_FALSE(client.Head(where));
  CHECK(client.ListMultipartUploads(Object("abandoned/")).empty());
  {
    std::unique_ptr<ByteSink> sink = client.OpenWrite(Object("abandoned/small.bin"));
    sink->Write("x", 1);  // nothing sent yet
  }
  CHECK_FALSE(client.Head(Object("abandoned/small.bin")));
  CHECK(Thrown([&] { client.OpenRead(Object("abandoned/small.bin")); }).starts_with("kNotFound"));
}

TEST_CASE("S3 sinks refuse use after Commit, and prefixes as objects", "[s3]") {
  S3Client client = Client();
  std::unique_ptr<ByteSink> sink = client.OpenWrite(Object("committed.bin"));
  sink->Write("abc", 3);
  sink->Commit();
  CHECK(sink->Describe() == "s3://modelfs-test/committed.bin");
  CHECK(Thrown([&] { sink->Write("d", 1); }) ==
        "kInvalidArgument: s3://modelfs-test/committed.bin was already committed.");
  CHECK(Thrown([&] { client.OpenWrite(Object("dir/")); })
            .starts_with("kInvalidArgument: s3://modelfs-test/dir/ names a prefix"));
  CHECK(Thrown([&] { client.OpenRead(Object("")); }).starts_with("kInvalidArgument"));
}

TEST_CASE("S3 failures are reported as clear sentences", "[s3]") {
  S3Client client = Client();
  const std::string endpoint = S3rver().endpoint();
  SECTION("a missing bucket") {
    const S3Location where{"no-such-bucket", "k.bin"};
    CHECK(Thrown([&] { client.OpenRead(where); }) ==
          "kNotFound: bucket no-such-bucket does not exist (endpoint " + endpoint + ").");
    CHECK(Thrown([&] { Upload(client, where, "x"); }) ==
          "kNotFound: bucket no-such-bucket does not exist (endpoint " + endpoint + ").");
    CHECK_FALSE(client.Head(where));
  }
  SECTION("a missing key") {
    CHECK(Thrown([&] { client.OpenRead(Object("no/such/key.bin")); }) ==
          "kNotFound: s3://modelfs-test/no/such/key.bin does not exist (endpoint " + endpoint +
              ").");
  }
  SECTION("a wrong secret or access key") {
    Upload(client, Object("secret.bin"), "x");
    S3Config wrong_secret = S3rver().Config();
    wrong_secret.secret_access_key = "not-the-secret";
    S3Config wrong_id = S3rver().Config();
    wrong_id.access_key_id = "AKIDUNKNOWN";
    for (const auto& [config, code] : {std::pair{wrong_secret, "SignatureDoesNotMatch"},
                                       std::pair{wrong_id, "InvalidAccessKeyId"}}) {
      S3Client bad = Client({}, config);
      std::string get = Thrown([&] { Download(bad, Object("secret.bin")); });
      std::string put = Thrown([&] { Upload(bad, Object("secret2.bin"), "x"); });
      INFO(get << "\n" << put);
      for (const std::string& message : {get, put}) {
        CHECK(message.starts_with("kIOError: the S3 credentials were refused by " + endpoint +
                                  " ("));
        CHECK(message.ends_with("): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY."));
      }
      CHECK(get.find(code) != std::string::npos);
      CHECK(get.find("not-the-secret") == std::string::npos);
      CHECK(put.find("not-the-secret") == std::string::npos);
    }
  }
  SECTION("an endpoint nobody listens on") {
    S3Config config = S3rver().Config();
    config.endpoint = "http://127.0.0.1:1";
    S3Client unreachable = Client({}, config);
    std::string message = Thrown([&] { unreachable.Head(Object("k")); });
    INFO(message);
    CHECK(message.starts_with(
        "kIOError: the S3 endpoint http://127.0.0.1:1 could not be reached or stopped answering"));
    CHECK(message.find("--s3-endpoint") != std::string::npos);
  }
}
