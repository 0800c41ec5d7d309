#include "remote/archive_format.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace modelfs {
namespace {

struct FormatName {
  std::string_view name;
  ArchiveFormat format;
};

constexpr std::array<FormatName, 9> kNames{{
    {"bentomodel", ArchiveFormat::kBentoModel},
    {"tar", ArchiveFormat::kTar},
    {"tar.gz", ArchiveFormat::kTarGz},
    {"gz", ArchiveFormat::kTarGz},
    {"tgz", ArchiveFormat::kTarGz},
    {"tar.zst", ArchiveFormat::kTarZst},
    {"zst", ArchiveFormat::kTarZst},
    {"zip", ArchiveFormat::kZip},
    {"folder", ArchiveFormat::kFolder},
}};

// Longest first, so ".tar.gz" wins over a bare ".gz".
constexpr std::array<FormatName, 6> kExtensions{{
    {".bentomodel", ArchiveFormat::kBentoModel},
    {".tar.gz", ArchiveFormat::kTarGz},
    {".tar.zst", ArchiveFormat::kTarZst},
    {".tgz", ArchiveFormat::kTarGz},
    {".tar", ArchiveFormat::kTar},
    {".zip", ArchiveFormat::kZip},
}};

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

std::optional<ArchiveFormat> ArchiveFormatFromName(std::string_view name) {
  const std::string lower = Lower(name);
  for (const auto& n : kNames) {
    if (n.name == lower) return n.format;
  }
  return std::nullopt;
}

std::optional<ArchiveFormat> ArchiveFormatFromPath(std::string_view path) {
  const std::string lower = Lower(path);
  for (const auto& e : kExtensions) {
    if (lower.size() > e.name.size() && lower.ends_with(e.name)) return e.format;
  }
  return std::nullopt;
}

std::string_view ArchiveExtension(ArchiveFormat format) {
  switch (format) {
    case ArchiveFormat::kBentoModel: return ".bentomodel";
    case ArchiveFormat::kTar: return ".tar";
    case ArchiveFormat::kTarGz: return ".tar.gz";
    case ArchiveFormat::kTarZst: return ".tar.zst";
    case ArchiveFormat::kZip: return ".zip";
    case ArchiveFormat::kFolder: return "";
  }
  return "";
}

std::string_view ArchiveFormatName(ArchiveFormat format) {
  switch (format) {
    case ArchiveFormat::kBentoModel: return "bentomodel";
    case ArchiveFormat::kTar: return "tar";
    case ArchiveFormat::kTarGz: return "tar.gz";
    case ArchiveFormat::kTarZst: return "tar.zst";
    case ArchiveFormat::kZip: return "zip";
    case ArchiveFormat::kFolder: return "folder";
  }
  return "";
}

std::string ArchiveFormatNames() { return "bentomodel, tar, tar.gz, tar.zst, zip, folder"; }

}  // namespace modelfs
