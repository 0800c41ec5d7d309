// tests/unit/zstd_writer_test.cc — remote/zstd_writer.h: round trips through
// libzstd's stream decoder, one checksummed frame per block, incompressible
// blocks stored (and their checksums checked by libzstd), compressible ones
// compressed, independence from Write sizes and thread counts, acceptance by
// the zstd tool, and error propagation from the sink.
#include "remote/zstd_writer.h"

#include <zstd.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "tests/unit/test_util.h"

namespace modelfs::remote {
namespace {

using modelfs::testing::CompressibleBytes;
using modelfs::testing::RandomBytes;
using modelfs::testing::TempDir;
using modelfs::testing::ThrownCode;

ZstdWriter::Options SmallBlocks(unsigned threads = 2) {
  ZstdWriter::Options options;
  options.block_size = 64 << 10;
  options.threads = threads;
  return options;
}

std::string Encode(const std::string& data, const ZstdWriter::Options& options, size_t piece = 1 << 30) {
  std::string out;
  ZstdWriter writer([&](const char* p, size_t n) { out.append(p, n); }, options);
  for (size_t at = 0; at < data.size(); at += piece) writer.Write(data.data() + at, std::min(piece, data.size() - at));
  writer.Finish();
  return out;
}

std::string Decode(const std::string& zst) {
  std::unique_ptr<ZSTD_DStream, decltype(&ZSTD_freeDStream)> stream(ZSTD_createDStream(), ZSTD_freeDStream);
  std::string out;
  std::string buffer(ZSTD_DStreamOutSize(), '\0');
  ZSTD_inBuffer in{zst.data(), zst.size(), 0};
  size_t last = 0;
  while (in.pos < in.size) {
    ZSTD_outBuffer o{buffer.data(), buffer.size(), 0};
    last = ZSTD_decompressStream(stream.get(), &o, &in);
    if (ZSTD_isError(last)) throw std::runtime_error(ZSTD_getErrorName(last));
    out.append(buffer.data(), o.pos);
  }
  if (last != 0) throw std::runtime_error("truncated .zst");
  return out;
}

// The frames of a .zst stream; each must carry a content checksum.
size_t FrameCount(const std::string& zst) {
  size_t frames = 0;
  for (size_t at = 0; at < zst.size(); ++frames) {
    const size_t n = ZSTD_findFrameCompressedSize(zst.data() + at, zst.size() - at);
    if (ZSTD_isError(n)) throw std::runtime_error(ZSTD_getErrorName(n));
    // The Frame_Header_Descriptor follows the 4-byte magic number; its
    // bit 2 is the Content_Checksum_flag (RFC 8878, 3.1.1.1.1).
    if (n < 5 || (static_cast<unsigned char>(zst[at + 4]) & 0x04) == 0) {
      throw std::runtime_error("a frame without a checksum");
    }
    at += n;
  }
  return frames;
}

TEST_CASE("ZstdWriter: round trips, one checksummed frame per block", "[zstd]") {
  const std::string random = RandomBytes((64 << 10) * 5 + 123, 1);
  const std::string zst = Encode(random, SmallBlocks());
  CHECK(Decode(zst) == random);
  CHECK(FrameCount(zst) == 6);
  CHECK(zst.size() < random.size() + 6 * 64);  // stored, at next to no overhead

  const std::string text = CompressibleBytes(1 << 20, 2);
  const std::string zst_text = Encode(text, SmallBlocks());
  CHECK(Decode(zst_text) == text);
  CHECK(zst_text.size() < text.size() / 2);
}

TEST_CASE("ZstdWriter: output depends on neither Write sizes nor thread count", "[zstd]") {
  const std::string data = CompressibleBytes(300000, 3) + RandomBytes(300000, 4);
  const std::string one = Encode(data, SmallBlocks(1));
  for (unsigned threads : {1u, 2u, 3u}) {
    for (size_t piece : {size_t{1} << 30, size_t{65536}, size_t{1000}, size_t{7}}) {
      CHECK(Encode(data, SmallBlocks(threads), piece) == one);
    }
  }
}

TEST_CASE("ZstdWriter: empty input and exact block boundaries", "[zstd]") {
  const std::string empty = Encode("", SmallBlocks());
  CHECK(FrameCount(empty) == 1);
  CHECK(Decode(empty).empty());
  const std::string exact = RandomBytes(2 * (64 << 10), 5);
  const std::string zst = Encode(exact, SmallBlocks());
  CHECK(FrameCount(zst) == 2);
  CHECK(Decode(zst) == exact);
}

TEST_CASE("ZstdWriter: the zstd tool accepts the output", "[zstd]") {
  TempDir dir("zstd");
  const std::string data = CompressibleBytes(200000, 6) + RandomBytes(200000, 7);
  const auto path = dir.path() / "out.zst";
  modelfs::testing::WriteFile(path, Encode(data, SmallBlocks()));
  modelfs::testing::WriteFile(dir.path() / "in", data);
  const std::string cmd = "zstd -q -t " + path.string() + " && zstd -q -dc " + path.string() + " | cmp -s - " +
                          (dir.path() / "in").string();
  CHECK(std::system(cmd.c_str()) == 0);
}

// Size of a stored frame of n bytes: the 9-byte header, a 3-byte header per
// raw block of up to 128 KiB, the 4-byte checksum.
size_t StoredFrameSize(size_t n) { return 9 + 3 * ((n + (128 << 10) - 1) / (128 << 10)) + n + 4; }

TEST_CASE("ZstdWriter: blocks that would not shrink are stored, with a checksum zstd checks", "[zstd]") {
  ZstdWriter::Options options;
  options.block_size = (300 << 10) + 5;  // three raw blocks, the last partial
  options.threads = 2;
  const std::string random = RandomBytes(options.block_size * 2 + 1000, 11);
  std::string zst = Encode(random, options);
  CHECK(Decode(zst) == random);
  CHECK(FrameCount(zst) == 3);
  CHECK(zst.size() == 2 * StoredFrameSize(options.block_size) + StoredFrameSize(1000));
  CHECK(ZSTD_getFrameContentSize(zst.data(), zst.size()) == options.block_size);

  // A flipped byte inside the second raw block of the first frame: only the
  // content checksum can tell.
  zst[9 + 3 + (128 << 10) + 3 + 77] ^= 0x20;
  CHECK_THROWS(Decode(zst));
}

TEST_CASE("ZstdWriter: compressible blocks still go through zstd", "[zstd]") {
  const std::string text = CompressibleBytes(64 << 10, 12);
  const std::string random = RandomBytes(64 << 10, 13);
  const std::string zst = Encode(text + random + text, SmallBlocks());
  CHECK(Decode(zst) == text + random + text);
  const size_t first = ZSTD_findFrameCompressedSize(zst.data(), zst.size());
  REQUIRE(!ZSTD_isError(first));
  CHECK(first < text.size() / 2);
  const size_t second = ZSTD_findFrameCompressedSize(zst.data() + first, zst.size() - first);
  CHECK(second == StoredFrameSize(random.size()));

  // With a ratio no block meets, every block is stored.
  ZstdWriter::Options store_all = SmallBlocks();
  store_all.max_compressed_ratio = 0;
  const std::string stored = Encode(text, store_all);
  CHECK(stored.size() == StoredFrameSize(text.size()));
  CHECK(Decode(stored) == text);
}

TEST_CASE("ZstdWriter: a failing sink reaches the caller; the writer is then broken", "[zstd]") {
  size_t calls = 0;
  ZstdWriter writer([&](const char*, size_t) {
    if (++calls == 2) throw Error(ErrorCode::kIOError, "disk full");
  }, SmallBlocks());
  const std::string data = RandomBytes(1 << 20, 8);
  CHECK(ThrownCode([&] {
          writer.Write(data.data(), data.size());
          writer.Finish();
        }) == "kIOError");
  CHECK(calls == 2);
  CHECK(ThrownCode([&] { writer.Write("x", 1); }) == "kIOError");
}

}  // namespace
}  // namespace modelfs::remote
