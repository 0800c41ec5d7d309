// remote/bentocloud_client.h — BentoCloud's model registry (the Yatai REST
// API under /api/v1) as BentoML's own client uses it: repositories, model
// versions, the upload and download handshakes (one presigned URL, S3
// multipart through presigned part URLs, or the proxy through the API) and
// the transfers themselves.
//
// BentoCloudClient promises that every API call carries the API key in
// X-YATAI-API-TOKEN as an origin-only credential (never sent after a
// redirect to another host) with X-Bentoml-Version: kBentoMLVersion, that
// presigned URLs get no API header at all, and that transient failures
// (transport errors, 5xx, 429 with its Retry-After) are retried under the
// RetryPolicy given. Every failure is a modelfs::Error with a full sentence:
// a refused key (kInvalidArgument), a missing model or repository
// (kNotFound), any other answer naming the call, its status and the server's
// text, an answer that is not JSON (kCorruption). Neither the key nor a
// presigned URL's query string ever appears in a message or a log.
// Thread-safe as the HttpClient and RetryPolicy given are.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "remote/http_client.h"
#include "remote/retry_policy.h"

namespace modelfs::remote {

// The BentoML version announced in X-Bentoml-Version. The server chooses by
// it whether presign_* returns URLs (it does for any version above 1.0.5).
inline constexpr const char* kBentoMLVersion = "1.4.0";

struct BentoCloudConfig {
  std::string endpoint;   // BENTO_CLOUD_API_ENDPOINT, default "https://cloud.bentoml.com", no trailing '/'
  std::string api_key;    // BENTO_CLOUD_API_KEY; empty when unset
};

// Reads the two variables through `lookup` (nullopt = unset). Values are
// trimmed; an empty endpoint means the default.
BentoCloudConfig BentoCloudConfigFromEnvironment(
    const std::function<std::optional<std::string>(const char*)>& lookup);

struct CloudLabel {
  std::string key, value;
};

// One model version as the API returns it (ModelSchema).
struct CloudModel {
  std::string repository;           // the repository (model name)
  std::string version;
  std::string upload_status;        // pending | uploading | success | failed
  std::optional<std::string> transmission_strategy;  // "presigned_url" | "proxy" | nullopt (null)
  std::string presigned_upload_url;
  std::string presigned_download_url;
  std::string upload_id;
  std::string build_at;             // as returned (RFC 3339 with zone)
  nlohmann::json manifest;          // ModelManifestSchema object as returned
  std::vector<CloudLabel> labels;
};

// A model version from the API's JSON (ModelSchema) of model `repository`;
// nullopt unless it has string version and upload_status and an object
// manifest. Other fields of the wrong type are taken as absent.
std::optional<CloudModel> ParseCloudModel(const nlohmann::json& model, const std::string& repository);

struct CreateModelRequest {
  std::string version;
  std::string module, api_version, bentoml_version;
  uint64_t size_bytes = 0;
  nlohmann::json metadata = nlohmann::json::object(), context = nlohmann::json::object(),
                 options = nlohmann::json::object();
  std::chrono::system_clock::time_point build_at;   // sent as "YYYY-MM-DD HH:MM:SS.ffffff" (UTC)
  std::vector<CloudLabel> labels;
};

// `time` as the API wants build_at: "YYYY-MM-DD HH:MM:SS.ffffff" in UTC,
// without zone, cut to the microsecond.
std::string FormatBuildAt(std::chrono::system_clock::time_point time);

struct UploadedPart {
  int part_number;
  std::string etag;  // verbatim, quotes included
};

class BentoCloudClient {
 public:
  // *client and *retry outlive this object. Throws Error(kInvalidArgument)
  // naming BENTO_CLOUD_API_KEY when api_key is empty, and naming
  // BENTO_CLOUD_API_ENDPOINT when the endpoint is not an http(s) URL.
  BentoCloudClient(BentoCloudConfig config, HttpClient* client, const RetryPolicy* retry);

  const BentoCloudConfig& config() const;

  // nullopt when absent (404, or 400 whose body has "record not found").
  std::optional<nlohmann::json> GetRepository(const std::string& name);
  nlohmann::json CreateRepository(const std::string& name);
  std::optional<CloudModel> GetModel(const std::string& repo, const std::string& version);
  // Error(kNotFound) when the repository does not exist.
  CloudModel CreateModel(const std::string& repo, const CreateModelRequest& request);
  // items[0] of GET …/models?start=0&count=10; Error(kNotFound) when the
  // repository has no model (or does not exist).
  CloudModel LatestModel(const std::string& repo);

  // The PATCH calls on one model version. Each throws Error(kNotFound) when
  // the model does not exist.
  CloudModel PresignUploadUrl(const std::string& repo, const std::string& version);
  CloudModel PresignDownloadUrl(const std::string& repo, const std::string& version);
  CloudModel StartUpload(const std::string& repo, const std::string& version);
  CloudModel FinishUpload(const std::string& repo, const std::string& version, bool success,
                          const std::string& reason);
  // The answer's upload_id is never empty (an empty one is an Error).
  CloudModel StartMultipartUpload(const std::string& repo, const std::string& version);
  // The presigned URL for PUT of part `part_number` (1-based); never empty.
  std::string PresignMultipartUploadUrl(const std::string& repo, const std::string& version,
                                        const std::string& upload_id, int part_number);
  // `parts` in ascending part order, as the storage wants them.
  CloudModel CompleteMultipartUpload(const std::string& repo, const std::string& version,
                                     const std::string& upload_id,
                                     const std::vector<UploadedPart>& parts);

  // PUT of a payload: to a presigned URL (no API headers; returns the ETag
  // header verbatim, "" when there is none), or through the API (proxy: PUT
  // …/models/{v}/upload with API headers). `make_body` is called for each
  // attempt (so a retry can regenerate the stream); retried per retry policy
  // on transport errors, 5xx and 429; any other non-200 is an Error with the
  // server's body text.
  std::string PutPresigned(const std::string& url, const std::function<RequestBody()>& make_body);
  void ProxyUpload(const std::string& repo, const std::string& version,
                   const std::function<RequestBody()>& make_body);

  // The request for GET of the payload: for a presigned URL a plain GET (no
  // API headers); for the proxy strategy (`presigned_url` empty) GET
  // …/download with the API headers as credentials. Redirects are followed.
  // The caller sets range/sink.
  HttpRequest DownloadRequest(const std::string& repo, const std::string& version,
                              const std::string& presigned_url) const;

 private:
  // One API request: method, path under the endpoint (encoded, with any
  // query) and, when it has one, a body made anew for each try.
  struct ApiCall {
    HttpRequest::Method method = HttpRequest::Method::kGet;
    std::string path;
    std::function<RequestBody()> make_body{};
    std::string content_type = "application/json";
  };

  std::string EndpointForMessages() const;
  std::string ModelPath(const std::string& repo, const std::string& version) const;
  std::string MissingModelMessage(const std::string& repo, const std::string& version) const;
  std::string MissingRepositoryMessage(const std::string& repo) const;
  void AddApiHeaders(HttpRequest* request) const;

  // Performs the request `make_request` builds (once per try), retrying
  // transport failures and retryable statuses; returns the last response
  // whatever its status, or throws the last HttpError.
  HttpResponse SendWithRetries(const std::function<HttpRequest()>& make_request) const;
  // SendWithRetries for an API call; a transport failure names the endpoint.
  HttpResponse Exchange(const ApiCall& call) const;
  // Throws the Error for a failed answer to `call`; a not-found answer gets
  // Error(kNotFound, missing) unless `missing` is empty.
  [[noreturn]] void ThrowApiError(const ApiCall& call, const HttpResponse& response,
                                  const std::string& missing) const;
  nlohmann::json ParseJson(const ApiCall& call, const HttpResponse& response) const;
  CloudModel ParseModel(const ApiCall& call, const std::string& repo,
                        const nlohmann::json& json) const;

  // `call`'s JSON answer; nullopt when the record does not exist.
  std::optional<nlohmann::json> CallIfPresent(const ApiCall& call) const;
  // `call`'s JSON answer; throws (see ThrowApiError) unless 2xx.
  nlohmann::json Call(const ApiCall& call, const std::string& missing) const;
  // PATCH …/models/{version}/{action}, with `body` unless it is null.
  CloudModel PatchModel(const std::string& repo, const std::string& version,
                        const std::string& action, const nlohmann::json& body = nullptr) const;

  BentoCloudConfig config_;
  HttpClient* client_;
  const RetryPolicy* retry_;
};

}  // namespace modelfs::remote
