// remote/retrying_fetch.h — HTTP requests that survive transient failures:
// retried under a RetryPolicy, and resumed by Range where a body broke off.
//
// FetchRange() is the download primitive of lazy reads. It hands the sink
// the requested bytes in order, each exactly once, or throws: when a
// connection resets mid-body it asks again from the first byte not yet
// delivered; it rejects (and retries) a body shorter than promised, a 206
// whose Content-Range is not the one requested or whose Content-Length is
// larger than its Content-Range, and a compressed body; a
// server that ignores Range and answers 200 has the leading bytes skipped and
// the transfer stopped after the last one wanted. Error pages never reach
// the sink. Each retry is logged at warn level with the URL redacted.
//
// Nothing here waits without a bound: a fetch ends by its Deadline (the
// caller's: a reader waits so long and no longer), when its ProgressBudget
// runs out (a server that stalls or trickles, however often it is asked
// again), after max_attempts tries in a row that received nothing, and at
// once when the deadline's token stops or the client aborts; the pauses
// between tries end with them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "remote/http_client.h"
#include "remote/http_headers.h"
#include "remote/retry_policy.h"

namespace modelfs::remote {

struct FetchResult {
  long status = 0;             // of the last try: 200 or 206
  HttpHeaders headers;         // of the last try
  std::string effective_url;   // of the last try, after redirects
  uint64_t bytes = 0;          // delivered to the sink
  std::optional<uint64_t> total_size;  // size of the whole resource, when the server said
  int attempts = 0;            // tries made, the successful one included
  bool stopped = false;        // the sink returned false
};

class RetryingFetch {
 public:
  // *client and *policy must outlive the RetryingFetch. Thread-safe.
  RetryingFetch(HttpClient* client, const RetryPolicy* policy);
  RetryingFetch(const RetryingFetch&) = delete;
  RetryingFetch& operator=(const RetryingFetch&) = delete;

  // Performs `request` (which must have no sink; the body is collected in
  // the response), retrying transport failures and retryable statuses.
  // Returns the last response whatever its status (map it with
  // ThrowUnlessSuccess or a remote's own rules); throws the last HttpError
  // when transport failures outlast the policy.
  // Retries of a request with nothing to upload stop once the policy's
  // progress_window has passed; the request ends by `deadline` (replacing
  // request.deadline).
  HttpResponse Fetch(const HttpRequest& request, const Deadline& deadline = {}) const;

  // GETs bytes `range` of request.url (its method, range, sink and
  // on_headers are replaced) into `sink`. A range whose end lies past the end
  // of the resource is cut at the end when the server says so. Throws
  // HttpError for a non-2xx answer (with its status and headers), and when
  // retryable failures outlast the policy or the budget; Error(kTimedOut)
  // at `deadline` and Error(kInterrupted) when its token stops or the
  // client aborts. Bytes already delivered stay delivered.
  FetchResult FetchRange(const HttpRequest& request, ByteRange range, const BodySink& sink,
                         const Deadline& deadline = {}) const;

 private:
  // Sleeps `delay` before the next try of `what`; throws (not retryable)
  // when `deadline` comes, its token stops or the client aborts first.
  void Pause(std::chrono::milliseconds delay, const Deadline& deadline,
             const std::stop_token& aborted, const std::string& what) const;

  HttpClient* client_;
  const RetryPolicy* policy_;
};

}  // namespace modelfs::remote
