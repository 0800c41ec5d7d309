// cache/pack_reader.h — reads and verifies records from one pack file.
//
// A PackReader is safe to use from many threads at once (it only preads).
// ReadChunk never returns bytes whose XXH3-128 differs from the expected
// hash: damage of any kind throws Error(kCorruption) naming the pack and offset.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "cache/pack_format.h"
#include "util/unique_fd.h"

namespace modelfs::cache {

class PackReader {
 public:
  // Opens `path`; throws Error(kNotFound) when it does not exist.
  explicit PackReader(std::filesystem::path path);
  PackReader(const PackReader&) = delete;
  PackReader& operator=(const PackReader&) = delete;

  // Reads the record at `loc`, checks that it holds `expected`, decodes it
  // into `out` (resized to the raw size) and verifies its hash.
  void ReadChunk(const ChunkLocation& loc, const ChunkHash& expected, std::string* out) const;

  // Reads `n` bytes at `offset` exactly; throws kCorruption when the pack is
  // shorter (a truncated pack).
  void ReadExact(uint64_t offset, size_t n, char* out) const;

  int fd() const { return fd_.get(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  UniqueFd fd_;
};

// Decodes a record payload into `out` and checks its XXH3-128 against
// header.hash. Returns false on any mismatch or decoding failure.
bool DecodeRecordPayload(const RecordHeader& header, const char* payload, std::string* out);

}  // namespace modelfs::cache
