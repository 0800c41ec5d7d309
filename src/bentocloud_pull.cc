#include "src/bentocloud_pull.h"

#include <map>

#include "remote/archive_reader.h"
#include "remote/http_range_fetcher.h"
#include "remote/progress_budget.h"
#include "remote/tar_index.h"
#include "src/archive_importer.h"
#include "util/error.h"
#include "util/producer_source.h"

namespace modelfs {
namespace {

using remote::ArchiveEntry;

// The payload's size from a one-byte range GET; nullopt when the server
// ignores Range (then nothing can be read lazily).
std::optional<uint64_t> RangedSize(remote::HttpClient* http, remote::HttpRequest request) {
  request.range = remote::ByteRange{0, 0};
  request.max_body = 1 << 16;
  remote::HttpResponse r = http->Perform(request);
  if (r.status != 206) {
    remote::ThrowUnlessSuccess(request, r);
    return std::nullopt;
  }
  const std::optional<std::string> range = r.headers.Get("Content-Range");
  const std::optional<remote::ContentRange> parsed = range ? remote::ParseContentRange(*range) : std::nullopt;
  return parsed ? parsed->total : std::nullopt;
}

// The files and directories of the payload, as a lazy registration names them.
void AddRemoteEntries(const std::vector<remote::TarMember>& members, const std::string& where,
                      RegisterRequest* request) {
  std::map<std::string, RemoteFileEntry> files;
  std::map<std::string, std::string> links;
  for (const auto& m : members) {
    const std::string path = NormalizeMemberPath(m.entry.path, where);
    if (path.empty() || path == "model.yaml") continue;
    if (m.entry.type == ArchiveEntry::Type::kDirectory) {
      request->directories.push_back(path);
    } else if (m.entry.type == ArchiveEntry::Type::kFile) {
      RemoteFileEntry e;
      e.path = path;
      e.size = m.entry.size.value_or(0);
      e.sha256 = m.sha256;
      e.location_key = where + '\0' + path;
      e.offset = m.data_offset;
      e.executable = m.entry.executable;
      files[path] = std::move(e);
    } else if (m.entry.type == ArchiveEntry::Type::kHardlink || m.entry.type == ArchiveEntry::Type::kSymlink) {
      const bool hard = m.entry.type == ArchiveEntry::Type::kHardlink;
      auto target = ResolveLinkTarget(hard ? "" : ParentPath(path), m.entry.link_target);
      if (!target) {
        throw Error(ErrorCode::kInvalidArgument, where + ": link '" + path + "' points outside the model");
      }
      links[path] = *target;
    } else {
      throw Error(ErrorCode::kInvalidArgument, where + ": member '" + path + "' is a " + m.entry.type_name);
    }
  }
  for (const auto& [path, first] : links) {
    const std::optional<std::string> target = FollowLinks(links, first);
    auto it = target ? files.find(*target) : files.end();
    if (it == files.end()) {
      throw Error(ErrorCode::kInvalidArgument, where + ": link '" + path + "' does not lead to a file of the model");
    }
    RemoteFileEntry copy = it->second;
    copy.path = path;
    files[path] = copy;
  }
  for (auto& [path, e] : files) request->files.push_back(std::move(e));
}

// Downloads the payload whole and imports it (no range reads possible),
// given up on when it stalls or trickles (the retry policy's budget).
CloudPullResult DownloadWhole(Store* store, remote::HttpClient* http, const remote::RetryPolicy* retry,
                              remote::HttpRequest request, const std::string& where, const ProgressFn& progress) {
  ProducerSource source(
      [http, retry, request, where, progress](ByteSink* sink) mutable {
        uint64_t done = 0;
        uint64_t total = 0;
        remote::ProgressBudget budget(retry->options().progress_window, retry->options().min_rate);
        request.on_progress = [&] { budget.Check("GET " + where); };
        request.on_headers = [&total](long, const remote::HttpHeaders& h) {
          total = h.ContentLength().value_or(0);
        };
        request.sink = [&](const char* data, size_t n) {
          sink->Write(data, n);
          budget.Add(n);
          done += n;
          if (progress) progress(done, total);
          return true;
        };
        remote::HttpResponse r = http->Perform(request);
        remote::ThrowUnlessSuccess(request, r);
      },
      std::nullopt, where);
  auto reader = remote::ArchiveReader::FromSource(&source);
  ImportResult imported = store->Import(reader.get(), {true, "bentocloud:" + where});
  return {imported.model, imported.skipped, true, false, imported.model.size};
}

}  // namespace

CloudPullResult PullFromBentoCloud(Store* store, remote::BentoCloudClient* cloud, remote::HttpClient* http,
                                   const remote::RetryPolicy* retry, const Tag& tag, const ProgressFn& progress,
                                   bool strict) {
  const std::string endpoint = cloud->config().endpoint;
  remote::CloudModel cm;
  if (tag.is_latest()) {
    cm = cloud->LatestModel(tag.name);
  } else if (auto found = cloud->GetModel(tag.name, tag.version)) {
    cm = *found;
  } else {
    throw Error(ErrorCode::kNotFound, "model " + tag.ToString() + " does not exist on BentoCloud at " + endpoint);
  }
  const std::string where = tag.name + ":" + cm.version + " on BentoCloud at " + endpoint;
  if (cm.upload_status != "success") {
    throw Error(ErrorCode::kInvalidArgument, "model " + tag.name + ":" + cm.version +
                                                 " has not been uploaded completely (upload status \"" +
                                                 cm.upload_status + "\")");
  }
  const std::string url = cloud->PresignDownloadUrl(tag.name, cm.version).presigned_download_url;
  const remote::HttpRequest download = cloud->DownloadRequest(tag.name, cm.version, url);
  const std::optional<uint64_t> size = url.empty() ? std::nullopt : RangedSize(http, download);
  if (!size) return DownloadWhole(store, http, retry, download, where, progress);

  remote::HttpRangeFetcher fetcher(http, retry, download, *size);
  const std::vector<remote::TarMember> members = remote::IndexTar(&fetcher, *size, where);
  std::string model_yaml;
  for (const auto& m : members) {
    if (NormalizeMemberPath(m.entry.path, where) != "model.yaml") continue;
    if (m.entry.type != ArchiveEntry::Type::kFile || m.entry.size.value_or(0) > kMaxModelYamlBytes) {
      throw Error(ErrorCode::kInvalidArgument, where + ": model.yaml is not a small file");
    }
    model_yaml.resize(static_cast<size_t>(m.entry.size.value_or(0)));
    fetcher.Fetch(m.data_offset, model_yaml.size(), model_yaml.data(), Deadline());
  }
  if (model_yaml.empty()) {
    throw Error(ErrorCode::kInvalidArgument, where + ": the payload has no model.yaml; it is not a BentoML model");
  }

  RegisterRequest request;
  request.tag = Tag{tag.name, cm.version};
  request.origin = {"bentocloud", endpoint, tag.name, cm.version, cm.version};
  request.source = "bentocloud://" + tag.name + ":" + cm.version;
  request.model_yaml = model_yaml;
  request.strict = strict;
  AddRemoteEntries(members, where, &request);
  RegisterResult registered = store->RegisterRemote(request);
  return {registered.model, registered.already_registered, false, registered.made_strict,
          registered.present_bytes};
}

}  // namespace modelfs
