// remote/s3_location.cc — see s3_location.h.
#include "remote/s3_location.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>

#include "remote/url.h"
#include "util/error.h"

namespace modelfs::remote {
namespace {

constexpr std::string_view kScheme = "s3://";
constexpr size_t kMaxKeyBytes = 1024;

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

[[noreturn]] void Invalid(const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, message);
}

bool IsLowerAlnum(unsigned char c) { return std::isdigit(c) || (c >= 'a' && c <= 'z'); }

// "192.168.5.4": four dot-separated groups of digits.
bool LooksLikeIpAddress(std::string_view s) {
  int groups = 0;
  for (size_t start = 0;; ++groups) {
    size_t dot = s.find('.', start);
    std::string_view group = s.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (group.empty() || !std::all_of(group.begin(), group.end(),
                                      [](unsigned char c) { return std::isdigit(c); })) {
      return false;
    }
    if (dot == std::string_view::npos) return groups + 1 == 4;
    start = dot + 1;
  }
}

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct CurlFree {
  void operator()(char* p) const { curl_free(p); }
};

// One part of a parsed URL; nullopt when the URL has none.
std::optional<std::string> UrlPart(CURLU* url, CURLUPart part) {
  char* raw = nullptr;
  if (curl_url_get(url, part, &raw, 0) != CURLUE_OK || raw == nullptr) return std::nullopt;
  std::unique_ptr<char, CurlFree> owned(raw);
  return std::string(raw);
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string Trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

}  // namespace

void CheckS3BucketName(std::string_view bucket) {
  const std::string rules =
      ": bucket names have 3 to 63 characters (a-z, 0-9, '.' and '-'), start and end with a "
      "letter or digit, and are not IP addresses.";
  if (bucket.size() < 3 || bucket.size() > 63) {
    Invalid("the S3 bucket name " + Quoted(bucket) + " is invalid" + rules);
  }
  bool chars_ok = std::all_of(bucket.begin(), bucket.end(), [](unsigned char c) {
    return IsLowerAlnum(c) || c == '.' || c == '-';
  });
  if (!chars_ok || !IsLowerAlnum(bucket.front()) || !IsLowerAlnum(bucket.back()) ||
      bucket.find("..") != std::string_view::npos || LooksLikeIpAddress(bucket)) {
    Invalid("the S3 bucket name " + Quoted(bucket) + " is invalid" + rules);
  }
}

void CheckS3Key(std::string_view key) {
  if (key.size() > kMaxKeyBytes) {
    Invalid("the S3 key " + Quoted(key.substr(0, 64)) + "... is " + std::to_string(key.size()) +
            " bytes long; S3 allows at most 1024.");
  }
  if (std::any_of(key.begin(), key.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
    Invalid("the S3 key " + Quoted(key) + " contains a control character.");
  }
  for (size_t start = 0; start <= key.size();) {
    size_t slash = key.find('/', start);
    size_t end = slash == std::string_view::npos ? key.size() : slash;
    std::string_view segment = key.substr(start, end - start);
    if (segment == "." || segment == "..") {
      Invalid("the S3 key " + Quoted(key) +
              " has a \".\" or \"..\" path segment, which modelfs does not support.");
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
}

S3Location ParseS3Url(std::string_view url) {
  if (url.substr(0, kScheme.size()) != kScheme) {
    Invalid(Quoted(url) + " is not an S3 URL: expected s3://bucket/key or s3://bucket/prefix/.");
  }
  std::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  S3Location location;
  location.bucket = std::string(rest.substr(0, slash));
  if (location.bucket.empty()) {
    Invalid("the S3 URL " + Quoted(url) + " names no bucket: expected s3://bucket/key.");
  }
  CheckS3BucketName(location.bucket);
  if (slash != std::string_view::npos) location.key = std::string(rest.substr(slash + 1));
  CheckS3Key(location.key);
  return location;
}

std::string NormalizeS3Endpoint(std::string_view endpoint) {
  std::string text = Trim(std::string(endpoint));
  std::unique_ptr<CURLU, UrlDeleter> url(curl_url());
  if (!url) throw Error(ErrorCode::kIOError, "libcurl could not allocate a URL handle.");
  std::optional<std::string> scheme;
  if (curl_url_set(url.get(), CURLUPART_URL, text.c_str(), 0) == CURLUE_OK) {
    scheme = UrlPart(url.get(), CURLUPART_SCHEME);
  }
  const std::string shown = RedactUrl(text);
  if (!scheme || (Lower(*scheme) != "http" && Lower(*scheme) != "https")) {
    Invalid("the S3 endpoint " + Quoted(shown) +
            " is not an http or https URL (for example http://127.0.0.1:9000).");
  }
  if (UrlPart(url.get(), CURLUPART_USER) || UrlPart(url.get(), CURLUPART_QUERY) ||
      UrlPart(url.get(), CURLUPART_FRAGMENT)) {
    Invalid("the S3 endpoint " + Quoted(shown) +
            " must not contain user info, a query or a fragment.");
  }
  while (!text.empty() && text.back() == '/') text.pop_back();
  return text;
}

bool IsAwsS3Endpoint(const std::string& endpoint) {
  std::string host = UrlHost(endpoint);
  return host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn");
}

S3Config S3ConfigFromEnvironment(std::optional<std::string> endpoint_flag,
                                 const EnvironmentLookup& getenv) {
  auto env = [&](const char* name) -> std::optional<std::string> {
    std::optional<std::string> value;
    if (getenv) {
      value = getenv(name);
    } else if (const char* v = std::getenv(name)) {
      value = v;
    }
    if (value) value = Trim(*value);
    if (value && value->empty()) value.reset();
    return value;
  };

  S3Config config;
  std::optional<std::string> key_id = env("AWS_ACCESS_KEY_ID");
  std::optional<std::string> secret = env("AWS_SECRET_ACCESS_KEY");
  if (!key_id || !secret) {
    std::string missing = !key_id && !secret ? "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are"
                          : !key_id          ? "AWS_ACCESS_KEY_ID is"
                                             : "AWS_SECRET_ACCESS_KEY is";
    Invalid("no S3 credentials: " + missing +
            " not set. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN "
            "for temporary credentials).");
  }
  config.access_key_id = *key_id;
  config.secret_access_key = *secret;
  config.session_token = env("AWS_SESSION_TOKEN").value_or("");

  if (auto region = env("AWS_REGION")) {
    config.region = *region;
  } else if (auto default_region = env("AWS_DEFAULT_REGION")) {
    config.region = *default_region;
  }
  bool region_ok = std::all_of(config.region.begin(), config.region.end(),
                               [](unsigned char c) { return IsLowerAlnum(c) || c == '-'; });
  if (!region_ok) {
    Invalid("the AWS region " + Quoted(config.region) +
            " is invalid: expected a name such as us-east-1 (check AWS_REGION and "
            "AWS_DEFAULT_REGION).");
  }

  if (endpoint_flag && !Trim(*endpoint_flag).empty()) {
    config.endpoint = NormalizeS3Endpoint(*endpoint_flag);
  } else if (auto s3_endpoint = env("AWS_ENDPOINT_URL_S3")) {
    config.endpoint = NormalizeS3Endpoint(*s3_endpoint);
  } else if (auto endpoint = env("AWS_ENDPOINT_URL")) {
    config.endpoint = NormalizeS3Endpoint(*endpoint);
  } else {
    config.endpoint = "https://s3." + config.region + ".amazonaws.com";
  }
  config.path_style = !IsAwsS3Endpoint(config.endpoint);
  return config;
}

std::string S3ObjectUrl(const S3Config& config, const S3Location& object) {
  const std::string key = EncodePath(object.key);
  if (config.path_style || object.bucket.find('.') != std::string::npos) {
    return config.endpoint + "/" + object.bucket + "/" + key;
  }
  // The endpoint is validated and has no user info: "scheme://host...".
  size_t host = config.endpoint.find("://") + 3;
  return config.endpoint.substr(0, host) + object.bucket + "." + config.endpoint.substr(host) +
         "/" + key;
}

std::string S3SigV4Provider(const S3Config& config) { return "aws:amz:" + config.region + ":s3"; }

}  // namespace modelfs::remote
