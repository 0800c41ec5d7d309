// Fuzzes the parsing of an HTTP response head (remote/http_headers.h) as
// curl hands it over line by line, and of the values modelfs reads from it:
// Content-Length, Content-Range, Retry-After and Link.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "remote/http_headers.h"
#include "remote/retry_policy.h"
#include "remote/url.h"
#include "tests/fuzz/fuzz_check.h"

using namespace modelfs::remote;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view head(reinterpret_cast<const char*>(data), size);
  HttpHeaders headers;
  while (!head.empty()) {
    const size_t nl = head.find('\n');
    const std::string_view line = head.substr(0, nl == std::string_view::npos ? head.size() : nl + 1);
    head.remove_prefix(line.size());
    if (std::optional<long> s = ParseStatusLine(line)) {
      FUZZ_CHECK(*s == 0 || (*s >= 100 && *s <= 999));
      headers.Clear();  // a new response (after a 1xx) starts afresh
    } else if (!TrimHeaderLine(line).empty()) {
      headers.AddLine(line);
    }
  }
  for (const auto& [name, value] : headers.fields()) {
    FUZZ_CHECK(TrimHeaderLine(name) == name);
    FUZZ_CHECK(headers.Get(name).has_value());
  }
  (void)headers.ContentLength();
  if (std::optional<std::string> range = headers.Get("Content-Range")) {
    if (std::optional<ContentRange> cr = ParseContentRange(*range)) {
      FUZZ_CHECK(cr->first <= cr->last && (!cr->total || cr->last < *cr->total));
    }
  }
  const auto now = std::chrono::system_clock::time_point(std::chrono::hours(24 * 365 * 56));
  for (const std::string& value : headers.GetAll("Retry-After")) {
    if (auto after = ParseRetryAfter(value, now)) FUZZ_CHECK(after->count() >= 0);
  }
  for (const std::string& value : headers.GetAll("Link")) (void)FindLink(value, "next");
  return 0;
}
