// remote/http_client.h — HTTP(S) GET and HEAD over libcurl with kept-alive
// connections, for every remote of modelfs.
//
// An HttpClient owns a pool of curl easy handles. Each request borrows one
// (the most recently returned first, so a thread issuing requests one after
// another keeps reusing the same warm connection) and gives it back with its
// open connections; a curl share object lets all handles share DNS answers and
// TLS sessions. Perform() is safe to call from many threads at once; each
// concurrent request gets its own handle and connection.
//
// The client reports transport failures (no connection, reset, timeout) by
// throwing HttpError; any HTTP status, 4xx and 5xx included, is returned in
// the HttpResponse for the caller to judge (see ThrowUnlessSuccess).
// Redirects are followed by the client itself, not by curl, so that
// credentials never travel to another origin.
//
// No request outlives its bounds: the connect and idle timeouts, its
// Deadline (Error(kTimedOut) at its time, Error(kInterrupted) at once when
// its token stops) and the client's aborts (AbortInFlight, Shutdown), which
// curl's progress callback checks about once a second.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "remote/http_headers.h"
#include "util/deadline.h"

namespace modelfs::remote {

struct HttpClientOptions {
  std::chrono::milliseconds connect_timeout{10000};
  // A request that receives no byte for this long fails (checked about once
  // a second, so it may take up to a second longer); 0 means never.
  std::chrono::milliseconds idle_timeout{10000};
  // Limit on a whole request including its body; 0 means none.
  std::chrono::milliseconds total_timeout{0};
  std::string user_agent = "modelfs/0.1";
  size_t max_idle_handles = 32;    // idle handles (and their connections) kept
  long receive_buffer = 256 << 10;  // curl's receive buffer per handle
};

// Bytes [first, last] of a resource, both inclusive; no `last` means to the end.
struct ByteRange {
  uint64_t first = 0;
  std::optional<uint64_t> last;
};

enum class RedirectMode {
  kManual,  // a 3xx is returned as is (see HttpResponse::redirect_url)
  kFollow,  // 301/302/303/307/308 are followed, up to max_redirects
};

// Receives a body piece by piece, straight from curl's buffer. Returning
// false stops the transfer early (HttpResponse::stopped is then true); an
// exception stops it and propagates out of Perform().
using BodySink = std::function<bool(const char* data, size_t size)>;

// Called once with the status and headers of the final response (never for
// a redirect being followed), before its first body byte. An exception
// aborts the transfer and propagates out of Perform().
using HeadersCallback = std::function<void(long status, const HttpHeaders& headers)>;

// The body of a PUT, POST or PATCH: exactly `size` bytes, taken from `data`
// unless `read` is set; then `read(buffer, capacity)` fills the buffer and
// returns how many bytes it wrote (0 before `size` bytes is an error).
// Sent with Content-Length, never chunked (S3 refuses chunked uploads).
struct RequestBody {
  uint64_t size = 0;
  std::string data;
  std::function<size_t(char* buffer, size_t capacity)> read;

  static RequestBody FromString(std::string text) {
    RequestBody b;
    b.size = text.size();
    b.data = std::move(text);
    return b;
  }
};

// AWS Signature Version 4 by libcurl. `provider` is curl's
// "aws:amz:<region>:<service>"; a session token goes in x-amz-security-token.
struct AwsSigV4 {
  std::string provider;
  std::string access_key;
  std::string secret_key;
  std::string session_token;
};

struct HttpRequest {
  enum class Method { kGet, kHead, kPut, kPost, kPatch, kDelete };

  Method method = Method::kGet;
  std::string url;
  std::optional<ByteRange> range{};  // sent as "Range: bytes=first-[last]"
  std::vector<std::pair<std::string, std::string>> headers{};
  // Sent only to the origin (scheme, host, port) of `url`; dropped for good
  // once a followed redirect leaves it. An "Authorization" or "Cookie" entry
  // in `headers` is treated the same way.
  std::vector<std::pair<std::string, std::string>> credentials{};
  RedirectMode redirects = RedirectMode::kManual;
  int max_redirects = 10;
  // Downloads ask for "Accept-Encoding: identity"; API calls may let curl
  // negotiate and transparently decode gzip/deflate/br.
  bool accept_compressed = false;
  // Without a sink, a 2xx body is collected in HttpResponse::body and a body
  // larger than this fails the request. With a sink, only 2xx bodies go to
  // the sink; other bodies (error pages) go to HttpResponse::body, cut at
  // 64 KiB, and never to the sink.
  size_t max_body = 16 << 20;
  BodySink sink{};
  HeadersCallback on_headers{};
  // For PUT, POST and PATCH (none means an empty body, Content-Length: 0).
  // A request with a body never follows redirects: a 3xx is returned.
  std::optional<RequestBody> body{};
  std::optional<AwsSigV4> aws_sigv4{};
  // Overrides HttpClientOptions::idle_timeout for this request: for calls
  // the server may think over for minutes before its first byte (S3's
  // CompleteMultipartUpload).
  std::optional<std::chrono::milliseconds> idle_timeout{};
  // The request fails with Error(kTimedOut) once its time has come, and
  // with Error(kInterrupted) soon after its token is stopped; neither is
  // retryable.
  Deadline deadline{};
  // Called about once a second while the request runs; what it throws
  // aborts the transfer and propagates out of Perform() (RetryingFetch
  // cuts a download that trickles this way).
  std::function<void()> on_progress{};

  const char* method_name() const;
};

struct HttpResponse {
  long status = 0;
  HttpHeaders headers;        // of the final response
  std::string body;           // see HttpRequest::max_body and sink
  uint64_t body_bytes = 0;    // body bytes received, to `body` or the sink
  std::string effective_url;  // URL of the final response, after redirects
  std::optional<std::string> redirect_url;  // absolute Location of a returned 3xx
  int redirects_followed = 0;
  long new_connections = 0;   // connections opened for this request (0 = reused)
  bool stopped = false;       // the sink returned false
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request` and returns the final response whatever its status.
  // Throws HttpError on transport failures, an oversized body, a redirect
  // loop or an invalid Location; rethrows what a sink or callback threw.
  // Thread-safe.
  HttpResponse Perform(const HttpRequest& request);

  const HttpClientOptions& options() const { return options_; }

  // Makes every request in progress fail soon (about a second) with
  // Error(kInterrupted); requests started later are not affected. For
  // `modelfs umount` to free readers stuck on a stalled server.
  void AbortInFlight();
  // Makes every request in progress, and every later one, fail with
  // Error(kInterrupted): the process is stopping.
  void Shutdown();
  // Stopped by the next AbortInFlight() or Shutdown(): the token of the
  // requests that start now, for waits that belong to them.
  std::stop_token abort_token() const;

 private:
  struct Handle;
  class Lease;

  std::unique_ptr<Handle> Acquire();
  void Release(std::unique_ptr<Handle> handle);
  HttpResponse PerformOnce(Handle* handle, const HttpRequest& request, const std::string& url,
                           bool send_credentials, bool follow);

  const HttpClientOptions options_;
  void* share_;  // CURLSH*, shared DNS cache and TLS sessions
  std::mutex share_locks_[8];  // one per curl_lock_data value the share uses
  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Handle>> idle_;  // LIFO
  mutable std::mutex abort_mu_;
  std::stop_source abort_;  // of the requests in progress; guarded by abort_mu_
  bool shut_down_ = false;  // guarded by abort_mu_
};

// Throws StatusError (remote/http_error.h) unless `response` has a 2xx status.
void ThrowUnlessSuccess(const HttpRequest& request, const HttpResponse& response);

}  // namespace modelfs::remote
