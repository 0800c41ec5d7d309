// remote/hf_hub.h — the Hugging Face Hub as a remote: hf:// URLs, the
// configuration a user expects from the environment (HF_ENDPOINT, HF_TOKEN,
// HF_HUB_OFFLINE, ...), listing a model revision at its resolved commit, and
// the requests that download its files.
//
// HfHub promises that a listing names one immutable commit (URLs built from it
// never move under a reader), that every Hub error is reported as a
// modelfs::Error with a full sentence saying what to do (gated, private or
// missing repo, unknown revision or file, rejected token, an answer that is
// not JSON), and that the token is only ever sent to the Hub's own origin and
// never appears in a message. Transient failures (transport errors, 5xx, 429)
// are retried under the RetryPolicy given. Offline mode fails before any
// network access.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "remote/http_client.h"
#include "remote/retry_policy.h"

namespace modelfs::remote {

// A model repository and a revision (branch, tag, "refs/pr/N" or commit).
struct HfRepoRef {
  std::string repo_id;
  std::string revision = "main";
};

// Parses "hf://name", "hf://org/name" and either followed by "@revision" (the
// revision may contain '/', e.g. "hf://org/name@refs/pr/1"). Repo id parts
// use [A-Za-z0-9._-], are not empty and contain no "..". Throws
// Error(kInvalidArgument) for anything else.
HfRepoRef ParseHfUrl(std::string_view url);

struct HfConfig {
  std::string endpoint = "https://huggingface.co";  // no trailing '/'
  std::optional<std::string> token;
  bool offline = false;
};

// The configuration from the environment: HF_ENDPOINT (trailing '/'
// stripped); the token from `token_flag`, else HF_TOKEN, else
// HUGGING_FACE_HUB_TOKEN, else the file $HF_TOKEN_PATH, else $HF_HOME/token,
// else $XDG_CACHE_HOME/huggingface/token, else ~/.cache/huggingface/token
// (trimmed; a missing or empty file means no token); offline when
// HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is 1/ON/YES/TRUE (any case).
// `getenv` looks a variable up (default: the process environment; the
// daemon passes the caller's).
using EnvironmentLookup = std::function<std::optional<std::string>(const char* name)>;
HfConfig HfConfigFromEnvironment(std::optional<std::string> token_flag,
                                 const EnvironmentLookup& getenv = {});

struct HfFile {
  std::string path;                   // relative to the repo root, '/'-separated
  uint64_t size = 0;
  std::string git_oid;                // git blob sha1 (of the pointer file for LFS)
  std::optional<std::string> sha256;  // lfs.oid, hex, for LFS files
};

// The revision info of GET /api/models/{repo}/revision/{revision}.
struct HfRevisionInfo {
  std::string commit;  // 40 hex digits
  bool gated = false;
  bool is_private = false;
};

// The pure parsers of the Hub's listing answers. `answer` names the answer
// in messages ("the Hub at https://hf.co answered GET https://hf.co/api/...");
// JSON of another shape throws Error(kCorruption, answer + " with JSON that
// ..."). Unknown fields are ignored.
HfRevisionInfo ParseHfRevisionInfo(const nlohmann::json& info, const std::string& answer);
// The files of one page of GET /api/models/{repo}/tree/{commit}?recursive=true,
// in the order given; entries that are not files (directories) are skipped.
std::vector<HfFile> ParseHfTreePage(const nlohmann::json& entries, const std::string& answer);

struct HfListing {
  std::string repo_id;
  std::string revision;  // as asked for
  std::string commit;    // what it resolved to (40 hex)
  bool gated = false;
  bool is_private = false;
  std::vector<HfFile> files;  // sorted as the Hub sent them; no directories
};

class HfHub {
 public:
  // *client and *retry must outlive the HfHub. Thread-safe as they are.
  HfHub(HfConfig config, HttpClient* client, const RetryPolicy* retry);

  // Resolves ref.revision to a commit and lists every file at that commit,
  // following the tree's pagination. Throws Error (see the header comment).
  HfListing List(const HfRepoRef& ref) const;

  // Checks that every file of `listing` may be downloaded with the
  // configured credentials (gated repos list publicly) and that the Hub's
  // download answers agree with the listing (X-Linked-Size, and the sha256
  // in X-Linked-Etag for LFS files), by HEADing each resolve URL without
  // following redirects, up to 8 at a time. Throws Error as List() does, and
  // kCorruption when answer and listing disagree.
  void CheckAccess(const HfListing& listing) const;

  // {endpoint}/{repo}/resolve/{commit}/{path}, the path percent-encoded.
  std::string ResolveUrl(const HfListing& listing, const std::string& path) const;

  // A GET of ResolveUrl() that follows redirects, with the token as an
  // origin-only credential (never sent to the CDN) and identity encoding.
  HttpRequest DownloadRequest(const HfListing& listing, const std::string& path) const;

  const HfConfig& config() const { return config_; }

 private:
  // The endpoint as it may appear in messages (no user info or query).
  std::string EndpointForMessages() const;
  HttpRequest ApiRequest(const std::string& url) const;
  // Performs `request` with retries; throws the mapped Error unless 2xx.
  HttpResponse Call(const HttpRequest& request, const std::string& repo_id,
                    const std::string& revision, const std::string& path) const;
  [[noreturn]] void ThrowHubError(const HttpRequest& request, const HttpResponse& response,
                                  const std::string& repo_id, const std::string& revision,
                                  const std::string& path) const;

  HfConfig config_;
  HttpClient* client_;
  const RetryPolicy* retry_;
};

}  // namespace modelfs::remote
