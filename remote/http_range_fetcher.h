// remote/http_range_fetcher.h — a RangeFetcher over HTTP Range GETs.
//
// HttpRangeFetcher sends a copy of a request template (e.g.
// HfHub::DownloadRequest) through RetryingFetch::FetchRange, so transient
// failures are retried and broken bodies resumed by Range; the bytes go
// straight from curl's buffer into the caller's memory. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "remote/http_client.h"
#include "remote/range_fetcher.h"
#include "remote/retry_policy.h"
#include "remote/retrying_fetch.h"

namespace modelfs::remote {

class HttpRangeFetcher : public RangeFetcher {
 public:
  // *client and *policy must outlive the fetcher.
  HttpRangeFetcher(HttpClient* client, const RetryPolicy* policy, HttpRequest request);

  // Throws HttpError (a modelfs::Error) when the fetch fails, and
  // Error(kIOError) when the file ends before offset + length.
  void Fetch(uint64_t offset, size_t length, char* out) override;

 private:
  RetryingFetch fetch_;
  HttpRequest request_;
};

}  // namespace modelfs::remote
