// tests/unit/xz_writer_test.cc — remote/xz_writer.h: round trips through
// liblzma's stream decoder, the block structure in the index, compression of
// compressible blocks only, independence from Write sizes and thread counts,
// acceptance by xz, Python's lzma/tarfile and tar, and error propagation.
#include "remote/xz_writer.h"

#include <lzma.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "tests/unit/test_util.h"

namespace modelfs::remote {
namespace {

using modelfs::testing::CompressibleBytes;
using modelfs::testing::RandomBytes;
using modelfs::testing::ThrownCode;

constexpr size_t kBlock = 64 << 10;

XzWriter::Options SmallBlocks(unsigned threads = 2) {
  XzWriter::Options options;
  options.block_size = kBlock;
  options.threads = threads;
  return options;
}

// The .xz encoding of `data`, written in pieces of `piece` bytes, or of the
// sizes cycling through `pieces`.
std::string Encode(const std::string& data, const XzWriter::Options& options,
                   std::initializer_list<size_t> pieces = {size_t{1} << 30}) {
  std::string out;
  XzWriter writer([&](const char* p, size_t n) { out.append(p, n); }, options);
  size_t at = 0;
  for (size_t i = 0; at < data.size(); ++i) {
    const size_t n = std::min(pieces.begin()[i % pieces.size()], data.size() - at);
    writer.Write(data.data() + at, n);
    at += n;
  }
  writer.Finish();
  CHECK(writer.bytes_in() == data.size());
  CHECK(writer.bytes_out() == out.size());
  return out;
}

// Decodes a whole .xz file with liblzma; throws if it is not one.
std::string Decode(const std::string& xz) {
  lzma_stream stream = LZMA_STREAM_INIT;
  if (lzma_stream_decoder(&stream, UINT64_MAX, 0) != LZMA_OK) throw std::runtime_error("decoder init");
  std::string out;
  char buffer[1 << 16];
  stream.next_in = reinterpret_cast<const uint8_t*>(xz.data());
  stream.avail_in = xz.size();
  lzma_ret ret;
  do {
    stream.next_out = reinterpret_cast<uint8_t*>(buffer);
    stream.avail_out = sizeof(buffer);
    ret = lzma_code(&stream, LZMA_FINISH);
    out.append(buffer, sizeof(buffer) - stream.avail_out);
  } while (ret == LZMA_OK);
  const size_t left = stream.avail_in;
  lzma_end(&stream);
  if (ret != LZMA_STREAM_END) throw std::runtime_error("decode failed, liblzma code " + std::to_string(ret));
  if (left != 0) throw std::runtime_error("trailing bytes after the stream");
  return out;
}

// The number of blocks the stream's index lists.
uint64_t BlockCount(const std::string& xz) {
  REQUIRE(xz.size() >= 2 * LZMA_STREAM_HEADER_SIZE);
  const auto* bytes = reinterpret_cast<const uint8_t*>(xz.data());
  lzma_stream_flags footer;
  REQUIRE(lzma_stream_footer_decode(&footer, bytes + xz.size() - LZMA_STREAM_HEADER_SIZE) == LZMA_OK);
  CHECK(footer.check == LZMA_CHECK_CRC64);
  const size_t index_at = xz.size() - LZMA_STREAM_HEADER_SIZE - footer.backward_size;
  lzma_index* index = nullptr;
  uint64_t memlimit = UINT64_MAX;
  size_t pos = index_at;
  REQUIRE(lzma_index_buffer_decode(&index, &memlimit, nullptr, bytes, &pos, xz.size() - LZMA_STREAM_HEADER_SIZE) ==
          LZMA_OK);
  const uint64_t blocks = lzma_index_block_count(index);
  lzma_index_end(index, nullptr);
  return blocks;
}

// Bytes like bfloat16 weights: random mantissas, a narrow band of exponents.
std::string WeightLikeBytes(size_t n, uint64_t seed) {
  std::string out = RandomBytes(n, seed);
  for (size_t i = 1; i < n; i += 2) out[i] = static_cast<char>((0x3c + (out[i] & 0x03)) | (out[i] & 0x80));
  return out;
}

int Shell(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool HaveCommand(const char* name) { return Shell(std::string("command -v ") + name + " >/dev/null 2>&1") == 0; }

TEST_CASE("XzWriter: empty input is a valid .xz stream", "[xz]") {
  const std::string xz = Encode("", SmallBlocks());
  CHECK(xz.size() == 32);  // stream header 12 + empty index 8 + footer 12
  CHECK(Decode(xz).empty());
  CHECK(BlockCount(xz) == 0);
}

TEST_CASE("XzWriter: tiny input and exact block boundaries round-trip", "[xz]") {
  CHECK(Decode(Encode("hello", SmallBlocks())) == "hello");
  CHECK(BlockCount(Encode("hello", SmallBlocks())) == 1);

  const std::string one_block = RandomBytes(kBlock, 1);
  const std::string xz = Encode(one_block, SmallBlocks());
  CHECK(BlockCount(xz) == 1);
  CHECK(Decode(xz) == one_block);

  const std::string one_more = RandomBytes(kBlock + 1, 2);
  const std::string xz2 = Encode(one_more, SmallBlocks());
  CHECK(BlockCount(xz2) == 2);
  CHECK(Decode(xz2) == one_more);
}

TEST_CASE("XzWriter: random data is stored at next to no overhead", "[xz]") {
  const std::string data = RandomBytes(20 * kBlock + 123, 3);
  const std::string xz = Encode(data, SmallBlocks());
  CHECK(BlockCount(xz) == 21);
  CHECK(Decode(xz) == data);
  CHECK(xz.size() > data.size());
  CHECK(xz.size() < data.size() + 21 * 64);
}

TEST_CASE("XzWriter: zero runs and text are compressed", "[xz]") {
  const std::string zeros(16 * kBlock, '\0');
  const std::string xz_zeros = Encode(zeros, SmallBlocks());
  CHECK(Decode(xz_zeros) == zeros);
  CHECK(xz_zeros.size() < zeros.size() / 100);

  const std::string text = CompressibleBytes(16 * kBlock + 77, 4);
  const std::string xz_text = Encode(text, SmallBlocks());
  CHECK(Decode(xz_text) == text);
  CHECK(xz_text.size() < text.size() / 4);
}

TEST_CASE("XzWriter: mixed data compresses the compressible blocks only", "[xz]") {
  std::string data;
  for (int i = 0; i < 8; ++i) {
    data += RandomBytes(kBlock, 10 + i);
    data += CompressibleBytes(kBlock, 20 + i);
    data += std::string(kBlock / 2, '\0') + CompressibleBytes(kBlock / 2, 30 + i);
  }
  const std::string xz = Encode(data, SmallBlocks());
  CHECK(Decode(xz) == data);
  CHECK(BlockCount(xz) == 24);
  // The random third is stored, the rest shrinks to a small fraction.
  CHECK(xz.size() > data.size() / 3);
  CHECK(xz.size() < data.size() / 3 + data.size() / 10);
}

TEST_CASE("XzWriter: weight-like data is stored unless every saving is wanted", "[xz]") {
  const std::string weights = WeightLikeBytes(8 * kBlock, 5);
  const std::string stored = Encode(weights, SmallBlocks());
  CHECK(Decode(stored) == weights);
  CHECK(stored.size() > weights.size());

  XzWriter::Options eager = SmallBlocks();
  eager.max_compressed_ratio = 1.0;
  const std::string compressed = Encode(weights, eager);
  CHECK(Decode(compressed) == weights);
  CHECK(compressed.size() < weights.size() * 9 / 10);
}

TEST_CASE("XzWriter: output depends on neither Write sizes nor thread count", "[xz]") {
  std::string data = RandomBytes(3 * kBlock + 5, 6) + CompressibleBytes(2 * kBlock + 9, 7) + std::string(99999, '\0');
  const std::string reference = Encode(data, SmallBlocks(1));
  CHECK(Decode(reference) == data);
  CHECK(Encode(data, SmallBlocks(1), {1, 7, 4093, 65537, 3}) == reference);
  CHECK(Encode(data, SmallBlocks(2), {kBlock, 1, kBlock - 1}) == reference);
  CHECK(Encode(data, SmallBlocks(4), {13, 100003}) == reference);
  CHECK(Encode(data, SmallBlocks(0), {kBlock * 3}) == reference);
}

TEST_CASE("XzWriter: xz, python's lzma and tarfile, and tar accept the output", "[xz]") {
  if (!HaveCommand("xz")) {
    WARN("xz is not installed; skipped");
    return;
  }
  modelfs::testing::TempDir dir("xz");
  const std::string raw = RandomBytes(5 * kBlock + 3, 8) + CompressibleBytes(3 * kBlock, 9) + std::string(kBlock, '\0');
  modelfs::testing::WriteFile(dir / "raw", raw);
  modelfs::testing::WriteFile(dir / "raw.xz", Encode(raw, SmallBlocks()));
  const std::string xz_path = (dir / "raw.xz").string();
  CHECK(Shell("xz -t " + xz_path) == 0);
  CHECK(Shell("xz -T2 -dc " + xz_path + " | cmp -s - " + (dir / "raw").string()) == 0);

  // An xztar as shutil.make_archive writes it.
  modelfs::testing::WriteFile(dir / "model/config.json", CompressibleBytes(5000, 10));
  modelfs::testing::WriteFile(dir / "model/weights.bin", RandomBytes(3 * kBlock + 17, 11));
  REQUIRE(Shell("tar -C " + dir.path().string() + " -cf " + (dir / "model.tar").string() + " model") == 0);
  modelfs::testing::WriteFile(dir / "model.tar.xz",
                              Encode(modelfs::testing::ReadFile(dir / "model.tar"), SmallBlocks()));
  const std::string tar_xz = (dir / "model.tar.xz").string();
  CHECK(Shell("tar -tJf " + tar_xz + " >/dev/null") == 0);

  if (!HaveCommand("python3")) {
    WARN("python3 is not installed; skipped");
    return;
  }
  CHECK(Shell("python3 -c 'import lzma,sys; sys.exit(lzma.open(sys.argv[1]).read() != open(sys.argv[2], \"rb\").read())' " +
              xz_path + " " + (dir / "raw").string()) == 0);
  CHECK(Shell("python3 -c 'import tarfile,sys; t = tarfile.open(sys.argv[1], \"r:xz\"); "
              "sys.exit(t.extractfile(\"model/weights.bin\").read() != open(sys.argv[2], \"rb\").read())' " +
              tar_xz + " " + (dir / "model/weights.bin").string()) == 0);
}

TEST_CASE("XzWriter: a throwing sink propagates and the writer still shuts down", "[xz]") {
  const std::string data = RandomBytes(40 * kBlock, 12);
  for (int fail_at : {1, 3, 10}) {
    int calls = 0;
    std::string out;
    XzWriter writer(
        [&](const char* p, size_t n) {
          if (++calls == fail_at) throw std::runtime_error("sink is full");
          out.append(p, n);
        },
        SmallBlocks());
    CHECK_THROWS_WITH(writer.Write(data.data(), data.size()), "sink is full");
    CHECK(ThrownCode([&] { writer.Write("x", 1); }) == "kIOError");
    CHECK(ThrownCode([&] { writer.Finish(); }) == "kIOError");
    CHECK(writer.bytes_out() == out.size());
  }  // the destructor joins the workers while blocks are still in flight

  // Failing on the footer, the last call.
  int calls = 0;
  XzWriter writer(
      [&](const char*, size_t) {
        if (++calls == 4) throw std::runtime_error("footer refused");
      },
      SmallBlocks());
  writer.Write(data.data(), kBlock / 2);
  CHECK_THROWS_WITH(writer.Finish(), "footer refused");
}

TEST_CASE("XzWriter: misuse and bad options are errors", "[xz]") {
  XzWriter::Options zero_block;
  zero_block.block_size = 0;
  CHECK(ThrownCode([&] { XzWriter w([](const char*, size_t) {}, zero_block); }) == "kInvalidArgument");
  XzWriter::Options bad_preset;
  bad_preset.preset = 42;
  CHECK(ThrownCode([&] { XzWriter w([](const char*, size_t) {}, bad_preset); }) == "kInvalidArgument");

  XzWriter writer([](const char*, size_t) {});
  writer.Write("abc", 3);
  writer.Finish();
  CHECK(ThrownCode([&] { writer.Finish(); }) == "kInvalidArgument");
  CHECK(ThrownCode([&] { writer.Write("x", 1); }) == "kInvalidArgument");
}

}  // namespace
}  // namespace modelfs::remote
