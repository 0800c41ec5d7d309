// remote/s3_client.cc — see s3_client.h. The requests of the S3 API and the
// mapping of its errors; the streams are in s3_object_streams.cc.
#include "remote/s3_client.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>

#include "remote/http_error.h"
#include "remote/retrying_fetch.h"
#include "remote/s3_xml.h"
#include "remote/url.h"
#include "util/error.h"

namespace modelfs::remote {
namespace {

// libcurl 7.88 signs the query string as written, so it must already be in
// SigV4's canonical form: names and values percent-encoded, sorted, and
// every parameter with its '='.
std::string CanonicalQuery(std::vector<std::pair<std::string, std::string>> query) {
  for (auto& [name, value] : query) {
    name = EncodePathSegment(name);
    value = EncodePathSegment(value);
  }
  std::sort(query.begin(), query.end());
  std::string out;
  for (const auto& [name, value] : query) out += (out.empty() ? "" : "&") + name + "=" + value;
  return out;
}

bool IsCredentialCode(const std::string& code) {
  return code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" ||
         code == "AuthorizationHeaderMalformed" || code == "InvalidToken" ||
         code == "ExpiredToken" || code == "TokenRefreshRequired";
}

constexpr std::chrono::milliseconds kCompleteUploadTimeout{15 * 60 * 1000};

// Codes S3 may put in a 200 answer to CompleteMultipartUpload that are worth
// a retry.
bool IsRetryableCode(const std::string& code) {
  return code == "InternalError" || code == "SlowDown" || code == "ServiceUnavailable" ||
         code == "RequestTimeout";
}

}  // namespace

S3Client::S3Client(S3Config config, HttpClient* http, const RetryPolicy* retry,
                   S3TransferOptions options)
    : config_(std::move(config)), http_(http), retry_(retry), options_(options) {
  config_.endpoint = NormalizeS3Endpoint(config_.endpoint);
  options_.read_range_size = std::max<uint64_t>(options_.read_range_size, 1);
  options_.part_size = std::clamp(options_.part_size, S3TransferOptions::kMinPartSize,
                                  S3TransferOptions::kMaxPartSize);
  options_.parts_in_flight = std::max(options_.parts_in_flight, 1);
}

std::string S3Client::MissingBucket(const std::string& bucket) const {
  return "bucket " + bucket + " does not exist (endpoint " + EndpointForMessages() + ").";
}

std::string S3Client::EndpointForMessages() const {
  std::string endpoint = RedactUrl(config_.endpoint);
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  return endpoint;
}

HttpRequest S3Client::NewRequest(HttpRequest::Method method, const S3Location& object,
                                 Query query) const {
  HttpRequest request;
  request.method = method;
  request.url = S3ObjectUrl(config_, object);
  if (!query.empty()) request.url += "?" + CanonicalQuery(std::move(query));
  request.aws_sigv4 = AwsSigV4{S3SigV4Provider(config_), config_.access_key_id,
                               config_.secret_access_key, config_.session_token};
  // libcurl 7.88 neither sends this header nor hashes a streamed body; given
  // the header, it signs its value as the payload hash, which S3 requires.
  request.headers.emplace_back("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
  request.redirects = RedirectMode::kManual;
  request.accept_compressed = false;
  return request;
}

HttpResponse S3Client::Send(const HttpRequest& request) const {
  try {
    return RetryingFetch(http_, retry_).Fetch(request);
  } catch (const HttpError& e) {
    if (e.status() == 0) ThrowUnreachable(e);
    throw;
  }
}

HttpResponse S3Client::Call(const HttpRequest& request, const S3Location& object,
                            std::string_view action) const {
  HttpResponse response = Send(request);
  if (response.status < 200 || response.status >= 300) {
    ThrowS3Error(response.status, response.headers, response.body, object, action);
  }
  return response;
}

void S3Client::ThrowUnreachable(const HttpError& error) const {
  throw HttpError(error.code(),
                  "the S3 endpoint " + EndpointForMessages() +
                      " could not be reached or stopped answering: " + error.what() +
                      " Check the endpoint (--s3-endpoint, AWS_ENDPOINT_URL_S3 or "
                      "AWS_ENDPOINT_URL) and the network.",
                  error.retryable());
}

void S3Client::ThrowS3Error(long status, const HttpHeaders& headers, std::string_view body,
                            const S3Location& object, std::string_view action) const {
  S3XmlDocument xml(body);
  const bool is_error = xml.RootIs("Error");
  const std::string code = is_error ? xml.Text("Code").value_or("") : "";
  const std::string message = is_error ? xml.Text("Message").value_or("") : "";
  const std::string where = " (endpoint " + EndpointForMessages() + ")";
  const std::string by = " by " + EndpointForMessages();
  const std::string bucket_region = headers.Get("x-amz-bucket-region").value_or("");

  if (code == "NoSuchBucket") throw Error(ErrorCode::kNotFound, MissingBucket(object.bucket));
  if (code == "NoSuchKey" || (status == 404 && code.empty())) {
    throw Error(ErrorCode::kNotFound, object.ToString() + " does not exist" + where + ".");
  }
  if (!bucket_region.empty() && bucket_region != config_.region) {
    throw Error(ErrorCode::kInvalidArgument,
                "bucket " + object.bucket + " is in region " + bucket_region + ", not " +
                    config_.region + ": set AWS_REGION=" + bucket_region + ".");
  }
  if (code == "ExpiredToken" || code == "InvalidToken" || code == "TokenRefreshRequired") {
    throw Error(ErrorCode::kIOError, "the S3 session token was refused" + by + " (" + code +
                                         "): check AWS_SESSION_TOKEN; temporary credentials "
                                         "expire.");
  }
  if (IsCredentialCode(code)) {
    throw Error(ErrorCode::kIOError, "the S3 credentials were refused" + by + " (" + code +
                                         "): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.");
  }
  if (code == "AccessDenied" || status == 403) {
    throw Error(ErrorCode::kIOError,
                "access to " + object.ToString() + " was denied" + by + " (" +
                    std::string(action) +
                    "): check that the credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
                    "are right and allowed to do this.");
  }
  if (code == "NoSuchUpload") {
    throw Error(ErrorCode::kNotFound, "the multipart upload to " + object.ToString() +
                                          " no longer exists (it was aborted or completed).");
  }
  if (code == "PreconditionFailed" || status == 412) {
    throw Error(ErrorCode::kIOError,
                object.ToString() + " changed while it was being read; read it again.");
  }
  std::string detail = code.empty() ? "" : ": " + code;
  if (!message.empty()) detail += " (" + message + ")";
  throw HttpError(status == 400 ? ErrorCode::kInvalidArgument : ErrorCode::kIOError,
                  "S3 " + std::string(action) + " of " + object.ToString() + " failed with HTTP " +
                      std::to_string(status) + detail + where + ".",
                  IsRetryableStatus(status), status, headers);
}

void S3Client::ThrowMissing(const S3Location& object) const {
  HttpResponse bucket = Send(NewRequest(HttpRequest::Method::kHead, {object.bucket, ""}));
  if (bucket.status == 404) throw Error(ErrorCode::kNotFound, MissingBucket(object.bucket));
  throw Error(ErrorCode::kNotFound,
              object.ToString() + " does not exist (endpoint " + EndpointForMessages() + ").");
}

std::optional<S3ObjectInfo> S3Client::Head(const S3Location& object) const {
  HttpRequest request = NewRequest(HttpRequest::Method::kHead, object);
  HttpResponse response = Send(request);
  if (response.status == 404) return std::nullopt;
  if (response.status < 200 || response.status >= 300) {
    // A HEAD answer has no body to say why (a wrong secret, or no permission):
    // a one-byte GET gets the same refusal with its S3 error code.
    HttpRequest get = NewRequest(HttpRequest::Method::kGet, object);
    get.range = ByteRange{0, 0};
    HttpResponse explained = Send(get);
    if (explained.status == response.status) {
      ThrowS3Error(explained.status, explained.headers, explained.body, object, "HEAD");
    }
    ThrowS3Error(response.status, response.headers, response.body, object, "HEAD");
  }
  std::optional<uint64_t> size = response.headers.ContentLength();
  std::optional<std::string> etag = response.headers.Get("ETag");
  if (!size || !etag) {
    throw Error(ErrorCode::kIOError, "S3 answered HEAD " + object.ToString() +
                                         " without Content-Length or ETag (endpoint " +
                                         EndpointForMessages() + ").");
  }
  return S3ObjectInfo{*size, *etag};
}

std::vector<S3PendingUpload> S3Client::ListMultipartUploads(const S3Location& prefix) const {
  std::vector<S3PendingUpload> uploads;
  Query query = {{"prefix", prefix.key}, {"uploads", ""}};
  for (;;) {
    HttpResponse response =
        Call(NewRequest(HttpRequest::Method::kGet, {prefix.bucket, ""}, query), prefix,
             "ListMultipartUploads");
    S3XmlDocument xml(response.body);
    if (!xml.RootIs("ListMultipartUploadsResult")) {
      throw Error(ErrorCode::kIOError, "S3 answered ListMultipartUploads for " +
                                           prefix.ToString() + " with an unexpected document.");
    }
    for (auto& record : xml.Records("Upload", {"Key", "UploadId"})) {
      uploads.push_back({std::move(record[0]), std::move(record[1])});
    }
    std::optional<std::string> key_marker = xml.Text("NextKeyMarker");
    std::optional<std::string> id_marker = xml.Text("NextUploadIdMarker");
    if (xml.Text("IsTruncated").value_or("false") != "true" || !key_marker) return uploads;
    query = {{"key-marker", *key_marker},
             {"prefix", prefix.key},
             {"upload-id-marker", id_marker.value_or("")},
             {"uploads", ""}};
  }
}

std::string S3Client::InitiateMultipartUpload(const S3Location& object) const {
  HttpRequest request = NewRequest(HttpRequest::Method::kPost, object, {{"uploads", ""}});
  HttpResponse response = Call(request, object, "CreateMultipartUpload");
  S3XmlDocument xml(response.body);
  std::optional<std::string> id = xml.Text("UploadId");
  if (!xml.RootIs("InitiateMultipartUploadResult") || !id || id->empty()) {
    throw Error(ErrorCode::kIOError, "S3 answered CreateMultipartUpload for " + object.ToString() +
                                         " without an UploadId (endpoint " +
                                         EndpointForMessages() + ").");
  }
  return *id;
}

std::string S3Client::UploadPart(const S3Location& object, const std::string& upload_id,
                                 int number, std::string data) const {
  Query query = {{"partNumber", std::to_string(number)}, {"uploadId", upload_id}};
  HttpRequest request = NewRequest(HttpRequest::Method::kPut, object, std::move(query));
  request.body = RequestBody::FromString(std::move(data));
  HttpResponse response = Call(request, object, "UploadPart " + std::to_string(number));
  std::optional<std::string> etag = response.headers.Get("ETag");
  if (!etag || etag->empty()) {
    throw Error(ErrorCode::kIOError, "S3 answered UploadPart " + std::to_string(number) + " of " +
                                         object.ToString() + " without an ETag.");
  }
  return *etag;
}

void S3Client::CompleteMultipartUpload(const S3Location& object, const std::string& upload_id,
                                       const std::vector<std::string>& etags) const {
  HttpRequest request =
      NewRequest(HttpRequest::Method::kPost, object, {{"uploadId", upload_id}});
  request.body = RequestBody::FromString(CompleteMultipartUploadXml(etags));
  request.headers.emplace_back("Content-Type", "application/xml");
  // S3 may take minutes to assemble a large object before it answers (AWS
  // keeps the connection alive with whitespace; s3rver sends nothing until
  // it is done: ~10 s per 2 GiB here). A retry while the first call is
  // still assembling would fail, so wait it out.
  request.idle_timeout = kCompleteUploadTimeout;
  for (int failures = 1;; ++failures) {
    HttpResponse response = Send(request);
    if (response.status == 404 && failures > 1) {
      // A retry after a lost answer: the first try may have completed it.
      std::optional<S3ObjectInfo> info = Head(object);
      if (info && info->etag.ends_with("-" + std::to_string(etags.size()) + "\"")) return;
    }
    if (response.status < 200 || response.status >= 300) {
      ThrowS3Error(response.status, response.headers, response.body, object,
                   "CompleteMultipartUpload");
    }
    // S3 answers 200 before it is done, and may still fail in the body.
    S3XmlDocument xml(response.body);
    if (!xml.RootIs("Error")) return;
    const std::string code = xml.Text("Code").value_or("");
    HttpError error(ErrorCode::kIOError, "S3 CompleteMultipartUpload of " + object.ToString() +
                                             " failed: " + code + ".",
                    IsRetryableCode(code), response.status, response.headers);
    std::optional<RetryPolicy::Milliseconds> delay =
        error.retryable() ? retry_->NextDelay(failures, error) : std::nullopt;
    if (!delay) {
      ThrowS3Error(response.status, response.headers, response.body, object,
                   "CompleteMultipartUpload");
    }
    spdlog::warn("Retrying in {} ms: {}", delay->count(), error.what());
    retry_->Sleep(*delay);
  }
}

void S3Client::AbortMultipartUpload(const S3Location& object, const std::string& upload_id) const {
  HttpRequest request =
      NewRequest(HttpRequest::Method::kDelete, object, {{"uploadId", upload_id}});
  HttpResponse response = Send(request);
  if (response.status == 404) return;  // already gone
  if (response.status < 200 || response.status >= 300) {
    ThrowS3Error(response.status, response.headers, response.body, object, "AbortMultipartUpload");
  }
}

void S3Client::PutObject(const S3Location& object, std::string data) const {
  HttpRequest request = NewRequest(HttpRequest::Method::kPut, object);
  request.body = RequestBody::FromString(std::move(data));
  Call(request, object, "PutObject");
}

}  // namespace modelfs::remote
