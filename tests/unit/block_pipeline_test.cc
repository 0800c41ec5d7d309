// tests/unit/block_pipeline_test.cc — util/block_pipeline.h: blocks emitted
// whole, in order and one at a time whatever the encoders' speeds; bounded
// blocks in flight; failures of an encoder or of Emit reaching the caller and
// stopping all output; no use after Finish.
#include "util/block_pipeline.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "tests/unit/test_util.h"

namespace modelfs {
namespace {

using modelfs::testing::RandomBytes;
using modelfs::testing::ThrownCode;
using Block = BlockPipeline::Block;

// Copies each block, sleeping a little on some (so workers finish out of
// order); throws on a block starting with "!bad".
class CopyEncoder : public BlockPipeline::Encoder {
 public:
  void Encode(Block& block) override {
    const std::string_view in(block.input.bytes.get(), block.input.size);
    if (in.starts_with("!bad")) throw std::runtime_error("bad block");
    if (in.size() > 1 && static_cast<unsigned char>(in[1]) % 3 == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    block.output.Reset(in.size());
    block.output.Append(in.data(), in.size());
    block.detail = in.size();
  }
};

struct Collected {
  std::string bytes;
  size_t blocks = 0;
  std::atomic<int> inside{0};  // Emit calls running at once
  bool overlapped = false;
  bool detail_ok = true;
};

BlockPipeline MakePipeline(Collected* out, size_t block_size, unsigned threads) {
  return BlockPipeline(
      "test", block_size, threads, [] { return std::make_unique<CopyEncoder>(); },
      [out](const Block& block) {
        if (out->inside.fetch_add(1) != 0) out->overlapped = true;
        out->bytes.append(block.output.bytes.get(), block.output.size);
        if (block.detail != block.input.size) out->detail_ok = false;
        ++out->blocks;
        out->inside.fetch_sub(1);
      });
}

TEST_CASE("BlockPipeline: emits every block, in order, one at a time", "[block_pipeline]") {
  for (unsigned threads : {1u, 2u, 4u}) {
    for (size_t piece : {size_t{1}, size_t{1000}, size_t{4096}, size_t{100000}}) {
      const std::string data = RandomBytes(300000 + threads, threads * 7 + piece);
      Collected out;
      {
        BlockPipeline pipeline = MakePipeline(&out, 4096, threads);
        for (size_t at = 0; at < data.size(); at += piece) {
          pipeline.Write(data.data() + at, std::min(piece, data.size() - at));
        }
        pipeline.Finish();
      }
      CHECK(out.bytes == data);
      CHECK(out.blocks == (data.size() + 4095) / 4096);
      CHECK_FALSE(out.overlapped);
      CHECK(out.detail_ok);
    }
  }
}

TEST_CASE("BlockPipeline: no input emits nothing", "[block_pipeline]") {
  Collected out;
  BlockPipeline pipeline = MakePipeline(&out, 4096, 2);
  pipeline.Finish();
  CHECK(out.blocks == 0);
}

TEST_CASE("BlockPipeline: at most 2 x threads blocks wait for Emit", "[block_pipeline]") {
  std::atomic<int> encoded{0};
  std::atomic<bool> release{false};
  struct Counting : BlockPipeline::Encoder {
    std::atomic<int>* encoded;
    explicit Counting(std::atomic<int>* e) : encoded(e) {}
    void Encode(Block& block) override {
      block.output.Reset(1);
      ++*encoded;
    }
  };
  BlockPipeline pipeline(
      "test", 16, 2, [&] { return std::make_unique<Counting>(&encoded); },
      [&](const Block&) {
        while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      });
  std::thread writer([&] {
    const std::string data(16 * 20, 'x');
    pipeline.Write(data.data(), data.size());
    pipeline.Finish();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // Emit holds one block, and the writer waits once 4 more are in flight.
  CHECK(encoded.load() <= 5);
  release = true;
  writer.join();
  CHECK(encoded.load() == 20);
}

TEST_CASE("BlockPipeline: a failing encoder stops the output and reaches the caller", "[block_pipeline]") {
  Collected out;
  BlockPipeline pipeline = MakePipeline(&out, 4, 2);
  const std::string data = "abcdefgh!bad" + std::string(400, 'z');
  CHECK_THROWS_WITH(
      [&] {
        pipeline.Write(data.data(), data.size());
        pipeline.Finish();
      }(),
      "bad block");
  CHECK(out.bytes.size() <= 8);  // nothing after the failed block
  CHECK(out.bytes == std::string("abcdefgh").substr(0, out.bytes.size()));
  CHECK(ThrownCode([&] { pipeline.Write("x", 1); }) == "kIOError");
  CHECK(ThrownCode([&] { pipeline.Finish(); }) == "kIOError");
}

TEST_CASE("BlockPipeline: a failing Emit stops the output and reaches the caller", "[block_pipeline]") {
  size_t emitted = 0;
  BlockPipeline pipeline(
      "test", 8, 2, [] { return std::make_unique<CopyEncoder>(); },
      [&](const Block&) {
        if (++emitted == 3) throw Error(ErrorCode::kIOError, "disk full");
      });
  const std::string data(8 * 50, 'a');
  CHECK(ThrownCode([&] {
          pipeline.Write(data.data(), data.size());
          pipeline.Finish();
        }) == "kIOError");
  CHECK(emitted == 3);
  CHECK(ThrownCode([&] { pipeline.Finish(); }) == "kIOError");
}

TEST_CASE("BlockPipeline: nothing may follow Finish; a zero block size is refused", "[block_pipeline]") {
  Collected out;
  BlockPipeline pipeline = MakePipeline(&out, 8, 1);
  pipeline.Write("abc", 3);
  pipeline.Finish();
  CHECK(out.bytes == "abc");
  CHECK(ThrownCode([&] { pipeline.Write("d", 1); }) == "kInvalidArgument");
  CHECK(ThrownCode([&] { MakePipeline(&out, 0, 1); }) == "kInvalidArgument");
}

}  // namespace
}  // namespace modelfs
