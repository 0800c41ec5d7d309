// tools/output.h — how the CLI prints: sizes, times, tables and documents,
// in the shapes `bentoml models` uses.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/catalog_records.h"

namespace modelfs::tools {

// Model(tag="name:version"), as bentoml prints a model.
std::string QuotedTag(const ModelRecord& model);
// 1.14 GiB, 12.00 KiB, 512 B.
std::string HumanSize(uint64_t bytes);
// Parses a size: a number with an optional unit K, M, G, T (powers of 1024;
// "KiB", "MB"-style suffixes accepted). Throws Error(kInvalidArgument)
// naming `what`.
uint64_t ParseSize(const std::string& text, const std::string& what);
// Local time as "2026-11-24 21:03:42".
std::string ListTime(int64_t unix_ns);
// Left-aligned columns separated by two spaces; the first row is the header.
void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows);
// Prints `doc` as indented JSON or as YAML (block style).
void PrintJson(std::ostream& out, const nlohmann::ordered_json& doc);
void PrintYaml(std::ostream& out, const nlohmann::ordered_json& doc);

}  // namespace modelfs::tools
