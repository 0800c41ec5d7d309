// remote/s3_location.h — where an S3 object lives and how to reach it:
// s3://bucket/key URLs, the configuration a user expects from the AWS
// environment variables, and the HTTP URL of an object.
//
// Everything here is pure (no network). Malformed URLs, bucket names, keys,
// regions and endpoints are refused with Error(kInvalidArgument) and a
// sentence saying what is wrong; missing credentials name the variables to
// set. Secrets never appear in a message.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace modelfs::remote {

// A bucket and a key. A key that is empty or ends in '/' names a prefix (a
// "directory" to export into) rather than one object.
struct S3Location {
  std::string bucket;
  std::string key;

  bool is_prefix() const { return key.empty() || key.back() == '/'; }
  // "s3://bucket/key", for messages.
  std::string ToString() const { return "s3://" + bucket + "/" + key; }
};

// Parses "s3://bucket", "s3://bucket/" and "s3://bucket/key". The bucket must
// follow S3's naming rules (3-63 characters of a-z, 0-9, '.' and '-',
// starting and ending with a letter or digit, no "..", not an IP address);
// the key is taken literally (no percent-decoding), at most 1024 bytes,
// without control characters or "." / ".." path segments.
S3Location ParseS3Url(std::string_view url);

// Throws Error(kInvalidArgument) unless `bucket` follows S3's naming rules.
void CheckS3BucketName(std::string_view bucket);
// Throws Error(kInvalidArgument) unless `key` is a key ParseS3Url accepts.
void CheckS3Key(std::string_view key);

struct S3Config {
  std::string region = "us-east-1";
  // scheme://host[:port][/path] without a trailing '/'.
  std::string endpoint = "https://s3.us-east-1.amazonaws.com";
  // <endpoint>/<bucket>/<key> when true; <bucket>.<endpoint host>/<key>
  // (virtual-hosted, AWS's own endpoints) when false.
  bool path_style = false;
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty without temporary credentials
};

// Looks an environment variable up (the same shape as in remote/hf_hub.h).
using EnvironmentLookup = std::function<std::optional<std::string>(const char* name)>;

// The configuration from the environment: credentials from
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; the region
// from AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1; the endpoint from
// `endpoint_flag` (--s3-endpoint), else AWS_ENDPOINT_URL_S3, else
// AWS_ENDPOINT_URL, else https://s3.<region>.amazonaws.com. Endpoints whose
// host is under amazonaws.com are addressed virtual-hosted, all others
// path-style. Empty values count as unset. `getenv` defaults to the process
// environment. Throws Error(kInvalidArgument) when a credential is missing
// or a value is malformed.
S3Config S3ConfigFromEnvironment(std::optional<std::string> endpoint_flag,
                                 const EnvironmentLookup& getenv = {});

// Validates and normalizes an endpoint (an http or https URL without user
// info, query or fragment; trailing '/' removed).
std::string NormalizeS3Endpoint(std::string_view endpoint);

// True when `endpoint` is one of AWS's own (host under amazonaws.com or
// amazonaws.com.cn).
bool IsAwsS3Endpoint(const std::string& endpoint);

// The URL of `object` (no query), its key percent-encoded segment by
// segment. A bucket with a '.' is addressed path-style even on AWS, as
// virtual-hosted TLS certificates do not cover it.
std::string S3ObjectUrl(const S3Config& config, const S3Location& object);

// curl's SigV4 provider string for `config`: "aws:amz:<region>:s3".
std::string S3SigV4Provider(const S3Config& config);

}  // namespace modelfs::remote
