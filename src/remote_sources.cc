// src/remote_sources.cc — see remote_sources.h.
#include "src/remote_sources.h"

#include <utility>

#include "remote/http_range_fetcher.h"
#include "util/error.h"

namespace modelfs {
namespace {

// Serves nothing: every fetch fails with the reason it was made for.
class RefusingFetcher : public remote::RangeFetcher {
 public:
  explicit RefusingFetcher(std::string reason) : reason_(std::move(reason)) {}
  void Fetch(uint64_t, size_t, char*) override { throw Error(ErrorCode::kIOError, reason_); }

 private:
  std::string reason_;
};

}  // namespace

RemoteSources::RemoteSources(remote::HfConfig environment) : environment_(std::move(environment)) {}

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
  return std::make_unique<remote::HttpRangeFetcher>(&client_, &retry_, hub.DownloadRequest(listing, path),
                                                    size);
}

}  // namespace modelfs
