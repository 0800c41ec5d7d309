#include "remote/http_headers.h"

#include <charconv>

namespace modelfs::remote {

namespace {

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// A whole decimal number, no sign or blank.
bool ParseNumber(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

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

void HttpHeaders::AddLine(std::string_view line) {
  if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
    ContinueLast(TrimHeaderLine(line));
  } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    Add(std::string(TrimHeaderLine(line.substr(0, colon))), std::string(TrimHeaderLine(line.substr(colon + 1))));
  }
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
  uint64_t n = 0;
  if (!v || !ParseNumber(*v, &n)) return std::nullopt;
  return n;
}

std::string_view TrimHeaderLine(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

std::optional<long> ParseStatusLine(std::string_view line) {
  if (line.substr(0, 5) != "HTTP/") return std::nullopt;
  const size_t sp = line.find(' ');
  if (sp == std::string_view::npos) return 0;
  std::string_view code = line.substr(sp + 1, 4);
  if (code.size() == 4 && code[3] >= '0' && code[3] <= '9') return 0;  // more than three digits
  code = code.substr(0, 3);
  long status = 0;
  for (char c : code) {
    if (c < '0' || c > '9') return 0;
    status = status * 10 + (c - '0');
  }
  return code.size() == 3 && status >= 100 ? status : 0;
}

std::optional<ContentRange> ParseContentRange(std::string_view v) {
  if (v.substr(0, 6) != "bytes ") return std::nullopt;
  v.remove_prefix(6);
  size_t dash = v.find('-');
  size_t slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || dash > slash) {
    return std::nullopt;
  }
  ContentRange cr;
  if (!ParseNumber(v.substr(0, dash), &cr.first) ||
      !ParseNumber(v.substr(dash + 1, slash - dash - 1), &cr.last) || cr.last < cr.first) {
    return std::nullopt;
  }
  std::string_view total = v.substr(slash + 1);
  if (total != "*") {
    uint64_t t = 0;
    if (!ParseNumber(total, &t) || cr.last >= t) return std::nullopt;
    cr.total = t;
  }
  return cr;
}

}  // namespace modelfs::remote
