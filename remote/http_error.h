// remote/http_error.h — failures of HTTP requests, as modelfs::Error.
//
// An HttpError is a modelfs::Error that also says whether trying again may
// help (connection refused or reset, timeouts, 5xx, 429) and, when a server
// answered, the status and headers of that answer (so that callers such as
// the Hugging Face client can map X-Error-Code). Messages name the method and
// the URL without user info, query string or fragment, and never carry
// request headers, so neither signed URLs nor tokens reach a log.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "remote/http_headers.h"
#include "util/error.h"

namespace modelfs::remote {

class HttpError : public Error {
 public:
  // `status` is 0 when no HTTP response was received (a transport failure).
  HttpError(ErrorCode code, const std::string& message, bool retryable, long status = 0,
            HttpHeaders headers = {})
      : Error(code, message), retryable_(retryable), status_(status), headers_(std::move(headers)) {}

  bool retryable() const { return retryable_; }
  long status() const { return status_; }
  const HttpHeaders& headers() const { return headers_; }

 private:
  bool retryable_;
  long status_;
  HttpHeaders headers_;
};

// True for statuses worth retrying: 408, 429 and 5xx other than 501 and 505.
bool IsRetryableStatus(long status);

// The error for a response with a non-2xx `status` to `method` `url`:
// kNotFound for 404/410, kInvalidArgument for 400/416, kIOError otherwise.
// The message quotes X-Error-Message when the server sent one, and the
// Retry-After value on 429/503.
HttpError StatusError(std::string_view method, const std::string& url, long status,
                      const HttpHeaders& headers);

// The error for a libcurl failure `curl_code` (a CURLcode) with curl's
// `detail` text (its error buffer; may be empty).
HttpError TransportError(std::string_view method, const std::string& url, int curl_code,
                         std::string_view detail);

// A 2xx response whose body is not what was asked for (truncated, wrong
// Content-Range, unexpected encoding): kIOError, retryable as given.
HttpError ProtocolError(std::string_view method, const std::string& url, const std::string& what,
                        bool retryable);

}  // namespace modelfs::remote
