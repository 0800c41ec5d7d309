// util/deadline.cc — see deadline.h.
#include "util/deadline.h"

#include <algorithm>
#include <cstdio>
#include <mutex>

#include "util/error.h"

namespace modelfs {

Deadline Deadline::After(Clock::duration timeout, std::stop_token stop) {
  const Clock::time_point now = Clock::now();
  // (A timeout too long to add is no bound.)
  Deadline d(timeout >= Clock::time_point::max() - now ? Clock::time_point::max() : now + timeout,
             std::move(stop));
  d.timeout_ = timeout;
  return d;
}

Deadline::Clock::duration Deadline::remaining() const {
  if (!finite()) return Clock::duration::max();
  return std::max(Clock::duration::zero(), at_ - Clock::now());
}

Deadline Deadline::EndingBy(Clock::time_point at) const {
  Deadline d(std::min(at_, at), stop_);
  d.timeout_ = timeout_;
  return d;
}

void Deadline::Check(const std::string& what) const {
  if (stopped()) throw Error(ErrorCode::kInterrupted, what + " was interrupted.");
  if (!expired()) return;
  std::string after;
  if (timeout_ > Clock::duration::zero()) {
    const double seconds = std::chrono::duration<double>(timeout_).count();
    char text[32];
    std::snprintf(text, sizeof(text), " after %g s", seconds);
    after = text;
  }
  throw Error(ErrorCode::kTimedOut, what + " timed out" + after + ".");
}

bool Deadline::SleepFor(Clock::duration duration) const {
  const Clock::time_point now = Clock::now();
  const Clock::time_point wake = duration >= at_ - now ? at_ : now + duration;
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_until(lock, stop_, wake, [] { return false; });
  return !stopped() && wake != at_;
}

}  // namespace modelfs
