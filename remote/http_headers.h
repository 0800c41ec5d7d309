// remote/http_headers.h — the header fields of one HTTP response.
//
// Fields keep their order of arrival. Names compare case-insensitively; a
// name may occur several times (Link, Set-Cookie), and Get() returns the
// first occurrence while GetAll() returns every value in order.
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

}  // namespace modelfs::remote
