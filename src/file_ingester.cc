#include "src/file_ingester.h"

#include <fcntl.h>

#include <cstring>
#include <future>

#include "util/error.h"
#include "util/file_io.h"
#include "util/digest.h"
#include "util/read_ahead_stream.h"

namespace modelfs {
namespace {

// Large enough that system calls cost nothing; small enough that the
// buffers of a large file (two when saving it, three when importing or
// prefetching it) stay out of the way of the mount daemon's memory budget.
constexpr size_t kReadBlock = 4 << 20;
// Below this, a second thread costs more than it saves.
constexpr uint64_t kParallelHashMin = 8 << 20;

}  // namespace

FileIngester::FileIngester(cache::ChunkWriter* writer, const cache::Chunker& chunker)
    : writer_(writer), chunker_(chunker) {}

IngestedContent FileIngester::Ingest(int fd, const std::string& name, uint64_t expected_size) {
  IngestedContent content;
  writer_->BeginFile();
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  const off_t start = ::lseek(fd, 0, SEEK_CUR);

  // For large files, SHA-256 runs on a second thread that reads the file on
  // its own: the second read is served by the page cache, and neither thread
  // waits for the other until the end. Small files are hashed inline.
  const bool parallel = expected_size >= kParallelHashMin;
  Sha256 inline_sha;
  std::future<std::pair<std::string, uint64_t>> hashing;
  if (parallel) {
    hashing = std::async(std::launch::async, [fd, start, &name] {
        Sha256 sha;
        std::string block(kReadBlock, '\0');
        uint64_t offset = static_cast<uint64_t>(start < 0 ? 0 : start);
        uint64_t total = 0;
        while (size_t n = PreadFull(fd, block.data(), block.size(), offset, name)) {
          sha.Update(block.data(), n);
          offset += n;
          total += n;
          if (n < block.size()) break;
        }
        return std::make_pair(sha.Finish(), total);
    });
  }

  ChunkAll([&](char* buffer, size_t capacity) { return ReadFull(fd, buffer, capacity, name); },
           parallel ? nullptr : &inline_sha, &content);
  auto [sha256, hashed] =
      parallel ? hashing.get() : std::make_pair(inline_sha.Finish(), content.size);
  if (hashed != content.size) {
    throw Error(ErrorCode::kInvalidArgument, name + " changed while it was being saved");
  }
  content.sha256 = std::move(sha256);
  return content;
}

IngestedContent FileIngester::IngestStream(const ReadFn& read, std::optional<uint64_t> size_hint) {
  IngestedContent content;
  writer_->BeginFile();
  Sha256 sha;
  if (size_hint && *size_hint < kParallelHashMin) {
    ChunkAll(read, &sha, &content);
    content.sha256 = sha.Finish();
    return content;
  }
  // The stream is read (an archive decompressed) and hashed on a second
  // thread, a block ahead of this one, which cuts chunks. The tail a block
  // leaves uncut moves into the headroom in front of the next block.
  ReadAheadStream stream(read, [&sha](const char* data, size_t n) { sha.Update(data, n); }, kReadBlock,
                         chunker_.max_size());
  ReadAheadStream::Block* held = nullptr;  // holds the tail
  const uint8_t* tail = nullptr;
  size_t tail_size = 0;
  while (ReadAheadStream::Block* block = stream.Next()) {
    auto* begin = reinterpret_cast<uint8_t*>(block->data()) - tail_size;
    if (tail_size > 0) std::memcpy(begin, tail, tail_size);
    if (held) stream.Recycle(held);
    held = block;
    content.size += block->size();
    const size_t available = tail_size + block->size();
    const size_t cut = CutChunks(begin, available, false, &content);
    tail = begin + cut;
    tail_size = available - cut;
  }
  CutChunks(tail, tail_size, true, &content);
  content.sha256 = sha.Finish();
  return content;
}

size_t FileIngester::CutChunks(const uint8_t* data, size_t size, bool eof, IngestedContent* content) {
  size_t pos = 0;
  while (pos < size && (eof || size - pos >= chunker_.max_size())) {
    const size_t len = chunker_.NextChunkLength(data + pos, size - pos, eof);
    const auto hash = cache::ChunkHash::Of(data + pos, len);
    writer_->Put(hash, data + pos, len);
    content->chunks.push_back({hash, static_cast<uint32_t>(len)});
    pos += len;
  }
  return pos;
}

void FileIngester::ChunkAll(const ReadFn& read, Sha256* sha, IngestedContent* content) {
  buffer_.resize(kReadBlock + chunker_.max_size());
  auto* base = reinterpret_cast<uint8_t*>(buffer_.data());
  size_t filled = 0;  // bytes in buffer_ not yet cut into chunks
  bool eof = false;
  while (!eof || filled > 0) {
    size_t got = 0;
    // Fill the buffer (a stream may hand out less than asked for).
    while (!eof && filled + got < buffer_.size()) {
      const size_t n = read(reinterpret_cast<char*>(base + filled + got), buffer_.size() - filled - got);
      if (n == 0) eof = true;
      got += n;
    }
    if (sha) sha->Update(base + filled, got);
    filled += got;
    content->size += got;
    const size_t cut = CutChunks(base, filled, eof, content);
    std::memmove(base, base + cut, filled - cut);
    filled -= cut;
  }
}

}  // namespace modelfs
