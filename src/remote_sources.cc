// src/remote_sources.cc — see remote_sources.h.
#include "src/remote_sources.h"

#include <utility>

#include "remote/http_error.h"
#include "remote/http_range_fetcher.h"
#include "util/error.h"

namespace modelfs {
namespace {

// Serves nothing: every fetch fails with the reason it was made for.
class RefusingFetcher : public remote::RangeFetcher {
 public:
  explicit RefusingFetcher(std::string reason) : reason_(std::move(reason)) {}
  void Fetch(uint64_t, size_t, char*, const Deadline&) override { throw Error(ErrorCode::kIOError, reason_); }

 private:
  std::string reason_;
};

// Presigned download URLs live an hour; ask anew well before that.
constexpr auto kPresignLifetime = std::chrono::minutes(30);

// One member of a BentoCloud payload: its bytes at `offset` in the tar. A
// refused URL (403: expired) is presigned again once.
class CloudMemberFetcher : public remote::RangeFetcher {
 public:
  CloudMemberFetcher(RemoteSources* sources, ModelRecord model, uint64_t offset)
      : sources_(sources), model_(std::move(model)), offset_(offset) {}

  void Fetch(uint64_t offset, size_t length, char* out, const Deadline& deadline) override {
    WithRenewal([&](remote::RangeFetcher* p) { p->Fetch(offset_ + offset, length, out, deadline); });
  }
  void FetchTo(uint64_t offset, size_t length, const Sink& sink, const Deadline& deadline) override {
    WithRenewal([&](remote::RangeFetcher* p) { p->FetchTo(offset_ + offset, length, sink, deadline); });
  }

 private:
  template <typename F>
  void WithRenewal(F&& fetch) {
    try {
      fetch(sources_->CloudPayload(model_, false).get());
    } catch (const remote::HttpError& e) {
      if (e.status() != 403) throw;
      fetch(sources_->CloudPayload(model_, true).get());
    }
  }

  RemoteSources* sources_;
  ModelRecord model_;
  uint64_t offset_;
};

}  // namespace

RemoteSources::RemoteSources(remote::HfConfig environment, remote::BentoCloudConfig cloud_environment,
                             remote::FetchLimits limits)
    : limits_(limits),
      client_(limits_.Client()),
      retry_(limits_.Retry()),
      environment_(std::move(environment)),
      cloud_environment_(std::move(cloud_environment)) {}

void RemoteSources::RememberCloudKey(const remote::BentoCloudConfig& config) {
  if (config.api_key.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  cloud_keys_[config.endpoint] = config.api_key;
}

remote::BentoCloudConfig RemoteSources::CloudConfigFor(const std::string& endpoint) {
  remote::BentoCloudConfig config{endpoint, ""};
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = cloud_keys_.find(endpoint); it != cloud_keys_.end()) {
    config.api_key = it->second;
  } else if (endpoint == cloud_environment_.endpoint) {
    config.api_key = cloud_environment_.api_key;
  }
  return config;
}

std::shared_ptr<remote::RangeFetcher> RemoteSources::CloudPayload(const ModelRecord& model, bool renew) {
  const auto& origin = model.origin;
  const std::string key = origin.endpoint + '\0' + origin.repo + '\0' + origin.revision;
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = payloads_.find(key);
    if (!renew && it != payloads_.end() && now - it->second.made < kPresignLifetime) return it->second.fetcher;
  }
  remote::BentoCloudClient cloud(CloudConfigFor(origin.endpoint), &client_, &retry_);
  const std::string url = cloud.PresignDownloadUrl(origin.repo, origin.revision).presigned_download_url;
  if (url.empty()) {
    throw Error(ErrorCode::kIOError, "BentoCloud at " + origin.endpoint + " gave no download URL for " +
                                         origin.repo + ":" + origin.revision);
  }
  auto fetcher = std::make_shared<remote::HttpRangeFetcher>(&client_, &retry_,
                                                            cloud.DownloadRequest(origin.repo, origin.revision, url));
  std::lock_guard<std::mutex> lock(mu_);
  payloads_[key] = {fetcher, now};
  return fetcher;
}

void RemoteSources::RememberToken(const remote::HfConfig& config) {
  if (!config.token) return;
  std::lock_guard<std::mutex> lock(mu_);
  tokens_[config.endpoint] = *config.token;
}

remote::HfConfig RemoteSources::ConfigFor(const std::string& endpoint) {
  remote::HfConfig config;
  config.endpoint = endpoint;
  config.offline = environment_.offline;
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = tokens_.find(endpoint); it != tokens_.end()) {
    config.token = it->second;
  } else if (endpoint == environment_.endpoint) {
    config.token = environment_.token;
  }
  return config;
}

std::unique_ptr<remote::RangeFetcher> RemoteSources::Open(const ModelRecord& model,
                                                          const FileRecord& file, uint64_t size) {
  const std::string& path = file.path;
  const ModelRecord::Origin& origin = model.origin;
  if (origin.kind == "bentocloud") return std::make_unique<CloudMemberFetcher>(this, model, file.remote_offset);
  if (origin.kind != "hf") {
    throw Error(ErrorCode::kUnsupported, "model " + model.name + ":" + model.version +
                                             " comes from an unknown kind of remote \"" +
                                             origin.kind + "\"");
  }
  remote::HfConfig config = ConfigFor(origin.endpoint);
  if (config.offline) {
    return std::make_unique<RefusingFetcher>(
        "offline (HF_HUB_OFFLINE is set): " + path + " of model " + model.name + ":" +
        model.version + " has not been fetched from the Hugging Face Hub yet");
  }
  remote::HfHub hub(config, &client_, &retry_);
  remote::HfListing listing;
  listing.repo_id = origin.repo;
  listing.revision = origin.revision;
  listing.commit = origin.commit;
  auto fetcher = std::make_unique<remote::HttpRangeFetcher>(&client_, &retry_, hub.DownloadRequest(listing, path),
                                                            size);
  // A file is opened to be read: learn where the Hub keeps its bytes (the
  // CDN an LFS file redirects to) while the open completes, so that the
  // first read does not wait for the Hub's answer as well as the CDN's.
  fetcher->StartResolve();
  return fetcher;
}

}  // namespace modelfs
