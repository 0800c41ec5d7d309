// src/catalog_records.h — the records of the model catalog and their encodings.
//
// Five kinds live in the Index:
//   models   "<name>\0<version>"          -> ModelRecord
//   files    "<name>\0<version>\0<path>"  -> FileRecord  (one per file or dir)
//   blobs    sha256 (32 raw bytes)         -> BlobRecord  (a file's content)
//   remotes  remote id                     -> RemoteRecord (a content to fetch)
//   fetch    remote id                     -> FetchState  (what is fetched)
// A blob is the chunk list of one distinct file content, counted by
// refcount; chunks are owned by cache/. A file is either local (it names a
// blob, which it counts) or remote (it names a RemoteRecord by its remote
// id, which it counts). A remote content is known by the digest its origin
// promises: the LFS sha256, or the git blob sha1 of a small file. Once
// fetched and verified it is "materialized": the RemoteRecord then holds one
// reference on the blob of its sha256, which eviction may drop again.
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
  std::string source;          // "local:<dir>", "import:<archive>", "hf://…"
  // Where remote files of this model are fetched from; empty for local models.
  struct Origin {
    std::string kind;          // "hf"
    std::string endpoint;      // e.g. https://huggingface.co
    std::string repo;          // org/name
    std::string revision;      // as asked for
    std::string commit;        // what it resolved to
  } origin;
  // Its remote files serve no byte before the whole file is fetched and
  // matched its digest (`models pull --strict`).
  bool strict = false;

  std::string Encode() const;
  static std::optional<ModelRecord> Decode(std::string_view key, std::string_view value);
};

enum class FileType : uint8_t { kFile = 1, kDirectory = 2 };

struct FileRecord {
  std::string path;            // relative, '/'-separated, no leading '/'
  FileType type = FileType::kFile;
  bool executable = false;
  uint64_t size = 0;
  std::string sha256;          // 32 raw bytes; empty for directories and
                               // for remote files whose sha256 is not known
  std::string remote_id;       // empty for local files (see RemoteId)
  uint64_t remote_offset = 0;  // where its bytes start in the origin's object
                               // (a member of a BentoCloud tar); 0 otherwise

  static FileRecord Directory(std::string path);
  static FileRecord LocalFile(std::string path, bool executable, uint64_t size, std::string sha256);

  bool is_remote() const { return !remote_id.empty(); }

  std::string Encode() const;
  static std::optional<FileRecord> Decode(std::string_view path, std::string_view value);
};

// Remote ids: 'L' + the 32-byte LFS sha256, 'G' + the 20-byte git blob sha1,
// or 'U' + the sha256 of a key naming where the bytes are, for content whose
// origin promises no digest (a member of a tar BentoML pushed): such content
// is checked only for its size, and shared with equal content once stored.
namespace remote_id {
std::string FromSha256(std::string_view sha256);
std::string FromGitSha1(std::string_view sha1);
std::string FromLocation(std::string_view location_key);
inline bool IsSha256(std::string_view id) { return id.size() == 33 && id[0] == 'L'; }
inline bool IsGitSha1(std::string_view id) { return id.size() == 21 && id[0] == 'G'; }
inline bool IsLocation(std::string_view id) { return id.size() == 33 && id[0] == 'U'; }
inline bool IsValid(std::string_view id) { return IsSha256(id) || IsGitSha1(id) || IsLocation(id); }
inline std::string_view Digest(std::string_view id) { return id.substr(1); }
// "sha256:<hex>" / "git-sha1:<hex>", for messages.
std::string Describe(std::string_view id);
}  // namespace remote_id

struct RemoteRecord {
  uint64_t size = 0;
  uint64_t refcount = 0;       // file records naming this remote id
  std::string sha256;          // 32 raw bytes once known (always, for LFS)
  bool materialized = false;   // holds one reference on the blob of sha256

  std::string Encode() const;
  static std::optional<RemoteRecord> Decode(std::string_view value);
};

// Progress of one remote content: when it was last opened (for LRU
// eviction) and which segments its staging file holds (SegmentMap::Encode;
// empty when nothing is staged).
struct FetchState {
  int64_t access_ns = 0;
  std::string segments;

  std::string Encode() const;
  static std::optional<FetchState> Decode(std::string_view value);
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
