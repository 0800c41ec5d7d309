// remote/s3_client.h — S3 objects as byte streams: HEAD, streamed reads by
// ranged GETs, and streamed writes by multipart upload, against AWS or any
// S3-compatible endpoint, signed with SigV4 by libcurl.
//
// S3Client promises that:
//   * a reader yields exactly the object's bytes as they were when it was
//     opened: each range is asked for with If-Match on the ETag from HEAD and
//     checked against it and against Content-Range, and an object replaced
//     mid-read fails the read instead of mixing two versions;
//   * a writer publishes the object only on Commit(): small streams (up to
//     one part) with one PutObject, larger ones by multipart upload with at
//     most `parts_in_flight` parts uploading on background threads (memory
//     stays within (parts_in_flight + 1) parts); a writer destroyed without
//     Commit() aborts its multipart upload, leaving neither object nor parts;
//   * every request is retried under the RetryPolicy given (transport
//     failures, 5xx, 429, and CompleteMultipartUpload's 200-with-<Error>);
//   * failures are Errors with full sentences (missing bucket or object,
//     refused credentials, denied access, unreachable endpoint), and no
//     secret ever appears in a message or a log.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "remote/http_client.h"
#include "remote/retry_policy.h"
#include "remote/s3_location.h"
#include "util/byte_stream.h"

namespace modelfs::remote {

class HttpError;

struct S3ObjectInfo {
  uint64_t size = 0;
  std::string etag;  // as S3 sent it, quotes included
};

// A multipart upload that was neither completed nor aborted.
struct S3PendingUpload {
  std::string key;
  std::string upload_id;
};

struct S3TransferOptions {
  static constexpr uint64_t kMinPartSize = uint64_t{5} << 20;  // S3's, all parts but the last
  static constexpr uint64_t kMaxPartSize = uint64_t{5} << 30;

  uint64_t read_range_size = 8 << 20;  // bytes per ranged GET
  // Size of parts 1-1000; it doubles every 1000 parts (up to kMaxPartSize)
  // so that 10,000 parts hold about 5 TiB even from 5 MiB. Clamped to
  // [kMinPartSize, kMaxPartSize].
  uint64_t part_size = 16 << 20;
  int parts_in_flight = 2;  // parts uploading at once, at least 1
};

class S3Client {
 public:
  // *http and *retry must outlive the client and every stream it opens.
  // Thread-safe; streams are not (use each from one thread at a time).
  S3Client(S3Config config, HttpClient* http, const RetryPolicy* retry,
           S3TransferOptions options = {});

  // The object's size and ETag, or nullopt when it (or its bucket) does not
  // exist. Throws Error for any other failure.
  std::optional<S3ObjectInfo> Head(const S3Location& object) const;

  // Streams the object. Throws Error(kNotFound) naming the missing bucket or
  // object; size() of the source is known.
  std::unique_ptr<ByteSource> OpenRead(const S3Location& object) const;

  // A sink that creates or replaces the object on Commit(). Nothing is sent
  // before the first part fills up.
  std::unique_ptr<ByteSink> OpenWrite(const S3Location& object) const;

  // The multipart uploads pending under `prefix` (its key is a key prefix).
  std::vector<S3PendingUpload> ListMultipartUploads(const S3Location& prefix) const;

  const S3Config& config() const { return config_; }
  const S3TransferOptions& options() const { return options_; }

 private:
  class ObjectReader;
  class ObjectWriter;
  using Query = std::vector<std::pair<std::string, std::string>>;

  HttpRequest NewRequest(HttpRequest::Method method, const S3Location& object,
                         Query query = {}) const;
  // Performs `request` with retries; transport failures name the endpoint.
  HttpResponse Send(const HttpRequest& request) const;
  // Send(), then throws the mapped Error unless the answer is 2xx.
  HttpResponse Call(const HttpRequest& request, const S3Location& object,
                    std::string_view action) const;
  [[noreturn]] void ThrowS3Error(long status, const HttpHeaders& headers, std::string_view body,
                                 const S3Location& object, std::string_view action) const;
  [[noreturn]] void ThrowUnreachable(const HttpError& error) const;
  // Throws kNotFound naming the bucket when it is missing, else the object.
  [[noreturn]] void ThrowMissing(const S3Location& object) const;
  std::string EndpointForMessages() const;
  std::string MissingBucket(const std::string& bucket) const;  // the sentence

  std::string InitiateMultipartUpload(const S3Location& object) const;
  // Returns the part's ETag.
  std::string UploadPart(const S3Location& object, const std::string& upload_id, int number,
                         std::string data) const;
  void CompleteMultipartUpload(const S3Location& object, const std::string& upload_id,
                               const std::vector<std::string>& etags) const;
  void AbortMultipartUpload(const S3Location& object, const std::string& upload_id) const;
  void PutObject(const S3Location& object, std::string data) const;

  S3Config config_;
  HttpClient* http_;
  const RetryPolicy* retry_;
  S3TransferOptions options_;
};

}  // namespace modelfs::remote
