// tests/unit/read_ahead_stream_test.cc — util/read_ahead_stream.h: every
// byte delivered once and in order in full blocks whatever the pieces `read`
// hands out; on_block seeing exactly what Next returns, on the reading
// thread; the headroom writable while the previous block is still held; a
// failure reaching Next after the blocks read before it; destruction while
// the reading thread waits or reads.
#include "util/read_ahead_stream.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "tests/unit/test_util.h"

namespace modelfs {
namespace {

using modelfs::testing::RandomBytes;
using Block = ReadAheadStream::Block;

// Hands out `data` in pieces of at most `piece` bytes.
ReadAheadStream::ReadFn PiecesOf(const std::string& data, size_t piece, size_t* at) {
  return [&data, piece, at](char* buffer, size_t capacity) {
    const size_t n = std::min({capacity, data.size() - *at, piece});
    std::memcpy(buffer, data.data() + *at, n);
    *at += n;
    return n;
  };
}

TEST_CASE("ReadAheadStream: full blocks in order, the last one short", "[read_ahead]") {
  const size_t kBlock = 64 << 10;
  for (size_t total : {size_t{0}, size_t{1000}, kBlock, 5 * kBlock, 5 * kBlock + 3}) {
    for (size_t piece : {size_t{1}, size_t{4097}, size_t{1} << 20}) {
      if (piece == 1 && total > kBlock) continue;  // slow and adds nothing
      const std::string data = RandomBytes(total, static_cast<uint32_t>(total + piece));
      size_t at = 0;
      std::string seen_by_reader;
      std::thread::id reader_thread;
      ReadAheadStream stream(
          PiecesOf(data, piece, &at),
          [&](const char* p, size_t n) {
            seen_by_reader.append(p, n);
            reader_thread = std::this_thread::get_id();
          },
          kBlock, 16);
      std::string got;
      std::vector<size_t> sizes;
      while (Block* block = stream.Next()) {
        got.append(block->data(), block->size());
        sizes.push_back(block->size());
        stream.Recycle(block);
      }
      CHECK(stream.Next() == nullptr);  // and stays at the end
      CHECK(got == data);
      CHECK(seen_by_reader == data);
      if (!data.empty()) CHECK(reader_thread != std::this_thread::get_id());
      CHECK(sizes.size() == (total + kBlock - 1) / kBlock);
      for (size_t i = 0; i + 1 < sizes.size(); ++i) CHECK(sizes[i] == kBlock);
    }
  }
}

TEST_CASE("ReadAheadStream: a tail moved into the next block's headroom", "[read_ahead]") {
  // The consumer holds two blocks at once: it copies the last 100 bytes of
  // one in front of the next, then gives the first one back.
  const size_t kBlock = 32 << 10, kTail = 100;
  const std::string data = RandomBytes(7 * kBlock + 5, 3);
  size_t at = 0;
  ReadAheadStream stream(PiecesOf(data, 5000, &at), {}, kBlock, kTail);
  Block* held = stream.Next();
  REQUIRE(held != nullptr);
  REQUIRE(held->headroom() == kTail);
  size_t offset = 0;
  while (Block* block = stream.Next()) {
    std::memcpy(block->data() - kTail, held->data() + held->size() - kTail, kTail);
    stream.Recycle(held);
    offset += kBlock;
    CHECK(std::string_view(block->data() - kTail, kTail + block->size()) ==
          std::string_view(data).substr(offset - kTail, kTail + block->size()));
    held = block;
  }
  CHECK(offset + held->size() == data.size());
}

TEST_CASE("ReadAheadStream: a failing read reaches Next after the blocks before it", "[read_ahead]") {
  const size_t kBlock = 4096;
  size_t calls = 0;
  ReadAheadStream stream(
      [&](char* buffer, size_t capacity) -> size_t {
        if (++calls == 4) throw std::runtime_error("corrupt input");
        std::memset(buffer, 'x', capacity);
        return capacity;
      },
      {}, kBlock, 0);
  for (int i = 0; i < 3; ++i) {
    Block* block = stream.Next();
    REQUIRE(block != nullptr);
    CHECK(block->size() == kBlock);
    stream.Recycle(block);
  }
  CHECK_THROWS_WITH(stream.Next(), "corrupt input");
}

TEST_CASE("ReadAheadStream: a failing on_block is rethrown too", "[read_ahead]") {
  const std::string data = RandomBytes(10000, 9);
  size_t at = 0;
  ReadAheadStream stream(
      PiecesOf(data, 10000, &at), [](const char*, size_t) { throw std::runtime_error("hash failed"); }, 4096,
      0);
  CHECK_THROWS_WITH(stream.Next(), "hash failed");
}

TEST_CASE("ReadAheadStream: destroyed early, while its thread waits or reads", "[read_ahead]") {
  // An endless stream: the reading thread fills every free block and waits;
  // the consumer holds two and drops the stream.
  std::atomic<size_t> reads{0};
  {
    ReadAheadStream stream(
        [&](char* buffer, size_t capacity) {
          ++reads;
          std::memset(buffer, 'y', capacity);
          return capacity;
        },
        {}, 1024, 0);
    CHECK(stream.Next() != nullptr);
    CHECK(stream.Next() != nullptr);
  }
  const size_t after = reads;
  CHECK(after >= 2);
  // A slow read in progress: the destructor waits for it, and no read
  // starts after it.
  std::atomic<bool> in_read{false};
  {
    ReadAheadStream stream(
        [&](char* buffer, size_t capacity) {
          in_read = true;
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          std::memset(buffer, 'z', capacity);
          return capacity;
        },
        {}, 1 << 20, 0);
    while (!in_read) std::this_thread::yield();
  }
  SUCCEED("joined");
}

}  // namespace
}  // namespace modelfs
