// src/hf_pull.cc — see hf_pull.h.
#include "src/hf_pull.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "src/tag.h"
#include "src/model_path.h"
#include "util/error.h"
#include "util/hex.h"

namespace modelfs {
namespace {

std::string YamlString(const std::string& s) { return nlohmann::json(s).dump(); }

bool Matches(const std::string& path, std::string pattern) {
  if (!pattern.empty() && pattern.back() == '/') pattern += "*";
  return ::fnmatch(pattern.c_str(), path.c_str(), 0) == 0;
}

std::string RawDigest(const std::string& hex, size_t bytes, const std::string& what) {
  auto raw = HexDecode(hex);
  if (!raw || raw->size() != bytes) {
    throw Error(ErrorCode::kCorruption, "the Hub lists " + what + " with a malformed digest \"" + hex + "\"");
  }
  return *raw;
}

}  // namespace

std::string ModelNameForRepo(const std::string& repo_id) {
  std::string name;
  for (char c : repo_id) {
    if (c == '/') {
      name += "--";
    } else {
      name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  return name;
}

bool SelectedByPatterns(const std::string& path, const std::vector<std::string>& include,
                        const std::vector<std::string>& exclude) {
  auto any = [&](const std::vector<std::string>& patterns) {
    return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return Matches(path, p); });
  };
  return (include.empty() || any(include)) && !any(exclude);
}

RegisterRequest PlanHfPull(const HfPullOptions& options, remote::HttpClient* client,
                           const remote::RetryPolicy* retry) {
  const remote::HfRepoRef ref = remote::ParseHfUrl(options.url);
  RegisterRequest request;
  request.tag.name = options.name.value_or(ModelNameForRepo(ref.repo_id));
  try {
    ValidateTagPart(request.tag.name, "name");
  } catch (const Error& e) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string(e.what()) +
                    (options.name ? "" : " (it was made from the repo id; choose one with --name)"));
  }

  remote::HfHub hub(options.config, client, retry);
  remote::HfListing listing = hub.List(ref);
  std::erase_if(listing.files, [&](const remote::HfFile& f) {
    return !SelectedByPatterns(f.path, options.include, options.exclude);
  });
  if (listing.files.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "no file of model " + ref.repo_id + " at revision \"" + ref.revision + "\"" +
                    (options.include.empty() && options.exclude.empty()
                         ? " exists."
                         : " matches the --include/--exclude patterns."));
  }
  const std::string listed = "file listed by the Hub for model " + listing.repo_id;
  for (const auto& f : listing.files) {
    ValidateModelPath(f.path, listed);
    ValidateModelFileSize(f.size, f.path, listed);
  }
  hub.CheckAccess(listing);

  request.tag.version = listing.commit.substr(0, 16);
  request.origin = {"hf", options.config.endpoint, listing.repo_id, listing.revision, listing.commit};
  request.source = "hf://" + listing.repo_id + "@" + listing.commit;
  request.metadata = {{"hf_repo", YamlString(listing.repo_id)},
                      {"hf_revision", YamlString(listing.revision)},
                      {"hf_commit", YamlString(listing.commit)},
                      {"hf_endpoint", YamlString(options.config.endpoint)}};
  for (const auto& f : listing.files) {
    RemoteFileEntry entry;
    entry.path = f.path;
    entry.size = f.size;
    const std::string what = f.path + " of model " + listing.repo_id;
    entry.git_sha1 = RawDigest(f.git_oid, 20, what);
    if (f.sha256) entry.sha256 = RawDigest(*f.sha256, 32, what);
    request.files.push_back(std::move(entry));
  }
  return request;
}

}  // namespace modelfs
