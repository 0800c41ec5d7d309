// remote/hf_hub.cc — see hf_hub.h.
#include "remote/hf_hub.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "remote/http_error.h"
#include "remote/retrying_fetch.h"
#include "remote/url.h"
#include "util/error.h"

namespace modelfs::remote {
namespace {

constexpr std::string_view kScheme = "hf://";
constexpr int kMaxPages = 100000;

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

bool ValidRepoPart(std::string_view part) {
  if (part.empty() || part.find("..") != std::string_view::npos) return false;
  return std::all_of(part.begin(), part.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '_' || c == '-';
  });
}

// The lookup HfConfigFromEnvironment was given, for the helpers below.
thread_local const EnvironmentLookup* current_lookup = nullptr;

std::optional<std::string> Env(const char* name) {
  if (current_lookup != nullptr && *current_lookup) {
    auto v = (*current_lookup)(name);
    if (!v || v->empty()) return std::nullopt;
    return v;
  }
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::string Trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

bool EnvTrue(const char* name) {
  auto v = Env(name);
  if (!v) return false;
  std::string s = Trim(*v);
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s == "1" || s == "ON" || s == "YES" || s == "TRUE";
}

std::optional<std::string> TokenFilePath() {
  if (auto p = Env("HF_TOKEN_PATH")) return *p;
  if (auto h = Env("HF_HOME")) return *h + "/token";
  if (auto x = Env("XDG_CACHE_HOME")) return *x + "/huggingface/token";
  if (auto home = Env("HOME")) return *home + "/.cache/huggingface/token";
  return std::nullopt;
}

bool IsHex40(const std::string& s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](unsigned char c) {
           return std::isdigit(c) || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

HfRepoRef ParseHfUrl(std::string_view url) {
  if (url.substr(0, kScheme.size()) != kScheme) {
    throw Error(ErrorCode::kInvalidArgument,
                "\"" + std::string(url) + "\" is not a Hugging Face URL: expected hf://org/name[@revision].");
  }
  std::string_view rest = url.substr(kScheme.size());
  HfRepoRef ref;
  std::string_view repo = rest;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    repo = rest.substr(0, at);
    std::string_view rev = rest.substr(at + 1);
    if (rev.empty()) {
      throw Error(ErrorCode::kInvalidArgument,
                  "the Hugging Face URL \"" + std::string(url) + "\" has an empty revision after '@'.");
    }
    bool bad_char = std::any_of(rev.begin(), rev.end(), [](unsigned char c) {
      return c <= 0x20 || c == 0x7f || c == '@';
    });
    if (bad_char || rev.front() == '/' || rev.back() == '/' ||
        rev.find("//") != std::string_view::npos) {
      throw Error(ErrorCode::kInvalidArgument, "the Hugging Face URL \"" + std::string(url) +
                                                   "\" has an invalid revision \"" +
                                                   std::string(rev) + "\".");
    }
    ref.revision = std::string(rev);
  }
  if (repo.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "the Hugging Face URL \"" + std::string(url) +
                                                 "\" names no repository: expected hf://org/name[@revision].");
  }
  size_t slash = repo.find('/');
  bool ok = slash == std::string_view::npos
                ? ValidRepoPart(repo)
                : repo.find('/', slash + 1) == std::string_view::npos &&
                      ValidRepoPart(repo.substr(0, slash)) && ValidRepoPart(repo.substr(slash + 1));
  if (!ok) {
    throw Error(ErrorCode::kInvalidArgument,
                "the Hugging Face URL \"" + std::string(url) + "\" has an invalid repository id \"" +
                    std::string(repo) +
                    "\": expected name or org/name made of letters, digits, '.', '_' and '-' (no \"..\").");
  }
  ref.repo_id = std::string(repo);
  return ref;
}

HfConfig HfConfigFromEnvironment(std::optional<std::string> token_flag,
                                 const EnvironmentLookup& getenv) {
  current_lookup = &getenv;
  struct Reset {
    ~Reset() { current_lookup = nullptr; }
  } reset;
  HfConfig config;
  if (auto ep = Env("HF_ENDPOINT")) {
    std::string e = Trim(*ep);
    while (!e.empty() && e.back() == '/') e.pop_back();
    if (!e.empty()) config.endpoint = e;
  }
  if (token_flag && !Trim(*token_flag).empty()) {
    config.token = Trim(*token_flag);
  } else if (auto t = Env("HF_TOKEN")) {
    config.token = Trim(*t);
  } else if (auto t2 = Env("HUGGING_FACE_HUB_TOKEN")) {
    config.token = Trim(*t2);
  } else if (auto path = TokenFilePath()) {
    std::ifstream in(*path, std::ios::binary);
    if (in) {
      std::ostringstream s;
      s << in.rdbuf();
      std::string t = Trim(s.str());
      if (!t.empty()) config.token = t;
    }
  }
  if (config.token && config.token->empty()) config.token.reset();
  config.offline = EnvTrue("HF_HUB_OFFLINE") || EnvTrue("TRANSFORMERS_OFFLINE");
  return config;
}

HfHub::HfHub(HfConfig config, HttpClient* client, const RetryPolicy* retry)
    : config_(std::move(config)), client_(client), retry_(retry) {
  while (!config_.endpoint.empty() && config_.endpoint.back() == '/') config_.endpoint.pop_back();
}

HttpRequest HfHub::ApiRequest(const std::string& url) const {
  HttpRequest request;
  request.url = url;
  request.headers.emplace_back("Accept", "application/json");
  if (config_.token) request.credentials.emplace_back("Authorization", "Bearer " + *config_.token);
  request.redirects = RedirectMode::kFollow;
  request.accept_compressed = true;
  return request;
}

HttpResponse HfHub::Call(const HttpRequest& request, const std::string& repo_id,
                         const std::string& revision, const std::string& path) const {
  HttpResponse response = RetryingFetch(client_, retry_).Fetch(request);
  bool ok = response.status >= 200 && response.status < 300;
  bool manual_redirect = request.redirects == RedirectMode::kManual && response.status >= 300 &&
                         response.status < 400;
  if (!ok && !manual_redirect) ThrowHubError(request, response, repo_id, revision, path);
  return response;
}

std::string HfHub::EndpointForMessages() const {
  std::string e = RedactUrl(config_.endpoint);
  while (!e.empty() && e.back() == '/') e.pop_back();
  return e;
}

void HfHub::ThrowHubError(const HttpRequest& request, const HttpResponse& response,
                          const std::string& repo_id, const std::string& revision,
                          const std::string& path) const {
  const std::string code = response.headers.Get("X-Error-Code").value_or("");
  const std::string server_message = response.headers.Get("X-Error-Message").value_or("");
  const std::string model = "model " + repo_id;
  const std::string where = " on " + EndpointForMessages();
  if (code == "GatedRepo") {
    if (response.status == 403 && config_.token) {
      throw Error(ErrorCode::kIOError,
                  model + " is gated and the Hugging Face token given has not been granted access: "
                          "request access on the Hub with the account the token belongs to.");
    }
    throw Error(ErrorCode::kIOError,
                model + " is gated: request access on the Hub and authenticate (set HF_TOKEN or log in).");
  }
  bool invalid_credentials =
      response.status == 401 && code.empty() &&
      (server_message.find("Invalid credentials") != std::string::npos || config_.token);
  if (invalid_credentials) {
    throw Error(ErrorCode::kIOError,
                "the Hugging Face token was rejected by " + EndpointForMessages() +
                    " (invalid credentials): check HF_TOKEN, the token file or log in again.");
  }
  if (code == "RepoNotFound" || (response.status == 401 && code.empty())) {
    std::string hint = config_.token
                           ? " (or it is private and the Hugging Face token given has no access to it)."
                           : "; if it is private, authenticate (set HF_TOKEN or log in).";
    throw Error(ErrorCode::kNotFound, model + " was not found" + where + hint);
  }
  if (code == "RevisionNotFound") {
    throw Error(ErrorCode::kNotFound,
                model + " has no revision " + Quoted(revision) + where + ".");
  }
  if (code == "EntryNotFound") {
    throw Error(ErrorCode::kNotFound, model + " has no file " + Quoted(path) + " at revision " +
                                          Quoted(revision) + where + ".");
  }
  throw StatusError(request.method_name(), request.url, response.status, response.headers);
}

HfRevisionInfo ParseHfRevisionInfo(const nlohmann::json& j, const std::string& answer) {
  auto bad_shape = [&](const std::string& what) {
    return Error(ErrorCode::kCorruption, answer + " with JSON that " + what + ".");
  };
  if (!j.is_object() || !j.contains("sha") || !j["sha"].is_string()) throw bad_shape("has no commit sha");
  HfRevisionInfo info;
  info.commit = j["sha"].get<std::string>();
  if (!IsHex40(info.commit)) throw bad_shape("has a commit sha that is not 40 hex digits");
  if (auto g = j.find("gated"); g != j.end()) {
    info.gated = g->is_string() || (g->is_boolean() && g->get<bool>());
  }
  if (auto p = j.find("private"); p != j.end() && p->is_boolean()) info.is_private = p->get<bool>();
  return info;
}

std::vector<HfFile> ParseHfTreePage(const nlohmann::json& entries, const std::string& answer) {
  if (!entries.is_array()) {
    throw Error(ErrorCode::kCorruption, answer + " with JSON that is not a list of tree entries.");
  }
  std::vector<HfFile> files;
  for (const auto& e : entries) {
    if (!e.is_object()) continue;
    if (auto type = e.find("type"); type == e.end() || !type->is_string() || *type != "file") continue;
    if (!e.contains("path") || !e["path"].is_string() || !e.contains("size") ||
        !e["size"].is_number_unsigned() || !e.contains("oid") || !e["oid"].is_string()) {
      throw Error(ErrorCode::kCorruption,
                  answer + " with JSON that has a file entry without path, size or oid.");
    }
    HfFile file;
    file.path = e["path"].get<std::string>();
    file.size = e["size"].get<uint64_t>();
    file.git_oid = e["oid"].get<std::string>();
    if (auto lfs = e.find("lfs"); lfs != e.end() && lfs->is_object()) {
      if (auto oid = lfs->find("oid"); oid != lfs->end() && oid->is_string()) {
        file.sha256 = oid->get<std::string>();
      }
    }
    files.push_back(std::move(file));
  }
  return files;
}

HfListing HfHub::List(const HfRepoRef& ref) const {
  if (config_.offline) {
    throw Error(ErrorCode::kIOError, "offline (HF_HUB_OFFLINE is set): cannot list model " +
                                         ref.repo_id + " at revision " + Quoted(ref.revision) +
                                         " on the Hugging Face Hub.");
  }
  auto parse_json = [&](const HttpRequest& request, const HttpResponse& response) {
    nlohmann::json j = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      throw Error(ErrorCode::kCorruption,
                  "the Hub at " + EndpointForMessages() +
                      " answered with something that is not JSON (" + request.method_name() + " " +
                      RedactUrl(request.url) + "); check HF_ENDPOINT.");
    }
    return j;
  };
  auto answer = [&](const HttpRequest& request) {
    return "the Hub at " + EndpointForMessages() + " answered " + request.method_name() + " " +
           RedactUrl(request.url);
  };

  HfListing listing;
  listing.repo_id = ref.repo_id;
  listing.revision = ref.revision;
  const std::string api = config_.endpoint + "/api/models/" + EncodePath(ref.repo_id);

  HttpRequest info_request = ApiRequest(api + "/revision/" + EncodePathSegment(ref.revision));
  HttpResponse info = Call(info_request, ref.repo_id, ref.revision, "");
  const HfRevisionInfo revision = ParseHfRevisionInfo(parse_json(info_request, info), answer(info_request));
  listing.commit = revision.commit;
  listing.gated = revision.gated;
  listing.is_private = revision.is_private;

  std::string url = api + "/tree/" + listing.commit + "?recursive=true";
  for (int page = 0;; ++page) {
    if (page >= kMaxPages) {
      throw Error(ErrorCode::kCorruption, answer(info_request) + " with JSON that paginates without end.");
    }
    HttpRequest tree_request = ApiRequest(url);
    HttpResponse tree = Call(tree_request, ref.repo_id, ref.revision, "");
    for (HfFile& file : ParseHfTreePage(parse_json(tree_request, tree), answer(tree_request))) {
      listing.files.push_back(std::move(file));
    }
    std::optional<std::string> next;
    for (const std::string& link : tree.headers.GetAll("Link")) {
      if ((next = FindLink(link, "next"))) break;
    }
    if (!next) break;
    url = remote::ResolveUrl(tree.effective_url.empty() ? url : tree.effective_url, *next);
  }
  return listing;
}

void HfHub::CheckAccess(const HfListing& listing) const {
  if (listing.files.empty()) return;
  if (config_.offline) {
    throw Error(ErrorCode::kIOError, "offline (HF_HUB_OFFLINE is set): cannot check access to model " +
                                         listing.repo_id + " on the Hugging Face Hub.");
  }
  auto check = [&](const HfFile& file) {
    HttpRequest request = DownloadRequest(listing, file.path);
    request.method = HttpRequest::Method::kHead;
    request.redirects = RedirectMode::kManual;
    HttpResponse response = Call(request, listing.repo_id, listing.revision, file.path);
    const std::string what = "the Hub lists " + file.path + " of model " + listing.repo_id;
    if (auto linked = response.headers.Get("X-Linked-Size")) {
      if (*linked != std::to_string(file.size)) {
        throw Error(ErrorCode::kCorruption, what + " with " + std::to_string(file.size) +
                                                " bytes but its download has " + *linked +
                                                "; the Hub's answers disagree, try again later.");
      }
    }
    if (auto etag = response.headers.Get("X-Linked-Etag"); etag && file.sha256) {
      std::string tag = *etag;
      if (tag.starts_with("W/")) tag.erase(0, 2);
      std::erase(tag, '"');
      if (tag != *file.sha256) {
        throw Error(ErrorCode::kCorruption, what + " with sha256 " + *file.sha256 +
                                                " but its download has " + tag +
                                                "; the Hub's answers disagree, try again later.");
      }
    }
  };
  std::atomic<size_t> next{0};
  std::mutex error_mu;
  std::exception_ptr error;
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < listing.files.size();) {
      {
        std::lock_guard<std::mutex> lock(error_mu);
        if (error) return;
      }
      try {
        check(listing.files[i]);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> threads;
  const size_t workers = std::min<size_t>(8, listing.files.size());
  for (size_t w = 1; w < workers; ++w) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

std::string HfHub::ResolveUrl(const HfListing& listing, const std::string& path) const {
  return config_.endpoint + "/" + EncodePath(listing.repo_id) + "/resolve/" +
         EncodePathSegment(listing.commit) + "/" + EncodePath(path);
}

HttpRequest HfHub::DownloadRequest(const HfListing& listing, const std::string& path) const {
  HttpRequest request;
  request.method = HttpRequest::Method::kGet;
  request.url = ResolveUrl(listing, path);
  if (config_.token) request.credentials.emplace_back("Authorization", "Bearer " + *config_.token);
  request.redirects = RedirectMode::kFollow;
  request.accept_compressed = false;
  return request;
}

}  // namespace modelfs::remote
