// src/catalog_records.h — the records of the model catalog and their encodings.
//
// Three kinds live in the Index:
//   models  "<name>\0<version>"          -> ModelRecord
//   files   "<name>\0<version>\0<path>"  -> FileRecord  (one per file or dir)
//   blobs   sha256 (32 raw bytes)         -> BlobRecord  (a file's content)
// A blob is the chunk list of one distinct file content, shared by every
// file with that sha256 and counted by refcount; chunks are owned by cache/.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/chunk_hash.h"

namespace modelfs {

struct ModelRecord {
  std::string name;
  std::string version;
  std::string module;
  std::string yaml;            // model.yaml exactly as served
  int64_t creation_ns = 0;     // creation_time, ns since the Unix epoch
  uint64_t size = 0;           // sum of file sizes
  uint64_t file_count = 0;
  std::string source;          // "local:<dir>", "import:<archive>", …

  std::string Encode() const;
  static std::optional<ModelRecord> Decode(std::string_view key, std::string_view value);
};

enum class FileType : uint8_t { kFile = 1, kDirectory = 2 };

struct FileRecord {
  std::string path;            // relative, '/'-separated, no leading '/'
  FileType type = FileType::kFile;
  bool executable = false;
  uint64_t size = 0;
  std::string sha256;          // 32 raw bytes; empty for directories

  std::string Encode() const;
  static std::optional<FileRecord> Decode(std::string_view path, std::string_view value);
};

struct BlobChunk {
  cache::ChunkHash hash;
  uint32_t size;
};

struct BlobRecord {
  uint64_t size = 0;
  uint64_t refcount = 0;       // file records naming this sha256
  std::vector<BlobChunk> chunks;

  std::string Encode() const;
  static std::optional<BlobRecord> Decode(std::string_view value);
};

std::string ModelKey(std::string_view name, std::string_view version);
// Prefix of every file key of a model.
std::string FileKeyPrefix(std::string_view name, std::string_view version);
std::string FileKey(std::string_view name, std::string_view version, std::string_view path);

}  // namespace modelfs
