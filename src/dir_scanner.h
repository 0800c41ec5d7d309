// src/dir_scanner.h — lists what `models save` will store from a directory.
//
// The policy: regular files, directories (empty ones too) and symlinks to
// regular files (followed wherever they point: a Hugging Face cache snapshot
// is all symlinks into ../../blobs) are taken. Symlinks to directories are
// followed only when they stay inside the tree and do not loop. Everything
// else — dangling links, links to directories outside the tree, devices,
// fifos, sockets — is refused with Error(kInvalidArgument) naming the path,
// before a single byte is stored.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "src/catalog_records.h"

namespace modelfs {

struct ScannedEntry {
  std::string path;                 // relative, '/'-separated
  FileType type;
  bool executable = false;
  uint64_t size = 0;
  std::filesystem::path source;     // what to read (symlinks resolved)
};

struct ScannedTree {
  std::vector<ScannedEntry> entries;       // sorted by path, model.yaml excluded
  std::filesystem::path model_yaml;        // the tree's own model.yaml, if any
  uint64_t total_size = 0;
  uint64_t file_count = 0;
};

// Throws kNotFound for a missing root and kInvalidArgument for anything the
// policy refuses, an unreadable directory, or a tree without files.
ScannedTree ScanModelDirectory(const std::filesystem::path& root);

}  // namespace modelfs
