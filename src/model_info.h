// src/model_info.h — one model.yaml document, as BentoML 1.4 writes it.
//
// ModelInfo owns the parsed document and is the only place that reads or
// writes model.yaml text. Known keys are emitted in this order: name, version,
// module, labels (str->str), options, metadata, context {framework_name,
// framework_versions, bentoml_version, python_version, then any other context
// keys}, signatures, api_version, creation_time; then the unknown top-level
// keys of a parsed document, in their original order. Parse(ToYaml()) gives a
// document whose ToYaml() is identical. Values are kept typed (string, bool,
// integer, float, null, list, mapping) so they survive a round trip through
// YAML or JSON; YAML anchors, aliases and custom tags are not preserved.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/tag.h"

namespace modelfs {

// The largest model.yaml read (16 MiB: some 400 k metadata keys); larger
// ones are refused, so metadata cannot hold the store for long.
inline constexpr size_t kMaxModelYamlBytes = size_t{16} << 20;

class ModelInfo {
 public:
  // A fresh document: module as given, labels {}, options {}, metadata {},
  // context {framework_name: "", framework_versions: {}, bentoml_version: "",
  // python_version: ""}, signatures {}, api_version "v1". tag.version must be
  // set; both parts are validated (Error kInvalidArgument).
  static ModelInfo Create(const Tag& tag, std::string module,
                          std::chrono::system_clock::time_point creation_time);

  // Parses model.yaml text in time linear in its size. Throws
  // Error(kInvalidArgument, "invalid model.yaml: ...") for text over
  // kMaxModelYamlBytes, a YAML syntax error, text that is not UTF-8, a top level that is
  // not a mapping, name/version/module/api_version or a context version that
  // is not a scalar, labels that are not a str->str mapping, options/metadata/
  // context/signatures that are not mappings, or an unparsable creation_time.
  // Missing name/version are allowed (left empty for the caller to set with
  // set_tag) and are not validated as tag parts. A missing creation_time is
  // taken as now; missing keys otherwise take their Create() defaults.
  static ModelInfo Parse(std::string_view yaml_text);

  // Canonical model.yaml text (block style, empty mappings as {}, strings that
  // would read back as another type quoted).
  std::string ToYaml() const;
  // The same content as a JSON object, in the same key order; creation_time
  // is the ISO-8601 string.
  nlohmann::ordered_json ToJson() const;

  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }
  Tag tag() const { return Tag{name_, version_}; }
  // Both parts are validated and the version must be non-empty.
  void set_tag(const Tag& tag);

  const std::string& module() const { return module_; }
  void set_module(std::string module) { module_ = std::move(module); }

  std::chrono::system_clock::time_point creation_time() const { return creation_time_; }
  void set_creation_time(std::chrono::system_clock::time_point t) { creation_time_ = t; }

  const std::string& api_version() const { return api_version_; }

  // Labels in document order.
  std::vector<std::pair<std::string, std::string>> labels() const { return labels_; }
  // Replaces an existing key in place, else appends. The key must be non-empty.
  void SetLabel(const std::string& key, const std::string& value);

  // Each is a JSON object (possibly empty).
  const nlohmann::ordered_json& options() const { return options_; }
  const nlohmann::ordered_json& metadata() const { return metadata_; }
  const nlohmann::ordered_json& context() const { return context_; }
  const nlohmann::ordered_json& signatures() const { return signatures_; }

  // value_text is read as a YAML scalar: "0.91" becomes a float, "42" an
  // integer, "true" a bool, "null" a null, "abc" a string, "'1'" the string
  // "1". Anything that is not a single scalar ("[1, 2]", "a: b", "") is stored
  // as the string itself. Replaces an existing key. The key must be non-empty.
  void SetMetadata(const std::string& key, const std::string& value_text);

  // Copies module, labels, options, metadata, context, signatures and unknown
  // top-level keys from `other`; the tag, creation time and api_version of
  // *this are kept.
  void AdoptMetadataFrom(const ModelInfo& other);

 private:
  ModelInfo();

  std::string name_;
  std::string version_;
  std::string module_;
  std::vector<std::pair<std::string, std::string>> labels_;
  nlohmann::ordered_json options_;
  nlohmann::ordered_json metadata_;
  nlohmann::ordered_json context_;  // known keys first, then the others
  nlohmann::ordered_json signatures_;
  std::string api_version_;
  std::chrono::system_clock::time_point creation_time_;
  nlohmann::ordered_json extra_;  // unknown top-level keys, in document order
};

// Formats creation_time like Python's datetime.isoformat() of an aware UTC
// datetime: "2026-11-24T21:03:42.123456+00:00". As in Python, the fraction is
// left out when the microseconds are zero; time below a microsecond is
// truncated toward the past.
std::string FormatIsoTime(std::chrono::system_clock::time_point t);

// Parses "YYYY-MM-DD[T| ]HH:MM[:SS[.fraction]][Z|±HH[:MM]]"; a time without an
// offset is taken as UTC. Throws Error(kInvalidArgument) naming the text,
// also for a time system_clock cannot hold (before 1678 or after 2261).
std::chrono::system_clock::time_point ParseIsoTime(std::string_view text);

}  // namespace modelfs
