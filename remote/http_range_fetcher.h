// remote/http_range_fetcher.h — a RangeFetcher over HTTP Range GETs.
//
// HttpRangeFetcher sends a copy of a request template (e.g.
// HfHub::DownloadRequest) through RetryingFetch::FetchRange, so transient
// failures are retried and broken bodies resumed by Range; the bytes go
// straight from curl's buffer into the caller's memory. Where the template's
// URL redirects (the Hub sends LFS files to a CDN), the target is remembered
// and asked directly, saving a round trip per range; when it stops answering
// (a signed URL expired) the template's URL is asked again. StartResolve()
// finds the target before the first fetch needs it. Each answer's total
// size (Content-Range) must equal the size the listing promised. A fetch
// waits for a resolve in progress only until its deadline or its token
// stops. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <future>
#include <mutex>
#include <optional>
#include <string>

#include "remote/http_client.h"
#include "remote/range_fetcher.h"
#include "remote/retry_policy.h"
#include "remote/retrying_fetch.h"

namespace modelfs::remote {

class HttpRangeFetcher : public RangeFetcher {
 public:
  // *client and *policy must outlive the fetcher. `expected_size`: the size
  // the file must have (nullopt: not checked).
  HttpRangeFetcher(HttpClient* client, const RetryPolicy* policy, HttpRequest request,
                   std::optional<uint64_t> expected_size = std::nullopt);
  // Waits for a resolve in progress.
  ~HttpRangeFetcher() override;

  // Asks the template's URL, on a thread of its own, where its bytes are
  // (one HEAD that does not follow redirects), so that the first fetch goes
  // straight to the redirect target. Started when a file is opened, it runs
  // while the open completes and the first read is on its way; a fetch that
  // comes earlier waits for it. A failed resolve only means fetches ask the
  // template's URL as they would have. Does nothing once a target is known.
  void StartResolve();

  // Throws HttpError (a modelfs::Error) when the fetch fails, and
  // Error(kIOError) when the file ends before offset + length or its size is
  // not the expected one.
  void Fetch(uint64_t offset, size_t length, char* out, const Deadline& deadline) override;
  void FetchTo(uint64_t offset, size_t length, const Sink& sink, const Deadline& deadline) override;

 private:
  // One FetchRange of `request` into `sink`; returns the URL that answered.
  std::string FetchFrom(const HttpRequest& request, uint64_t offset, size_t length, const Sink& sink,
                        const Deadline& deadline);
  // Waits for a resolve in progress, no longer than `deadline` allows.
  void AwaitResolve(const Deadline& deadline);
  // Asks `url` directly from now on, if it is not the template's URL.
  void RememberTarget(const std::string& url);
  void Resolve();

  HttpClient* const client_;
  RetryingFetch fetch_;
  HttpRequest request_;
  std::optional<uint64_t> expected_size_;
  std::mutex mu_;
  std::optional<HttpRequest> direct_;  // the redirect target, guarded by mu_
  std::shared_future<void> resolving_;  // StartResolve's work, guarded by mu_
};

}  // namespace modelfs::remote
