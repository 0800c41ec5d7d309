// Tests for cache/pack_format.h, pack_writer.h, pack_reader.h, pack_scanner.h.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include <zstd.h>

#include "cache/chunk_hash.h"
#include "cache/pack_format.h"
#include "cache/pack_reader.h"
#include "cache/pack_scanner.h"
#include "cache/pack_writer.h"
#include "tests/unit/test_util.h"
#include "util/coding.h"
#include "util/error.h"

namespace modelfs::cache {
namespace {

using modelfs::testing::CompressibleBytes;
using modelfs::testing::FlipByte;
using modelfs::testing::RandomBytes;
using modelfs::testing::TempDir;
using modelfs::testing::ThrownCode;

struct Written {
  std::string raw;
  ChunkLocation loc;
  ChunkHash hash;
};

// Builds a record of `raw`, zstd-compressed when `compress`.
Written AppendRecord(PackWriter* writer, uint32_t pack_id, const std::string& raw, bool compress) {
  Written w;
  w.raw = raw;
  w.hash = ChunkHash::Of(raw.data(), raw.size());
  RecordHeader h;
  h.hash = w.hash;
  h.raw_size = static_cast<uint32_t>(raw.size());
  std::string payload = raw;
  if (compress) {
    payload.resize(ZSTD_compressBound(raw.size()));
    size_t n = ZSTD_compress(payload.data(), payload.size(), raw.data(), raw.size(), 3);
    REQUIRE_FALSE(ZSTD_isError(n));
    payload.resize(n);
    h.codec = Codec::kZstd;
  }
  h.stored_size = static_cast<uint32_t>(payload.size());
  w.loc.pack_id = pack_id;
  w.loc.offset = writer->Append(h, payload.data());
  w.loc.stored_size = h.stored_size;
  w.loc.raw_size = h.raw_size;
  w.loc.codec = h.codec;
  return w;
}

// A pack with three raw and three compressed records, interleaved.
std::vector<Written> MakePack(const std::filesystem::path& path) {
  PackWriter writer(path, 0);
  std::vector<Written> records;
  for (int i = 0; i < 6; ++i) {
    bool zstd = i % 2 == 1;
    std::string raw = zstd ? CompressibleBytes(10000 + i * 1000, i) : RandomBytes(5000 + i * 100, i);
    records.push_back(AppendRecord(&writer, 1, raw, zstd));
  }
  writer.Sync();
  return records;
}

struct ScanLog {
  std::vector<ScannedRecord> records;
  std::vector<PackDamage> damage;
};

ScanLog ScanAll(const std::filesystem::path& path, uint64_t length) {
  ScanLog log;
  PackScanner::Scan(
      path, length, [&](const ScannedRecord& r) { log.records.push_back(r); },
      [&](const PackDamage& d) { log.damage.push_back(d); });
  return log;
}

TEST_CASE("RecordHeader encodes and decodes", "[pack]") {
  RecordHeader h;
  h.codec = Codec::kZstd;
  h.raw_size = 123456;
  h.stored_size = 7890;
  h.hash = ChunkHash::Of("abc", 3);
  char buf[kRecordHeaderSize];
  h.EncodeTo(buf);
  CHECK(modelfs::DecodeFixed32(buf) == kRecordMagic);
  CHECK(std::string(buf, 4) == "CHNK");
  auto d = RecordHeader::Decode(buf);
  REQUIRE(d);
  CHECK(d->type == RecordType::kChunk);
  CHECK(d->codec == Codec::kZstd);
  CHECK(d->raw_size == 123456);
  CHECK(d->stored_size == 7890);
  CHECK(d->hash == h.hash);

  SECTION("any flipped byte is detected") {
    for (size_t i = 0; i < kRecordHeaderSize; ++i) {
      char copy[kRecordHeaderSize];
      std::memcpy(copy, buf, sizeof(copy));
      copy[i] ^= 0x10;
      INFO("byte " << i);
      CHECK_FALSE(RecordHeader::Decode(copy));
    }
  }
  SECTION("an unknown codec or type is refused even with a valid check") {
    RecordHeader bad = h;
    bad.codec = static_cast<Codec>(7);
    bad.EncodeTo(buf);
    CHECK_FALSE(RecordHeader::Decode(buf));
    bad = h;
    bad.type = static_cast<RecordType>(9);
    bad.EncodeTo(buf);
    CHECK_FALSE(RecordHeader::Decode(buf));
  }
}

TEST_CASE("Pack file header", "[pack]") {
  std::string header = EncodePackFileHeader();
  CHECK(header.size() == kPackFileHeaderSize);
  CHECK(header.substr(0, 8) == "MFSPACK1");
  CHECK(IsValidPackFileHeader(header));
  CHECK_FALSE(IsValidPackFileHeader(header.substr(0, 15)));
  std::string bad = header;
  bad[0] = 'X';
  CHECK_FALSE(IsValidPackFileHeader(bad));
  bad = header;
  bad[8] = 2;  // version
  CHECK_FALSE(IsValidPackFileHeader(bad));
}

TEST_CASE("ChunkLocation encodes and decodes", "[pack]") {
  ChunkLocation loc;
  loc.pack_id = 0xdeadbeef;
  loc.offset = (1ull << 40) + 17;
  loc.stored_size = 1000;
  loc.raw_size = 4000;
  loc.codec = Codec::kZstd;
  std::string enc = loc.Encode();
  auto d = ChunkLocation::Decode(enc);
  REQUIRE(d);
  CHECK(d->pack_id == loc.pack_id);
  CHECK(d->offset == loc.offset);
  CHECK(d->stored_size == loc.stored_size);
  CHECK(d->raw_size == loc.raw_size);
  CHECK(d->codec == loc.codec);
  CHECK(d->record_size() == kRecordHeaderSize + 1000);
  CHECK_FALSE(ChunkLocation::Decode(enc.substr(0, enc.size() - 1)));
  CHECK_FALSE(ChunkLocation::Decode(enc + "x"));
  CHECK_FALSE(ChunkLocation::Decode(""));
}

TEST_CASE("PackWriter and PackReader round trip raw and zstd records", "[pack]") {
  TempDir dir("pack");
  const auto path = dir / "pack-00000001.pack";
  auto records = MakePack(path);
  CHECK(std::filesystem::file_size(path) ==
        records.back().loc.offset + records.back().loc.record_size());
  CHECK(records.front().loc.offset == kPackFileHeaderSize);
  CHECK(IsValidPackFileHeader(modelfs::testing::ReadFile(path).substr(0, 16)));

  PackReader reader(path);
  for (const auto& r : records) {
    std::string out = "garbage";
    reader.ReadChunk(r.loc, r.hash, &out);
    CHECK(out == r.raw);
  }
  // Compressed records are smaller on disk.
  CHECK(records[1].loc.codec == Codec::kZstd);
  CHECK(records[1].loc.stored_size < records[1].loc.raw_size);

  SECTION("the wrong expected hash is corruption") {
    std::string out;
    CHECK(ThrownCode([&] { reader.ReadChunk(records[0].loc, records[1].hash, &out); }) ==
          "kCorruption");
  }
  SECTION("a location with the wrong stored size is corruption") {
    ChunkLocation loc = records[2].loc;
    loc.stored_size -= 1;
    std::string out;
    CHECK(ThrownCode([&] { reader.ReadChunk(loc, records[2].hash, &out); }) == "kCorruption");
  }
  SECTION("a location pointing into a payload is corruption") {
    ChunkLocation loc = records[2].loc;
    loc.offset += 1;
    std::string out;
    CHECK(ThrownCode([&] { reader.ReadChunk(loc, records[2].hash, &out); }) == "kCorruption");
  }
}

TEST_CASE("PackWriter appends after an existing length", "[pack]") {
  TempDir dir("pack");
  const auto path = dir / "pack-00000001.pack";
  auto first = MakePack(path);
  const uint64_t length = std::filesystem::file_size(path);
  SECTION("creating an existing pack fails") {
    CHECK(ThrownCode([&] { PackWriter w(path, 0); }) == "kIOError");
  }
  SECTION("appending keeps old records and adds new ones") {
    Written extra;
    {
      PackWriter w(path, length);
      CHECK(w.size() == length);
      extra = AppendRecord(&w, 1, RandomBytes(3000, 42), false);
      CHECK(extra.loc.offset == length);
      w.Sync();
    }
    PackReader reader(path);
    std::string out;
    reader.ReadChunk(extra.loc, extra.hash, &out);
    CHECK(out == extra.raw);
    for (const auto& r : first) {
      reader.ReadChunk(r.loc, r.hash, &out);
      CHECK(out == r.raw);
    }
  }
  SECTION("a writer never touches bytes before its starting length") {
    // Start before the real end: the new record overwrites what follows,
    // but the bytes before start_length are untouched.
    const std::string before = modelfs::testing::ReadFile(path).substr(0, first[3].loc.offset);
    {
      PackWriter w(path, first[3].loc.offset);
      AppendRecord(&w, 1, RandomBytes(100, 1), false);
      w.Sync();
    }
    CHECK(modelfs::testing::ReadFile(path).substr(0, first[3].loc.offset) == before);
  }
}

TEST_CASE("PackWriter handles records larger than its buffer", "[pack]") {
  TempDir dir("pack");
  const auto path = dir / "pack-00000001.pack";
  std::vector<Written> records;
  {
    PackWriter w(path, 0);
    records.push_back(AppendRecord(&w, 1, RandomBytes(1000, 1), false));
    records.push_back(AppendRecord(&w, 1, RandomBytes(9 << 20, 2), false));  // > 8 MiB buffer
    records.push_back(AppendRecord(&w, 1, RandomBytes(1000, 3), false));
    CHECK(w.size() == kPackFileHeaderSize + 3 * kRecordHeaderSize + 2000 + (9 << 20));
    w.Sync();
  }
  PackReader reader(path);
  std::string out;
  for (const auto& r : records) {
    reader.ReadChunk(r.loc, r.hash, &out);
    CHECK(out == r.raw);
  }
  auto log = ScanAll(path, std::filesystem::file_size(path));
  CHECK(log.records.size() == 3);
  CHECK(log.damage.empty());
}

TEST_CASE("PackReader: a missing pack is kNotFound", "[pack]") {
  TempDir dir("pack");
  CHECK(ThrownCode([&] { PackReader r(dir / "nope.pack"); }) == "kNotFound");
}

TEST_CASE("PackReader detects damage", "[pack]") {
  TempDir dir("pack");
  const auto path = dir / "pack-00000001.pack";
  auto records = MakePack(path);
  std::string out;

  SECTION("flipped byte in a raw payload") {
    FlipByte(path, records[0].loc.offset + kRecordHeaderSize + 100);
    PackReader reader(path);
    CHECK(ThrownCode([&] { reader.ReadChunk(records[0].loc, records[0].hash, &out); }) ==
          "kCorruption");
    // Neighbours are unaffected.
    reader.ReadChunk(records[1].loc, records[1].hash, &out);
    CHECK(out == records[1].raw);
  }
  SECTION("flipped byte in a zstd payload") {
    FlipByte(path, records[1].loc.offset + kRecordHeaderSize + records[1].loc.stored_size / 2);
    PackReader reader(path);
    CHECK(ThrownCode([&] { reader.ReadChunk(records[1].loc, records[1].hash, &out); }) ==
          "kCorruption");
  }
  SECTION("last byte of a zstd payload") {
    FlipByte(path, records[1].loc.offset + records[1].loc.record_size() - 1, 0x01);
    PackReader reader(path);
    CHECK(ThrownCode([&] { reader.ReadChunk(records[1].loc, records[1].hash, &out); }) ==
          "kCorruption");
  }
  SECTION("flipped byte in a record header") {
    for (uint64_t i : {0ull, 5ull, 9ull, 20ull, 33ull}) {
      FlipByte(path, records[2].loc.offset + i);
      PackReader reader(path);
      INFO("header byte " << i);
      CHECK(ThrownCode([&] { reader.ReadChunk(records[2].loc, records[2].hash, &out); }) ==
            "kCorruption");
      FlipByte(path, records[2].loc.offset + i);  // restore
      reader.ReadChunk(records[2].loc, records[2].hash, &out);
      CHECK(out == records[2].raw);
    }
  }
  SECTION("truncated pack") {
    const auto& last = records.back();
    REQUIRE(::truncate(path.c_str(), static_cast<off_t>(last.loc.offset + 50)) == 0);
    PackReader reader(path);
    CHECK(ThrownCode([&] { reader.ReadChunk(last.loc, last.hash, &out); }) == "kCorruption");
    char buf[100];
    CHECK(ThrownCode([&] { reader.ReadExact(last.loc.offset, 100, buf); }) == "kCorruption");
    // Earlier records still read.
    reader.ReadChunk(records[0].loc, records[0].hash, &out);
    CHECK(out == records[0].raw);
  }
}

TEST_CASE("DecodeRecordPayload", "[pack]") {
  const std::string raw = CompressibleBytes(5000, 1);
  RecordHeader h;
  h.hash = ChunkHash::Of(raw.data(), raw.size());
  h.raw_size = h.stored_size = static_cast<uint32_t>(raw.size());
  std::string out;
  CHECK(DecodeRecordPayload(h, raw.data(), &out));
  CHECK(out == raw);
  std::string bad = raw;
  bad[10] ^= 1;
  CHECK_FALSE(DecodeRecordPayload(h, bad.data(), &out));
  RecordHeader mismatched = h;
  mismatched.stored_size = h.raw_size - 1;
  CHECK_FALSE(DecodeRecordPayload(mismatched, raw.data(), &out));
  RecordHeader zstd = h;
  zstd.codec = Codec::kZstd;
  CHECK_FALSE(DecodeRecordPayload(zstd, raw.data(), &out));  // not a zstd frame
}

TEST_CASE("PackScanner reports every record of a healthy pack", "[pack]") {
  TempDir dir("pack");
  const auto path = dir / "pack-00000001.pack";
  auto records = MakePack(path);
  auto log = ScanAll(path, std::filesystem::file_size(path));
  CHECK(log.damage.empty());
  REQUIRE(log.records.size() == records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    CHECK(log.records[i].offset == records[i].loc.offset);
    CHECK(log.records[i].header.hash == records[i].hash);
    CHECK(log.records[i].header.codec == records[i].loc.codec);
    CHECK(log.records[i].header.raw_size == records[i].raw.size());
    CHECK(log.records[i].payload_ok);
  }
  SECTION("scanning a prefix ending at a record boundary") {
    auto part = ScanAll(path, records[3].loc.offset);
    CHECK(part.records.size() == 3);
    CHECK(part.damage.empty());
  }
}

TEST_CASE("PackScanner reports damage and resynchronises", "[pack]") {
  TempDir dir("pack");
  const auto path = dir / "pack-00000001.pack";
  auto records = MakePack(path);
  const uint64_t size = std::filesystem::file_size(path);

  SECTION("damaged payload: record reported not ok, scanning continues") {
    FlipByte(path, records[2].loc.offset + kRecordHeaderSize + 7);
    auto log = ScanAll(path, size);
    REQUIRE(log.records.size() == records.size());
    for (size_t i = 0; i < records.size(); ++i) CHECK(log.records[i].payload_ok == (i != 2));
    REQUIRE(log.damage.size() == 1);
    CHECK(log.damage[0].offset == records[2].loc.offset);
    CHECK(log.damage[0].length == records[2].loc.record_size());
  }
  SECTION("damaged header: damage up to the next record, later records still reported") {
    FlipByte(path, records[2].loc.offset + 12);  // stored_size
    auto log = ScanAll(path, size);
    REQUIRE(log.damage.size() == 1);
    CHECK(log.damage[0].offset == records[2].loc.offset);
    CHECK(log.damage[0].length == records[3].loc.offset - records[2].loc.offset);
    REQUIRE(log.records.size() == records.size() - 1);
    std::vector<uint64_t> offsets;
    for (const auto& r : log.records) {
      offsets.push_back(r.offset);
      CHECK(r.payload_ok);
    }
    CHECK(offsets == std::vector<uint64_t>{records[0].loc.offset, records[1].loc.offset,
                                           records[3].loc.offset, records[4].loc.offset,
                                           records[5].loc.offset});
  }
  SECTION("damaged magic of the first record") {
    FlipByte(path, records[0].loc.offset);
    auto log = ScanAll(path, size);
    REQUIRE(log.damage.size() == 1);
    CHECK(log.damage[0].offset == kPackFileHeaderSize);
    CHECK(log.records.size() == records.size() - 1);
    CHECK(log.records.front().offset == records[1].loc.offset);
  }
  SECTION("two damaged headers") {
    FlipByte(path, records[1].loc.offset + 20);
    FlipByte(path, records[4].loc.offset + 20);
    auto log = ScanAll(path, size);
    CHECK(log.damage.size() == 2);
    CHECK(log.records.size() == records.size() - 2);
  }
  SECTION("damaged last header: damage runs to the end") {
    FlipByte(path, records[5].loc.offset + 3);
    auto log = ScanAll(path, size);
    REQUIRE(log.damage.size() == 1);
    CHECK(log.damage[0].offset == records[5].loc.offset);
    CHECK(log.damage[0].offset + log.damage[0].length == size);
    CHECK(log.records.size() == records.size() - 1);
  }
  SECTION("damaged file header") {
    FlipByte(path, 2);
    auto log = ScanAll(path, size);
    REQUIRE(log.damage.size() == 1);
    CHECK(log.damage[0].offset == 0);
    CHECK(log.records.size() == records.size());
  }
  SECTION("truncated in the middle of a record") {
    REQUIRE(::truncate(path.c_str(), static_cast<off_t>(records[4].loc.offset + 40)) == 0);
    auto log = ScanAll(path, size);  // the committed length is larger than the file
    CHECK(log.records.size() == 4);
    REQUIRE(log.damage.size() >= 1);
    // The missing tail is reported...
    bool tail = false, partial = false;
    for (const auto& d : log.damage) {
      if (d.offset == records[4].loc.offset + 40 && d.length == size - d.offset) tail = true;
      if (d.offset == records[4].loc.offset) partial = true;
    }
    CHECK(tail);
    // ...and so is the partial record at the new end.
    CHECK(partial);
  }
  SECTION("trailing garbage past the last record") {
    {
      FILE* f = std::fopen(path.c_str(), "ab");
      std::fwrite("junkjunkjunk", 1, 12, f);
      std::fclose(f);
    }
    auto log = ScanAll(path, size + 12);
    CHECK(log.records.size() == records.size());
    REQUIRE(log.damage.size() == 1);
    CHECK(log.damage[0].offset == size);
    CHECK(log.damage[0].length == 12);
  }
}

}  // namespace
}  // namespace modelfs::cache
