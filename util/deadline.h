// util/deadline.h — the bound on one wait for the network: a time it must
// end by, and a stop token that ends it sooner.
//
// Every wait that can block on a remote (a read of a lazily fetched file, a
// transfer, the pause between two tries of one) takes a Deadline. It gives
// up once the time has come, with Error(kTimedOut), or as soon as the token
// is stopped (a FUSE interrupt, an abort, the daemon stopping), with
// Error(kInterrupted). A default Deadline never expires and is never
// stopped. Copies share the token; a Deadline is cheap to copy and safe to
// read from many threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <stop_token>
#include <string>

namespace modelfs {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  Deadline() = default;
  Deadline(Clock::time_point at, std::stop_token stop) : at_(at), stop_(std::move(stop)) {}
  // Ends `timeout` from now (which Check's message names).
  static Deadline After(Clock::duration timeout, std::stop_token stop = {});

  Clock::time_point at() const { return at_; }
  const std::stop_token& stop() const { return stop_; }
  bool finite() const { return at_ != Clock::time_point::max(); }
  bool expired() const { return finite() && Clock::now() >= at_; }
  bool stopped() const { return stop_.stop_requested(); }
  // Time left: zero once expired, Clock::duration::max() when not finite.
  Clock::duration remaining() const;
  // The same token, ending at the earlier of at() and `at`.
  Deadline EndingBy(Clock::time_point at) const;

  // Throws Error(kInterrupted) when stopped and Error(kTimedOut) when
  // expired, each a sentence saying that `what` ("reading x") did not end.
  void Check(const std::string& what) const;
  // Sleeps for `duration`, or less when the deadline comes or the token
  // stops first; false when cut short.
  bool SleepFor(Clock::duration duration) const;
  // Waits on `cv` (`lock` held) until `done()`; false when the deadline
  // came or the token stopped first. The token's stop wakes the wait.
  template <typename Lock, typename Predicate>
  bool Wait(std::condition_variable_any& cv, Lock& lock, Predicate done) const {
    if (!finite()) return cv.wait(lock, stop_, done);
    return cv.wait_until(lock, stop_, at_, done);
  }

 private:
  Clock::time_point at_ = Clock::time_point::max();
  std::stop_token stop_;
  Clock::duration timeout_{0};  // as given to After(), for messages
};

}  // namespace modelfs
