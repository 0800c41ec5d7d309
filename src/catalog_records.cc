#include "src/catalog_records.h"

#include <nlohmann/json.hpp>

#include "util/coding.h"

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
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  return r;
}

std::string FileRecord::Encode() const {
  std::string out;
  out.push_back(static_cast<char>(type));
  out.push_back(executable ? 1 : 0);
  PutVarint64(&out, size);
  PutLengthPrefixed(&out, sha256);
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
  if (!GetVarint64(&value, &r.size) || !GetLengthPrefixed(&value, &sha) || !value.empty()) {
    return std::nullopt;
  }
  r.sha256 = sha;
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

}  // namespace modelfs
