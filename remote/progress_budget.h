// remote/progress_budget.h — whether a download still makes progress: the
// rule that cuts a server which trickles or stalls, however it spreads its
// bytes over tries.
//
// A download must receive min_rate * window bytes (or all it still needs)
// within each `window`. The budget opens a window when it is made, and a
// new one each time the bytes received in the current one reach that
// quota; a window that ends short of it exhausts the budget. Tries,
// resumes and the pauses between them all count: only bytes buy time. (A
// CDN that sends 1000 bytes per GET and then falls silent exhausts it after
// one window, however often it is asked again; a slow server above the
// minimum rate is never cut.) Not thread-safe: one download, one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace modelfs::remote {

class ProgressBudget {
 public:
  using Clock = std::chrono::steady_clock;
  using NowFn = std::function<Clock::time_point()>;

  // A `window` of 0 means no limit. `now` defaults to the steady clock.
  ProgressBudget(std::chrono::milliseconds window, uint64_t min_rate, NowFn now = {});

  // Counts `bytes` received; opens a new window once the quota is met.
  void Add(uint64_t bytes);
  bool exhausted() const;
  // When the current window ends (Clock::time_point::max() without a limit).
  Clock::time_point window_end() const;
  // Throws HttpError(kIOError, not retryable) when exhausted, a sentence
  // saying that `what` ("GET <url>") received too little.
  void Check(const std::string& what) const;

 private:
  const std::chrono::milliseconds window_;
  const uint64_t min_rate_;  // bytes per second
  const uint64_t quota_;     // bytes per window
  const NowFn now_;
  Clock::time_point opened_;
  uint64_t received_ = 0;  // in the current window
};

}  // namespace modelfs::remote
