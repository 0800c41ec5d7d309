// tools/archive_location.h — where `models export` writes and `models
// import` reads: a local file, a folder, or an S3 object.
//
// Export destinations follow BentoML: a directory (or a path ending in '/')
// gets NAME-VERSION plus the format's extension; a file name without a
// known extension gets one appended; the format comes from --format, else
// the extension, else .bentomodel. An existing file is replaced only with
// --force. The S3 client and the streams made here must outlive the readers
// and writers Open() returns: declare the location first.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "remote/archive_format.h"
#include "remote/archive_reader.h"
#include "remote/archive_writer.h"
#include "remote/s3_client.h"
#include "src/store.h"
#include "tools/command_context.h"
#include "util/byte_stream.h"

namespace modelfs::tools {

class ExportTarget {
 public:
  // Checks what can be checked before the model is known (the format).
  ExportTarget(const CommandContext& ctx, std::string dest, std::optional<ArchiveFormat> format,
               std::string s3_endpoint, bool force);
  // Whether the destination is on S3 (reached through the store's clients).
  bool is_s3() const;
  // The writer for `model`; nothing is visible until it Finish()es.
  // `sources` gives the HTTP client for S3.
  std::unique_ptr<remote::EntryWriter> Open(const ModelRecord& model, RemoteSources* sources);
  // Where it went (after Open).
  const std::string& Describe() const { return resolved_; }

 private:
  const CommandContext& ctx_;
  std::string dest_;
  ArchiveFormat format_;
  std::string s3_endpoint_;
  bool force_;
  std::string resolved_;
  std::unique_ptr<remote::S3Client> s3_;  // the writer Open() returns uses it
};

class ImportSource {
 public:
  ImportSource(const CommandContext& ctx, std::string source, std::string s3_endpoint);
  ~ImportSource();
  // The archive's members; `progress` sees the bytes read. Call once.
  std::unique_ptr<remote::ArchiveReader> Open(ProgressFn progress, RemoteSources* sources);
  const std::string& Describe() const { return source_; }

 private:
  const CommandContext& ctx_;
  std::string source_;
  std::string s3_endpoint_;
  std::unique_ptr<remote::S3Client> s3_;
  std::unique_ptr<ByteSource> stream_;  // read by the reader Open() returns
};

}  // namespace modelfs::tools
