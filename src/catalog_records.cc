#include "src/catalog_records.h"

#include "util/digest.h"

#include <nlohmann/json.hpp>

#include "util/coding.h"
#include "util/hex.h"

namespace modelfs {

std::string ModelKey(std::string_view name, std::string_view version) {
  std::string key(name);
  key.push_back('\0');
  key.append(version);
  return key;
}

std::string FileKeyPrefix(std::string_view name, std::string_view version) {
  std::string key = ModelKey(name, version);
  key.push_back('\0');
  return key;
}

std::string FileKey(std::string_view name, std::string_view version, std::string_view path) {
  return FileKeyPrefix(name, version) + std::string(path);
}

std::string ModelRecord::Encode() const {
  nlohmann::json j = {{"module", module},   {"yaml", yaml},        {"creation_ns", creation_ns},
                      {"size", size},       {"file_count", file_count}, {"source", source}};
  if (!origin.kind.empty()) {
    j["origin"] = {{"kind", origin.kind},         {"endpoint", origin.endpoint},
                   {"repo", origin.repo},         {"revision", origin.revision},
                   {"commit", origin.commit}};
  }
  if (strict) j["strict"] = true;
  return j.dump();
}

std::optional<ModelRecord> ModelRecord::Decode(std::string_view key, std::string_view value) {
  auto sep = key.find('\0');
  if (sep == std::string_view::npos) return std::nullopt;
  auto j = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  ModelRecord r;
  r.name = key.substr(0, sep);
  r.version = key.substr(sep + 1);
  try {
    r.module = j.at("module").get<std::string>();
    r.yaml = j.at("yaml").get<std::string>();
    r.creation_ns = j.at("creation_ns").get<int64_t>();
    r.size = j.at("size").get<uint64_t>();
    r.file_count = j.at("file_count").get<uint64_t>();
    r.source = j.value("source", "");
    if (auto o = j.find("origin"); o != j.end()) {
      r.origin.kind = o->at("kind").get<std::string>();
      r.origin.endpoint = o->at("endpoint").get<std::string>();
      r.origin.repo = o->at("repo").get<std::string>();
      r.origin.revision = o->at("revision").get<std::string>();
      r.origin.commit = o->at("commit").get<std::string>();
    }
    r.strict = j.value("strict", false);
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  return r;
}

FileRecord FileRecord::Directory(std::string path) {
  FileRecord r;
  r.path = std::move(path);
  r.type = FileType::kDirectory;
  return r;
}

FileRecord FileRecord::LocalFile(std::string path, bool executable, uint64_t size, std::string sha256) {
  FileRecord r;
  r.path = std::move(path);
  r.executable = executable;
  r.size = size;
  r.sha256 = std::move(sha256);
  return r;
}

std::string FileRecord::Encode() const {
  std::string out;
  out.push_back(static_cast<char>(type));
  out.push_back(executable ? 1 : 0);
  PutVarint64(&out, size);
  PutLengthPrefixed(&out, sha256);
  if (!remote_id.empty()) PutLengthPrefixed(&out, remote_id);
  if (remote_offset != 0) PutVarint64(&out, remote_offset);
  return out;
}

std::optional<FileRecord> FileRecord::Decode(std::string_view path, std::string_view value) {
  FileRecord r;
  r.path = path;
  std::string_view sha;
  if (value.size() < 2) return std::nullopt;
  r.type = static_cast<FileType>(value[0]);
  r.executable = value[1] != 0;
  value.remove_prefix(2);
  if (r.type != FileType::kFile && r.type != FileType::kDirectory) return std::nullopt;
  if (!GetVarint64(&value, &r.size) || !GetLengthPrefixed(&value, &sha)) return std::nullopt;
  r.sha256 = sha;
  if (!value.empty()) {
    std::string_view id;
    if (!GetLengthPrefixed(&value, &id) || !remote_id::IsValid(id)) return std::nullopt;
    r.remote_id = id;
    if (!value.empty() && (!GetVarint64(&value, &r.remote_offset) || !value.empty())) return std::nullopt;
  }
  return r;
}

std::string BlobRecord::Encode() const {
  std::string out;
  PutVarint64(&out, size);
  PutVarint64(&out, refcount);
  PutVarint64(&out, chunks.size());
  for (const auto& c : chunks) {
    out.append(c.hash.bytes());
    PutFixed32(&out, c.size);
  }
  return out;
}

std::optional<BlobRecord> BlobRecord::Decode(std::string_view value) {
  BlobRecord r;
  uint64_t count;
  constexpr size_t kEntrySize = cache::ChunkHash::kSize + 4;
  if (!GetVarint64(&value, &r.size) || !GetVarint64(&value, &r.refcount) ||
      !GetVarint64(&value, &count) || count > value.size() / kEntrySize ||
      value.size() != count * kEntrySize) {
    return std::nullopt;
  }
  r.chunks.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view h;
    uint32_t size;
    GetBytes(&value, cache::ChunkHash::kSize, &h);
    GetFixed32(&value, &size);
    r.chunks.push_back({cache::ChunkHash::FromBytes(h), size});
  }
  return r;
}

namespace remote_id {
std::string FromSha256(std::string_view sha256) { return "L" + std::string(sha256); }
std::string FromGitSha1(std::string_view sha1) { return "G" + std::string(sha1); }
std::string FromLocation(std::string_view location_key) {
  return "U" + Sha256::Digest(location_key.data(), location_key.size());
}
std::string Describe(std::string_view id) {
  const char* kind = IsSha256(id) ? "sha256:" : IsGitSha1(id) ? "git-sha1:" : "location:";
  return kind + HexEncode(Digest(id));
}
}  // namespace remote_id

std::string RemoteRecord::Encode() const {
  std::string out;
  PutVarint64(&out, size);
  PutVarint64(&out, refcount);
  PutLengthPrefixed(&out, sha256);
  out.push_back(materialized ? 1 : 0);
  return out;
}

std::optional<RemoteRecord> RemoteRecord::Decode(std::string_view value) {
  RemoteRecord r;
  std::string_view sha;
  if (!GetVarint64(&value, &r.size) || !GetVarint64(&value, &r.refcount) ||
      !GetLengthPrefixed(&value, &sha) || value.size() != 1 || value[0] > 1 ||
      !(sha.empty() || sha.size() == 32) || (value[0] == 1 && sha.empty())) {
    return std::nullopt;
  }
  r.sha256 = sha;
  r.materialized = value[0] == 1;
  return r;
}

std::string FetchState::Encode() const {
  std::string out;
  PutFixed64(&out, static_cast<uint64_t>(access_ns));
  out.append(segments);
  return out;
}

std::optional<FetchState> FetchState::Decode(std::string_view value) {
  if (value.size() < 8) return std::nullopt;
  FetchState s;
  s.access_ns = static_cast<int64_t>(DecodeFixed64(value.data()));
  s.segments = value.substr(8);
  return s;
}

}  // namespace modelfs
