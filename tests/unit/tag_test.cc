// Tests for src/tag.h: parsing, validation and version generation.
#include "src/tag.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "util/error.h"

namespace modelfs {
namespace {

ErrorCode CodeOf(const std::string& text) {
  try {
    ParseTag(text);
  } catch (const Error& e) {
    return e.code();
  }
  FAIL("no error for '" << text << "'");
  return ErrorCode::kIOError;
}

std::string MessageOf(const std::string& text) {
  try {
    ParseTag(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST_CASE("ParseTag accepts name and version", "[tag]") {
  Tag t = ParseTag("iris_clf:v1.2-rc_3");
  CHECK(t.name == "iris_clf");
  CHECK(t.version == "v1.2-rc_3");
  CHECK_FALSE(t.is_latest());
  CHECK(t.ToString() == "iris_clf:v1.2-rc_3");
}

TEST_CASE("ParseTag: a name alone or :latest means latest", "[tag]") {
  for (const char* text : {"bert", "bert:latest", "BERT:LATEST", "bert:Latest"}) {
    Tag t = ParseTag(text);
    CHECK(t.name == "bert");
    CHECK(t.version.empty());
    CHECK(t.is_latest());
    CHECK(t.ToString() == "bert:latest");
  }
}

TEST_CASE("ParseTag accepts single characters and digits", "[tag]") {
  CHECK(ParseTag("a").name == "a");
  CHECK(ParseTag("0:1").version == "1");
  CHECK(ParseTag("a.b-c_d:0.0.1").name == "a.b-c_d");
  CHECK(ParseTag("a--b__c..d:x").name == "a--b__c..d");
}

TEST_CASE("ParseTag lower-cases its input", "[tag]") {
  Tag t = ParseTag("My-Model:ABC123");
  CHECK(t.name == "my-model");
  CHECK(t.version == "abc123");
  CHECK(t == Tag{"my-model", "abc123"});
}

TEST_CASE("ParseTag length limit is 63 characters per part", "[tag]") {
  std::string p63(63, 'a');
  std::string p64(64, 'a');
  CHECK(ParseTag(p63).name == p63);
  CHECK(ParseTag("n:" + p63).version == p63);
  CHECK(ParseTag(p63 + ":" + p63).ToString() == p63 + ":" + p63);
  CHECK(CodeOf(p64) == ErrorCode::kInvalidArgument);
  CHECK(CodeOf("n:" + p64) == ErrorCode::kInvalidArgument);
  CHECK_THAT(MessageOf(p64), Catch::Contains("at most 63 characters"));
  CHECK_THAT(MessageOf(p64), Catch::Contains(p64));
  CHECK_THAT(MessageOf("n:" + p64), Catch::Contains("version"));
}

TEST_CASE("ParseTag rejects malformed tags", "[tag]") {
  const char* bad[] = {
      "",    ":",     "name:",       ":v", "a:b:c", "a::b", "../x", "a/b",  "x:../y", "-a",   "a-",
      ".a",  "a.",    "_a",          "a_", "a:-v",  "a:v.", "a b",  " a",   "a ",     "a\tb", "a@b",
      "a+b", "a:v/1", "caf\xc3\xa9", "..", ".",     "a:_",  "a\nb", "a:b:", "n:-",
  };
  for (const char* text : bad) {
    INFO("tag: '" << text << "'");
    CHECK(CodeOf(text) == ErrorCode::kInvalidArgument);
  }
}

TEST_CASE("ParseTag error messages name the input and the rule", "[tag]") {
  CHECK_THAT(MessageOf(""), Catch::Contains("empty"));
  CHECK_THAT(MessageOf("name:"), Catch::Contains("'name:'") && Catch::Contains("version"));
  CHECK_THAT(MessageOf("name:"), Catch::Contains("name:latest"));
  CHECK_THAT(MessageOf(":v"), Catch::Contains("':v'") && Catch::Contains("name"));
  CHECK_THAT(MessageOf("a:b:c"),
             Catch::Contains("'a:b:c'") && Catch::Contains("more than one ':'"));
  CHECK_THAT(MessageOf("../x"), Catch::Contains("'../x'") && Catch::Contains("start and end"));
  CHECK_THAT(MessageOf("a/b"), Catch::Contains("'a/b'") && Catch::Contains("'-', '_' or '.'"));
  CHECK_THAT(MessageOf("ok:v/1"), Catch::Contains("'v/1'") && Catch::Contains("'ok:v/1'"));
  CHECK_THAT(MessageOf("ok:v/1"), Catch::Contains("tag version"));
  CHECK_THAT(MessageOf("bad/x:v1"), Catch::Contains("tag name"));
}

TEST_CASE("ValidateTagPart checks without lower-casing", "[tag]") {
  CHECK_NOTHROW(ValidateTagPart("abc", "name"));
  CHECK_NOTHROW(ValidateTagPart(std::string(63, '9'), "version"));
  CHECK_THROWS_AS(ValidateTagPart("Abc", "name"), Error);
  CHECK_THROWS_AS(ValidateTagPart("", "version"), Error);
  CHECK_THROWS_AS(ValidateTagPart(std::string(64, 'a'), "name"), Error);
  CHECK_THROWS_WITH(ValidateTagPart("a/b", "version"), Catch::Contains("version"));
  CHECK_THROWS_WITH(ValidateTagPart("", "name"), Catch::Contains("name"));
  try {
    ValidateTagPart("x..", "name");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kInvalidArgument);
  }
}

TEST_CASE("GenerateVersion makes 16 base32 characters that form a valid tag part", "[tag]") {
  for (int i = 0; i < 100; ++i) {
    std::string v = GenerateVersion();
    REQUIRE(v.size() == 16);
    for (char c : v) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
      REQUIRE(ok);
    }
    REQUIRE_NOTHROW(ValidateTagPart(v, "version"));
    REQUIRE(ParseTag("m:" + v).version == v);
  }
}

TEST_CASE("GenerateVersion is unique over 10000 calls", "[tag]") {
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) seen.insert(GenerateVersion());
  CHECK(seen.size() == 10000);
}

TEST_CASE("GenerateVersion is unique across threads", "[tag]") {
  constexpr int kThreads = 4;
  constexpr int kEach = 2500;
  std::vector<std::vector<std::string>> out(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&out, t] {
      for (int i = 0; i < kEach; ++i) out[t].push_back(GenerateVersion());
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> seen;
  for (const auto& v : out) seen.insert(v.begin(), v.end());
  CHECK(seen.size() == kThreads * kEach);
}

TEST_CASE("GenerateVersion puts the time first and randomness last", "[tag]") {
  // Two versions made back to back share the high timestamp bits (characters
  // 7..9 carry bits of the slow-moving time_mid) but differ somewhere.
  std::string a = GenerateVersion();
  std::string b = GenerateVersion();
  CHECK(a != b);
  CHECK(a.substr(7, 2) == b.substr(7, 2));
}

}  // namespace
}  // namespace modelfs
