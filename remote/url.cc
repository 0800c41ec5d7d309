#include "remote/url.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "util/error.h"

namespace modelfs::remote {

namespace {

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using UrlHandle = std::unique_ptr<CURLU, UrlDeleter>;

struct CurlFree {
  void operator()(char* p) const { curl_free(p); }
};
using CurlString = std::unique_ptr<char, CurlFree>;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Parses an absolute http(s) URL, or returns null.
UrlHandle TryParse(const std::string& url) {
  UrlHandle u(curl_url());
  if (!u) return nullptr;  // out of memory
  if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return nullptr;
  return u;
}

std::string Part(CURLU* u, CURLUPart part, unsigned flags = 0) {
  char* raw = nullptr;
  if (curl_url_get(u, part, &raw, flags) != CURLUE_OK || raw == nullptr) return "";
  CurlString owned(raw);
  return std::string(raw);
}

UrlHandle ParseHttp(const std::string& url) {
  UrlHandle u = TryParse(url);
  if (u) {
    std::string scheme = Lower(Part(u.get(), CURLUPART_SCHEME));
    if (scheme == "http" || scheme == "https") return u;
  }
  throw Error(ErrorCode::kInvalidArgument,
              "\"" + RedactUrl(url) + "\" is not an absolute http or https URL.");
}

bool IsUnreserved(unsigned char c, bool keep_slash) {
  return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
         (keep_slash && c == '/');
}

// Skips optional whitespace in `s` from `i`.
size_t SkipSpace(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return i;
}

// True when the space-separated relation list `rels` contains `rel`
// (relation types compare case-insensitively, RFC 8288 §3.3).
bool HasRel(std::string_view rels, std::string_view rel) {
  size_t i = 0;
  while (i < rels.size()) {
    i = SkipSpace(rels, i);
    size_t end = rels.find_first_of(" \t", i);
    if (end == std::string_view::npos) end = rels.size();
    if (Lower(std::string(rels.substr(i, end - i))) == Lower(std::string(rel))) return true;
    i = end;
  }
  return false;
}

}  // namespace

std::string PercentEncode(std::string_view text, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (IsUnreserved(c, keep_slash)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string UrlHost(const std::string& url) {
  UrlHandle u = ParseHttp(url);
  return Lower(Part(u.get(), CURLUPART_HOST));
}

bool SameOrigin(const std::string& a, const std::string& b) {
  UrlHandle ua = ParseHttp(a);
  UrlHandle ub = ParseHttp(b);
  return Lower(Part(ua.get(), CURLUPART_SCHEME)) == Lower(Part(ub.get(), CURLUPART_SCHEME)) &&
         Lower(Part(ua.get(), CURLUPART_HOST)) == Lower(Part(ub.get(), CURLUPART_HOST)) &&
         Part(ua.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT) ==
             Part(ub.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
}

std::string ResolveUrl(const std::string& base, const std::string& location) {
  UrlHandle u = ParseHttp(base);
  // curl resolves "" and "#f" against the base's directory; RFC 3986 §5.2.2
  // keeps the base's path and query for both.
  if (location.empty()) return Part(u.get(), CURLUPART_URL);
  if (location[0] == '#') {
    curl_url_set(u.get(), CURLUPART_FRAGMENT, location.c_str() + 1, 0);
    return Part(u.get(), CURLUPART_URL);
  }
  if (curl_url_set(u.get(), CURLUPART_URL, location.c_str(), 0) != CURLUE_OK) {
    throw Error(ErrorCode::kInvalidArgument, "The redirect target \"" + RedactUrl(location) +
                                                 "\" from " + RedactUrl(base) +
                                                 " is not a valid URL.");
  }
  std::string resolved = Part(u.get(), CURLUPART_URL);
  std::string scheme = Lower(Part(u.get(), CURLUPART_SCHEME));
  if (scheme != "http" && scheme != "https") {
    throw Error(ErrorCode::kInvalidArgument, "The redirect from " + RedactUrl(base) +
                                                 " leads to a " + scheme +
                                                 " URL; only http and https are followed.");
  }
  return resolved;
}

std::string RedactUrl(const std::string& url) {
  UrlHandle u = TryParse(url);
  if (!u) return url.substr(0, url.find_first_of("?#"));
  curl_url_set(u.get(), CURLUPART_QUERY, nullptr, 0);
  curl_url_set(u.get(), CURLUPART_FRAGMENT, nullptr, 0);
  curl_url_set(u.get(), CURLUPART_USER, nullptr, 0);
  curl_url_set(u.get(), CURLUPART_PASSWORD, nullptr, 0);
  curl_url_set(u.get(), CURLUPART_OPTIONS, nullptr, 0);
  return Part(u.get(), CURLUPART_URL);
}

std::optional<std::string> FindLink(std::string_view header, std::string_view rel) {
  // link-value = "<" URI-Reference ">" *( OWS ";" OWS link-param ), separated by ",".
  size_t i = 0;
  while (i < header.size()) {
    i = SkipSpace(header, i);
    if (i >= header.size() || header[i] != '<') {  // skip junk up to the next value
      size_t comma = header.find(',', i);
      if (comma == std::string_view::npos) break;
      i = comma + 1;
      continue;
    }
    size_t close = header.find('>', i);
    if (close == std::string_view::npos) break;
    std::string_view target = header.substr(i + 1, close - i - 1);
    i = close + 1;
    bool match = false;
    // Parameters until the ',' that ends this link-value (outside quotes).
    while (i < header.size() && header[i] != ',') {
      i = SkipSpace(header, i);
      if (i < header.size() && header[i] == ';') ++i;
      i = SkipSpace(header, i);
      size_t name_end = header.find_first_of("=;,", i);
      if (name_end == std::string_view::npos) name_end = header.size();
      std::string name = Lower(std::string(header.substr(i, name_end - i)));
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
      i = name_end;
      std::string value;
      if (i < header.size() && header[i] == '=') {
        i = SkipSpace(header, i + 1);
        if (i < header.size() && header[i] == '"') {
          size_t end = header.find('"', i + 1);
          if (end == std::string_view::npos) end = header.size();
          value = header.substr(i + 1, end - i - 1);
          i = std::min(end + 1, header.size());
        } else {
          size_t end = header.find_first_of(";,", i);
          if (end == std::string_view::npos) end = header.size();
          value = header.substr(i, end - i);
          while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
          i = end;
        }
      }
      if (name == "rel" && HasRel(value, rel)) match = true;
      i = SkipSpace(header, i);
      if (i < header.size() && header[i] != ';' && header[i] != ',') ++i;  // stray byte
    }
    if (match) return std::string(target);
    if (i < header.size()) ++i;  // the ','
  }
  return std::nullopt;
}

}  // namespace modelfs::remote
