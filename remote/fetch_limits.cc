// remote/fetch_limits.cc — see fetch_limits.h.
#include "remote/fetch_limits.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "util/error.h"

namespace modelfs::remote {

HttpClientOptions FetchLimits::Client() const {
  HttpClientOptions options;
  options.connect_timeout = std::min(options.connect_timeout, read_timeout);
  options.idle_timeout = std::min(options.idle_timeout, read_timeout);
  return options;
}

RetryOptions FetchLimits::Retry() const {
  RetryOptions options;
  options.progress_window = read_timeout;
  options.min_rate = kMinRate;
  return options;
}

std::chrono::milliseconds ParseReadTimeout(const std::string& text, const std::string& source) {
  char* end = nullptr;
  const double seconds = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(seconds) ||
      seconds * 1000 < 1 || seconds > 3600) {
    throw Error(ErrorCode::kInvalidArgument,
                source + " is \"" + text +
                    "\": give the seconds a read may wait for the network, a number above 0 and at "
                    "most 3600 (e.g. 30).");
  }
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000)));
}

FetchLimits FetchLimitsFromEnvironment(
    const std::function<std::optional<std::string>(const char*)>& getenv) {
  FetchLimits limits;
  if (std::optional<std::string> value = getenv(FetchLimits::kVariable); value && !value->empty()) {
    limits.read_timeout = ParseReadTimeout(*value, FetchLimits::kVariable);
  }
  return limits;
}

}  // namespace modelfs::remote
