#include "src/model_info.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <unordered_map>

#include "util/error.h"
#include "util/utf8.h"

namespace modelfs {

namespace {

using Json = nlohmann::ordered_json;
using std::chrono::system_clock;

constexpr int kMaxDepth = 100;           // nesting allowed in model.yaml values
constexpr size_t kMaxNodes = 1'000'000;  // after alias expansion

[[noreturn]] void ThrowInvalid(const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, "invalid model.yaml: " + what);
}

// ---- plain scalar typing (YAML 1.1 as PyYAML reads it, plus YAML 1.2 forms) ----
// Hand-written rather than std::regex, whose recursive matcher can exhaust the
// stack on long values.

enum class PlainType { kNull, kBool, kInt, kFloat, kString };

constexpr std::string_view kDigits = "0123456789";
constexpr std::string_view kDigitsOr_ = "0123456789_";

// The index just past the run of characters from `set` that starts at i.
size_t Skip(std::string_view s, size_t i, std::string_view set) {
  while (i < s.size() && set.find(s[i]) != std::string_view::npos) ++i;
  return i;
}

size_t SkipSign(std::string_view s) { return !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0; }

bool IsDigitAt(std::string_view s, size_t i) { return i < s.size() && s[i] >= '0' && s[i] <= '9'; }

bool OneOf(std::string_view s, std::initializer_list<std::string_view> options) {
  for (std::string_view o : options) {
    if (s == o) return true;
  }
  return false;
}

// [-+]?(0|[1-9][0-9_]*|0[0-7_]+|0o[0-7_]+|0x[0-9a-fA-F_]+|0b[01_]+)
bool IsIntText(std::string_view s) {
  size_t i = SkipSign(s);
  if (!IsDigitAt(s, i)) return false;
  if (s[i] != '0') return Skip(s, i, kDigitsOr_) == s.size();
  if (i + 1 == s.size()) return true;
  char p = s[i + 1];
  std::string_view set = p == 'x' ? "0123456789abcdefABCDEF_" : p == 'b' ? "01_" : "01234567_";
  size_t first = i + ((p == 'x' || p == 'b' || p == 'o') ? 2 : 1);
  return first < s.size() && Skip(s, first, set) == s.size();
}

// [-+]?(\.[0-9][0-9_]*|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)? holding a '.'
// or an exponent; [-+]?\.inf; \.nan (each in its three spellings).
bool IsFloatText(std::string_view s) {
  if (OneOf(s, {".nan", ".NaN", ".NAN"})) return true;
  size_t i = SkipSign(s);
  if (OneOf(s.substr(i), {".inf", ".Inf", ".INF"})) return true;
  bool lead_digit = IsDigitAt(s, i);
  if (lead_digit) i = Skip(s, i, kDigitsOr_);
  bool dot = i < s.size() && s[i] == '.';
  if (!lead_digit && !(dot && IsDigitAt(s, i + 1))) return false;
  if (dot) i = Skip(s, i + 1, kDigitsOr_);
  bool exponent = i < s.size() && (s[i] == 'e' || s[i] == 'E');
  if (exponent) {
    size_t first = i + 1 + SkipSign(s.substr(i + 1));
    i = Skip(s, first, kDigits);
    if (i == first) return false;
  }
  return i == s.size() && (dot || exponent);
}

PlainType ClassifyPlain(std::string_view s) {
  if (OneOf(s, {"", "~", "null", "Null", "NULL"})) return PlainType::kNull;
  if (OneOf(s, {"true", "True", "TRUE", "false", "False", "FALSE", "yes", "Yes", "YES", "no", "No",
                "NO", "on", "On", "ON", "off", "Off", "OFF"})) {
    return PlainType::kBool;
  }
  if (IsIntText(s)) return PlainType::kInt;
  if (IsFloatText(s)) return PlainType::kFloat;
  return PlainType::kString;
}

// [-+]?[0-9][0-9_]*((:[0-5]?[0-9])+(\.[0-9_]*)?)? : a decimal (YAML 1.2 reads
// "09" as 9) or a YAML 1.1 sexagesimal number such as "1:30".
bool IsDecimalOrSexagesimal(std::string_view s) {
  size_t i = SkipSign(s);
  if (!IsDigitAt(s, i)) return false;
  i = Skip(s, i, kDigitsOr_);
  bool groups = false;
  for (; i < s.size() && s[i] == ':'; groups = true) {
    size_t j = Skip(s, i + 1, kDigits);
    if (j == i + 1 || j > i + 3 || (j == i + 3 && s[i + 1] > '5')) return false;
    i = j;
  }
  if (groups && i < s.size() && s[i] == '.') i = Skip(s, i + 1, kDigitsOr_);
  return i == s.size();
}

// [0-9]{4}-[0-9]{1,2}-[0-9]{1,2} followed by anything: a YAML 1.1 timestamp.
bool LooksLikeDate(std::string_view s) {
  size_t i = Skip(s, 0, kDigits);
  if (i != 4) return false;
  for (int part = 0; part < 2; ++part) {
    if (i >= s.size() || s[i] != '-') return false;
    size_t j = Skip(s, i + 1, kDigits);
    if (j == i + 1 || (part == 0 && j > i + 3)) return false;
    i = j;
  }
  return true;
}

// True if `s`, written as a plain scalar, would read back as something other
// than this string in PyYAML, yaml-cpp or a YAML 1.1 reader.
bool NeedsQuotes(std::string_view s) {
  return ClassifyPlain(s) != PlainType::kString || IsDecimalOrSexagesimal(s) || LooksLikeDate(s) ||
         OneOf(s, {"=", "<<", "y", "Y", "n", "N"});
}

Json ParseInt(const std::string& s) {
  std::string digits;
  for (char c : s) {
    if (c != '_') digits.push_back(c);
  }
  bool negative = digits[0] == '-';
  size_t pos = (digits[0] == '-' || digits[0] == '+') ? 1 : 0;
  int base = 10;
  if (digits.size() > pos + 1 && digits[pos] == '0') {
    char p = digits[pos + 1];
    base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 8;
    pos += (p == 'x' || p == 'o' || p == 'b') ? 2 : 1;
  }
  uint64_t magnitude = 0;
  const char* end = digits.data() + digits.size();
  if (pos == digits.size()) return 0;  // e.g. "0_" or "0o_"
  auto [ptr, ec] = std::from_chars(digits.data() + pos, end, magnitude, base);
  if (ec != std::errc() || ptr != end) return s;  // out of range: keep the text
  constexpr uint64_t kMaxPositive = std::numeric_limits<int64_t>::max();
  if (!negative) {
    if (magnitude <= kMaxPositive) return static_cast<int64_t>(magnitude);
    return magnitude;
  }
  if (magnitude <= kMaxPositive) return -static_cast<int64_t>(magnitude);
  if (magnitude == kMaxPositive + 1) return std::numeric_limits<int64_t>::min();
  return s;
}

Json ParseFloat(const std::string& s) {
  if (s.find_first_of("iI") != std::string::npos) {
    return s[0] == '-' ? -std::numeric_limits<double>::infinity()
                       : std::numeric_limits<double>::infinity();
  }
  if (s.find_first_of("nN") != std::string::npos) return std::numeric_limits<double>::quiet_NaN();
  std::string digits;
  for (char c : s) {
    if (c != '_' && c != '+') digits.push_back(c);
    if (c == '+' && !digits.empty()) digits.push_back(c);  // exponent sign
  }
  double value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return s;
  return value;
}

// The value a plain (unquoted, untagged) scalar stands for.
Json ResolvePlain(const std::string& s) {
  PlainType type = ClassifyPlain(s);
  if (type == PlainType::kNull) return nullptr;
  if (type == PlainType::kBool)
    return OneOf(s.substr(0, 1), {"t", "T", "y", "Y"}) || OneOf(s, {"on", "On", "ON"});
  if (type == PlainType::kInt) return ParseInt(s);
  if (type == PlainType::kFloat) return ParseFloat(s);
  return s;
}

std::string FormatFloat(double d) {
  if (std::isnan(d)) return ".nan";
  if (std::isinf(d)) return d < 0 ? "-.inf" : ".inf";
  std::string text = nlohmann::json(d).dump();
  if (text.find('.') == std::string::npos) {
    size_t e = text.find('e');
    text.insert(e == std::string::npos ? text.size() : e, ".0");  // PyYAML needs the dot
  }
  return text;
}

// ---- YAML node -> JSON value ----

std::string Describe(const YAML::Node& n) {
  return n.IsMap() ? "a mapping" : n.IsSequence() ? "a list" : n.IsNull() ? "null" : "a scalar";
}

// Builds a JSON object key by key in linear time: ordered_json finds a key by
// a linear scan, so n assignments through operator[] cost n²/2 comparisons
// (100 k metadata keys took 35 s). A later duplicate key wins, as in PyYAML.
class ObjectBuilder {
 public:
  void Put(const std::string& key, Json value) {
    auto& members = object_.get_ref<Json::object_t&>();
    auto [it, added] = position_.try_emplace(key, members.size());
    if (added) {
      members.emplace_back(key, std::move(value));
    } else {
      (members.begin() + static_cast<std::ptrdiff_t>(it->second))->second = std::move(value);
    }
  }
  Json Take() { return std::move(object_); }

 private:
  Json object_ = Json::object();
  std::unordered_map<std::string, size_t> position_;
};

// `budget` counts nodes across the whole document, so aliases cannot blow up.
Json FromNode(const YAML::Node& node, int depth, size_t* budget) {
  if (depth > kMaxDepth) ThrowInvalid("values are nested more than 100 levels deep");
  if (++*budget > kMaxNodes) ThrowInvalid("the document has too many nodes");
  if (node.IsSequence()) {
    Json array = Json::array();
    for (const auto& item : node) array.push_back(FromNode(item, depth + 1, budget));
    return array;
  }
  if (node.IsMap()) {
    ObjectBuilder object;
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) ThrowInvalid("a key is " + Describe(kv.first) + ", not a string");
      object.Put(kv.first.Scalar(), FromNode(kv.second, depth + 1, budget));
    }
    return object.Take();
  }
  if (!node.IsScalar()) return nullptr;
  const std::string& tag = node.Tag();
  static const std::string kCore = "tag:yaml.org,2002:";
  if (tag == "?" || tag.empty() || tag == kCore + "int" || tag == kCore + "float" ||
      tag == kCore + "bool" || tag == kCore + "null") {
    return ResolvePlain(node.Scalar());
  }
  return node.Scalar();  // quoted, !!str or a custom tag: keep the text
}

Json MappingValue(const YAML::Node& node, const std::string& key, size_t* budget) {
  if (node.IsNull()) return Json::object();
  if (!node.IsMap()) ThrowInvalid(key + " must be a mapping, not " + Describe(node));
  return FromNode(node, 1, budget);
}

std::string StringValue(const YAML::Node& node, const std::string& key) {
  if (node.IsNull()) return "";
  if (!node.IsScalar()) ThrowInvalid(key + " must be a string, not " + Describe(node));
  return node.Scalar();
}

Json DefaultContext() {
  Json context = Json::object();
  context["framework_name"] = "";
  context["framework_versions"] = Json::object();
  context["bentoml_version"] = "";
  context["python_version"] = "";
  return context;
}

// ---- JSON value -> YAML text ----

void EmitString(YAML::Emitter& out, const std::string& s) {
  if (NeedsQuotes(s)) out << YAML::SingleQuoted;
  out << s;  // yaml-cpp switches to double quotes when a plain scalar cannot hold s
}

void EmitValue(YAML::Emitter& out, const Json& v) {
  if (v.is_object() || v.is_array()) {
    if (v.empty()) out << YAML::Flow;  // {} and [] rather than a lone indented line
    out << (v.is_object() ? YAML::BeginMap : YAML::BeginSeq);
    for (const auto& [key, value] : v.items()) {
      if (v.is_object()) {
        out << YAML::Key;
        // YAML reads an implicit key of at most 1024 characters: a key that
        // may be longer once quoted and escaped ("\x10" per byte) is written
        // as an explicit "? key", which has no limit.
        if (key.size() > 1024 / 4) out << YAML::LongKey;
        EmitString(out, key);
        out << YAML::Value;
      }
      EmitValue(out, value);
    }
    out << (v.is_object() ? YAML::EndMap : YAML::EndSeq);
  } else if (v.is_string()) {
    EmitString(out, v.get_ref<const std::string&>());
  } else if (v.is_boolean()) {
    out << (v.get<bool>() ? "true" : "false");
  } else if (v.is_number_float()) {
    out << FormatFloat(v.get<double>());
  } else if (v.is_number()) {
    out << v.dump();  // a signed or unsigned integer
  } else {
    out << YAML::Null;
  }
}

// ---- ISO-8601 time ----

struct TimeCursor {
  std::string_view text;
  size_t pos = 0;

  [[noreturn]] void Fail() const {
    throw Error(ErrorCode::kInvalidArgument,
                "invalid time '" + std::string(text) +
                    "': expected ISO-8601 such as '2024-03-01T10:11:12.345678+00:00'");
  }
  bool AtEnd() const { return pos == text.size(); }
  bool Take(char c) {
    if (AtEnd() || text[pos] != c) return false;
    ++pos;
    return true;
  }
  bool PeekDigit() const { return !AtEnd() && text[pos] >= '0' && text[pos] <= '9'; }
  int Number(int width, int max) {
    int value = 0;
    for (int i = 0; i < width; ++i) {
      if (!PeekDigit()) Fail();
      value = value * 10 + (text[pos++] - '0');
    }
    if (value > max) Fail();
    return value;
  }
};

}  // namespace

std::string FormatIsoTime(system_clock::time_point t) {
  using namespace std::chrono;
  auto us = floor<microseconds>(t);
  auto day = floor<days>(us);
  year_month_day ymd{day};
  hh_mm_ss<microseconds> hms{us - day};
  char buf[64];
  int n =
      std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                    static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                    static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                    static_cast<int>(hms.seconds().count()));
  long micros = static_cast<long>(hms.subseconds().count());
  if (micros != 0) {
    std::snprintf(buf + n, sizeof(buf) - static_cast<size_t>(n), ".%06ld", micros);
  }
  return std::string(buf) + "+00:00";
}

system_clock::time_point ParseIsoTime(std::string_view text) {
  using namespace std::chrono;
  TimeCursor c{text};
  int y = c.Number(4, 9999);
  if (!c.Take('-')) c.Fail();
  int mo = c.Number(2, 12);
  if (!c.Take('-')) c.Fail();
  int d = c.Number(2, 31);
  if (!c.Take('T') && !c.Take('t') && !c.Take(' ')) c.Fail();
  int h = c.Number(2, 23);
  if (!c.Take(':')) c.Fail();
  int mi = c.Number(2, 59);
  int s = 0;
  nanoseconds fraction{0};
  if (c.Take(':')) {
    s = c.Number(2, 59);
    if (c.Take('.') || c.Take(',')) {
      if (!c.PeekDigit()) c.Fail();
      int64_t ns = 0;
      int digits = 0;
      for (; c.PeekDigit(); ++c.pos, ++digits) {
        if (digits < 9) ns = ns * 10 + (c.text[c.pos] - '0');
      }
      for (; digits < 9; ++digits) ns *= 10;
      fraction = nanoseconds(ns);
    }
  }
  minutes offset{0};
  if (c.Take('Z') || c.Take('z')) {
  } else if (!c.AtEnd()) {
    int sign = c.Take('+') ? 1 : c.Take('-') ? -1 : 0;
    if (sign == 0) c.Fail();
    int oh = c.Number(2, 23);
    int om = 0;
    if (!c.AtEnd()) {
      c.Take(':');
      om = c.Number(2, 59);
    }
    offset = minutes(sign * (oh * 60 + om));
  }
  if (!c.AtEnd()) c.Fail();
  year_month_day ymd{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  if (!ymd.ok()) c.Fail();
  const sys_seconds whole = sys_days(ymd) + hours(h) + minutes(mi) + seconds(s) - offset;
  // system_clock counts nanoseconds in 64 bits, years 1678 to 2261: refuse
  // what it cannot hold rather than overflow.
  constexpr seconds kLimit = duration_cast<seconds>(system_clock::duration::max()) - seconds(1);
  if (whole.time_since_epoch() > kLimit || whole.time_since_epoch() < -kLimit) {
    throw Error(ErrorCode::kInvalidArgument, "invalid time '" + std::string(text) +
                                                 "': modelfs keeps times between the years 1678 and 2261");
  }
  return time_point_cast<system_clock::duration>(whole) + duration_cast<system_clock::duration>(fraction);
}

ModelInfo::ModelInfo()
    : options_(Json::object()),
      metadata_(Json::object()),
      context_(DefaultContext()),
      signatures_(Json::object()),
      api_version_("v1"),
      extra_(Json::object()) {}

ModelInfo ModelInfo::Create(const Tag& tag, std::string module,
                            system_clock::time_point creation_time) {
  ModelInfo info;
  info.set_tag(tag);
  info.module_ = std::move(module);
  info.creation_time_ = creation_time;
  return info;
}

ModelInfo ModelInfo::Parse(std::string_view yaml_text) {
  if (yaml_text.size() > kMaxModelYamlBytes) {
    ThrowInvalid("it is " + std::to_string(yaml_text.size()) + " bytes long; model.yaml may be at most " +
                 std::to_string(kMaxModelYamlBytes >> 20) + " MiB (keep large data in the model's files)");
  }
  if (!IsValidUtf8(yaml_text)) ThrowInvalid("the text is not valid UTF-8");
  // yaml-cpp misreads a NUL (a key around one came out as invalid UTF-8).
  if (yaml_text.find('\0') != std::string_view::npos) ThrowInvalid("the text holds a NUL byte, which YAML does not allow");
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::ParserException& e) {
    ThrowInvalid("line " + std::to_string(e.mark.line + 1) + ", column " +
                 std::to_string(e.mark.column + 1) + ": " + e.msg);
  } catch (const YAML::Exception& e) {
    ThrowInvalid(e.msg);
  }
  if (root.IsNull()) ThrowInvalid("the document is empty");
  if (!root.IsMap()) ThrowInvalid("the top level must be a mapping, not " + Describe(root));

  ModelInfo info;
  ObjectBuilder extra;
  bool have_time = false;
  size_t budget = 0;
  try {
    for (const auto& kv : root) {
      if (!kv.first.IsScalar())
        ThrowInvalid("a top-level key is " + Describe(kv.first) + ", not a string");
      const std::string& key = kv.first.Scalar();
      const YAML::Node& value = kv.second;
      if (key == "name") {
        info.name_ = StringValue(value, key);
      } else if (key == "version") {
        info.version_ = StringValue(value, key);
      } else if (key == "module") {
        info.module_ = StringValue(value, key);
      } else if (key == "api_version") {
        info.api_version_ = value.IsNull() ? "v1" : StringValue(value, key);
      } else if (key == "labels") {
        if (!value.IsNull() && !value.IsMap()) {
          ThrowInvalid("labels must be a mapping of strings to strings, not " + Describe(value));
        }
        info.labels_.clear();
        for (const auto& label : value) {
          if (!label.first.IsScalar() || !label.second.IsScalar()) {
            ThrowInvalid("labels must map strings to strings, but a label's " +
                         std::string(label.first.IsScalar() ? "value" : "key") + " is " +
                         Describe(label.first.IsScalar() ? label.second : label.first));
          }
          if (label.first.Scalar().empty()) ThrowInvalid("a label key is empty");
          info.SetLabel(label.first.Scalar(), label.second.Scalar());
        }
      } else if (key == "options") {
        info.options_ = MappingValue(value, key, &budget);
      } else if (key == "metadata") {
        info.metadata_ = MappingValue(value, key, &budget);
      } else if (key == "signatures") {
        info.signatures_ = MappingValue(value, key, &budget);
      } else if (key == "context") {
        Json parsed = MappingValue(value, key, &budget);
        ObjectBuilder context;
        const Json defaults = DefaultContext();
        for (const auto& [ckey, cvalue] : defaults.items()) context.Put(ckey, cvalue);
        for (auto& [ckey, cvalue] : parsed.items()) {
          if (ckey == "framework_name" || ckey == "bentoml_version" || ckey == "python_version") {
            context.Put(ckey, StringValue(value[ckey], "context." + ckey));
          } else if (ckey == "framework_versions") {
            context.Put(ckey, MappingValue(value[ckey], "context." + ckey, &budget));
          } else {
            context.Put(ckey, std::move(cvalue));
          }
        }
        info.context_ = context.Take();
      } else if (key == "creation_time") {
        if (value.IsNull()) continue;
        if (!value.IsScalar())
          ThrowInvalid("creation_time must be a string, not " + Describe(value));
        try {
          info.creation_time_ = ParseIsoTime(value.Scalar());
        } catch (const Error& e) {
          ThrowInvalid(std::string("creation_time: ") + e.what());
        }
        have_time = true;
      } else {
        extra.Put(key, FromNode(value, 1, &budget));
      }
    }
  } catch (const YAML::Exception& e) {
    ThrowInvalid(e.msg);
  }
  if (!have_time) info.creation_time_ = system_clock::now();
  info.extra_ = extra.Take();
  try {
    (void)info.ToJson().dump();  // yaml-cpp decodes escapes such as "\_" to single bytes
  } catch (const nlohmann::json::exception&) {
    ThrowInvalid("a value is not valid UTF-8 once its escapes are read (such as \\_ or \\xA0)");
  }
  return info;
}

Json ModelInfo::ToJson() const {
  Json doc = Json::object();
  doc["name"] = name_;
  doc["version"] = version_;
  doc["module"] = module_;
  Json labels = Json::object();
  for (const auto& [key, value] : labels_) labels[key] = value;
  doc["labels"] = std::move(labels);
  doc["options"] = options_;
  doc["metadata"] = metadata_;
  doc["context"] = context_;
  doc["signatures"] = signatures_;
  doc["api_version"] = api_version_;
  doc["creation_time"] = FormatIsoTime(creation_time_);
  for (const auto& [key, value] : extra_.items()) doc[key] = value;
  return doc;
}

std::string ModelInfo::ToYaml() const {
  YAML::Emitter out;
  out.SetNullFormat(YAML::LowerNull);
  EmitValue(out, ToJson());
  if (!out.good()) {
    throw Error(ErrorCode::kInvalidArgument, "cannot write model.yaml: " + out.GetLastError());
  }
  return std::string(out.c_str()) + "\n";
}

void ModelInfo::set_tag(const Tag& tag) {
  ValidateTagPart(tag.name, "name");
  ValidateConcreteVersion(tag.name, tag.version);
  name_ = tag.name;
  version_ = tag.version;
}

void ModelInfo::SetLabel(const std::string& key, const std::string& value) {
  if (key.empty()) throw Error(ErrorCode::kInvalidArgument, "a label key must not be empty");
  if (!IsValidUtf8(key) || !IsValidUtf8(value)) {
    throw Error(ErrorCode::kInvalidArgument, "label '" + key + "' is not valid UTF-8");
  }
  for (auto& label : labels_) {
    if (label.first == key) {
      label.second = value;
      return;
    }
  }
  labels_.emplace_back(key, value);
}

void ModelInfo::SetMetadata(const std::string& key, const std::string& value_text) {
  if (key.empty()) throw Error(ErrorCode::kInvalidArgument, "a metadata key must not be empty");
  if (!IsValidUtf8(key) || !IsValidUtf8(value_text)) {
    throw Error(ErrorCode::kInvalidArgument, "metadata '" + key + "' is not valid UTF-8");
  }
  Json value = value_text;
  if (!value_text.empty()) {
    try {
      YAML::Node node = YAML::Load(value_text);
      bool plain =
          node.IsNull() || (node.IsScalar() && node.Tag() == "?" && node.Scalar() == value_text);
      char q = value_text.front();
      bool quoted = node.IsScalar() && node.Tag() == "!" && value_text.size() >= 2 &&
                    (q == '\'' || q == '"') && value_text.back() == q;
      if (plain) value = ResolvePlain(value_text);
      if (quoted) value = node.Scalar();
    } catch (const YAML::Exception&) {
      // not a scalar YAML understands: keep the text as a string
    }
  }
  metadata_[key] = std::move(value);
}

void ModelInfo::AdoptMetadataFrom(const ModelInfo& other) {
  module_ = other.module_;
  labels_ = other.labels_;
  options_ = other.options_;
  metadata_ = other.metadata_;
  context_ = other.context_;
  signatures_ = other.signatures_;
  extra_ = other.extra_;
}

}  // namespace modelfs
