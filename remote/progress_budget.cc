// remote/progress_budget.cc — see progress_budget.h.
#include "remote/progress_budget.h"

#include <algorithm>
#include <cstdio>

#include "remote/http_error.h"

namespace modelfs::remote {

ProgressBudget::ProgressBudget(std::chrono::milliseconds window, uint64_t min_rate, NowFn now)
    : window_(window),
      min_rate_(min_rate),
      quota_(std::max<uint64_t>(1, min_rate * static_cast<uint64_t>(window.count()) / 1000)),
      now_(now ? std::move(now) : NowFn([] { return Clock::now(); })),
      opened_(now_()) {}

void ProgressBudget::Add(uint64_t bytes) {
  if (exhausted()) return;  // too late: the window already ended short
  received_ += bytes;
  if (received_ >= quota_) {
    opened_ = now_();
    received_ = 0;
  }
}

ProgressBudget::Clock::time_point ProgressBudget::window_end() const {
  if (window_.count() <= 0) return Clock::time_point::max();
  return opened_ + window_;
}

bool ProgressBudget::exhausted() const { return now_() >= window_end(); }

void ProgressBudget::Check(const std::string& what) const {
  if (!exhausted()) return;
  char text[160];
  std::snprintf(text, sizeof(text),
                " received %llu bytes in %g s, less than the %llu bytes per second it must keep up",
                static_cast<unsigned long long>(received_),
                std::chrono::duration<double>(window_).count(),
                static_cast<unsigned long long>(min_rate_));
  throw HttpError(ErrorCode::kIOError,
                  what + text + "; the server stalls or trickles, so the download was given up.",
                  false);
}

}  // namespace modelfs::remote
