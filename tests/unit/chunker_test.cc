// Tests for cache/chunker.h: FastCDC content-defined chunking.
#include "cache/chunker.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "cache/chunk_hash.h"
#include "tests/unit/test_util.h"
#include "util/error.h"

namespace modelfs::cache {
namespace {

using modelfs::testing::RandomBytes;
using modelfs::testing::ThrownCode;

const uint8_t* U8(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

// Cut lengths for the whole buffer, offered at once (at_eof = true throughout).
std::vector<size_t> WholeCuts(const Chunker& chunker, const std::string& data) {
  std::vector<size_t> cuts;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t len = chunker.NextChunkLength(U8(data) + pos, data.size() - pos, true);
    REQUIRE(len > 0);
    REQUIRE(len <= data.size() - pos);
    cuts.push_back(len);
    pos += len;
  }
  return cuts;
}

// Cut lengths when the data arrives in blocks, exactly as FileIngester does
// it: a buffer of `block + max_size` bytes refilled from the input, chunks
// cut while at least max_size bytes remain (or at end of input), the rest
// moved to the front.
std::vector<size_t> StreamCuts(const Chunker& chunker, const std::string& data,
                               const std::vector<size_t>& blocks) {
  std::vector<size_t> cuts;
  size_t input_pos = 0;
  std::string buffer;
  size_t filled = 0;
  bool eof = false;
  size_t block_index = 0;
  while (!eof || filled > 0) {
    const size_t block = blocks[block_index++ % blocks.size()];
    REQUIRE(block >= chunker.max_size());
    buffer.resize(std::max(buffer.size(), block + chunker.max_size()));
    const size_t want = block + chunker.max_size() - filled;
    const size_t got = eof ? 0 : std::min(want, data.size() - input_pos);
    std::memcpy(buffer.data() + filled, data.data() + input_pos, got);
    input_pos += got;
    eof = eof || got < want;
    filled += got;
    size_t pos = 0;
    while (pos < filled && (eof || filled - pos >= chunker.max_size())) {
      size_t len = chunker.NextChunkLength(U8(buffer) + pos, filled - pos, eof);
      REQUIRE(len > 0);
      cuts.push_back(len);
      pos += len;
    }
    std::memmove(buffer.data(), buffer.data() + pos, filled - pos);
    filled -= pos;
  }
  return cuts;
}

std::vector<ChunkHash> HashesOf(const std::string& data, const std::vector<size_t>& cuts) {
  std::vector<ChunkHash> hashes;
  size_t pos = 0;
  for (size_t len : cuts) {
    hashes.push_back(ChunkHash::Of(data.data() + pos, len));
    pos += len;
  }
  return hashes;
}

// Fraction of the chunks of `after` (by hash, with multiplicity) that also
// occur in `before`.
double SharedFraction(const std::vector<ChunkHash>& before, const std::vector<ChunkHash>& after) {
  std::map<ChunkHash, int> counts;
  for (const auto& h : before) ++counts[h];
  size_t shared = 0;
  for (const auto& h : after) {
    auto it = counts.find(h);
    if (it != counts.end() && it->second > 0) {
      --it->second;
      ++shared;
    }
  }
  return static_cast<double>(shared) / static_cast<double>(std::max(before.size(), after.size()));
}

const std::string& Random64MiB() {
  static const std::string data = RandomBytes(64 << 20, 0xC0FFEE);
  return data;
}

TEST_CASE("Chunker: default parameters are 64 KiB / 256 KiB / 1 MiB", "[chunker]") {
  Chunker c(ChunkerParams::Default());
  CHECK(c.min_size() == 64 << 10);
  CHECK(c.avg_size() == 256 << 10);
  CHECK(c.max_size() == 1 << 20);
}

TEST_CASE("Chunker: invalid parameters throw kInvalidArgument", "[chunker]") {
  auto code = [](ChunkerParams p) { return ThrownCode([&] { Chunker c(p); }); };
  CHECK(code({4096, 4096, 65536}) == "kInvalidArgument");   // min == avg
  CHECK(code({4096, 16384, 16384}) == "kInvalidArgument");  // avg == max
  CHECK(code({4096, 12288, 65536}) == "kInvalidArgument");  // avg not a power of two
  CHECK(code({0, 16384, 65536}) == "kInvalidArgument");     // min == 0
  CHECK(code({65536, 16384, 4096}) == "kInvalidArgument");  // reversed
  CHECK(code({20000, 16384, 65536}) == "kInvalidArgument"); // min > avg
  CHECK(code({4096, 16384, 8192}) == "kInvalidArgument");   // avg > max
  CHECK(code({4096, 16384, 65536}) == "no error");
  CHECK(code({1, 2, 3}) == "no error");
}

TEST_CASE("Chunker: cuts are deterministic and independent of the instance", "[chunker]") {
  const std::string data = RandomBytes(8 << 20, 1);
  Chunker a(ChunkerParams::Default());
  Chunker b(ChunkerParams::Default());
  Chunker copy = a;
  auto cuts = WholeCuts(a, data);
  CHECK(cuts == WholeCuts(a, data));
  CHECK(cuts == WholeCuts(b, data));
  CHECK(cuts == WholeCuts(copy, data));
  size_t total = 0;
  for (size_t c : cuts) total += c;
  CHECK(total == data.size());
  CHECK(cuts.size() > 1);
}

TEST_CASE("Chunker: every chunk but the last is within [min, max]", "[chunker]") {
  for (ChunkerParams p : {ChunkerParams::Default(), ChunkerParams{2048, 8192, 32768},
                          ChunkerParams{4096, 16384, 65536}}) {
    Chunker c(p);
    const std::string data = RandomBytes((16 << 20) + 12345, p.avg_size);
    auto cuts = WholeCuts(c, data);
    REQUIRE(cuts.size() > 2);
    for (size_t i = 0; i + 1 < cuts.size(); ++i) {
      INFO("params " << p.min_size << "/" << p.avg_size << "/" << p.max_size << " chunk " << i);
      CHECK(cuts[i] >= p.min_size);
      CHECK(cuts[i] <= p.max_size);
    }
    CHECK(cuts.back() >= 1);
    CHECK(cuts.back() <= p.max_size);
  }
}

TEST_CASE("Chunker: average chunk size on random data is near the configured average",
          "[chunker]") {
  SECTION("default parameters on 64 MiB") {
    Chunker c(ChunkerParams::Default());
    auto cuts = WholeCuts(c, Random64MiB());
    cuts.pop_back();
    double mean = static_cast<double>(std::accumulate(cuts.begin(), cuts.end(), size_t{0})) /
                  static_cast<double>(cuts.size());
    INFO("mean chunk " << mean << " over " << cuts.size() << " chunks");
    CHECK(mean > 0.75 * c.avg_size());
    CHECK(mean < 1.5 * c.avg_size());
  }
  SECTION("small parameters on 16 MiB") {
    Chunker c(ChunkerParams{4096, 16384, 65536});
    auto cuts = WholeCuts(c, RandomBytes(16 << 20, 99));
    cuts.pop_back();
    double mean = static_cast<double>(std::accumulate(cuts.begin(), cuts.end(), size_t{0})) /
                  static_cast<double>(cuts.size());
    INFO("mean chunk " << mean << " over " << cuts.size() << " chunks");
    CHECK(mean > 0.75 * c.avg_size());
    CHECK(mean < 1.5 * c.avg_size());
    // Normalized chunking: few chunks hit the max-size cap on random data.
    size_t capped = std::count(cuts.begin(), cuts.end(), c.max_size());
    CHECK(capped * 50 < cuts.size());
  }
}

TEST_CASE("Chunker: edits near the start change only a few chunks", "[chunker]") {
  Chunker c(ChunkerParams::Default());
  const std::string& original = Random64MiB();
  static const auto before = HashesOf(original, WholeCuts(c, original));
  REQUIRE(before.size() > 100);

  auto check = [&](const std::string& edited, const char* what) {
    const auto after = HashesOf(edited, WholeCuts(c, edited));
    double shared = SharedFraction(before, after);
    INFO(what << ": " << before.size() << " chunks before, " << after.size() << " after, shared "
              << shared);
    CHECK(shared >= 0.95);
    // Only a handful of chunks around the edit may differ (realignment after
    // an edit takes a few cuts, since a cut depends on the chunk's start).
    CHECK(static_cast<double>(after.size()) * (1.0 - shared) <= 8.0);
  };

  SECTION("insert one byte") {
    std::string edited = original;
    edited.insert(edited.begin() + 1000003, '\x5a');
    check(edited, "insert 1 byte at ~1 MB");
  }
  SECTION("insert one byte at offset 0") {
    std::string edited = original;
    edited.insert(edited.begin(), '\x01');
    check(edited, "insert 1 byte at 0");
  }
  SECTION("delete bytes") {
    std::string edited = original;
    edited.erase(2 << 20, 777);
    check(edited, "delete 777 bytes at 2 MiB");
  }
  SECTION("rewrite a region") {
    std::string edited = original;
    const std::string patch = RandomBytes(100000, 77);
    edited.replace(3 << 20, patch.size(), patch);
    REQUIRE(edited.size() == original.size());
    check(edited, "rewrite 100 kB at 3 MiB");
  }
  SECTION("insert a block") {
    std::string edited = original;
    const std::string block = RandomBytes(300000, 78);
    edited.insert(500000, block);
    check(edited, "insert 300 kB at 500 kB");
  }
}

TEST_CASE("Chunker: streaming in blocks >= max_size cuts like the whole buffer", "[chunker]") {
  Chunker c(ChunkerParams::Default());
  const std::string data = Random64MiB().substr(0, (20 << 20) + 4321);
  const auto whole = WholeCuts(c, data);
  const size_t max = c.max_size();
  CHECK(StreamCuts(c, data, {max}) == whole);
  CHECK(StreamCuts(c, data, {max + 1}) == whole);
  CHECK(StreamCuts(c, data, {3 * max + 12345}) == whole);
  CHECK(StreamCuts(c, data, {16 << 20}) == whole);  // FileIngester's block size
  std::mt19937 rng(5);
  std::vector<size_t> random_blocks;
  for (int i = 0; i < 64; ++i) random_blocks.push_back(max + rng() % (4 * max));
  CHECK(StreamCuts(c, data, random_blocks) == whole);

  SECTION("small parameters") {
    Chunker s(ChunkerParams{2048, 8192, 32768});
    const std::string small = data.substr(0, (3 << 20) + 17);
    const auto whole_small = WholeCuts(s, small);
    CHECK(StreamCuts(s, small, {32768}) == whole_small);
    CHECK(StreamCuts(s, small, {32768 + 999, 100000}) == whole_small);
  }
}

TEST_CASE("Chunker: an input of zeros is cut into max-size chunks", "[chunker]") {
  Chunker c(ChunkerParams::Default());
  const std::string zeros((8 << 20) + 1000, '\0');
  auto cuts = WholeCuts(c, zeros);
  REQUIRE(cuts.size() == 9);
  for (size_t i = 0; i + 1 < cuts.size(); ++i) CHECK(cuts[i] == c.max_size());
  CHECK(cuts.back() == 1000);

  Chunker s(ChunkerParams{2048, 8192, 32768});
  for (size_t len : WholeCuts(s, zeros.substr(0, 32768 * 10))) CHECK(len == 32768);
}

TEST_CASE("Chunker: short inputs and the end of input", "[chunker]") {
  Chunker c(ChunkerParams{4096, 16384, 65536});
  const std::string data = RandomBytes(200000, 3);
  // At end of input, anything up to min_size is one chunk.
  CHECK(c.NextChunkLength(U8(data), 0, true) == 0);
  CHECK(c.NextChunkLength(U8(data), 1, true) == 1);
  CHECK(c.NextChunkLength(U8(data), 4096, true) == 4096);
  // A cut never exceeds what is available or max_size.
  for (size_t n : {4097ul, 10000ul, 65536ul, 65537ul, 200000ul}) {
    size_t len = c.NextChunkLength(U8(data), n, true);
    CHECK(len >= 1);
    CHECK(len <= std::min(n, c.max_size()));
  }
  // Not at end of input with max_size bytes available: never 0, never beyond max.
  for (size_t off = 0; off < 100000; off += 7919) {
    size_t len = c.NextChunkLength(U8(data) + off, 65536, false);
    CHECK(len >= c.min_size());
    CHECK(len <= c.max_size());
    // The same cut with more bytes available: cuts look at no more than max_size bytes.
    CHECK(c.NextChunkLength(U8(data) + off, 100000, false) == len);
    CHECK(c.NextChunkLength(U8(data) + off, 100000, true) == len);
  }
}

TEST_CASE("Chunker: cut points depend only on content (shifted copies resynchronise)",
          "[chunker]") {
  Chunker c(ChunkerParams{4096, 16384, 65536});
  const std::string body = RandomBytes(4 << 20, 11);
  const std::string prefixed = RandomBytes(12345, 12) + body;
  auto a = HashesOf(body, WholeCuts(c, body));
  auto b = HashesOf(prefixed, WholeCuts(c, prefixed));
  CHECK(SharedFraction(a, b) >= 0.95);
}

}  // namespace
}  // namespace modelfs::cache
