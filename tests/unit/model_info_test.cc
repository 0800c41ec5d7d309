// Tests for src/model_info.h: the model.yaml document and ISO-8601 times.
#include "src/model_info.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "util/error.h"

namespace modelfs {
namespace {

using std::chrono::system_clock;
using namespace std::chrono_literals;

system_clock::time_point MakeTime(int y, unsigned mo, unsigned d, int h, int mi, int s, int us) {
  using namespace std::chrono;
  return system_clock::time_point(sys_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi) +
                                  seconds(s) + microseconds(us));
}

// Top-level keys of a YAML text, in order (lines that start a key).
std::vector<std::string> TopLevelKeys(const std::string& yaml) {
  std::vector<std::string> keys;
  size_t start = 0;
  while (start < yaml.size()) {
    size_t end = yaml.find('\n', start);
    if (end == std::string::npos) end = yaml.size();
    std::string line = yaml.substr(start, end - start);
    if (!line.empty() && line[0] != ' ' && line[0] != '-')
      keys.push_back(line.substr(0, line.find(':')));
    start = end + 1;
  }
  return keys;
}

ErrorCode ParseCode(const std::string& text) {
  try {
    ModelInfo::Parse(text);
  } catch (const Error& e) {
    return e.code();
  }
  FAIL("no error for: " << text);
  return ErrorCode::kIOError;
}

std::string ParseMessage(const std::string& text) {
  try {
    ModelInfo::Parse(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

const char kBentoMLSample[] = R"(name: sentiment-distilbert
version: rz2kw3xbdcyjaaav
module: bentoml.transformers
labels:
  owner: nlp-team
  stage: '1'
options:
  task: text-classification
  tokenizer: null
  pipeline: true
  kwargs: {}
metadata:
  accuracy: 0.91
  epochs: 3
  dataset: imdb
  notes: ''
context:
  framework_name: transformers
  framework_versions:
    transformers: 4.38.2
    torch: 2.2.1
  bentoml_version: 1.4.2
  python_version: 3.11.6
  cuda_version: '12.1'
signatures:
  __call__:
    batchable: false
  predict:
    batchable: true
    batch_dim:
    - 0
    - 0
    input_spec: null
api_version: v1
creation_time: '2024-03-01T10:11:12.345678+00:00'
)";

TEST_CASE("FormatIsoTime writes microseconds and +00:00", "[model_info][time]") {
  CHECK(FormatIsoTime(MakeTime(2026, 11, 24, 21, 3, 42, 123456)) ==
        "2026-11-24T21:03:42.123456+00:00");
  CHECK(FormatIsoTime(MakeTime(2024, 3, 1, 0, 0, 0, 1)) == "2024-03-01T00:00:00.000001+00:00");
  // Like Python's isoformat(), no fraction when the microseconds are zero.
  CHECK(FormatIsoTime(MakeTime(2024, 2, 29, 23, 59, 59, 0)) == "2024-02-29T23:59:59+00:00");
  CHECK(FormatIsoTime(system_clock::time_point{}) == "1970-01-01T00:00:00+00:00");
  // Nanoseconds are truncated.
  CHECK(FormatIsoTime(MakeTime(2024, 1, 1, 1, 1, 1, 5) + 999ns) ==
        "2024-01-01T01:01:01.000005+00:00");
}

TEST_CASE("ParseIsoTime reads offsets, Z, spaces and fractions", "[model_info][time]") {
  auto base = MakeTime(2024, 3, 1, 10, 11, 12, 345678);
  CHECK(ParseIsoTime("2024-03-01T10:11:12.345678+00:00") == base);
  CHECK(ParseIsoTime("2024-03-01T10:11:12.345678Z") == base);
  CHECK(ParseIsoTime("2024-03-01 10:11:12.345678+00:00") == base);
  CHECK(ParseIsoTime("2024-03-01T12:11:12.345678+02:00") == base);
  CHECK(ParseIsoTime("2024-03-01T05:41:12.345678-04:30") == base);
  CHECK(ParseIsoTime("2024-03-01T15:41:12.345678+0530") == base);
  CHECK(ParseIsoTime("2024-03-01T10:11:12.345678") == base);  // naive: UTC
  CHECK(ParseIsoTime("2024-03-01T10:11:12+00:00") == MakeTime(2024, 3, 1, 10, 11, 12, 0));
  CHECK(ParseIsoTime("2024-03-01T10:11:12.5Z") == MakeTime(2024, 3, 1, 10, 11, 12, 500000));
  CHECK(ParseIsoTime("2024-03-01T10:11+01") == MakeTime(2024, 3, 1, 9, 11, 0, 0));
  CHECK(ParseIsoTime("2024-03-01T10:11:12.123456789Z") ==
        MakeTime(2024, 3, 1, 10, 11, 12, 123456) + 789ns);
  // An offset crossing midnight and a leap day.
  CHECK(ParseIsoTime("2024-02-29T23:30:00-01:00") == MakeTime(2024, 3, 1, 0, 30, 0, 0));
}

TEST_CASE("FormatIsoTime and ParseIsoTime round-trip", "[model_info][time]") {
  for (auto t : {MakeTime(2026, 11, 24, 21, 3, 42, 123456),
                 MakeTime(1999, 12, 31, 23, 59, 59, 999999), MakeTime(2024, 1, 1, 0, 0, 0, 0)}) {
    CHECK(ParseIsoTime(FormatIsoTime(t)) == t);
  }
}

TEST_CASE("ParseIsoTime rejects malformed times", "[model_info][time]") {
  for (const char* text :
       {"", "yesterday", "2024-03-01", "2024-3-1T10:11:12Z", "2024-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z", "2024-03-01T24:00:00Z", "2024-03-01T10:60:00Z",
        "2024-03-01T10:11:12.Z", "2024-03-01T10:11:12+", "2024-03-01T10:11:12+25:00",
        "2024-03-01X10:11:12Z", "2024-03-01T10:11:12Z trailing", "2024-03-01T10:11:12+00:00:00"}) {
    INFO(text);
    try {
      ParseIsoTime(text);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::kInvalidArgument);
      CHECK_THAT(e.what(), Catch::Contains("invalid time"));
    }
  }
}

TEST_CASE("Create makes a complete document with defaults", "[model_info]") {
  auto t = MakeTime(2026, 11, 24, 21, 3, 42, 123456);
  ModelInfo info = ModelInfo::Create(Tag{"iris", "abc123"}, "", t);
  CHECK(info.name() == "iris");
  CHECK(info.version() == "abc123");
  CHECK(info.tag() == Tag{"iris", "abc123"});
  CHECK(info.module().empty());
  CHECK(info.creation_time() == t);
  CHECK(info.api_version() == "v1");
  CHECK(info.labels().empty());
  CHECK(info.ToYaml() ==
        "name: iris\n"
        "version: abc123\n"
        "module: ''\n"
        "labels: {}\n"
        "options: {}\n"
        "metadata: {}\n"
        "context:\n"
        "  framework_name: ''\n"
        "  framework_versions: {}\n"
        "  bentoml_version: ''\n"
        "  python_version: ''\n"
        "signatures: {}\n"
        "api_version: v1\n"
        "creation_time: '2026-11-24T21:03:42.123456+00:00'\n");
}

TEST_CASE("Create and set_tag need a valid, concrete tag", "[model_info]") {
  auto now = system_clock::now();
  CHECK_THROWS_AS(ModelInfo::Create(Tag{"iris", ""}, "m", now), Error);
  CHECK_THROWS_AS(ModelInfo::Create(Tag{"Iris", "v1"}, "m", now), Error);
  CHECK_THROWS_AS(ModelInfo::Create(Tag{"iris", "../v"}, "m", now), Error);
  ModelInfo info = ModelInfo::Create(Tag{"iris", "v1"}, "m", now);
  CHECK_THROWS_WITH(info.set_tag(Tag{"iris", ""}), Catch::Contains("version"));
  info.set_tag(Tag{"iris2", "v2"});
  CHECK(info.tag().ToString() == "iris2:v2");
}

TEST_CASE("ToJson has the same content and key order", "[model_info]") {
  ModelInfo info =
      ModelInfo::Create(Tag{"m", "v"}, "bentoml.sklearn", MakeTime(2024, 3, 1, 10, 11, 12, 345678));
  info.SetLabel("team", "a");
  info.SetMetadata("acc", "0.5");
  auto json = info.ToJson();
  std::vector<std::string> keys;
  for (const auto& [k, v] : json.items()) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"name", "version", "module", "labels", "options",
                                         "metadata", "context", "signatures", "api_version",
                                         "creation_time"});
  CHECK(json["module"] == "bentoml.sklearn");
  CHECK(json["labels"]["team"] == "a");
  CHECK(json["metadata"]["acc"].is_number_float());
  CHECK(json["creation_time"] == "2024-03-01T10:11:12.345678+00:00");
  std::vector<std::string> ctx;
  for (const auto& [k, v] : json["context"].items()) ctx.push_back(k);
  CHECK(ctx == std::vector<std::string>{"framework_name", "framework_versions", "bentoml_version",
                                        "python_version"});
  CHECK(json.dump().find("\"name\":\"m\",\"version\":\"v\"") != std::string::npos);
}

TEST_CASE("A BentoML-written model.yaml parses", "[model_info]") {
  ModelInfo info = ModelInfo::Parse(kBentoMLSample);
  CHECK(info.tag() == Tag{"sentiment-distilbert", "rz2kw3xbdcyjaaav"});
  CHECK(info.module() == "bentoml.transformers");
  CHECK(info.creation_time() == MakeTime(2024, 3, 1, 10, 11, 12, 345678));
  CHECK(info.labels() ==
        std::vector<std::pair<std::string, std::string>>{{"owner", "nlp-team"}, {"stage", "1"}});
  CHECK(info.options()["task"] == "text-classification");
  CHECK(info.options()["tokenizer"].is_null());
  CHECK(info.options()["pipeline"] == true);
  CHECK(info.options()["kwargs"].is_object());
  CHECK(info.metadata()["accuracy"].get<double>() == Approx(0.91));
  CHECK(info.metadata()["epochs"].get<int>() == 3);
  CHECK(info.metadata()["notes"] == "");
  CHECK(info.context()["framework_name"] == "transformers");
  CHECK(info.context()["framework_versions"]["transformers"] == "4.38.2");
  CHECK(info.context()["python_version"] == "3.11.6");
  CHECK(info.context()["cuda_version"] == "12.1");
  CHECK(info.signatures()["__call__"]["batchable"] == false);
  CHECK(info.signatures()["predict"]["batch_dim"] == nlohmann::ordered_json::array({0, 0}));
  CHECK(info.api_version() == "v1");

  std::string yaml = info.ToYaml();
  CHECK(ModelInfo::Parse(yaml).ToYaml() == yaml);
  CHECK_THAT(yaml, Catch::Contains("stage: '1'"));
  CHECK_THAT(yaml, Catch::Contains("  __call__:\n    batchable: false\n"));
  CHECK_THAT(yaml, Catch::Contains("  cuda_version: '12.1'\n"));
  CHECK_THAT(yaml, Catch::Contains("creation_time: '2024-03-01T10:11:12.345678+00:00'"));
  CHECK_THAT(yaml, Catch::Contains("  tokenizer: null\n"));
}

TEST_CASE("Round trip keeps text identical", "[model_info]") {
  ModelInfo info =
      ModelInfo::Create(Tag{"m", "v1"}, "bentoml.pytorch", MakeTime(2025, 5, 6, 7, 8, 9, 10));
  info.SetLabel("owner", "me");
  info.SetLabel("empty", "");
  info.SetLabel("looks-bool", "true");
  info.SetLabel("looks-num", "007");
  info.SetLabel("colon", "a: b");
  info.SetLabel("multi", "line1\nline2");
  info.SetLabel("unicode", "caf\xc3\xa9");
  info.SetMetadata("f", "0.91");
  info.SetMetadata("i", "-42");
  info.SetMetadata("b", "false");
  info.SetMetadata("n", "null");
  info.SetMetadata("s", "abc");
  info.SetMetadata("big", "1e300");
  info.SetMetadata("date", "2024-01-01");
  info.SetMetadata("spaces", "  padded  ");
  std::string yaml = info.ToYaml();
  ModelInfo again = ModelInfo::Parse(yaml);
  CHECK(again.ToYaml() == yaml);
  CHECK(again.ToJson() == info.ToJson());
  CHECK(again.labels() == info.labels());
  CHECK(again.creation_time() == info.creation_time());
  CHECK(again.metadata()["big"].get<double>() == 1e300);
  CHECK(again.metadata()["date"] == "2024-01-01");
  CHECK(again.metadata()["spaces"] == "  padded  ");
  CHECK(again.labels()[2].second == "true");
  CHECK(again.labels()[5].second == "line1\nline2");
}

TEST_CASE("Strings that YAML would read as something else survive a round trip", "[model_info]") {
  ModelInfo info = ModelInfo::Create(Tag{"n", "y"}, "~", MakeTime(2024, 1, 1, 0, 0, 0, 0));
  const char* tricky[] = {"",       " lead",      "trail ",  "- a",         "#x",
                          "a #b",   "key: value", "[x]",     "{y}",         "&anchor",
                          "*alias", "!tag",       "|",       ">",           "%",
                          "@",      "`",          "'",       "\"",          "null",
                          "Null",   "~",          "yes",     "No",          "on",
                          "OFF",    "y",          "N",       "=",           "<<",
                          "12",     "-3",         "+4",      "0x1F",        "0o17",
                          "0777",   "1_000",      "1.5",     ".5",          "1e5",
                          "-.inf",  ".NaN",       "1:30",    "2024-01-01",  "2024-1-1 10:00",
                          "09",     "tab\there",  "ctl\x01", "\xe2\x82\xac"};
  int i = 0;
  for (const char* s : tricky) info.SetLabel("k" + std::to_string(i++), s);
  std::string yaml = info.ToYaml();
  ModelInfo again = ModelInfo::Parse(yaml);
  CHECK(again.labels() == info.labels());
  CHECK(again.tag() == Tag{"n", "y"});
  CHECK(again.module() == "~");
  CHECK(again.ToYaml() == yaml);
  CHECK_THAT(yaml, Catch::StartsWith("name: 'n'\nversion: 'y'\nmodule: '~'\n"));
  // The same strings as metadata values (quoted on input so they stay strings).
  for (const char* s : tricky) {
    std::string text = s;
    if (text.find('\'') != std::string::npos) continue;
    info.SetMetadata("m", "'" + text + "'");
    INFO("value: " << text);
    REQUIRE(info.metadata()["m"] == text);
    CHECK(ModelInfo::Parse(info.ToYaml()).metadata()["m"] == text);
  }
}

TEST_CASE("Known keys are emitted in order whatever the input order", "[model_info]") {
  std::string text =
      "creation_time: '2024-03-01T10:11:12+00:00'\n"
      "zeta: 1\n"
      "api_version: v1\n"
      "signatures: {}\n"
      "alpha: [1, two]\n"
      "context: {python_version: '3.10', extra_ctx: yes, framework_name: sklearn}\n"
      "metadata: {}\n"
      "options: {}\n"
      "labels: {}\n"
      "module: bentoml.sklearn\n"
      "version: v2\n"
      "name: m\n";
  ModelInfo info = ModelInfo::Parse(text);
  std::string yaml = info.ToYaml();
  CHECK(TopLevelKeys(yaml) == std::vector<std::string>{"name", "version", "module", "labels",
                                                       "options", "metadata", "context",
                                                       "signatures", "api_version", "creation_time",
                                                       "zeta", "alpha"});
  CHECK_THAT(yaml, Catch::Contains(
                       "context:\n  framework_name: sklearn\n  framework_versions: {}\n"
                       "  bentoml_version: ''\n  python_version: '3.10'\n  extra_ctx: true\n"));
  CHECK_THAT(yaml, Catch::EndsWith("zeta: 1\nalpha:\n  - 1\n  - two\n"));
  CHECK(ModelInfo::Parse(yaml).ToYaml() == yaml);
}

TEST_CASE("Unknown keys are kept, top-level and in context", "[model_info]") {
  std::string text = std::string(kBentoMLSample) +
                     "custom_block:\n  nested:\n    - a\n    - {b: 2}\n"
                     "another: 'x'\n";
  ModelInfo info = ModelInfo::Parse(text);
  auto json = info.ToJson();
  CHECK(json["custom_block"]["nested"][1]["b"] == 2);
  CHECK(json["another"] == "x");
  CHECK(json["context"]["cuda_version"] == "12.1");
  std::string yaml = info.ToYaml();
  CHECK_THAT(yaml, Catch::Contains("custom_block:\n  nested:\n    - a\n    - b: 2\nanother: x\n"));
  CHECK(ModelInfo::Parse(yaml).ToYaml() == yaml);
}

TEST_CASE("Labels keep order and replace existing keys", "[model_info]") {
  ModelInfo info = ModelInfo::Create(Tag{"m", "v"}, "", system_clock::now());
  info.SetLabel("b", "1");
  info.SetLabel("a", "2");
  info.SetLabel("b", "3");
  CHECK(info.labels() == std::vector<std::pair<std::string, std::string>>{{"b", "3"}, {"a", "2"}});
  CHECK_THROWS_AS(info.SetLabel("", "x"), Error);
  CHECK_THROWS_AS(info.SetLabel("k", "\xff"), Error);
}

TEST_CASE("SetMetadata types scalar values", "[model_info]") {
  ModelInfo info = ModelInfo::Create(Tag{"m", "v"}, "", system_clock::now());
  auto set = [&](const std::string& text) {
    info.SetMetadata("k", text);
    return info.metadata()["k"];
  };
  CHECK(set("0.91").is_number_float());
  CHECK(set("0.91").get<double>() == Approx(0.91));
  CHECK(set("1.").get<double>() == 1.0);
  CHECK(set(".5").get<double>() == 0.5);
  CHECK(set("1e3").get<double>() == 1000.0);
  CHECK(set("-1.5e-3").get<double>() == Approx(-0.0015));
  CHECK(std::isinf(set(".inf").get<double>()));
  CHECK(std::isnan(set(".nan").get<double>()));
  CHECK(set("42").get<int64_t>() == 42);
  CHECK(set("-7").get<int64_t>() == -7);
  CHECK(set("0x1f").get<int64_t>() == 31);
  CHECK(set("0o17").get<int64_t>() == 15);
  CHECK(set("1_000").get<int64_t>() == 1000);
  CHECK(set("18446744073709551615").get<uint64_t>() == 18446744073709551615ull);
  CHECK(set("99999999999999999999999").is_string());  // too big: kept as text
  CHECK(set("true") == true);
  CHECK(set("False") == false);
  CHECK(set("yes") == true);
  CHECK(set("null").is_null());
  CHECK(set("~").is_null());
  CHECK(set("abc") == "abc");
  CHECK(set("'1'") == "1");
  CHECK(set("\"true\"") == "true");
  CHECK(set("") == "");
  CHECK(set("[1, 2]") == "[1, 2]");
  CHECK(set("a: b") == "a: b");
  CHECK(set("1 # comment") == "1 # comment");
  CHECK(set("v1.2.3") == "v1.2.3");
  CHECK(set("09") == "09");
  CHECK(set("'unclosed") == "'unclosed");
  CHECK(set("- x") == "- x");
  // Strings that look like other types are quoted on output and survive.
  info.SetMetadata("k", "'0.91'");
  std::string yaml = info.ToYaml();
  CHECK_THAT(yaml, Catch::Contains("k: '0.91'"));
  CHECK(ModelInfo::Parse(yaml).metadata()["k"] == "0.91");
  CHECK_THROWS_AS(info.SetMetadata("", "1"), Error);
}

TEST_CASE("Floats are written so they read back as floats", "[model_info]") {
  ModelInfo info = ModelInfo::Create(Tag{"m", "v"}, "", system_clock::now());
  info.SetMetadata("one", "1.0");
  info.SetMetadata("huge", "1e300");
  info.SetMetadata("tiny", "1e-7");
  info.SetMetadata("inf", "-.inf");
  std::string yaml = info.ToYaml();
  CHECK_THAT(yaml, Catch::Contains("one: 1.0\n"));
  CHECK_THAT(yaml, Catch::Contains("huge: 1.0e+300\n"));
  CHECK_THAT(yaml, Catch::Contains("tiny: 1.0e-07\n"));
  CHECK_THAT(yaml, Catch::Contains("inf: -.inf\n"));
  auto again = ModelInfo::Parse(yaml);
  CHECK(again.metadata()["one"].is_number_float());
  CHECK(again.metadata()["huge"].get<double>() == 1e300);
  CHECK(again.metadata()["tiny"].get<double>() == 1e-7);
}

TEST_CASE("AdoptMetadataFrom copies everything but tag, time and api_version", "[model_info]") {
  auto t = MakeTime(2025, 1, 2, 3, 4, 5, 6);
  ModelInfo mine = ModelInfo::Create(Tag{"mine", "v1"}, "", t);
  std::string text = std::string(kBentoMLSample) + "extra_key: 5\n";
  ModelInfo theirs = ModelInfo::Parse(text);
  mine.AdoptMetadataFrom(theirs);
  CHECK(mine.tag() == Tag{"mine", "v1"});
  CHECK(mine.creation_time() == t);
  CHECK(mine.module() == "bentoml.transformers");
  CHECK(mine.labels() == theirs.labels());
  CHECK(mine.options() == theirs.options());
  CHECK(mine.metadata() == theirs.metadata());
  CHECK(mine.context() == theirs.context());
  CHECK(mine.signatures() == theirs.signatures());
  CHECK(mine.ToJson()["extra_key"] == 5);
}

TEST_CASE("Parse allows missing keys", "[model_info]") {
  auto before = system_clock::now();
  ModelInfo info = ModelInfo::Parse("module: bentoml.onnx\n");
  CHECK(info.name().empty());
  CHECK(info.version().empty());
  CHECK(info.module() == "bentoml.onnx");
  CHECK(info.api_version() == "v1");
  CHECK(info.creation_time() >= before);  // missing creation_time: now
  CHECK(info.context()["framework_versions"].is_object());
  info.set_tag(Tag{"nm", "v"});
  CHECK_THAT(info.ToYaml(),
             Catch::StartsWith("name: nm\nversion: v\nmodule: bentoml.onnx\nlabels: {}\n"));
  // Null values stand for their defaults.
  ModelInfo nulls = ModelInfo::Parse("name: a\nversion:\nlabels:\noptions: ~\ncontext: null\n");
  CHECK(nulls.version().empty());
  CHECK(nulls.labels().empty());
  CHECK(nulls.options().empty());
  CHECK(nulls.context()["framework_name"] == "");
}

TEST_CASE("Parse takes plain scalars as text for string fields", "[model_info]") {
  ModelInfo info = ModelInfo::Parse(
      "name: m\nversion: 1\nlabels: {a: 1, b: true}\n"
      "context: {python_version: 3.10}\n");
  CHECK(info.version() == "1");
  CHECK(info.labels() ==
        std::vector<std::pair<std::string, std::string>>{{"a", "1"}, {"b", "true"}});
  CHECK(info.context()["python_version"] == "3.10");
  CHECK_THAT(info.ToYaml(), Catch::Contains("version: '1'\n"));
}

TEST_CASE("Parse rejects invalid documents", "[model_info]") {
  const char* bad[] = {
      "",
      "# only a comment\n",
      "- a\n- b\n",
      "just a string",
      "name: [unclosed\n",
      "name: a\n  bad indent: b\n",
      "a: b: c\n",
      "name: {a: 1}\n",
      "version: [1]\n",
      "module: {x: y}\n",
      "labels: [a, b]\n",
      "labels: {a: {b: c}}\n",
      "labels: {a: [1]}\n",
      "labels: {a: null}\n",
      "labels: 5\n",
      "options: [1]\n",
      "metadata: 3\n",
      "signatures: abc\n",
      "context: [1]\n",
      "context: {framework_versions: [1]}\n",
      "context: {python_version: {a: b}}\n",
      "creation_time: yesterday\n",
      "creation_time: [2024]\n",
      "creation_time: '2024-02-30T00:00:00+00:00'\n",
      "? [a, b]\n: c\n",
      "name: a\nmetadata: {x: \xff}\n",
  };
  for (const char* text : bad) {
    INFO("text: " << text);
    CHECK(ParseCode(text) == ErrorCode::kInvalidArgument);
    CHECK_THAT(ParseMessage(text), Catch::StartsWith("invalid model.yaml: "));
  }
  CHECK_THAT(ParseMessage("name: [unclosed\n"), Catch::Contains("line "));
  CHECK_THAT(ParseMessage("- a\n"), Catch::Contains("mapping"));
  CHECK_THAT(ParseMessage("labels: {a: {b: c}}\n"), Catch::Contains("labels"));
  CHECK_THAT(ParseMessage("creation_time: yesterday\n"),
             Catch::Contains("creation_time") && Catch::Contains("yesterday"));
}

TEST_CASE("Parse bounds nesting and alias expansion", "[model_info]") {
  std::string deep = "metadata:\n  x: " + std::string(150, '[') + std::string(150, ']') + "\n";
  CHECK_THAT(ParseMessage(deep), Catch::Contains("nested"));
  std::string ten = "[*p, *p, *p, *p, *p, *p, *p, *p, *p, *p]";
  std::string bomb = "a: &p [x, x, x, x, x, x, x, x, x, x]\n";
  for (char name = 'b'; name <= 'h'; ++name) {
    std::string row = ten;
    for (size_t at = row.find("*p"); at != std::string::npos; at = row.find("*p", at + 2)) {
      row[at + 1] = static_cast<char>(name - 1 == 'a' ? 'p' : name - 1);
    }
    bomb += std::string(1, name) + ": &" + std::string(1, name) + " " + row + "\n";
  }
  CHECK(ParseCode(bomb) == ErrorCode::kInvalidArgument);
  CHECK_THAT(ParseMessage(bomb), Catch::Contains("too many nodes"));
}

TEST_CASE("Aliases are expanded and custom tags read as text", "[model_info]") {
  ModelInfo info = ModelInfo::Parse(
      "name: m\nversion: v\nmetadata:\n  base: &b {x: 1}\n  copy: *b\n  tagged: !custom 5\n  s: "
      "!!str 5\n");
  CHECK(info.metadata()["copy"]["x"] == 1);
  CHECK(info.metadata()["tagged"] == "5");
  CHECK(info.metadata()["s"] == "5");
  std::string yaml = info.ToYaml();
  CHECK(ModelInfo::Parse(yaml).ToYaml() == yaml);
}

}  // namespace
}  // namespace modelfs
