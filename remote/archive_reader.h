// remote/archive_reader.h — reads the members of a model archive (tar under
// any compression libarchive knows, or zip) from a ByteSource, or of a
// directory tree, one after the other.
//
// It reports what each member is and hands out its bytes; it judges
// nothing (that is ArchiveImporter's job) except what libarchive itself
// detects: truncated or corrupt data is Error(kCorruption) naming the source.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "util/byte_stream.h"

namespace modelfs::remote {

struct ArchiveEntry {
  enum class Type { kFile, kDirectory, kSymlink, kHardlink, kOther };

  std::string path;         // as stored (may start with "./", "/", hold "..")
  Type type = Type::kOther;
  std::string type_name;    // "fifo", "character device", ... for messages
  std::optional<uint64_t> size;  // of a file, when the header says
  bool executable = false;
  std::string link_target;  // of a symlink or hardlink
};

// Fills `out` from libarchive's description of its current header (an
// `archive_entry*`, passed untyped to keep libarchive out of this header).
void DescribeArchiveEntry(void* libarchive_entry, ArchiveEntry* out);

class ArchiveReader {
 public:
  // Reads an archive from `source`, which must outlive the reader.
  static std::unique_ptr<ArchiveReader> FromSource(ByteSource* source);
  // Reads the tree under `dir` (symlinks are reported, not followed).
  static std::unique_ptr<ArchiveReader> FromDirectory(const std::filesystem::path& dir);

  virtual ~ArchiveReader() = default;
  // Moves to the next member; false after the last one.
  virtual bool Next(ArchiveEntry* entry) = 0;
  // Reads the current member's bytes; 0 at its end.
  virtual size_t ReadData(char* buffer, size_t capacity) = 0;
  // What is read, for messages.
  virtual std::string Describe() const = 0;
};

}  // namespace modelfs::remote
