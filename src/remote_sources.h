// src/remote_sources.h — where the bytes of remote files come from: turns a
// model's origin (catalog_records.h) and a file path into a RangeFetcher.
//
// RemoteSources owns the HTTP client (its kept-alive connections are shared
// by every remote file) and the retry policy. The Hugging Face configuration
// (endpoint, token, offline mode) is read from the environment once, when
// the sources are made; a token a `models pull` brought along is remembered
// in memory for its endpoint (never written anywhere), so the daemon can read
// a gated model the user pulled with --token. A token is only ever sent to
// the endpoint it belongs to. In offline mode the fetchers fail at once,
// saying so. Every wait for the network is bounded by `limits` (see
// remote/fetch_limits.h). Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "remote/bentocloud_client.h"
#include "remote/fetch_limits.h"
#include "remote/hf_hub.h"
#include "remote/http_client.h"
#include "remote/range_fetcher.h"
#include "remote/retry_policy.h"
#include "src/catalog_records.h"

namespace modelfs {

class RemoteSources {
 public:
  RemoteSources(remote::HfConfig environment, remote::BentoCloudConfig cloud_environment,
                remote::FetchLimits limits = {});

  // The fetcher of `file` (`size` bytes, as listed) of `model`. Throws
  // Error(kUnsupported) for an origin kind it does not know.
  std::unique_ptr<remote::RangeFetcher> Open(const ModelRecord& model, const FileRecord& file,
                                             uint64_t size);

  // Remembers `config.token` for `config.endpoint` (no-op without a token).
  void RememberToken(const remote::HfConfig& config);
  // Remembers a BentoCloud API key for its endpoint (a pull's own key).
  void RememberCloudKey(const remote::BentoCloudConfig& config);
  // The BentoCloud settings for `endpoint`: the remembered key, else the
  // environment's when the endpoint is the environment's.
  remote::BentoCloudConfig CloudConfigFor(const std::string& endpoint);

  // The payload of a BentoCloud model version, read through a presigned
  // URL asked for when first needed and again after kPresignLifetime or
  // when `renew` (the URL stopped working).
  std::shared_ptr<remote::RangeFetcher> CloudPayload(const ModelRecord& model, bool renew);

  remote::HttpClient* client() { return &client_; }
  const remote::RetryPolicy* retry() const { return &retry_; }
  const remote::FetchLimits& limits() const { return limits_; }

 private:
  remote::HfConfig ConfigFor(const std::string& endpoint);

  const remote::FetchLimits limits_;
  remote::HttpClient client_;
  remote::RetryPolicy retry_;
  struct Presigned {
    std::shared_ptr<remote::RangeFetcher> fetcher;
    std::chrono::steady_clock::time_point made;
  };

  const remote::HfConfig environment_;
  const remote::BentoCloudConfig cloud_environment_;
  std::mutex mu_;
  std::map<std::string, std::string> tokens_;      // endpoint -> token, guarded by mu_
  std::map<std::string, std::string> cloud_keys_;  // endpoint -> API key, guarded by mu_
  std::map<std::string, Presigned> payloads_;      // by endpoint, repo, version; guarded by mu_
};

}  // namespace modelfs
