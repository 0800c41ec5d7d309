// remote/http_range_fetcher.cc — see http_range_fetcher.h.
#include "remote/http_range_fetcher.h"

#include <chrono>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>

#include "remote/http_error.h"
#include "remote/url.h"
#include "util/error.h"

namespace modelfs::remote {

HttpRangeFetcher::HttpRangeFetcher(HttpClient* client, const RetryPolicy* policy,
                                   HttpRequest request, std::optional<uint64_t> expected_size)
    : client_(client), fetch_(client, policy), request_(std::move(request)), expected_size_(expected_size) {}

HttpRangeFetcher::~HttpRangeFetcher() {
  std::shared_future<void> resolving;
  {
    std::lock_guard<std::mutex> lock(mu_);
    resolving = resolving_;
  }
  if (resolving.valid()) resolving.wait();
}

void HttpRangeFetcher::StartResolve() {
  std::lock_guard<std::mutex> lock(mu_);
  if (resolving_.valid() || direct_) return;
  try {
    resolving_ = std::async(std::launch::async, [this] { Resolve(); }).share();
  } catch (const std::system_error&) {
    // no thread: fetches ask the template's URL
  }
}

void HttpRangeFetcher::Resolve() {
  HttpRequest head = request_;
  head.method = HttpRequest::Method::kHead;
  head.redirects = RedirectMode::kManual;
  try {
    const HttpResponse response = client_->Perform(head);
    if (response.status >= 300 && response.status < 400 && response.redirect_url) {
      RememberTarget(*response.redirect_url);
    }
  } catch (const std::exception&) {
    // the first fetch asks the template's URL, and reports what fails there
  }
}

void HttpRangeFetcher::RememberTarget(const std::string& url) {
  if (url.empty() || url == request_.url) return;
  HttpRequest target = request_;
  target.url = url;
  if (!SameOrigin(url, request_.url)) target.credentials.clear();
  target.redirects = RedirectMode::kFollow;
  std::lock_guard<std::mutex> lock(mu_);
  direct_ = std::move(target);
}

std::string HttpRangeFetcher::FetchFrom(const HttpRequest& request, uint64_t offset, size_t length,
                                        const Sink& sink, const Deadline& deadline) {
  size_t got = 0;
  bool overflow = false;
  BodySink body = [&](const char* data, size_t size) {
    size_t take = std::min(size, length - got);
    sink(data, take);
    got += take;
    if (take < size) overflow = true;
    // Stop only a body longer than asked for: stopping the one that ends
    // here would abort the transfer and close its kept-alive connection.
    return !overflow;
  };
  FetchResult result = fetch_.FetchRange(request, ByteRange{offset, offset + length - 1}, body, deadline);
  const std::string url = RedactUrl(request_.url);
  if (expected_size_ && result.total_size && *result.total_size != *expected_size_) {
    throw Error(ErrorCode::kIOError, "GET " + url + " serves a file of " +
                                         std::to_string(*result.total_size) +
                                         " bytes, but the listing said " +
                                         std::to_string(*expected_size_));
  }
  if (overflow) {
    throw Error(ErrorCode::kIOError, "GET " + url + " sent more bytes than the " +
                                         std::to_string(length) + " asked for at offset " +
                                         std::to_string(offset));
  }
  if (got < length) {
    throw Error(ErrorCode::kIOError, "GET " + url + " returned " + std::to_string(got) +
                                         " bytes at offset " + std::to_string(offset) +
                                         " where " + std::to_string(length) +
                                         " were expected: the file is shorter than listed");
  }
  return result.effective_url;
}

void HttpRangeFetcher::Fetch(uint64_t offset, size_t length, char* out, const Deadline& deadline) {
  size_t got = 0;
  FetchTo(offset, length, [&](const char* data, size_t size) {
    std::memcpy(out + got, data, size);
    got += size;
  }, deadline);
}

void HttpRangeFetcher::AwaitResolve(const Deadline& deadline) {
  std::shared_future<void> resolving;
  {
    std::lock_guard<std::mutex> lock(mu_);
    resolving = resolving_;
  }
  if (!resolving.valid()) return;
  // (A future's wait cannot watch a stop token: look every few ms.)
  constexpr auto kStep = std::chrono::milliseconds(20);
  while (resolving.wait_for(kStep) != std::future_status::ready) {
    if (deadline.stopped() || deadline.expired()) return;  // the fetch reports it
  }
}

void HttpRangeFetcher::FetchTo(uint64_t offset, size_t length, const Sink& sink, const Deadline& deadline) {
  if (length == 0) return;
  std::optional<HttpRequest> direct;
  AwaitResolve(deadline);
  {
    std::lock_guard<std::mutex> lock(mu_);
    direct = direct_;
  }
  if (direct) {
    try {
      FetchFrom(*direct, offset, length, sink, deadline);
      return;
    } catch (const HttpError& e) {
      if (e.status() < 400 || e.status() >= 500) throw;
      // The redirect target refused (an expired signature): ask the origin again.
      std::lock_guard<std::mutex> lock(mu_);
      direct_.reset();
    }
  }
  RememberTarget(FetchFrom(request_, offset, length, sink, deadline));
}

}  // namespace modelfs::remote
