// Tests for remote/: URL helpers, HttpClient, RetryPolicy and RetryingFetch,
// against a small HTTP/1.1 server (Python standard library) started once on
// 127.0.0.1 with an ephemeral port and killed at exit. "localhost" reaches
// the same server under another host name, which stands in for a CDN. Tests
// that count requests use paths of their own (Fresh()).
#include "remote/http_client.h"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "remote/fetch_limits.h"
#include "remote/http_error.h"
#include "remote/progress_budget.h"
#include "remote/retry_policy.h"
#include "remote/retrying_fetch.h"
#include "remote/url.h"
#include "util/digest.h"
#include "util/error.h"
#include "util/hex.h"

namespace modelfs::remote {
namespace {

using std::chrono::milliseconds;

// Paths, each also with a suffix (/data/7): /data (a 2 MiB blob, byte i =
// i % 251, with Range), /reset and /truncate (a body broken after `at`
// bytes), /short (half the promised range), /status/N, /flaky, /ratelimit,
// /redirect?to=, /loop, /echo (request headers as JSON), /stall, /hang,
// /slow?after=SECONDS (answers only then), /link, /gzip, /stats,
// /trickle?n=N (N bytes of the range asked for, then silence: each GET) and
// /drip?rate=BYTES_PER_S (the range asked for, at that steady rate).
constexpr const char* kServerScript = R"PY(
import ctypes, gzip, hashlib, http.server, json, socket, socketserver, struct, threading, time, urllib.parse
ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL: never outlive the tests
BLOB = (bytes(range(251)) * (2 ** 21 // 251 + 1))[: 2 ** 21]
lock, state = threading.Lock(), {"connections": 0, "log": [], "counters": {}}
def bump(key):
    with lock:
        state["counters"][key] = state["counters"].get(key, 0) + 1
        return state["counters"][key]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *args): pass
    def setup(self):
        with lock: state["connections"] += 1
        super().setup()
    def send(self, code, body=b"", headers=(), length=None):
        self.send_response(code)
        for k, v in headers: self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD": self.wfile.write(body)
    def data(self, q, honour_range=True, cut=None, how=None):
        data, rng, shift = BLOB[: int(q.get("size", len(BLOB)))], self.headers.get("Range"), int(q.get("shift", 0))
        code, first, last, hdrs = 200, 0, len(data) - 1, []
        if rng and honour_range:
            a, b = rng[len("bytes="):].split("-")
            first, last = int(a), min(int(b) if b else len(data) - 1, len(data) - 1)
            if first >= len(data): return self.send(416, b"", [("Content-Range", "bytes */%d" % len(data))])
            code, hdrs = 206, [("Content-Range", "bytes %d-%d/%d" % (first + shift, last + shift, len(data)))]
        body = data[first : last + 1]
        if how == "short": return self.send(code, body[: (len(body) + 1) // 2], hdrs)
        if how == "long": return self.send(code, data[first : last + 1 + 4096], hdrs)
        if cut is None or self.command == "HEAD": return self.send(code, body, hdrs)
        self.send(code, body[:cut], hdrs, length=len(body))
        self.wfile.flush()
        time.sleep(0.3)  # let the client read the bytes before the reset
        if how == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        self.close_connection = True
    def do_HEAD(self): self.do_GET()
    def upload(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        with lock: state["log"].append({"path": self.path, "method": self.command, "headers": headers})
        reply = {"method": self.command, "headers": headers, "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
        self.send(201 if self.command == "PUT" else 200, json.dumps(reply).encode())
    do_PUT = do_POST = do_PATCH = do_DELETE = upload
    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q, kind, arg = dict(urllib.parse.parse_qsl(u.query)), *(u.path.strip("/").split("/") + [""])[:2]
        headers = {k.lower(): v for k, v in self.headers.items()}
        with lock: state["log"].append({"path": u.path, "method": self.command, "headers": headers})
        if kind == "stats": return self.send(200, json.dumps(state).encode())
        if kind == "data": return self.data(q, honour_range=not q.get("norange"))
        if kind == "reset": return self.data(q, cut=int(q["at"]) if bump(u.path) <= int(q["times"]) else None, how="reset")
        if kind == "truncate": return self.data(q, cut=int(q["at"]), how="close")
        if kind == "short": return self.data(q, how="short")
        if kind == "long": return self.data(q, how="long")
        if kind == "status": return self.send(int(arg), b"<html>error page</html>", [("X-Error-Code", "Boom"), ("X-Error-Message", "It broke")])
        if kind == "flaky" and bump(u.path) <= int(q["fail"]): return self.send(int(q.get("code", 500)), b"try again")
        if kind == "ratelimit" and bump(u.path) == 1: return self.send(429, b"slow down", [("Retry-After", q["after"])])
        if kind in ("flaky", "ratelimit"): return self.data(q)
        if kind == "redirect": return self.send(int(q.get("code", 302)), b"moved", [("Location", q["to"])])
        if kind == "loop": return self.send(302, b"", [("Location", "/loop")])
        if kind == "echo": return self.send(200, json.dumps(headers).encode())
        if kind == "stall":
            self.send(200, BLOB[:10], length=1000); self.wfile.flush()
        if kind in ("stall", "hang"): return time.sleep(30)
        if kind == "slow":
            time.sleep(float(q["after"])); return self.send(200, b"thought it over")
        if kind in ("trickle", "drip"):
            size, (a, b) = int(q.get("size", len(BLOB))), self.headers["Range"][len("bytes="):].split("-")
            first, last = int(a), min(int(b) if b else size - 1, size - 1)
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (first, last, size))
            self.send_header("Content-Length", str(last - first + 1))
            self.end_headers()
            body = BLOB[first : last + 1]
            if kind == "trickle":
                self.wfile.write(body[: int(q["n"])]); self.wfile.flush()
                return time.sleep(30)
            for i in range(0, len(body), 1024):
                self.wfile.write(body[i : i + 1024]); self.wfile.flush()
                time.sleep(1024 / float(q["rate"]))
            return
        if kind == "link":
            page = int(q.get("page", 1))
            link = '<http://%s/link?page=%d>; rel="next"' % (self.headers["Host"], page + 1)
            return self.send(200, b"page %d" % page, [("Link", link)] if page < 3 else [])
        if kind == "gzip" and (q.get("force") or "gzip" in headers.get("accept-encoding", "")):
            return self.send(200, gzip.compress(BLOB[:5000]), [("Content-Encoding", "gzip")])
        if kind == "gzip": return self.send(200, BLOB[:5000])
        self.send(404, b"no such test path")
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads, handle_error = True, lambda self, request, client_address: None
srv = S(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True); srv.serve_forever()
)PY";

std::string Blob(uint64_t first, size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((first + i) % 251);
  return s;
}

// The Python server as a child process, killed when the object dies.
class TestServer {
 public:
  TestServer() {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    const char* argv[] = {"python3", "-c", kServerScript, nullptr};
    int rc = posix_spawnp(&pid_, "python3", &actions, nullptr, const_cast<char**>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    REQUIRE(rc == 0);
    std::string line;
    pollfd p{fds[0], POLLIN, 0};
    for (char c = 0; c != '\n' && ::poll(&p, 1, 10000) == 1 && ::read(fds[0], &c, 1) == 1;) {
      line.push_back(c);
    }
    ::close(fds[0]);
    port_ = std::atoi(line.c_str());
    REQUIRE(port_ > 0);
  }
  ~TestServer() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;
  std::string Url(const std::string& path, const std::string& host = "127.0.0.1") const {
    return "http://" + host + ":" + std::to_string(port_) + path;
  }
  // The server's counters and request log, fetched over a connection of its own.
  nlohmann::json Stats() const {
    return nlohmann::json::parse(HttpClient().Perform(HttpRequest{.url = Url("/stats")}).body);
  }
  // The logged requests for `path`, and just their Range headers ("" for none).
  std::vector<nlohmann::json> Requests(const std::string& path) const {
    std::vector<nlohmann::json> out;
    nlohmann::json stats = Stats();
    for (const auto& e : stats["log"]) {
      if (e["path"] == path) out.push_back(e);
    }
    return out;
  }
  std::vector<std::string> Ranges(const std::string& path) const {
    std::vector<std::string> out;
    for (const auto& e : Requests(path)) out.push_back(e["headers"].value("range", ""));
    return out;
  }
  int Connections() const { return Stats()["connections"].get<int>(); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

// The server shared by all tests of this file.
TestServer& Server() {
  static TestServer server;
  return server;
}

// A path no other test uses: "/data" -> "/data/3".
std::string Fresh(const std::string& kind) {
  static std::atomic<int> counter{0};
  return kind + "/" + std::to_string(++counter);
}

// A RetryPolicy that records its sleeps instead of sleeping.
struct SleepRecorder {
  std::vector<milliseconds> sleeps;
  std::chrono::system_clock::time_point now = std::chrono::system_clock::from_time_t(1700000000);

  RetryPolicy Policy(RetryOptions options = {}) {
    return RetryPolicy(
        options, [this](milliseconds d) { sleeps.push_back(d); }, [this] { return now; },
        [] { return 0.5; });
  }
};

HttpRequest Get(const std::string& url) { return HttpRequest{.url = url}; }

// Runs `fn`, which must throw an HttpError, and returns that error.
template <typename Fn>
HttpError Thrown(Fn&& fn) {
  try {
    fn();
  } catch (const HttpError& e) {
    return e;
  }
  FAIL("no HttpError was thrown");
  return HttpError(ErrorCode::kIOError, "", false);
}

// Fetches `range` of `url` into a string.
std::string FetchInto(const RetryingFetch& fetch, const std::string& url, ByteRange range,
                      FetchResult* result = nullptr) {
  std::string out;
  FetchResult r = fetch.FetchRange(Get(url), range, [&](const char* p, size_t n) {
    out.append(p, n);
    return true;
  });
  if (result) *result = r;
  return out;
}

TEST_CASE("Path parts are percent-encoded per RFC 3986", "[remote][url]") {
  CHECK(EncodePathSegment("refs/pr/1") == "refs%2Fpr%2F1");
  CHECK(EncodePathSegment("v1.0-rc_2~x") == "v1.0-rc_2~x");
  CHECK(EncodePath("onnx/model weights+1.bin") == "onnx/model%20weights%2B1.bin");
  CHECK(EncodePath("caf\xc3\xa9/a?b#c%") == "caf%C3%A9/a%3Fb%23c%25");
}

TEST_CASE("URLs are resolved, compared and redacted", "[remote][url]") {
  const std::string base = "http://Hub.example:8080/org/m/resolve/main/a/b.bin?x=1";
  CHECK(UrlHost(base) == "hub.example");
  CHECK(ResolveUrl(base, "/org2/m/resolve/main/b.bin") ==
        "http://Hub.example:8080/org2/m/resolve/main/b.bin");
  CHECK(ResolveUrl(base, "../c.bin") == "http://Hub.example:8080/org/m/resolve/main/c.bin");
  CHECK(ResolveUrl(base, "//cdn.example/f?sig=s") == "http://cdn.example/f?sig=s");
  CHECK(ResolveUrl(base, "https://cdn.example/f") == "https://cdn.example/f");
  CHECK(ResolveUrl(base, "") == base);
  CHECK_THROWS_AS(ResolveUrl(base, "ftp://files.example/x"), Error);
  CHECK_THROWS_AS(UrlHost("not a url"), Error);
  CHECK(SameOrigin("http://a.example/x", "HTTP://A.example:80/y"));
  CHECK_FALSE(SameOrigin("http://a.example/x", "https://a.example/x"));
  CHECK_FALSE(SameOrigin("http://a.example:1/x", "http://a.example:2/x"));
  CHECK_FALSE(SameOrigin("http://127.0.0.1:1/x", "http://localhost:1/x"));
  CHECK(RedactUrl("https://u:pw@cdn.example/p/f.bin?X-Amz-Signature=s#f") ==
        "https://cdn.example/p/f.bin");
  CHECK(RedactUrl("garbage?secret=1") == "garbage");
}

TEST_CASE("Link headers yield the next page", "[remote][url]") {
  CHECK(FindLink("<https://h/api/t?cursor=2&recursive=true>; rel=\"next\"") ==
        "https://h/api/t?cursor=2&recursive=true");
  CHECK(FindLink("<https://h/a?p=1>; rel=\"prev\", <https://h/a?p=3,x>; rel=\"next\"") ==
        "https://h/a?p=3,x");
  CHECK(FindLink("<https://h/last>; title=\"a, b\"; rel=\"last next\"") == "https://h/last");
  CHECK(FindLink("</rel>; Rel=NEXT") == "/rel");
  CHECK(FindLink("<https://h/a>; rel=\"prev\"") == std::nullopt);
  CHECK(FindLink("") == std::nullopt);
  CHECK(FindLink("garbage, <x>; rel=next") == "x");
}

TEST_CASE("Retry-After and backoff", "[remote][retry]") {
  auto now = std::chrono::system_clock::from_time_t(1445412480);  // Wed, 21 Oct 2015 07:28:00 GMT
  CHECK(ParseRetryAfter("120", now) == milliseconds(120000));
  CHECK(ParseRetryAfter("Wed, 21 Oct 2015 07:28:05 GMT", now) == milliseconds(5000));
  CHECK(ParseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now) == milliseconds(0));
  CHECK(ParseRetryAfter("soon", now) == std::nullopt);
  CHECK(ParseRetryAfter("-1", now) == std::nullopt);

  double r = 0.999;
  RetryPolicy policy({}, [](milliseconds) {}, {}, [&] { return r; });
  CHECK(policy.Backoff(1) == milliseconds(199));
  CHECK(policy.Backoff(3) == milliseconds(799));
  CHECK(policy.Backoff(30) == milliseconds(9990));  // capped at 10 s
  r = 0.0;
  CHECK(policy.Backoff(4) == milliseconds(0));  // full jitter reaches zero

  HttpError reset(ErrorCode::kIOError, "reset", true);
  HttpError missing(ErrorCode::kNotFound, "404", false, 404);
  CHECK(policy.NextDelay(1, reset).has_value());
  CHECK_FALSE(policy.NextDelay(5, reset).has_value());
  CHECK_FALSE(policy.NextDelay(1, missing).has_value());
  HttpHeaders h;
  h.Add("retry-after", "7");
  CHECK(policy.NextDelay(1, HttpError(ErrorCode::kIOError, "429", true, 429, h)) ==
        milliseconds(7000));
  h.Clear();
  h.Add("Retry-After", "3600");  // longer than max_retry_after: give up
  CHECK_FALSE(policy.NextDelay(1, HttpError(ErrorCode::kIOError, "429", true, 429, h)));
}

TEST_CASE("GET and HEAD", "[remote][http]") {
  TestServer& server = Server();
  HttpClient client;
  const std::string path = Fresh("/data");
  HttpResponse get = client.Perform(Get(server.Url(path + "?size=1000")));
  CHECK(get.status == 200);
  CHECK(get.body == Blob(0, 1000));
  CHECK(get.headers.Get("content-LENGTH") == "1000");
  CHECK(get.headers.ContentLength() == 1000u);
  CHECK(get.effective_url == server.Url(path + "?size=1000"));

  HttpRequest head = Get(server.Url(path + "?size=1000"));
  head.method = HttpRequest::Method::kHead;
  HttpResponse h = client.Perform(head);
  CHECK(h.status == 200);
  CHECK(h.body.empty());
  CHECK(h.headers.ContentLength() == 1000u);

  std::vector<nlohmann::json> log = server.Requests(path);
  REQUIRE(log.size() == 2);
  CHECK(log[0]["headers"]["user-agent"] == "modelfs/0.1");
  CHECK(log[0]["headers"]["accept-encoding"] == "identity");
  CHECK(log[1]["method"] == "HEAD");

  // A Range GET streams 206 bytes into a sink.
  HttpRequest req = Get(server.Url("/data"));
  req.range = ByteRange{100000, 199999};
  std::string got;
  req.sink = [&](const char* p, size_t n) {
    got.append(p, n);
    return true;
  };
  HttpResponse r = client.Perform(req);
  CHECK(r.status == 206);
  CHECK(r.headers.Get("Content-Range") == "bytes 100000-199999/2097152");
  CHECK(r.body.empty());
  CHECK(r.body_bytes == 100000u);
  CHECK(got == Blob(100000, 100000));
}

TEST_CASE("PUT, POST, PATCH and DELETE send their bodies with a length", "[remote][http]") {
  TestServer& server = Server();
  HttpClient client;
  auto send = [&](HttpRequest::Method method, std::optional<RequestBody> body) {
    HttpRequest req = Get(server.Url(Fresh("/upload")));
    req.method = method;
    req.body = std::move(body);
    req.headers.push_back({"Content-Type", "application/json"});
    HttpResponse r = client.Perform(req);
    return std::make_pair(r.status, nlohmann::json::parse(r.body));
  };
  auto [post_status, post] = send(HttpRequest::Method::kPost, RequestBody::FromString("{\"a\":1}"));
  CHECK(post_status == 200);
  CHECK(post["method"] == "POST");
  CHECK(post["size"] == 7);
  CHECK(post["headers"]["content-type"] == "application/json");
  CHECK_FALSE(post["headers"].contains("expect"));

  auto [patch_status, patch] = send(HttpRequest::Method::kPatch, std::nullopt);
  CHECK(patch_status == 200);
  CHECK(patch["method"] == "PATCH");
  CHECK(patch["headers"]["content-length"] == "0");

  // A streamed 3 MiB PUT: the reader is asked for pieces until `size` bytes.
  RequestBody streamed;
  streamed.size = 3 << 20;
  uint64_t produced = 0;
  streamed.read = [&](char* buffer, size_t capacity) {
    std::string piece = Blob(produced, capacity);
    std::memcpy(buffer, piece.data(), capacity);
    produced += capacity;
    return capacity;
  };
  auto [put_status, put] = send(HttpRequest::Method::kPut, std::move(streamed));
  CHECK(put_status == 201);
  CHECK(put["size"] == 3 << 20);
  CHECK(put["headers"]["content-length"] == std::to_string(3 << 20));
  CHECK_FALSE(put["headers"].contains("transfer-encoding"));
  std::string expected = Blob(0, 3 << 20);
  CHECK(put["sha256"] == HexEncode(Sha256::Digest(expected.data(), expected.size())));

  auto [del_status, del] = send(HttpRequest::Method::kDelete, std::nullopt);
  CHECK(del_status == 200);
  CHECK(del["method"] == "DELETE");

  // A reader that stops early fails the request instead of sending less.
  RequestBody short_body;
  short_body.size = 1000;
  short_body.read = [](char*, size_t) -> size_t { return 0; };
  HttpRequest bad = Get(server.Url(Fresh("/upload")));
  bad.method = HttpRequest::Method::kPut;
  bad.body = std::move(short_body);
  CHECK_THROWS_WITH(client.Perform(bad), Catch::Contains("ended early"));
}

TEST_CASE("AWS SigV4 signs the request", "[remote][http]") {
  TestServer& server = Server();
  HttpClient client;
  HttpRequest req = Get(server.Url(Fresh("/echo")));
  req.aws_sigv4 = AwsSigV4{"aws:amz:us-east-1:s3", "AKIDEXAMPLE", "secret", "session-token"};
  HttpResponse r = client.Perform(req);
  auto headers = nlohmann::json::parse(r.body);
  std::string auth = headers["authorization"];
  CHECK(auth.rfind("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/", 0) == 0);
  CHECK(auth.find("/us-east-1/s3/aws4_request") != std::string::npos);
  CHECK(headers.contains("x-amz-date"));
  CHECK(headers["x-amz-security-token"] == "session-token");
}

TEST_CASE("Sequential requests reuse one kept-alive connection", "[remote][http]") {
  TestServer& server = Server();
  HttpClient client;
  int before = server.Connections();  // counts the connection that asks
  for (int i = 0; i < 20; ++i) {
    HttpRequest req = Get(server.Url("/data?size=4096"));
    req.range = ByteRange{static_cast<uint64_t>(i) * 100, static_cast<uint64_t>(i) * 100 + 99};
    HttpResponse r = client.Perform(req);
    REQUIRE(r.body == Blob(i * 100, 100));
    CHECK(r.new_connections == (i == 0 ? 1 : 0));
  }
  HttpResponse stats = client.Perform(Get(server.Url("/stats")));  // same connection again
  CHECK(nlohmann::json::parse(stats.body)["connections"].get<int>() - before == 1);
}

TEST_CASE("Concurrent requests from many threads", "[remote][http]") {
  TestServer& server = Server();
  HttpClient client;
  int before = server.Connections();
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        HttpRequest req = Get(server.Url("/data"));
        uint64_t first = static_cast<uint64_t>(t) * 300000 + i * 1000;
        req.range = ByteRange{first, first + 65535};
        if (client.Perform(req).body == Blob(first, 65536)) ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(good == 40);
  CHECK(server.Connections() - before <= 5);  // 4 workers + the one asking
}

TEST_CASE("Redirects: Authorization never reaches another host", "[remote][http]") {
  TestServer& server = Server();
  HttpClient client;
  const std::string path = Fresh("/redirect");
  HttpRequest req = Get(server.Url(path + "?to=" + server.Url("/echo", "localhost")));
  req.redirects = RedirectMode::kFollow;
  req.headers = {{"X-Other", "kept"}};
  req.credentials = {{"Authorization", "Bearer hf_secret"}};
  HttpResponse r = client.Perform(req);
  CHECK(r.status == 200);
  CHECK(r.redirects_followed == 1);
  CHECK(r.effective_url == server.Url("/echo", "localhost"));
  auto echoed = nlohmann::json::parse(r.body);
  CHECK_FALSE(echoed.contains("authorization"));
  CHECK(echoed["x-other"] == "kept");
  CHECK(echoed["host"] == "localhost:" + server.Url("").substr(server.Url("").rfind(':') + 1));
  CHECK(server.Requests(path).at(0)["headers"]["authorization"] == "Bearer hf_secret");

  SECTION("an Authorization passed as a plain header is dropped too") {
    HttpRequest plain = req;
    plain.credentials.clear();
    plain.headers = {{"authorization", "Bearer hf_secret"}};
    CHECK_FALSE(nlohmann::json::parse(client.Perform(plain).body).contains("authorization"));
  }
  SECTION("a relative redirect stays on the host and keeps it") {
    HttpRequest rel = Get(server.Url("/redirect?code=307&to=../echo"));
    rel.redirects = RedirectMode::kFollow;
    rel.credentials = req.credentials;
    HttpResponse rr = client.Perform(rel);
    CHECK(rr.effective_url == server.Url("/echo"));
    CHECK(nlohmann::json::parse(rr.body)["authorization"] == "Bearer hf_secret");
  }
  SECTION("manual mode returns the 3xx with its resolved Location") {
    HttpRequest manual = Get(server.Url("/redirect?to=/data%3Fsize=5"));
    HttpResponse mr = client.Perform(manual);
    CHECK(mr.status == 302);
    CHECK(mr.redirect_url == server.Url("/data?size=5"));
    CHECK(mr.body == "moved");
  }
  SECTION("a redirect loop ends in an error") {
    HttpRequest loop = Get(server.Url("/loop"));
    loop.redirects = RedirectMode::kFollow;
    loop.max_redirects = 5;
    CHECK_THROWS_WITH(client.Perform(loop), Catch::Contains("redirected more than 5 times"));
  }
}

TEST_CASE("Errors name the URL without its query and never the token", "[remote][http]") {
  TestServer& server = Server();
  HttpClient client;
  HttpRequest req = Get(server.Url("/status/404?X-Amz-Signature=topsecret"));
  req.credentials = {{"Authorization", "Bearer hf_secret"}};
  HttpResponse r = client.Perform(req);
  CHECK(r.status == 404);
  CHECK(r.body == "<html>error page</html>");
  HttpError e = Thrown([&] { ThrowUnlessSuccess(req, r); });
  CHECK(e.code() == ErrorCode::kNotFound);
  CHECK(e.status() == 404);
  CHECK(e.headers().Get("X-Error-Code") == "Boom");
  CHECK(std::string(e.what()) ==
        "GET " + server.Url("/status/404") + " failed with HTTP 404 (Not Found): It broke.");
  HttpError refused = Thrown([] {  // nothing listens on port 1
    HttpClient().Perform(Get("http://127.0.0.1:1/x?token=topsecret"));
  });
  CHECK(refused.retryable());
  CHECK(refused.status() == 0);
  CHECK(std::string(refused.what()).find("topsecret") == std::string::npos);
  CHECK(std::string(refused.what()).find("http://127.0.0.1:1/x failed") != std::string::npos);
}

// A client and a retrying fetcher whose sleeps are recorded, not slept.
struct RetryFixture {
  TestServer& server = Server();
  HttpClient client;
  SleepRecorder rec;
  RetryPolicy policy = rec.Policy();
  RetryingFetch fetch{&client, &policy};
};

TEST_CASE_METHOD(RetryFixture, "5xx is retried with backoff until success", "[remote][retry]") {
  HttpResponse r = fetch.Fetch(Get(server.Url(Fresh("/flaky") + "?fail=2&size=10")));
  CHECK(r.status == 200);
  CHECK(r.body == Blob(0, 10));
  CHECK(rec.sleeps == std::vector<milliseconds>{milliseconds(100), milliseconds(200)});

  SECTION("a persistent 503 ends with the last answer or an error") {
    rec.sleeps.clear();
    CHECK(fetch.Fetch(Get(server.Url(Fresh("/flaky") + "?fail=99&code=503"))).status == 503);
    CHECK(rec.sleeps.size() == 4);  // 5 attempts
    CHECK_THROWS_WITH(FetchInto(fetch, server.Url(Fresh("/flaky") + "?fail=99"), {0, 9}),
                      Catch::Contains("HTTP 500") && Catch::Contains("Gave up after 5 attempts"));
  }
}

TEST_CASE_METHOD(RetryFixture, "429 waits as long as Retry-After says", "[remote][retry]") {
  CHECK(FetchInto(fetch, server.Url(Fresh("/ratelimit") + "?after=3"), {0, 99}) == Blob(0, 100));
  CHECK(rec.sleeps == std::vector<milliseconds>{milliseconds(3000)});

  rec.sleeps.clear();  // an HTTP date, 5 s after the injected clock
  rec.now = std::chrono::system_clock::from_time_t(1445412480);
  const std::string date = "?after=Wed,%2021%20Oct%202015%2007:28:05%20GMT";
  HttpResponse r = fetch.Fetch(Get(server.Url(Fresh("/ratelimit") + date)));
  CHECK(r.status == 200);
  CHECK(rec.sleeps == std::vector<milliseconds>{milliseconds(5000)});

  rec.sleeps.clear();  // too long to wait for: the 429 is returned at once
  CHECK(fetch.Fetch(Get(server.Url(Fresh("/ratelimit") + "?after=900"))).status == 429);
  CHECK(rec.sleeps.empty());
}

TEST_CASE_METHOD(RetryFixture, "A reset mid-body resumes from the first missing byte", "[remote][retry]") {
  FetchResult result;
  const std::string path = Fresh("/reset");
  CHECK(FetchInto(fetch, server.Url(path + "?at=50000&times=2"), {1000, 300999}, &result) ==
        Blob(1000, 300000));
  CHECK(result.attempts == 3);
  CHECK(result.status == 206);
  CHECK(result.total_size == 2097152u);
  CHECK(server.Ranges(path) ==
        std::vector<std::string>{"bytes=1000-300999", "bytes=51000-300999", "bytes=101000-300999"});

  SECTION("a whole body resumes with an open range") {
    const std::string whole = Fresh("/reset");
    CHECK(FetchInto(fetch, server.Url(whole + "?at=70000&times=1&size=100000"), {0, std::nullopt}) ==
          Blob(0, 100000));
    CHECK(server.Ranges(whole) == std::vector<std::string>{"", "bytes=70000-99999"});
  }
}

TEST_CASE("Truncated and mismatched bodies are detected", "[remote][retry]") {
  TestServer& server = Server();
  HttpClient client;
  SleepRecorder rec;
  RetryPolicy once = rec.Policy({.max_attempts = 1});
  RetryPolicy patient = rec.Policy();
  // The connection closes early: curl's own length check.
  CHECK_THROWS_WITH(client.Perform(Get(server.Url("/truncate?at=100&size=1000"))),
                    Catch::Contains("Transferred a partial file"));
  // Content-Length agrees with the short body, Content-Range does not.
  CHECK_THROWS_WITH(FetchInto(RetryingFetch(&client, &once), server.Url("/short"), {0, 999}),
                    Catch::Contains("truncated body (500 of 1000 bytes)"));
  // Resuming completes it exactly.
  CHECK(FetchInto(RetryingFetch(&client, &patient), server.Url("/short"), {0, 999}) ==
        Blob(0, 1000));
  // A Content-Range other than the one asked for is never delivered.
  CHECK_THROWS_WITH(FetchInto(RetryingFetch(&client, &patient), server.Url("/data?shift=1"), {10, 19}),
                    Catch::Contains("Content-Range \"bytes 11-20/2097152\""));
  // Nor a 206 whose body is longer than its Content-Range says.
  CHECK_THROWS_WITH(FetchInto(RetryingFetch(&client, &patient), server.Url("/long"), {10, 19}),
                    Catch::Contains("a body of 4106 bytes with Content-Range \"bytes 10-19/2097152\""));
}

TEST_CASE_METHOD(RetryFixture, "Range fetches cope with servers and answers of every kind", "[remote][retry]") {
  FetchResult result;
  // Range ignored: the leading bytes are skipped, the transfer stops after the last.
  CHECK(FetchInto(fetch, server.Url("/data?norange=1"), {5000, 5999}, &result) == Blob(5000, 1000));
  CHECK(result.status == 200);
  // A range past the end is cut at the end.
  CHECK(FetchInto(fetch, server.Url("/data?size=1000"), {900, 5000}, &result) == Blob(900, 100));
  CHECK(result.total_size == 1000u);
  // An error page never reaches the sink; the error keeps status and headers.
  size_t delivered = 0;
  HttpError e = Thrown([&] {
    fetch.FetchRange(Get(server.Url("/status/403")), {0, 9},
                     [&](const char*, size_t n) { return (delivered += n) > 0; });
  });
  CHECK(e.status() == 403);
  CHECK(e.headers().Get("x-error-code") == "Boom");
  CHECK(delivered == 0);
  CHECK(rec.sleeps.empty());
  // Compressed bytes are refused for downloads, decoded for API calls.
  CHECK_THROWS_WITH(FetchInto(fetch, server.Url("/gzip?force=1"), {0, std::nullopt}),
                    Catch::Contains("Content-Encoding gzip"));
  HttpRequest api = Get(server.Url("/gzip"));
  api.accept_compressed = true;
  CHECK(client.Perform(api).body == Blob(0, 5000));
  // A body over max_body fails; a sink returning false stops quietly.
  HttpRequest big = Get(server.Url("/data"));
  big.max_body = 1000;
  CHECK_THROWS_WITH(client.Perform(big), Catch::Contains("larger than 1000 bytes"));
  FetchResult stopped = fetch.FetchRange(Get(server.Url("/data")), {0, std::nullopt},
                                         [](const char*, size_t) { return false; });
  CHECK(stopped.stopped);
}

TEST_CASE("Stalled transfers time out", "[remote][http]") {
  TestServer& server = Server();
  HttpClientOptions options;
  options.idle_timeout = milliseconds(1000);
  HttpClient client(options);
  for (const char* path : {"/stall", "/hang"}) {
    auto start = std::chrono::steady_clock::now();
    HttpError e = Thrown([&] { client.Perform(Get(server.Url(path))); });
    CHECK(e.retryable());
    CHECK(std::string(e.what()).find("no data arrived for 1000 ms") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  }
}

TEST_CASE("A request may wait longer than the client's idle timeout", "[remote][http]") {
  TestServer& server = Server();
  HttpClientOptions options;
  options.idle_timeout = milliseconds(1000);
  HttpClient client(options);
  HttpRequest slow = Get(server.Url("/slow?after=2.5"));
  HttpError e = Thrown([&] { client.Perform(slow); });
  CHECK(std::string(e.what()).find("no data arrived for 1000 ms") != std::string::npos);
  slow.idle_timeout = milliseconds(10000);
  HttpResponse r = client.Perform(slow);
  CHECK(r.status == 200);
  CHECK(r.body == "thought it over");
}

TEST_CASE("ProgressBudget: only bytes buy time", "[remote][retry][hang]") {
  using Clock = ProgressBudget::Clock;
  Clock::time_point now = Clock::time_point() + std::chrono::hours(1);
  ProgressBudget budget(milliseconds(1000), 1000, [&] { return now; });  // 1000 bytes a second
  for (int window = 0; window < 10; ++window) {  // a server at the minimum rate goes on forever
    now += milliseconds(900);
    budget.Add(1000);
    CHECK_FALSE(budget.exhausted());
  }
  CHECK(budget.window_end() == now + milliseconds(1000));
  now += milliseconds(999);
  budget.Add(999);  // one byte short
  CHECK_FALSE(budget.exhausted());
  now += milliseconds(1);
  CHECK(budget.exhausted());
  CHECK_THROWS_WITH(budget.Check("GET x"), Catch::Contains("GET x received 999 bytes in 1 s") &&
                                               Catch::Contains("stalls or trickles"));
  budget.Add(1 << 20);  // too late
  CHECK(budget.exhausted());
  ProgressBudget unlimited(milliseconds(0), 1000, [&] { return now; });
  now += std::chrono::hours(24);
  CHECK_FALSE(unlimited.exhausted());
  CHECK(unlimited.window_end() == Clock::time_point::max());
}

TEST_CASE("MODELFS_READ_TIMEOUT sets the bounds on waiting", "[remote][retry][hang]") {
  auto env = [](std::optional<std::string> value) {
    return [value](const char*) { return value; };
  };
  CHECK(FetchLimitsFromEnvironment(env(std::nullopt)).read_timeout == milliseconds(30000));
  const FetchLimits limits = FetchLimitsFromEnvironment(env("2.5"));
  CHECK(limits.read_timeout == milliseconds(2500));
  CHECK(limits.Client().idle_timeout == milliseconds(2500));
  CHECK(limits.Client().connect_timeout == milliseconds(2500));
  CHECK(limits.Retry().progress_window == milliseconds(2500));
  CHECK(FetchLimitsFromEnvironment(env("60")).Client().idle_timeout == milliseconds(10000));
  for (const char* bad : {"0", "-1", "soon", "1e9", "nan", "3s"}) {
    CHECK_THROWS_WITH(FetchLimitsFromEnvironment(env(bad)),
                      Catch::Contains("MODELFS_READ_TIMEOUT is \"" + std::string(bad) + "\""));
  }
}

// A policy with real, short pauses that gives up on less than 16 KiB/s over `window`.
RetryPolicy Impatient(milliseconds window) {
  RetryOptions o;
  o.base_delay = milliseconds(10);
  o.max_delay = milliseconds(50);
  o.progress_window = window;
  o.min_rate = 16 << 10;
  return RetryPolicy(o);
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST_CASE("A server that trickles and stalls is given up on within the progress window",
          "[remote][retry][hang]") {
  TestServer& server = Server();
  HttpClientOptions options;
  options.idle_timeout = milliseconds(300);
  HttpClient client(options);
  RetryPolicy policy = Impatient(milliseconds(1500));
  RetryingFetch fetch(&client, &policy);
  const std::string path = Fresh("/trickle");
  const auto start = std::chrono::steady_clock::now();
  // 1000 bytes per GET, then silence: every try makes progress, none enough.
  HttpError e = Thrown([&] { FetchInto(fetch, server.Url(path + "?n=1000"), {0, 999999}); });
  CHECK_FALSE(e.retryable());
  CHECK_THAT(e.what(), Catch::Contains("stalls or trickles"));
  CHECK(SecondsSince(start) < 3.0);
  CHECK(server.Requests(path).size() >= 2);  // resumed, and given up all the same
}

TEST_CASE("A slow server that keeps up the minimum rate is not cut", "[remote][retry][hang]") {
  TestServer& server = Server();
  HttpClientOptions options;
  options.idle_timeout = milliseconds(300);
  HttpClient client(options);
  RetryPolicy policy = Impatient(milliseconds(500));  // 8 KiB per 0.5 s
  RetryingFetch fetch(&client, &policy);
  const auto start = std::chrono::steady_clock::now();
  CHECK(FetchInto(fetch, server.Url(Fresh("/drip") + "?rate=40960&size=61440"), {0, 61439}) ==
        Blob(0, 61440));
  CHECK(SecondsSince(start) > 1.0);  // three windows and more
}

TEST_CASE("A fetch ends by its deadline, soon after a stop or an abort", "[remote][retry][hang]") {
  TestServer& server = Server();
  HttpClient client;
  RetryPolicy policy = Impatient(milliseconds(60000));
  RetryingFetch fetch(&client, &policy);
  const auto start = std::chrono::steady_clock::now();
  auto fetch_hang = [&](const Deadline& deadline) {
    return Thrown([&] {
      fetch.FetchRange(Get(server.Url(Fresh("/hang"))), {0, 9}, [](const char*, size_t) { return true; },
                       deadline);
    });
  };
  SECTION("the deadline") {
    HttpError e = fetch_hang(Deadline::After(milliseconds(700)));
    CHECK(e.code() == ErrorCode::kTimedOut);
    CHECK_FALSE(e.retryable());
    CHECK_THAT(e.what(), Catch::Contains("timed out after 0.7 s"));
  }
  SECTION("its token") {
    std::stop_source stop;
    std::jthread stopper([&] {
      std::this_thread::sleep_for(milliseconds(300));
      stop.request_stop();
    });
    CHECK(fetch_hang(Deadline(Deadline::Clock::time_point::max(), stop.get_token())).code() ==
          ErrorCode::kInterrupted);
  }
  SECTION("the client's abort, which spares later requests") {
    std::jthread aborter([&] {
      std::this_thread::sleep_for(milliseconds(300));
      client.AbortInFlight();
    });
    CHECK(fetch_hang(Deadline()).code() == ErrorCode::kInterrupted);
    CHECK(client.Perform(Get(server.Url("/data?size=10"))).body == Blob(0, 10));
  }
  CHECK(SecondsSince(start) < 2.5);
  SECTION("the client's shutdown, which ends every later request too") {
    client.Shutdown();
    CHECK(Thrown([&] { client.Perform(Get(server.Url("/data?size=10"))); }).code() ==
          ErrorCode::kInterrupted);
  }
}

TEST_CASE("Link pagination across real responses", "[remote][url]") {
  TestServer& server = Server();
  HttpClient client;
  std::string url = server.Url("/link?page=1");
  std::vector<std::string> bodies;
  while (true) {
    HttpResponse r = client.Perform(Get(url));
    bodies.push_back(r.body);
    std::optional<std::string> next;
    for (const std::string& link : r.headers.GetAll("Link")) {
      if ((next = FindLink(link))) break;
    }
    if (!next) break;
    url = ResolveUrl(r.effective_url, *next);
  }
  CHECK(bodies == std::vector<std::string>{"page 1", "page 2", "page 3"});
}

}  // namespace
}  // namespace modelfs::remote
