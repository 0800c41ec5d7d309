#include "remote/retry_policy.h"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <random>
#include <string>
#include <thread>

#include "remote/http_error.h"

namespace modelfs::remote {

namespace {

double DefaultRandom() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace

RetryPolicy::RetryPolicy(RetryOptions options, SleepFn sleep, NowFn now, RandomFn random)
    : options_(options),
      sleep_(std::move(sleep)),
      now_(std::move(now)),
      random_(std::move(random)),
      injected_sleep_(static_cast<bool>(sleep_)) {
  if (!sleep_) sleep_ = [](Milliseconds d) { std::this_thread::sleep_for(d); };
  if (!now_) now_ = [] { return std::chrono::system_clock::now(); };
  if (!random_) random_ = DefaultRandom;
}

bool RetryPolicy::Sleep(Milliseconds delay, const Deadline& deadline) const {
  if (!injected_sleep_) return deadline.SleepFor(delay);
  sleep_(delay);
  return !deadline.stopped() && !deadline.expired();
}

RetryPolicy::Milliseconds RetryPolicy::Backoff(int retry) const {
  // base * 2^(retry-1), computed without overflow and capped.
  int64_t ceiling = options_.base_delay.count();
  for (int i = 1; i < retry && ceiling < options_.max_delay.count(); ++i) ceiling *= 2;
  ceiling = std::min<int64_t>(ceiling, options_.max_delay.count());
  double r = std::clamp(random_(), 0.0, 1.0);
  return Milliseconds(static_cast<int64_t>(r * static_cast<double>(ceiling)));
}

std::optional<RetryPolicy::Milliseconds> RetryPolicy::NextDelay(int failures,
                                                                const HttpError& error) const {
  if (!error.retryable() || failures >= options_.max_attempts) return std::nullopt;
  if (error.status() == 429 || error.status() == 503) {
    if (std::optional<std::string> header = error.headers().Get("Retry-After")) {
      if (std::optional<Milliseconds> after = ParseRetryAfter(*header, now_())) {
        if (*after > options_.max_retry_after) return std::nullopt;
        return *after;
      }
    }
  }
  return Backoff(failures);
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(
    std::string_view value, std::chrono::system_clock::time_point now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (value.find_first_not_of("0123456789") == std::string_view::npos) {
    uint64_t seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
    // Clamp absurd values instead of overflowing; the policy's cap decides.
    seconds = std::min<uint64_t>(seconds, uint64_t{1} << 32);
    return std::chrono::seconds(seconds);
  }
  std::string date(value);
  time_t when = curl_getdate(date.c_str(), nullptr);  // RFC 1123, 850 and asctime forms
  if (when == static_cast<time_t>(-1)) return std::nullopt;
  // A date centuries away would overflow system_clock's nanoseconds: clamp
  // in whole seconds first, as for delta-seconds.
  constexpr int64_t kClamp = int64_t{1} << 32;
  const int64_t ahead = static_cast<int64_t>(when) - std::chrono::system_clock::to_time_t(now);
  if (ahead > kClamp) return std::chrono::seconds(kClamp);
  if (ahead < -kClamp) return std::chrono::milliseconds(0);
  auto delta = std::chrono::system_clock::from_time_t(when) - now;
  if (delta.count() <= 0) return std::chrono::milliseconds(0);
  return std::chrono::ceil<std::chrono::milliseconds>(delta);
}

}  // namespace modelfs::remote
