// remote/bentocloud_client.cc — see bentocloud_client.h.
#include "remote/bentocloud_client.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <utility>

#include "remote/http_error.h"
#include "remote/url.h"
#include "util/error.h"

namespace modelfs::remote {
namespace {

constexpr const char* kDefaultEndpoint = "https://cloud.bentoml.com";
constexpr const char* kRepositoriesPath = "/api/v1/model_repositories";
constexpr size_t kMaxQuotedBody = 1000;  // bytes of a server's text quoted in a message

std::string Trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

std::string StripTrailingSlashes(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// /api/v1/model_repositories/{repo}, the name encoded.
std::string RepositoryPath(const std::string& repo) {
  return std::string(kRepositoriesPath) + "/" + EncodePathSegment(repo);
}

bool IsSuccess(long status) { return status >= 200 && status < 300; }

// BentoML's _is_not_found: 404, or a 400 whose body says "record not found".
bool SaysNotFound(const HttpResponse& response) {
  return response.status == 404 ||
         (response.status == 400 && response.body.find("record not found") != std::string::npos);
}

// What the server said: {"error"} or {"message"} of a JSON body, else the
// body itself (trimmed and cut), else a note that there was none.
std::string ServerText(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    for (const char* key : {"error", "message"}) {
      if (auto it = j.find(key); it != j.end() && it->is_string() && !it->get<std::string>().empty()) {
        return it->get<std::string>();
      }
    }
  }
  std::string text = Trim(body);
  if (text.empty()) return "no explanation";
  if (text.size() > kMaxQuotedBody) text = text.substr(0, kMaxQuotedBody) + "…";
  return text;
}

// `text` as the end of a sentence.
std::string EndSentence(std::string text) {
  if (text.empty() || (text.back() != '.' && text.back() != '!' && text.back() != '?')) text += '.';
  return text;
}

std::string StringField(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<CloudLabel> ParseLabels(const nlohmann::json& j) {
  std::vector<CloudLabel> labels;
  auto it = j.find("labels");
  if (it == j.end() || !it->is_array()) return labels;
  for (const auto& label : *it) {
    if (label.is_object()) labels.push_back({StringField(label, "key"), StringField(label, "value")});
  }
  return labels;
}

nlohmann::json LabelsJson(const std::vector<CloudLabel>& labels) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& label : labels) out.push_back({{"key", label.key}, {"value", label.value}});
  return out;
}

std::function<RequestBody()> JsonBody(const nlohmann::json& body) {
  return [text = body.dump()] { return RequestBody::FromString(text); };
}

// "GET", "PATCH", ... as HttpRequest names `method`.
const char* MethodName(HttpRequest::Method method) {
  HttpRequest request;
  request.method = method;
  return request.method_name();
}

}  // namespace

std::optional<CloudModel> ParseCloudModel(const nlohmann::json& j, const std::string& repository) {
  const bool is_model = j.is_object() && j.contains("version") && j["version"].is_string() &&
                        j.contains("upload_status") && j["upload_status"].is_string() &&
                        j.contains("manifest") && j["manifest"].is_object();
  if (!is_model) return std::nullopt;
  CloudModel model;
  model.repository = repository;
  model.version = j["version"].get<std::string>();
  model.upload_status = j["upload_status"].get<std::string>();
  if (auto it = j.find("transmission_strategy"); it != j.end() && it->is_string()) {
    model.transmission_strategy = it->get<std::string>();
  }
  model.presigned_upload_url = StringField(j, "presigned_upload_url");
  model.presigned_download_url = StringField(j, "presigned_download_url");
  model.upload_id = StringField(j, "upload_id");
  model.build_at = StringField(j, "build_at");
  model.manifest = j["manifest"];
  model.labels = ParseLabels(j);
  return model;
}

BentoCloudConfig BentoCloudConfigFromEnvironment(
    const std::function<std::optional<std::string>(const char*)>& lookup) {
  auto get = [&](const char* name) {
    std::optional<std::string> value = lookup ? lookup(name) : std::nullopt;
    return value ? Trim(*value) : std::string();
  };
  BentoCloudConfig config;
  config.endpoint = StripTrailingSlashes(get("BENTO_CLOUD_API_ENDPOINT"));
  if (config.endpoint.empty()) config.endpoint = kDefaultEndpoint;
  config.api_key = get("BENTO_CLOUD_API_KEY");
  return config;
}

std::string FormatBuildAt(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  const auto micros = floor<microseconds>(time);
  const auto seconds = floor<std::chrono::seconds>(micros);
  const std::time_t t = system_clock::to_time_t(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02d %02d:%02d:%02d.%06lld", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>((micros - seconds).count()));
  return text;
}

BentoCloudClient::BentoCloudClient(BentoCloudConfig config, HttpClient* client,
                                   const RetryPolicy* retry)
    : config_(std::move(config)), client_(client), retry_(retry) {
  config_.endpoint = StripTrailingSlashes(config_.endpoint);
  if (!config_.endpoint.starts_with("http://") && !config_.endpoint.starts_with("https://")) {
    throw Error(ErrorCode::kInvalidArgument,
                "the BentoCloud endpoint \"" + RedactUrl(config_.endpoint) +
                    "\" is not an http(s) URL: set BENTO_CLOUD_API_ENDPOINT to one such as " +
                    kDefaultEndpoint + ".");
  }
  if (config_.api_key.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "no API key for BentoCloud at " + EndpointForMessages() +
                    ": set BENTO_CLOUD_API_KEY to an API token of your BentoCloud account.");
  }
}

const BentoCloudConfig& BentoCloudClient::config() const { return config_; }

std::string BentoCloudClient::EndpointForMessages() const {
  return StripTrailingSlashes(RedactUrl(config_.endpoint));
}

std::string BentoCloudClient::ModelPath(const std::string& repo, const std::string& version) const {
  return RepositoryPath(repo) + "/models/" + EncodePathSegment(version);
}

std::string BentoCloudClient::MissingModelMessage(const std::string& repo,
                                                  const std::string& version) const {
  return "model " + repo + ":" + version + " does not exist on BentoCloud at " +
         EndpointForMessages() + ".";
}

std::string BentoCloudClient::MissingRepositoryMessage(const std::string& repo) const {
  return "model repository " + repo + " does not exist on BentoCloud at " + EndpointForMessages() +
         ".";
}

void BentoCloudClient::AddApiHeaders(HttpRequest* request) const {
  request->credentials.emplace_back("X-YATAI-API-TOKEN", config_.api_key);
  request->credentials.emplace_back("X-Bentoml-Version", kBentoMLVersion);
}

HttpResponse BentoCloudClient::SendWithRetries(
    const std::function<HttpRequest()>& make_request) const {
  for (int failures = 1;; ++failures) {
    const HttpRequest request = make_request();
    std::optional<HttpResponse> response;
    std::optional<HttpError> error;
    try {
      response = client_->Perform(request);
      if (!IsRetryableStatus(response->status)) return std::move(*response);
      error = StatusError(request.method_name(), request.url, response->status, response->headers);
    } catch (const HttpError& e) {
      if (!e.retryable()) throw;
      error = e;
    }
    std::optional<RetryPolicy::Milliseconds> delay = retry_->NextDelay(failures, *error);
    if (!delay) {
      if (response) return std::move(*response);
      throw *error;
    }
    spdlog::warn("Retrying in {} ms: {}", delay->count(), error->what());
    retry_->Sleep(*delay);
  }
}

HttpResponse BentoCloudClient::Exchange(const ApiCall& call) const {
  auto make_request = [&] {
    HttpRequest request;
    request.method = call.method;
    request.url = config_.endpoint + call.path;
    AddApiHeaders(&request);
    request.headers.emplace_back("Accept", "application/json");
    if (call.make_body) {
      request.body = call.make_body();
      request.headers.emplace_back("Content-Type", call.content_type);
    }
    request.redirects = RedirectMode::kManual;  // as BentoML's httpx client
    request.accept_compressed = true;
    return request;
  };
  try {
    return SendWithRetries(make_request);
  } catch (const HttpError& e) {
    if (e.status() != 0) throw;
    throw HttpError(e.code(),
                    "BentoCloud at " + EndpointForMessages() +
                        " could not be reached or stopped answering: " + e.what() +
                        " Check BENTO_CLOUD_API_ENDPOINT and the network.",
                    e.retryable());
  }
}

void BentoCloudClient::ThrowApiError(const ApiCall& call, const HttpResponse& response,
                                     const std::string& missing) const {
  const long status = response.status;
  if (status == 401 || status == 403) {
    throw HttpError(ErrorCode::kInvalidArgument,
                    "BentoCloud at " + EndpointForMessages() +
                        " refused the API key: set BENTO_CLOUD_API_KEY to a valid token.",
                    false, status, response.headers);
  }
  if (SaysNotFound(response) && !missing.empty()) {
    throw HttpError(ErrorCode::kNotFound, missing, false, status, response.headers);
  }
  const std::string text = ServerText(response.body);
  ErrorCode code = ErrorCode::kIOError;
  if (status == 404 || SaysNotFound(response)) {
    code = ErrorCode::kNotFound;
  } else if (status == 400) {
    code = text.find("already exists") != std::string::npos ? ErrorCode::kAlreadyExists
                                                             : ErrorCode::kInvalidArgument;
  }
  std::string message = "BentoCloud at " + EndpointForMessages() + " answered " +
                        MethodName(call.method) + " " + call.path + " with HTTP " +
                        std::to_string(status) + ": " + EndSentence(text);
  if (auto trace = response.headers.Get("x-trace-id"); trace && status >= 500) {
    message += " Its trace id is " + *trace + ".";
  }
  throw HttpError(code, message, IsRetryableStatus(status), status, response.headers);
}

nlohmann::json BentoCloudClient::ParseJson(const ApiCall& call, const HttpResponse& response) const {
  nlohmann::json j = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    throw Error(ErrorCode::kCorruption,
                "BentoCloud at " + EndpointForMessages() + " answered " + MethodName(call.method) +
                    " " + call.path +
                    " with something that is not JSON; check BENTO_CLOUD_API_ENDPOINT.");
  }
  return j;
}

CloudModel BentoCloudClient::ParseModel(const ApiCall& call, const std::string& repo,
                                        const nlohmann::json& j) const {
  std::optional<CloudModel> model = ParseCloudModel(j, repo);
  if (!model) {
    throw Error(ErrorCode::kCorruption,
                "BentoCloud at " + EndpointForMessages() + " answered " + MethodName(call.method) +
                    " " + call.path +
                    " with JSON that is not a model (it needs version, upload_status and manifest).");
  }
  return std::move(*model);
}

std::optional<nlohmann::json> BentoCloudClient::CallIfPresent(const ApiCall& call) const {
  HttpResponse response = Exchange(call);
  if (SaysNotFound(response)) return std::nullopt;
  if (!IsSuccess(response.status)) ThrowApiError(call, response, "");
  return ParseJson(call, response);
}

nlohmann::json BentoCloudClient::Call(const ApiCall& call, const std::string& missing) const {
  HttpResponse response = Exchange(call);
  if (!IsSuccess(response.status)) ThrowApiError(call, response, missing);
  return ParseJson(call, response);
}

CloudModel BentoCloudClient::PatchModel(const std::string& repo, const std::string& version,
                                        const std::string& action,
                                        const nlohmann::json& body) const {
  ApiCall call{HttpRequest::Method::kPatch, ModelPath(repo, version) + "/" + action};
  if (!body.is_null()) call.make_body = JsonBody(body);
  return ParseModel(call, repo, Call(call, MissingModelMessage(repo, version)));
}

std::optional<nlohmann::json> BentoCloudClient::GetRepository(const std::string& name) {
  return CallIfPresent({HttpRequest::Method::kGet, RepositoryPath(name)});
}

nlohmann::json BentoCloudClient::CreateRepository(const std::string& name) {
  ApiCall call{HttpRequest::Method::kPost, kRepositoriesPath,
               JsonBody({{"name", name}, {"description", ""}})};
  nlohmann::json repository = Call(call, "");
  if (!repository.is_object()) {
    throw Error(ErrorCode::kCorruption, "BentoCloud at " + EndpointForMessages() +
                                            " answered the creation of model repository " + name +
                                            " with JSON that is not a repository.");
  }
  return repository;
}

std::optional<CloudModel> BentoCloudClient::GetModel(const std::string& repo,
                                                     const std::string& version) {
  ApiCall call{HttpRequest::Method::kGet, ModelPath(repo, version)};
  std::optional<nlohmann::json> model = CallIfPresent(call);
  if (!model) return std::nullopt;
  return ParseModel(call, repo, *model);
}

CloudModel BentoCloudClient::CreateModel(const std::string& repo,
                                         const CreateModelRequest& request) {
  nlohmann::json body = {
      {"description", ""},
      {"version", request.version},
      {"manifest",
       {{"module", request.module},
        {"api_version", request.api_version},
        {"bentoml_version", request.bentoml_version},
        {"size_bytes", request.size_bytes},
        {"metadata", request.metadata.is_null() ? nlohmann::json::object() : request.metadata},
        {"context", request.context.is_null() ? nlohmann::json::object() : request.context},
        {"options", request.options.is_null() ? nlohmann::json::object() : request.options}}},
      {"build_at", FormatBuildAt(request.build_at)},
      {"labels", LabelsJson(request.labels)}};
  ApiCall call{HttpRequest::Method::kPost,
               RepositoryPath(repo) + "/models", JsonBody(body)};
  return ParseModel(call, repo, Call(call, MissingRepositoryMessage(repo)));
}

CloudModel BentoCloudClient::LatestModel(const std::string& repo) {
  ApiCall call{HttpRequest::Method::kGet,
               RepositoryPath(repo) + "/models?start=0&count=10"};
  std::optional<nlohmann::json> list = CallIfPresent(call);
  if (!list) throw Error(ErrorCode::kNotFound, MissingRepositoryMessage(repo));
  auto items = list->find("items");
  if (items == list->end() || !(items->is_array() || items->is_null())) {
    throw Error(ErrorCode::kCorruption, "BentoCloud at " + EndpointForMessages() +
                                            " answered the list of models of repository " + repo +
                                            " with JSON that has no items.");
  }
  if (items->empty()) {
    throw Error(ErrorCode::kNotFound, "model repository " + repo + " has no model on BentoCloud at " +
                                          EndpointForMessages() + ".");
  }
  return ParseModel(call, repo, (*items)[0]);
}

CloudModel BentoCloudClient::PresignUploadUrl(const std::string& repo, const std::string& version) {
  return PatchModel(repo, version, "presign_upload_url");
}

CloudModel BentoCloudClient::PresignDownloadUrl(const std::string& repo,
                                                const std::string& version) {
  return PatchModel(repo, version, "presign_download_url");
}

CloudModel BentoCloudClient::StartUpload(const std::string& repo, const std::string& version) {
  return PatchModel(repo, version, "start_upload");
}

CloudModel BentoCloudClient::FinishUpload(const std::string& repo, const std::string& version,
                                          bool success, const std::string& reason) {
  return PatchModel(repo, version, "finish_upload",
                    {{"status", success ? "success" : "failed"}, {"reason", reason}});
}

CloudModel BentoCloudClient::StartMultipartUpload(const std::string& repo,
                                                  const std::string& version) {
  CloudModel model = PatchModel(repo, version, "start_multipart_upload");
  if (model.upload_id.empty()) {
    throw Error(ErrorCode::kIOError, "BentoCloud at " + EndpointForMessages() +
                                         " started no multipart upload for model " + repo + ":" +
                                         version + " (its answer has an empty upload_id).");
  }
  return model;
}

std::string BentoCloudClient::PresignMultipartUploadUrl(const std::string& repo,
                                                        const std::string& version,
                                                        const std::string& upload_id,
                                                        int part_number) {
  CloudModel model = PatchModel(repo, version, "presign_multipart_upload_url",
                                {{"upload_id", upload_id}, {"part_number", part_number}});
  if (model.presigned_upload_url.empty()) {
    throw Error(ErrorCode::kIOError, "BentoCloud at " + EndpointForMessages() +
                                         " gave no presigned URL for part " +
                                         std::to_string(part_number) + " of model " + repo + ":" +
                                         version + ".");
  }
  return model.presigned_upload_url;
}

CloudModel BentoCloudClient::CompleteMultipartUpload(const std::string& repo,
                                                     const std::string& version,
                                                     const std::string& upload_id,
                                                     const std::vector<UploadedPart>& parts) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& part : parts) {
    list.push_back({{"part_number", part.part_number}, {"etag", part.etag}});
  }
  return PatchModel(repo, version, "complete_multipart_upload",
                    {{"parts", list}, {"upload_id", upload_id}});
}

std::string BentoCloudClient::PutPresigned(const std::string& url,
                                           const std::function<RequestBody()>& make_body) {
  HttpResponse response = SendWithRetries([&] {
    HttpRequest request;
    request.method = HttpRequest::Method::kPut;
    request.url = url;
    request.body = make_body();
    request.accept_compressed = false;
    return request;
  });
  if (response.status != 200) {
    throw HttpError(ErrorCode::kIOError,
                    "the upload to the presigned URL " + RedactUrl(url) + " failed with HTTP " +
                        std::to_string(response.status) + ": " +
                        EndSentence(ServerText(response.body)),
                    IsRetryableStatus(response.status), response.status, response.headers);
  }
  return response.headers.Get("ETag").value_or("");
}

void BentoCloudClient::ProxyUpload(const std::string& repo, const std::string& version,
                                   const std::function<RequestBody()>& make_body) {
  ApiCall call{HttpRequest::Method::kPut, ModelPath(repo, version) + "/upload", make_body,
               "application/octet-stream"};
  HttpResponse response = Exchange(call);
  if (response.status != 200) ThrowApiError(call, response, MissingModelMessage(repo, version));
}

HttpRequest BentoCloudClient::DownloadRequest(const std::string& repo, const std::string& version,
                                              const std::string& presigned_url) const {
  HttpRequest request;
  request.method = HttpRequest::Method::kGet;
  if (presigned_url.empty()) {
    request.url = config_.endpoint + ModelPath(repo, version) + "/download";
    AddApiHeaders(&request);
  } else {
    request.url = presigned_url;
  }
  request.redirects = RedirectMode::kFollow;
  request.accept_compressed = false;
  return request;
}

}  // namespace modelfs::remote
