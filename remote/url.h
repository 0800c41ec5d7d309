// remote/url.h — small, pure helpers on URLs: percent-encoding of path parts,
// host and origin of a URL, resolution of a redirect's Location, a form safe
// to log, and `Link` header pagination.
//
// Parsing goes through libcurl's URL API (curl_url), so these helpers agree
// with what the HTTP client will actually request. Functions that need a
// well-formed absolute URL throw Error(kInvalidArgument) when they get
// something else; the message never repeats the URL's query string.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace modelfs::remote {

// Percent-encodes every byte outside RFC 3986 "unreserved" (ALPHA DIGIT - . _ ~)
// as %XX with upper-case hex. With `keep_slash`, '/' is left as is.
std::string PercentEncode(std::string_view text, bool keep_slash);

// One path segment: '/' is encoded too. Hugging Face revisions
// ("refs/pr/1" -> "refs%2Fpr%2F1").
inline std::string EncodePathSegment(std::string_view text) { return PercentEncode(text, false); }
// A relative path whose '/' separate segments. Hugging Face file names.
inline std::string EncodePath(std::string_view text) { return PercentEncode(text, true); }

// The host of an absolute http(s) URL, lower-cased, without the port (an
// IPv6 literal keeps its brackets, "[::1]").
std::string UrlHost(const std::string& url);

// True when both URLs have the same scheme, host (case-insensitive) and
// effective port — the rule for keeping credentials across a redirect.
bool SameOrigin(const std::string& a, const std::string& b);

// Resolves a Location header value (absolute, scheme-relative "//host/p",
// absolute-path "/p", relative "../p", "?q" or "#f") against the URL that
// was requested. Only http and https results are accepted.
std::string ResolveUrl(const std::string& base, const std::string& location);

// `url` without user info, query string and fragment: what may appear in
// logs and error messages (signed CDN URLs carry their secret in the query).
// Never throws; a string curl cannot parse is cut at its first '?' or '#'.
std::string RedactUrl(const std::string& url);

// The target of the first link with relation `rel` (default "next") in one
// `Link` header value such as
//   <https://h/api/x?cursor=2>; rel="next", <https://h/api/x>; rel="first"
// The target is returned as written (it may be relative; see ResolveUrl).
std::optional<std::string> FindLink(std::string_view link_header, std::string_view rel = "next");

}  // namespace modelfs::remote
