// remote/archive_format.h — the formats a model is exported to and imported
// from, and how a path or a --format value names one.
//
// As BentoML does, the extension of a destination chooses the format:
// .bentomodel (an xz-compressed tar), .tar, .tar.gz / .tgz, .tar.zst, .zip;
// "folder" is a plain directory. Every archive holds the members "./",
// "./model.yaml" and "./<files>".
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace modelfs {

enum class ArchiveFormat { kBentoModel, kTar, kTarGz, kTarZst, kZip, kFolder };

// "bentomodel", "tar", "tar.gz" (or "gz", "tgz"), "tar.zst" (or "zst"), "zip", "folder".
std::optional<ArchiveFormat> ArchiveFormatFromName(std::string_view name);
// The format an archive file name's extension names, if any (case-insensitive).
std::optional<ArchiveFormat> ArchiveFormatFromPath(std::string_view path);
// The extension, with its dot (".tar.gz"); "" for kFolder.
std::string_view ArchiveExtension(ArchiveFormat format);
std::string_view ArchiveFormatName(ArchiveFormat format);
// Every accepted --format value, for messages.
std::string ArchiveFormatNames();

}  // namespace modelfs
