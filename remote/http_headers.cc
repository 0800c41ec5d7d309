#include "remote/http_headers.h"

#include <charconv>

namespace modelfs::remote {

namespace {

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

bool HeaderNameEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (LowerAscii(a[i]) != LowerAscii(b[i])) return false;
  }
  return true;
}

void HttpHeaders::Add(std::string name, std::string value) {
  fields_.emplace_back(std::move(name), std::move(value));
}

void HttpHeaders::ContinueLast(std::string_view more) {
  if (fields_.empty()) return;
  std::string& value = fields_.back().second;
  if (!value.empty() && !more.empty()) value.push_back(' ');
  value.append(more);
}

std::optional<std::string> HttpHeaders::Get(std::string_view name) const {
  for (const Field& f : fields_) {
    if (HeaderNameEquals(f.first, name)) return f.second;
  }
  return std::nullopt;
}

std::vector<std::string> HttpHeaders::GetAll(std::string_view name) const {
  std::vector<std::string> out;
  for (const Field& f : fields_) {
    if (HeaderNameEquals(f.first, name)) out.push_back(f.second);
  }
  return out;
}

std::optional<uint64_t> HttpHeaders::ContentLength() const {
  std::optional<std::string> v = Get("Content-Length");
  if (!v || v->empty()) return std::nullopt;
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || end != v->data() + v->size()) return std::nullopt;
  return n;
}

}  // namespace modelfs::remote
