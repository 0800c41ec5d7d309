#include "remote/http_error.h"

#include <curl/curl.h>

#include "remote/url.h"

namespace modelfs::remote {

namespace {

const char* Reason(long status) {
  switch (status) {
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return nullptr;
  }
}

bool IsRetryableCurlCode(int code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_QUIC_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

// Replaces every occurrence of `from` in `text` by `to`.
std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  if (from.empty()) return text;
  for (size_t pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

}  // namespace

bool IsRetryableStatus(long status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599 && status != 501 &&
                                            status != 505);
}

HttpError StatusError(std::string_view method, const std::string& url, long status,
                      const HttpHeaders& headers) {
  std::string message = std::string(method) + " " + RedactUrl(url) + " failed with HTTP " +
                        std::to_string(status);
  if (const char* reason = Reason(status)) message += std::string(" (") + reason + ")";
  if (std::optional<std::string> server = headers.Get("X-Error-Message"); server && !server->empty()) {
    message += ": " + *server;
  }
  if (status == 429 || status == 503) {
    if (std::optional<std::string> after = headers.Get("Retry-After")) {
      message += "; the server asks to retry after " + *after +
                 (after->find_first_not_of("0123456789") == std::string::npos ? " s" : "");
    }
  }
  message += ".";
  ErrorCode code = ErrorCode::kIOError;
  if (status == 404 || status == 410) code = ErrorCode::kNotFound;
  if (status == 400 || status == 416) code = ErrorCode::kInvalidArgument;
  return HttpError(code, message, IsRetryableStatus(status), status, headers);
}

HttpError TransportError(std::string_view method, const std::string& url, int curl_code,
                         std::string_view detail) {
  std::string message = std::string(method) + " " + RedactUrl(url) + " failed: " +
                        curl_easy_strerror(static_cast<CURLcode>(curl_code));
  if (!detail.empty()) {
    // curl's detail rarely names the URL, but when it does, not its query.
    std::string safe = ReplaceAll(std::string(detail), url, RedactUrl(url));
    while (!safe.empty() && (safe.back() == '\n' || safe.back() == '.')) safe.pop_back();
    message += " (" + safe + ")";
  }
  message += ".";
  ErrorCode code = ErrorCode::kIOError;
  if (curl_code == CURLE_URL_MALFORMAT || curl_code == CURLE_UNSUPPORTED_PROTOCOL) {
    code = ErrorCode::kInvalidArgument;
  }
  return HttpError(code, message, IsRetryableCurlCode(curl_code));
}

HttpError ProtocolError(std::string_view method, const std::string& url, const std::string& what,
                        bool retryable) {
  return HttpError(ErrorCode::kIOError,
                   std::string(method) + " " + RedactUrl(url) + " returned " + what + ".",
                   retryable);
}

}  // namespace modelfs::remote
