#include "tools/output.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>

#include <yaml-cpp/yaml.h>

#include "util/error.h"

namespace modelfs::tools {

uint64_t ParseSize(const std::string& text, const std::string& what) {
  size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(text, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  std::string unit = text.substr(pos);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit.ends_with("IB")) unit.resize(unit.size() - 2);
  else if (unit.size() == 2 && unit.back() == 'B') unit.pop_back();
  static const std::string kUnits = "BKMGT";
  size_t exponent = unit.empty() ? 0 : kUnits.find(unit);
  const double bytes =
      exponent == std::string::npos ? 0 : value * std::pow(1024.0, static_cast<double>(exponent));
  // std::stod accepts "nan", "inf" and "1e30", which no uint64_t holds.
  if (pos == 0 || !(value >= 0) || unit.size() > 1 || exponent == std::string::npos ||
      !(bytes < 18446744073709551616.0)) {
    throw Error(ErrorCode::kInvalidArgument,
                what + " expects a size such as 500M, 10G or 1T, got '" + text + "'");
  }
  return static_cast<uint64_t>(bytes);
}

std::string QuotedTag(const ModelRecord& m) { return "Model(tag=\"" + m.name + ":" + m.version + "\")"; }

std::string HumanSize(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 5) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f %s", value, kUnits[unit]);
  return buf;
}

std::string ListTime(int64_t unix_ns) {
  std::time_t t = static_cast<std::time_t>(unix_ns / 1000000000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out << line << '\n';
  }
}

void PrintJson(std::ostream& out, const nlohmann::ordered_json& doc) { out << doc.dump(2) << '\n'; }

namespace {

void EmitJson(YAML::Emitter& e, const nlohmann::ordered_json& j) {
  if (j.is_object()) {
    e << YAML::BeginMap;
    for (const auto& [k, v] : j.items()) {
      e << YAML::Key << k << YAML::Value;
      EmitJson(e, v);
    }
    e << YAML::EndMap;
  } else if (j.is_array()) {
    e << YAML::BeginSeq;
    for (const auto& v : j) EmitJson(e, v);
    e << YAML::EndSeq;
  } else if (j.is_string()) {
    e << j.get<std::string>();
  } else if (j.is_boolean()) {
    e << j.get<bool>();
  } else if (j.is_number_integer()) {
    e << j.get<int64_t>();
  } else if (j.is_number()) {
    e << j.get<double>();
  } else {
    e << YAML::Null;
  }
}

}  // namespace

void PrintYaml(std::ostream& out, const nlohmann::ordered_json& doc) {
  YAML::Emitter e;
  EmitJson(e, doc);
  out << e.c_str() << '\n';
}

}  // namespace modelfs::tools
