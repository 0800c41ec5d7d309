#include "remote/retrying_fetch.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string_view>

#include "remote/http_error.h"
#include "remote/progress_budget.h"
#include "remote/url.h"

namespace modelfs::remote {

namespace {

std::string RangeText(uint64_t first, std::optional<uint64_t> last) {
  return std::to_string(first) + "-" + (last ? std::to_string(*last) : "");
}

// Re-creates `e` with a note on how many tries were made.
HttpError GaveUp(const HttpError& e, int attempts) {
  if (attempts <= 1) return e;
  return HttpError(e.code(),
                   std::string(e.what()) + " Gave up after " + std::to_string(attempts) +
                       " attempts.",
                   e.retryable(), e.status(), e.headers());
}

// The state of one try of FetchRange, shared by its callbacks.
struct Attempt {
  bool ranged = false;
  uint64_t skip = 0;                // leading body bytes to drop (200 to a Range)
  std::optional<uint64_t> expect;   // body bytes this try must deliver
  bool stop_at_expect = false;      // more body follows that we do not want
  uint64_t got = 0;
  bool user_stopped = false;
};

}  // namespace

RetryingFetch::RetryingFetch(HttpClient* client, const RetryPolicy* policy)
    : client_(client), policy_(policy) {}

void RetryingFetch::Pause(std::chrono::milliseconds delay, const Deadline& deadline,
                          const std::stop_token& aborted, const std::string& what) const {
  std::stop_source either;  // the deadline's token or the client's abort
  std::stop_callback on_stop(deadline.stop(), [&] { either.request_stop(); });
  std::stop_callback on_abort(aborted, [&] { either.request_stop(); });
  if (policy_->Sleep(delay, Deadline(deadline.at(), either.get_token()))) return;
  if (aborted.stop_requested()) {
    throw HttpError(ErrorCode::kInterrupted, what + " was aborted: modelfs is stopping or unmounting.",
                    false);
  }
  try {
    deadline.Check(what);
  } catch (const Error& e) {
    throw HttpError(e.code(), e.what(), false);
  }
}

HttpResponse RetryingFetch::Fetch(const HttpRequest& base, const Deadline& deadline) const {
  if (base.sink) {
    throw Error(ErrorCode::kInvalidArgument,
                "RetryingFetch::Fetch cannot retry a request that streams to a sink.");
  }
  HttpRequest request = base;
  request.deadline = deadline;
  const std::stop_token aborted = client_->abort_token();
  // A server that never answers is not asked forever; an upload, which may
  // rightly take long, is bounded by max_attempts alone.
  const std::chrono::milliseconds window = policy_->options().progress_window;
  const auto give_up_at = window.count() > 0 && !request.body
                              ? std::chrono::steady_clock::now() + window
                              : std::chrono::steady_clock::time_point::max();
  for (int failures = 1;; ++failures) {
    std::optional<HttpResponse> response;
    std::optional<HttpError> error;
    try {
      response = client_->Perform(request);
      if (!IsRetryableStatus(response->status)) return std::move(*response);
      error = StatusError(request.method_name(), response->effective_url, response->status,
                          response->headers);
    } catch (const HttpError& e) {
      if (!e.retryable()) throw;
      error = e;
    }
    std::optional<RetryPolicy::Milliseconds> delay = policy_->NextDelay(failures, *error);
    if (delay && std::chrono::steady_clock::now() + *delay >= give_up_at) delay.reset();
    if (!delay) {
      if (response) return std::move(*response);
      throw GaveUp(*error, failures);
    }
    spdlog::warn("Retrying in {} ms: {}", delay->count(), error->what());
    Pause(*delay, deadline, aborted, std::string(request.method_name()) + " " + RedactUrl(request.url));
  }
}

FetchResult RetryingFetch::FetchRange(const HttpRequest& base, ByteRange range,
                                      const BodySink& sink, const Deadline& deadline) const {
  const std::string method = "GET";
  FetchResult result;
  uint64_t next = range.first;              // the next byte the sink expects
  std::optional<uint64_t> end = range.last;  // inclusive
  int failures = 0;
  if (end && *end < next) return result;
  const std::stop_token aborted = client_->abort_token();
  const std::string what = "GET " + RedactUrl(base.url);
  ProgressBudget budget(policy_->options().progress_window, policy_->options().min_rate);

  for (;;) {
    ++result.attempts;
    Attempt a;
    HttpRequest req = base;
    req.method = HttpRequest::Method::kGet;
    req.accept_compressed = false;
    a.ranged = next != 0 || end.has_value();
    req.range.reset();
    if (a.ranged) req.range = ByteRange{next, end};
    const std::string asked = a.ranged ? "bytes " + RangeText(next, end) : "the whole body";
    req.deadline = deadline;
    req.on_progress = [&] { budget.Check(what + " (" + asked + ")"); };

    req.on_headers = [&](long status, const HttpHeaders& h) {
      if (status < 200 || status >= 300) return;  // judged after the transfer
      std::optional<std::string> encoding = h.Get("Content-Encoding");
      if (encoding && !encoding->empty() && !HeaderNameEquals(*encoding, "identity")) {
        throw ProtocolError(method, req.url,
                            "a body with Content-Encoding " + *encoding +
                                " although identity was asked for",
                            false);
      }
      if (status == 206) {
        std::optional<std::string> text = h.Get("Content-Range");
        std::optional<ContentRange> cr = text ? ParseContentRange(*text) : std::nullopt;
        // The end may be cut at the end of the resource, nothing else may differ.
        bool ok = a.ranged && cr && cr->first == next &&
                  (end ? (cr->last == *end || (cr->total && cr->last + 1 == *cr->total &&
                                               cr->last < *end))
                       : (!cr->total || cr->last + 1 == *cr->total));
        if (!ok) {
          throw ProtocolError(method, req.url,
                              "Content-Range \"" + text.value_or("") + "\" when " + asked +
                                  " were asked for",
                              true);
        }
        // A body longer than its Content-Range: which of its bytes are the
        // ones asked for is anyone's guess. (A shorter one is a truncated
        // body: what it holds is delivered, the rest asked for again.)
        std::optional<uint64_t> length = h.ContentLength();
        if (length && *length > cr->last - cr->first + 1) {
          throw ProtocolError(method, req.url,
                              "a body of " + std::to_string(*length) + " bytes with Content-Range \"" +
                                  *text + "\" when " + asked + " were asked for",
                              true);
        }
        if (cr->total) result.total_size = cr->total;
        end = cr->last;
        a.expect = cr->last - cr->first + 1;
      } else if (status == 200) {
        // No Range sent, or the server ignored it: the body starts at byte 0.
        a.skip = next;
        std::optional<uint64_t> length = h.ContentLength();
        if (length) {
          result.total_size = length;
          if (next >= *length && (next > 0 || end)) {
            throw HttpError(ErrorCode::kInvalidArgument,
                            "GET " + RedactUrl(req.url) + " asked for " + asked +
                                ", past the end of its " + std::to_string(*length) +
                                " bytes.",
                            false, status, h);
          }
          if (*length == 0) a.expect = 0;
          if (*length > 0 && (!end || *end >= *length)) end = *length - 1;
        }
        if (end) {
          a.expect = *end - next + 1;
          a.stop_at_expect = !length || *end + 1 < *length;
        }
      } else {
        throw ProtocolError(method, req.url,
                            "HTTP " + std::to_string(status) + " without a body when " + asked +
                                " were asked for",
                            false);
      }
    };
    req.sink = [&](const char* p, size_t n) -> bool {
      if (a.skip > 0) {
        size_t drop = static_cast<size_t>(std::min<uint64_t>(a.skip, n));
        p += drop;
        n -= drop;
        a.skip -= drop;
      }
      uint64_t remaining = a.expect ? *a.expect - a.got : UINT64_MAX;
      bool overrun = n > remaining;  // a 206 may not run past its range
      n = static_cast<size_t>(std::min<uint64_t>(n, remaining));
      if (n > 0) {
        bool more = sink(p, n);
        a.got += n;
        next += n;
        result.bytes += n;
        budget.Add(n);
        if (!more) {
          a.user_stopped = true;
          return false;
        }
      }
      // Stop once everything wanted has arrived and more would follow.
      return !(a.expect && a.got == *a.expect && (a.stop_at_expect || overrun));
    };

    std::optional<HttpError> error;
    try {
      HttpResponse r = client_->Perform(req);
      result.status = r.status;
      result.headers = std::move(r.headers);
      result.effective_url = std::move(r.effective_url);
      if (r.status < 200 || r.status >= 300) {
        HttpError e = StatusError(method, req.url, r.status, result.headers);
        if (!e.retryable()) throw e;
        error = std::move(e);
      } else if (a.user_stopped) {
        result.stopped = true;
        return result;
      } else if (a.expect && a.got < *a.expect) {
        error = ProtocolError(method, req.url,
                              "a truncated body (" + std::to_string(a.got) + " of " +
                                  std::to_string(*a.expect) + " bytes) when " + asked +
                                  " were asked for",
                              true);
      } else {
        return result;
      }
    } catch (const HttpError& e) {
      if (!e.retryable() || a.user_stopped) throw;
      error = e;
    }

    if (end && next > *end) return result;  // every byte arrived before the failure
    // A try that moved the download forward starts the failure count
    // afresh; the budget decides whether it moved it far enough.
    failures = a.got > 0 ? 1 : failures + 1;
    auto check_budget = [&] {
      try {
        budget.Check(what);
      } catch (const HttpError& exhausted) {
        throw HttpError(exhausted.code(), std::string(exhausted.what()) + " The last try failed: " + error->what(),
                        false, error->status(), error->headers());
      }
    };
    check_budget();
    std::optional<RetryPolicy::Milliseconds> delay = policy_->NextDelay(failures, *error);
    if (!delay) throw GaveUp(*error, result.attempts);
    spdlog::warn("Retrying in {} ms from byte {}: {}", delay->count(), next, error->what());
    // A pause past the end of the budget's window would only end in its check.
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(budget.window_end() -
                                                                    std::chrono::steady_clock::now());
    Pause(std::clamp(left, std::chrono::milliseconds(0), *delay), deadline, aborted, what);
    check_budget();
  }
}

}  // namespace modelfs::remote
