#include "remote/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string_view>
#include <utility>

#include "remote/http_error.h"
#include "remote/url.h"
#include "util/error.h"

namespace modelfs::remote {

namespace {

constexpr size_t kErrorBodyLimit = 64 << 10;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw Error(ErrorCode::kIOError, "libcurl could not be initialized.");
    }
  });
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

void Append(Slist* list, const std::string& line) {
  curl_slist* grown = curl_slist_append(list->get(), line.c_str());
  if (grown == nullptr) throw Error(ErrorCode::kIOError, "Out of memory building HTTP headers.");
  list->release();
  list->reset(grown);
}

bool IsRedirectStatus(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// Headers that identify the user to the origin server; never sent elsewhere.
bool IsCredentialHeader(std::string_view name) {
  return HeaderNameEquals(name, "Authorization") || HeaderNameEquals(name, "Cookie");
}

// The state of one transfer (one hop of a request), shared with curl's callbacks.
struct Transfer {
  const HttpRequest* request;
  HttpResponse* response;
  bool follow;
  bool head_done = false;  // the final header block of the current response ended
  bool to_sink = false;    // the body goes to request->sink
  bool discard = false;    // the body of a redirect being followed
  bool too_large = false;
  std::exception_ptr error{};
  std::chrono::milliseconds idle_timeout{0};
  std::chrono::steady_clock::time_point last_activity = std::chrono::steady_clock::now();
  bool idle_expired = false;
  std::stop_token aborted;  // the client's AbortInFlight() or Shutdown()
  curl_off_t uploaded = 0;
};

void EndOfHeaders(Transfer* t) {
  HttpResponse* r = t->response;
  if (r->status < 200) return;  // 1xx: another header block follows
  t->head_done = true;
  if (t->follow && IsRedirectStatus(r->status) && r->headers.Has("Location")) {
    t->discard = true;
    return;
  }
  t->to_sink = t->request->sink && r->status >= 200 && r->status < 300 &&
               t->request->method == HttpRequest::Method::kGet;
  if (t->request->on_headers) t->request->on_headers(r->status, r->headers);
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  t->last_activity = std::chrono::steady_clock::now();
  std::string_view line(data, n);
  try {
    if (std::optional<long> status = ParseStatusLine(line)) {  // a new response (1xx, or after a proxy CONNECT)
      t->response->headers.Clear();
      t->head_done = false;
      t->response->status = *status;
    } else if (TrimHeaderLine(line).empty()) {
      if (!t->head_done) EndOfHeaders(t);
    } else {
      t->response->headers.AddLine(line);
    }
  } catch (...) {
    t->error = std::current_exception();
    return 0;
  }
  return n;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  HttpResponse* r = t->response;
  t->last_activity = std::chrono::steady_clock::now();
  if (t->discard) return n;
  if (t->to_sink) {
    try {
      if (!t->request->sink(data, n)) {
        r->stopped = true;
        return 0;
      }
    } catch (...) {
      t->error = std::current_exception();
      return 0;
    }
    r->body_bytes += n;
    return n;
  }
  size_t limit = t->request->sink ? kErrorBodyLimit : t->request->max_body;
  if (r->body.size() + n > limit) {
    if (!t->request->sink) {
      t->too_large = true;
      return 0;
    }
    n = limit - r->body.size();  // keep the start of an error page only
  }
  r->body.append(data, n);
  r->body_bytes += size * count;
  return size * count;
}

// curl calls this at least once a second during a transfer, busy or not.
// (curl's own low-speed check averages over several seconds, so a trickle
// of bytes followed by silence would outlive it by far.)
int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t uploaded) {
  auto* t = static_cast<Transfer*>(user);
  if (t->aborted.stop_requested() || t->request->deadline.stopped() ||
      t->request->deadline.expired()) {
    return 1;  // abort; PerformOnce says why
  }
  if (t->request->on_progress) {
    try {
      t->request->on_progress();
    } catch (...) {
      t->error = std::current_exception();
      return 1;
    }
  }
  if (uploaded != t->uploaded) {  // a body being sent is activity too
    t->uploaded = uploaded;
    t->last_activity = std::chrono::steady_clock::now();
  }
  if (t->idle_timeout.count() > 0 &&
      std::chrono::steady_clock::now() - t->last_activity > t->idle_timeout) {
    t->idle_expired = true;
    return 1;  // abort
  }
  return 0;
}

// Throws, not retryable, when the client aborted the transfer or its
// deadline ended it.
void ThrowIfCutShort(const Transfer& t, const std::string& what) {
  if (t.aborted.stop_requested()) {
    throw HttpError(ErrorCode::kInterrupted, what + " was aborted: modelfs is stopping or unmounting.",
                    false);
  }
  try {
    t.request->deadline.Check(what);
  } catch (const Error& e) {
    throw HttpError(e.code(), e.what(), false);
  }
}

// CURLOPT_TIMEOUT_MS for a request: the client's limit or the time left
// before the deadline, whichever ends first (at least 1 ms); 0 for none.
long TotalTimeoutMs(std::chrono::milliseconds total, const Deadline& deadline) {
  using std::chrono::milliseconds;
  long limit = static_cast<long>(total.count());
  if (deadline.finite()) {
    const auto left = std::chrono::ceil<milliseconds>(deadline.remaining()).count();
    const long capped = static_cast<long>(std::clamp<int64_t>(left, 1, INT32_MAX));
    limit = limit > 0 ? std::min(limit, capped) : capped;
  }
  return limit;
}

// Feeds a RequestBody to curl, and checks that it delivers `size` bytes.
struct BodyReader {
  const RequestBody* body;
  uint64_t sent = 0;
  std::exception_ptr error{};
};

size_t OnRead(char* buffer, size_t size, size_t count, void* user) {
  auto* r = static_cast<BodyReader*>(user);
  size_t capacity = static_cast<size_t>(std::min<uint64_t>(size * count, r->body->size - r->sent));
  if (capacity == 0) return 0;
  size_t n = 0;
  if (r->body->read) {
    try {
      n = r->body->read(buffer, capacity);
    } catch (...) {
      r->error = std::current_exception();
      return CURL_READFUNC_ABORT;
    }
    if (n == 0 || n > capacity) {
      r->error = std::make_exception_ptr(Error(ErrorCode::kIOError, "the request body ended early"));
      return CURL_READFUNC_ABORT;
    }
  } else {
    n = std::min<size_t>(capacity, r->body->data.size() - r->sent);
    std::memcpy(buffer, r->body->data.data() + r->sent, n);
  }
  r->sent += n;
  return n;
}

void SetMethodAndBody(CURL* easy, const HttpRequest& request, BodyReader* reader, Slist* headers) {
  using Method = HttpRequest::Method;
  switch (request.method) {
    case Method::kHead:
      curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
      return;
    case Method::kGet:
      curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
      return;
    case Method::kDelete:
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "DELETE");
      return;
    case Method::kPut:
    case Method::kPost:
    case Method::kPatch:
      break;
  }
  static const RequestBody kEmpty;
  if (reader->body == nullptr) reader->body = &kEmpty;
  const auto size = static_cast<curl_off_t>(reader->body->size);
  if (request.method == Method::kPut) {
    curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, size);
  } else {
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, size);
    if (request.method == Method::kPatch) curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "PATCH");
  }
  curl_easy_setopt(easy, CURLOPT_READFUNCTION, OnRead);
  curl_easy_setopt(easy, CURLOPT_READDATA, reader);
  Append(headers, "Expect:");  // no 100-continue round trip
  bool has_type = false;
  for (const auto& [name, value] : request.headers) has_type |= HeaderNameEquals(name, "Content-Type");
  if (!has_type) Append(headers, "Content-Type: application/octet-stream");
}

void LockShare(CURL*, curl_lock_data data, curl_lock_access, void* user) {
  auto* locks = static_cast<std::mutex*>(user);
  locks[static_cast<size_t>(data) % 8].lock();
}

void UnlockShare(CURL*, curl_lock_data data, void* user) {
  auto* locks = static_cast<std::mutex*>(user);
  locks[static_cast<size_t>(data) % 8].unlock();
}

}  // namespace

struct HttpClient::Handle {
  Handle() : easy(curl_easy_init()) {
    if (easy == nullptr) throw Error(ErrorCode::kIOError, "libcurl could not create a handle.");
  }
  ~Handle() { curl_easy_cleanup(easy); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  CURL* easy;
  char errbuf[CURL_ERROR_SIZE];
};

// Borrows a handle from the pool for one request and returns it, with its
// connections, when the request ends however it ends.
class HttpClient::Lease {
 public:
  explicit Lease(HttpClient* client) : client_(client), handle_(client->Acquire()) {}
  ~Lease() { client_->Release(std::move(handle_)); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  Handle* get() const { return handle_.get(); }

 private:
  HttpClient* client_;
  std::unique_ptr<Handle> handle_;
};

HttpClient::HttpClient(HttpClientOptions options) : options_(std::move(options)) {
  GlobalInit();
  static_assert(CURL_LOCK_DATA_LAST <= 8, "share_locks_ needs one mutex per lock kind");
  CURLSH* share = curl_share_init();
  if (share == nullptr) throw Error(ErrorCode::kIOError, "libcurl could not create a share.");
  curl_share_setopt(share, CURLSHOPT_LOCKFUNC, LockShare);
  curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, UnlockShare);
  curl_share_setopt(share, CURLSHOPT_USERDATA, static_cast<void*>(share_locks_));
  curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  // Not CURL_LOCK_DATA_CONNECT: libcurl does not support sharing connections
  // between concurrent threads. Each pooled handle keeps its own instead.
  share_ = share;
}

HttpClient::~HttpClient() {
  idle_.clear();  // every handle must be gone before the share
  curl_share_cleanup(static_cast<CURLSH*>(share_));
}

std::unique_ptr<HttpClient::Handle> HttpClient::Acquire() {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!idle_.empty()) {
      std::unique_ptr<Handle> h = std::move(idle_.back());
      idle_.pop_back();
      return h;
    }
  }
  auto handle = std::make_unique<Handle>();
  // curl_easy_reset() keeps the share, so it is set once per handle.
  curl_easy_setopt(handle->easy, CURLOPT_SHARE, static_cast<CURLSH*>(share_));
  return handle;
}

void HttpClient::Release(std::unique_ptr<Handle> handle) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (idle_.size() < options_.max_idle_handles) idle_.push_back(std::move(handle));
  // else: the handle and its connections close here.
}

void HttpClient::AbortInFlight() {
  std::stop_source aborted;
  {
    std::lock_guard<std::mutex> lock(abort_mu_);
    if (shut_down_) return;
    aborted = std::exchange(abort_, std::stop_source());
  }
  aborted.request_stop();
}

void HttpClient::Shutdown() {
  std::lock_guard<std::mutex> lock(abort_mu_);
  shut_down_ = true;
  abort_.request_stop();  // kept: every later request is aborted too
}

std::stop_token HttpClient::abort_token() const {
  std::lock_guard<std::mutex> lock(abort_mu_);
  return abort_.get_token();
}

HttpResponse HttpClient::Perform(const HttpRequest& request) {
  Lease lease(this);
  const bool follow = request.redirects == RedirectMode::kFollow && !request.body;
  std::string url = request.url;
  bool send_credentials = true;
  long connections = 0;
  for (int hop = 0;; ++hop) {
    HttpResponse r = PerformOnce(lease.get(), request, url, send_credentials, follow);
    connections += r.new_connections;
    r.effective_url = url;
    std::optional<std::string> location = r.headers.Get("Location");
    if (IsRedirectStatus(r.status) && location) {
      if (follow) {
        r.redirect_url = ResolveUrl(url, *location);  // throws on a bad Location
      } else {
        try {
          r.redirect_url = ResolveUrl(url, *location);
        } catch (const Error&) {
          // The caller gets the raw Location header to judge.
        }
      }
    }
    if (!follow || !r.redirect_url) {
      r.redirects_followed = hop;
      r.new_connections = connections;
      return r;
    }
    if (hop >= request.max_redirects) {
      throw HttpError(ErrorCode::kIOError,
                      std::string(request.method_name()) + " " + RedactUrl(request.url) +
                          " was redirected more than " + std::to_string(request.max_redirects) +
                          " times.",
                      false);
    }
    if (send_credentials && !SameOrigin(request.url, *r.redirect_url)) send_credentials = false;
    url = *r.redirect_url;
  }
}

HttpResponse HttpClient::PerformOnce(Handle* handle, const HttpRequest& request,
                                     const std::string& url, bool send_credentials,
                                     bool follow) {
  CURL* easy = handle->easy;
  curl_easy_reset(easy);  // keeps the handle's connections, drops its options
  handle->errbuf[0] = '\0';

  HttpResponse response;
  Transfer transfer{&request, &response, follow};
  transfer.idle_timeout = request.idle_timeout.value_or(options_.idle_timeout);
  transfer.aborted = abort_token();
  const std::string what = std::string(request.method_name()) + " " + RedactUrl(url);
  ThrowIfCutShort(transfer, what);

  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, handle->errbuf);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(easy, CURLOPT_XFERINFODATA, &transfer);
  if (long limit = TotalTimeoutMs(options_.total_timeout, request.deadline); limit > 0) {
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, limit);
  }
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, options_.receive_buffer);
  curl_easy_setopt(easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer);
  BodyReader body_reader{request.body ? &*request.body : nullptr};
  Slist headers;
  SetMethodAndBody(easy, request, &body_reader, &headers);
  std::string userpwd;
  if (request.aws_sigv4 && send_credentials) {
    const AwsSigV4& sig = *request.aws_sigv4;
    curl_easy_setopt(easy, CURLOPT_AWS_SIGV4, sig.provider.c_str());
    userpwd = sig.access_key + ":" + sig.secret_key;
    curl_easy_setopt(easy, CURLOPT_USERPWD, userpwd.c_str());
    if (!sig.session_token.empty()) Append(&headers, "x-amz-security-token: " + sig.session_token);
  }
  std::string range;
  if (request.range) {
    range = std::to_string(request.range->first) + "-" +
            (request.range->last ? std::to_string(*request.range->last) : "");
    curl_easy_setopt(easy, CURLOPT_RANGE, range.c_str());
  }

  if (request.accept_compressed) {
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");  // all curl can decode
  } else {
    Append(&headers, "Accept-Encoding: identity");
  }
  for (const auto& [name, value] : request.headers) {
    if (!send_credentials && IsCredentialHeader(name)) continue;
    Append(&headers, name + ": " + value);
  }
  if (send_credentials) {
    for (const auto& [name, value] : request.credentials) Append(&headers, name + ": " + value);
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.get());

  CURLcode rc = curl_easy_perform(easy);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, nullptr);  // `headers` dies before the handle

  if (transfer.error) std::rethrow_exception(transfer.error);
  if (body_reader.error) std::rethrow_exception(body_reader.error);
  if (rc != CURLE_OK) ThrowIfCutShort(transfer, what);
  if (transfer.too_large) {
    throw HttpError(ErrorCode::kIOError,
                    std::string(request.method_name()) + " " + RedactUrl(url) +
                        " returned a body larger than " + std::to_string(request.max_body) +
                        " bytes.",
                    false, response.status, response.headers);
  }
  if (transfer.idle_expired) {
    throw HttpError(ErrorCode::kIOError,
                    std::string(request.method_name()) + " " + RedactUrl(url) +
                        " timed out: no data arrived for " +
                        std::to_string(transfer.idle_timeout.count()) + " ms.",
                    true);
  }
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && response.stopped)) {
    throw TransportError(request.method_name(), url, rc, handle->errbuf);
  }
  long status = 0;
  if (curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status != 0) {
    response.status = status;
  }
  long connects = 0;
  if (curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK) {
    response.new_connections = connects;
  }
  return response;
}

const char* HttpRequest::method_name() const {
  switch (method) {
    case Method::kGet: return "GET";
    case Method::kHead: return "HEAD";
    case Method::kPut: return "PUT";
    case Method::kPost: return "POST";
    case Method::kPatch: return "PATCH";
    case Method::kDelete: return "DELETE";
  }
  return "GET";
}

void ThrowUnlessSuccess(const HttpRequest& request, const HttpResponse& response) {
  if (response.status >= 200 && response.status < 300) return;
  throw StatusError(request.method_name(), response.effective_url.empty() ? request.url
                                                                          : response.effective_url,
                    response.status, response.headers);
}

}  // namespace modelfs::remote
