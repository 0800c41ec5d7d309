// src/hf_pull.h — what `modelfs models pull hf://…` registers: a Hugging Face
// repository at one commit, turned into a RegisterRequest for the store.
//
// PlanHfPull lists the revision, keeps the files the --include/--exclude
// patterns select, checks with the Hub that every kept file can be
// downloaded and has the listed size and digest, and names the model: the
// repo id lower-cased with '/' replaced by "--" (BentoML's rule) unless a
// name is given, and a version made of the commit's first 16 hex digits.
// Nothing is written; every failure is an Error with a full sentence.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "remote/hf_hub.h"
#include "remote/http_client.h"
#include "remote/retry_policy.h"
#include "src/store.h"

namespace modelfs {

struct HfPullOptions {
  std::string url;                  // hf://org/name[@revision]
  std::optional<std::string> name;  // the model name; default from the repo id
  std::vector<std::string> include;  // fnmatch patterns on repo paths ("dir/" = "dir/*")
  std::vector<std::string> exclude;
  remote::HfConfig config;
};

// The model name BentoML would give repo `repo_id`.
std::string ModelNameForRepo(const std::string& repo_id);

// True when `path` is kept by the patterns: it matches an include (or there
// are none) and no exclude.
bool SelectedByPatterns(const std::string& path, const std::vector<std::string>& include,
                        const std::vector<std::string>& exclude);

RegisterRequest PlanHfPull(const HfPullOptions& options, remote::HttpClient* client,
                           const remote::RetryPolicy* retry);

}  // namespace modelfs
