// remote/fetch_limits.h — how long anything may wait for a remote, and the
// one place that is read from the environment.
//
//   MODELFS_READ_TIMEOUT  seconds, above 0 and at most 3600 (default 30).
//     The longest a read waits for bytes from the network before it fails
//     (EIO through the mount, an error in the CLI), however the server
//     behaves; the window in which every download must receive at least
//     kMinRate bytes per second (ProgressBudget); and the cap on each
//     request's connect and idle timeouts. `modelfs mount -o
//     read_timeout=SECONDS` sets it for a daemon.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "remote/http_client.h"
#include "remote/retry_policy.h"

namespace modelfs::remote {

struct FetchLimits {
  static constexpr const char* kVariable = "MODELFS_READ_TIMEOUT";
  // A server slower than this for a whole read_timeout is given up on.
  static constexpr uint64_t kMinRate = 16 << 10;  // bytes per second

  std::chrono::milliseconds read_timeout{30000};

  // The client's connect and idle timeouts, capped at read_timeout.
  HttpClientOptions Client() const;
  // Default retries, whose progress_window is read_timeout.
  RetryOptions Retry() const;
};

// Parses a number of seconds as MODELFS_READ_TIMEOUT takes it ("30", "2.5");
// throws Error(kInvalidArgument) naming `source` for anything else.
std::chrono::milliseconds ParseReadTimeout(const std::string& text, const std::string& source);

// The limits MODELFS_READ_TIMEOUT asks for through `getenv`, else the defaults.
FetchLimits FetchLimitsFromEnvironment(
    const std::function<std::optional<std::string>(const char*)>& getenv);

}  // namespace modelfs::remote
