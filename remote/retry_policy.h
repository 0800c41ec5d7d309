// remote/retry_policy.h — when, and after how long, a failed HTTP request is
// tried again.
//
// Exponential backoff with full jitter: before retry n (n = 1, 2, …) the
// delay is uniform in [0, min(max_delay, base_delay * 2^(n-1))]. Only
// retryable failures are retried (HttpError::retryable(): connection errors,
// resets, timeouts, 5xx, 429), at most max_attempts tries in all. A 429 or
// 503 carrying Retry-After (seconds or an HTTP date) waits that long instead,
// unless it exceeds max_retry_after, in which case the policy gives up at once
// rather than stall a reader for minutes.
//
// Retries count progress, not attempts: max_attempts bounds the tries in a
// row that received nothing, and a download that keeps failing after some
// bytes is bounded by its ProgressBudget (progress_window, min_rate; see
// progress_budget.h), not by a number of resumes.
//
// The clock, the sleep and the random source are injectable so tests run
// without waiting. A RetryPolicy is immutable after construction and may be
// shared by many threads if the injected functions are thread-safe (the
// defaults are).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "util/deadline.h"

namespace modelfs::remote {

class HttpError;

struct RetryOptions {
  // Tries in a row that received nothing, the first included; 1 disables
  // retries. A try that delivered body bytes starts the count afresh.
  int max_attempts = 5;
  std::chrono::milliseconds base_delay{200};
  std::chrono::milliseconds max_delay{10000};
  std::chrono::milliseconds max_retry_after{60000};
  // A download must receive min_rate * progress_window bytes in each
  // progress_window, tries and pauses included (ProgressBudget); a request
  // with nothing to upload is not tried again once progress_window passed.
  // 0: no limit. Set from FetchLimits (remote/fetch_limits.h).
  std::chrono::milliseconds progress_window{30000};
  uint64_t min_rate = 16 << 10;  // bytes per second
};

class RetryPolicy {
 public:
  using Milliseconds = std::chrono::milliseconds;
  using SleepFn = std::function<void(Milliseconds)>;
  using NowFn = std::function<std::chrono::system_clock::time_point()>;
  using RandomFn = std::function<double()>;  // uniform in [0, 1)

  // Empty functions mean: std::this_thread::sleep_for, system_clock::now and
  // a per-thread Mersenne twister seeded from std::random_device.
  explicit RetryPolicy(RetryOptions options = {}, SleepFn sleep = {}, NowFn now = {},
                       RandomFn random = {});

  // The delay before the next try after `failures` consecutive failed tries
  // (the last one failing with `error`), or nullopt to give up.
  std::optional<Milliseconds> NextDelay(int failures, const HttpError& error) const;

  // The jittered exponential delay before retry number `retry` (1-based).
  Milliseconds Backoff(int retry) const;

  void Sleep(Milliseconds delay) const { sleep_(delay); }
  // Sleeps `delay`, less when `deadline` comes or its token stops first
  // (an injected sleep function is called as it is); false when cut short.
  bool Sleep(Milliseconds delay, const Deadline& deadline) const;
  std::chrono::system_clock::time_point Now() const { return now_(); }
  const RetryOptions& options() const { return options_; }

 private:
  RetryOptions options_;
  SleepFn sleep_;
  NowFn now_;
  RandomFn random_;
  bool injected_sleep_;
};

// Parses a Retry-After value: delta-seconds ("120") or an HTTP date
// ("Wed, 21 Oct 2015 07:28:00 GMT", taken relative to `now`; a date in the
// past means 0). Returns nullopt when the value is neither.
std::optional<std::chrono::milliseconds> ParseRetryAfter(
    std::string_view value, std::chrono::system_clock::time_point now);

}  // namespace modelfs::remote
