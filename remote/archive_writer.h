// remote/archive_writer.h — writes a model, member by member, as an archive
// (streamed to a ByteSink) or as a plain folder.
//
// Members come in the order they are added: directories, then files whose
// bytes follow BeginFile() in one or more Write() calls and end with
// EndFile(), which checks that exactly the announced size was written.
// Nothing is visible at the destination until Finish() succeeds: a writer
// destroyed before that discards its sink (and with it any partial archive)
// or deletes its half-written folder.
//
// Archives are tar (pax, as Python's tarfile writes) under an xz, gzip or
// zstd filter, or zip (deflated below 1 MiB per file, stored above: weights
// do not deflate). The xz of .bentomodel comes from XzWriter, which stores
// incompressible blocks instead of compressing them, so an export runs at
// disk speed and is still a valid .xz stream.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "remote/archive_format.h"
#include "util/byte_stream.h"

namespace modelfs::remote {

class EntryWriter {
 public:
  virtual ~EntryWriter() = default;
  // `path` is relative to the model root, '/'-separated, without "./".
  virtual void AddDirectory(const std::string& path, int64_t mtime) = 0;
  // `sha256` (32 raw bytes, or empty): recorded with the member where the
  // format can (a pax attribute of tar formats, see remote/tar_index.h).
  virtual void BeginFile(const std::string& path, uint64_t size, bool executable, int64_t mtime,
                         std::string_view sha256) = 0;
  virtual void Write(const char* data, size_t size) = 0;
  virtual void EndFile() = 0;
  // Ends the archive and publishes it. Called at most once.
  virtual void Finish() = 0;
};

// Writes `format` (not kFolder) to `sink`, which is committed by Finish().
std::unique_ptr<EntryWriter> NewArchiveWriter(ArchiveFormat format, std::unique_ptr<modelfs::ByteSink> sink);

// Writes into directory `dir`, which must not exist or be empty; it is built
// beside it under a temporary name and renamed into place by Finish().
std::unique_ptr<EntryWriter> NewFolderWriter(const std::filesystem::path& dir);

}  // namespace modelfs::remote
