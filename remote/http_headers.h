// remote/http_headers.h — the header fields of one HTTP response, and the
// parsing of its head lines and of the values modelfs reads.
//
// Fields keep their order of arrival. Names compare case-insensitively; a
// name may occur several times (Link, Set-Cookie), and Get() returns the
// first occurrence while GetAll() returns every value in order. Every parser
// here takes any bytes a server may send and never reads past them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace modelfs::remote {

class HttpHeaders {
 public:
  using Field = std::pair<std::string, std::string>;  // name as received, trimmed value

  void Add(std::string name, std::string value);
  // Adds one line of a response head as received, line end included:
  // "Name: value" (name and value trimmed of blanks), or, when it starts with
  // a space or tab, a continuation of the last field (obs-fold). A line
  // without ':' is ignored.
  // REQUIRES: not a status line (see ParseStatusLine) nor the blank line
  // that ends the head.
  void AddLine(std::string_view line);
  // Appends to the last field's value (an obs-fold continuation line).
  void ContinueLast(std::string_view more);
  void Clear() { fields_.clear(); }

  std::optional<std::string> Get(std::string_view name) const;
  std::vector<std::string> GetAll(std::string_view name) const;
  bool Has(std::string_view name) const { return Get(name).has_value(); }

  // Content-Length as a number; nullopt when absent or not a plain decimal.
  std::optional<uint64_t> ContentLength() const;

  const std::vector<Field>& fields() const { return fields_; }
  bool empty() const { return fields_.empty(); }

 private:
  std::vector<Field> fields_;
};

// True when two header names are equal ignoring ASCII case.
bool HeaderNameEquals(std::string_view a, std::string_view b);

// `line` without leading spaces and tabs and trailing spaces, tabs, CR and LF.
std::string_view TrimHeaderLine(std::string_view line);

// The status of a status line ("HTTP/1.1 206 Partial Content" gives 206);
// 0 when its code is missing or not three digits from 100 to 999; nullopt
// when `line` does
// not start with "HTTP/" (it is a field line then).
std::optional<long> ParseStatusLine(std::string_view line);

// A Content-Range value "bytes first-last/total" or "bytes first-last/*".
struct ContentRange {
  uint64_t first = 0;
  uint64_t last = 0;              // inclusive; first <= last
  std::optional<uint64_t> total;  // nullopt for "/*"; else last < total
};
// nullopt for any other text (an unsatisfied "bytes */total" included).
std::optional<ContentRange> ParseContentRange(std::string_view value);

}  // namespace modelfs::remote
