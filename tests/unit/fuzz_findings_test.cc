// Regressions for what the fuzz targets (tests/fuzz) and the sanitizers
// found, each on the smallest input that showed it.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <string>

#include <zstd.h>

#include "cache/pack_format.h"
#include "cache/pack_reader.h"
#include "remote/hf_hub.h"
#include "remote/http_headers.h"
#include "remote/retry_policy.h"
#include "src/control_request.h"
#include "src/model_info.h"
#include "src/segment_map.h"
#include "util/coding.h"
#include "util/error.h"

using modelfs::SegmentMap;

namespace {

std::string EncodedHeader(uint64_t file_size, uint64_t segment_size) {
  std::string out;
  modelfs::PutFixed64(&out, file_size);
  modelfs::PutFixed64(&out, segment_size);
  return out;
}

}  // namespace

TEST_CASE("SegmentMap counts the segments of files near 2^64 bytes without wrapping", "[fuzz]") {
  // (file_size + segment_size - 1) wrapped to a small number: 0 segments.
  SegmentMap map(UINT64_MAX, uint64_t{1} << 63);
  CHECK(map.segments() == 2);
  CHECK(map.SegmentLength(1) == (uint64_t{1} << 63) - 1);
  CHECK_FALSE(map.complete());
  // Decode built such a map and set a bit it did not have: an exception.
  std::optional<SegmentMap> decoded = SegmentMap::Decode(EncodedHeader(UINT64_MAX, uint64_t{1} << 63) + "\x03");
  REQUIRE(decoded.has_value());
  CHECK(decoded->complete());
}

TEST_CASE("SegmentMap::Decode refuses a bitmap whose size wraps", "[fuzz]") {
  // 2^64 - 1 segments: (segments + 7) / 8 wrapped to 0, so an empty bitmap
  // passed and the map asked for 2^64 - 1 bits.
  CHECK_FALSE(SegmentMap::Decode(EncodedHeader(UINT64_MAX, 1)).has_value());
}

TEST_CASE("ParseIsoTime refuses years system_clock cannot hold instead of overflowing", "[fuzz]") {
  // Year 1013 is -3.0e10 s, which overflowed when multiplied to nanoseconds.
  CHECK_THROWS_WITH(modelfs::ParseIsoTime("1013-11-24T21:03:42.123456+00:00"),
                    Catch::Contains("between the years 1678 and 2261"));
  CHECK_THROWS_WITH(modelfs::ParseIsoTime("9999-12-31T23:59:59Z"), Catch::Contains("1678 and 2261"));
  CHECK_THROWS_AS(modelfs::ModelInfo::Parse("name: x\ncreation_time: '1013-01-01T00:00:00'\n"), modelfs::Error);
  CHECK(modelfs::FormatIsoTime(modelfs::ParseIsoTime("1700-01-01T00:00:00.5+01:00")) ==
        "1699-12-31T23:00:00.500000+00:00");
  CHECK(modelfs::FormatIsoTime(modelfs::ParseIsoTime("2261-01-01T00:00:00Z")) == "2261-01-01T00:00:00+00:00");
}

TEST_CASE("ParseRetryAfter clamps a date centuries away instead of overflowing", "[fuzz]") {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  const auto now = std::chrono::system_clock::from_time_t(1445412480);  // 2015-10-21 07:28:00 UTC
  // Year 20105: from_time_t overflowed system_clock's nanoseconds.
  CHECK(modelfs::remote::ParseRetryAfter("Wed, 21 Oct 20105 07:28:00 GMT", now) == seconds(int64_t{1} << 32));
  CHECK(modelfs::remote::ParseRetryAfter("Wed, 21 Oct 2015 07:28:05 GMT", now) == milliseconds(5000));
}

TEST_CASE("ParseStatusLine takes three digits and never overflows", "[fuzz]") {
  using modelfs::remote::ParseStatusLine;
  CHECK(ParseStatusLine("HTTP/1.1 206 Partial Content\r\n") == 206L);
  CHECK(ParseStatusLine("HTTP/2 200\r\n") == 200L);
  CHECK(ParseStatusLine("HTTP/1.1 99999999999999999999999 X\r\n") == 0L);  // was signed overflow
  CHECK(ParseStatusLine("HTTP/1.1 20\r\n") == 0L);
  CHECK(ParseStatusLine("HTTP/2 006\r\n") == 0L);
  CHECK(ParseStatusLine("HTTP/1.0\r\n") == 0L);
  CHECK_FALSE(ParseStatusLine("Content-Length: 5\r\n").has_value());
}

TEST_CASE("Control requests carry arguments that are not UTF-8 byte for byte", "[fuzz]") {
  // A file name in Latin-1: json::dump threw, so the command failed when forwarded to the daemon.
  modelfs::ControlCommand command{{"modelfs", "models", "save", "m", "./caf\xe9"}, "/tmp/\xff", {{"HOME", "/h\xfe"}}};
  CHECK(modelfs::DecodeControlCommand(modelfs::EncodeControlCommand(command)) == command);
  CHECK(modelfs::DecodeControlReply(modelfs::EncodeControlReply(3)) == 3);
  CHECK_THROWS_AS(modelfs::DecodeControlCommand("{\"argv\": [{\"hex\": \"zz\"}], \"cwd\": \"/\"}"), modelfs::Error);
  CHECK_THROWS_AS(modelfs::DecodeControlCommand("[1]"), modelfs::Error);
  CHECK_THROWS_AS(modelfs::DecodeControlReply("{\"exit\": 1e99}"), modelfs::Error);
}

TEST_CASE("DecodeRecordPayload does not allocate the 4 GiB a damaged header claims", "[fuzz]") {
  const std::string raw(1000, 'x');
  std::string frame(ZSTD_compressBound(raw.size()), '\0');
  frame.resize(ZSTD_compress(frame.data(), frame.size(), raw.data(), raw.size(), 3));
  modelfs::cache::RecordHeader header;
  header.codec = modelfs::cache::Codec::kZstd;
  header.stored_size = static_cast<uint32_t>(frame.size());
  header.raw_size = UINT32_MAX;  // the frame says 1000
  header.hash = modelfs::cache::ChunkHash::Of(raw.data(), raw.size());
  std::string out;
  CHECK_FALSE(modelfs::cache::DecodeRecordPayload(header, frame.data(), &out));
  CHECK(out.capacity() < (1u << 20));  // it was resized to 4 GiB first
  header.raw_size = static_cast<uint32_t>(raw.size());
  CHECK(modelfs::cache::DecodeRecordPayload(header, frame.data(), &out));
  CHECK(out == raw);
}

TEST_CASE("ParseHfTreePage skips an entry whose type is not a string", "[fuzz]") {
  // e.value("type", "") threw nlohmann's type_error, not a modelfs::Error.
  const auto entries = nlohmann::json::parse(R"([{"type": 5, "path": "a", "oid": "x", "size": 1},
      {"type": "file", "path": "b", "oid": "y", "size": 2}])");
  const auto files = modelfs::remote::ParseHfTreePage(entries, "the Hub");
  REQUIRE(files.size() == 1);
  CHECK(files[0].path == "b");
  CHECK_THROWS_WITH(modelfs::remote::ParseHfTreePage(nlohmann::json::object(), "the Hub"),
                    "the Hub with JSON that is not a list of tree entries.");
}

TEST_CASE("model.yaml keys too long for an implicit YAML key still read back", "[fuzz]") {
  // 300 control characters escape to 1200: written as an implicit key, past
  // YAML's 1024-character limit, so the canonical text did not parse.
  std::string escaped;
  for (int i = 0; i < 300; ++i) escaped += "\\x10";
  for (const std::string& doc : {"name: x\n? \"" + escaped + "\"\n: 1\n",
                                 "name: x\nmetadata:\n  ? \"" + escaped + "\"\n  : {a: 1}\n"}) {
    const std::string yaml = modelfs::ModelInfo::Parse(doc).ToYaml();
    CHECK(modelfs::ModelInfo::Parse(yaml).ToYaml() == yaml);
  }
}

TEST_CASE("model.yaml with a NUL byte is refused", "[fuzz]") {
  // yaml-cpp read the key around the NUL as bytes that are not UTF-8, which
  // ToJson() then failed on with nlohmann's type_error.
  using namespace std::string_literals;
  const std::string doc = "name: x\ncontext:\n  framework/\0_name: sklearn\n  python_e: '1'\n"s;
  CHECK_THROWS_WITH(modelfs::ModelInfo::Parse(doc), Catch::Contains("NUL byte"));
}
