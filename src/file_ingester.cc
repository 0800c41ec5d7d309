#include "src/file_ingester.h"

#include <fcntl.h>

#include <cstring>
#include <future>
#include <system_error>

#include "util/error.h"
#include "util/file_io.h"
#include "util/digest.h"

namespace modelfs {
namespace {

// Large enough that system calls cost nothing; small enough that the two
// buffers of a large file (chunking, hashing) stay out of the way of the
// mount daemon's memory budget.
constexpr size_t kReadBlock = 4 << 20;
// Below this, a hashing thread costs more than it saves.
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

IngestedContent FileIngester::IngestStream(const ReadFn& read) {
  IngestedContent content;
  writer_->BeginFile();
  Sha256 sha;
  ChunkAll(read, &sha, &content);
  content.sha256 = sha.Finish();
  return content;
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
    // A large piece is hashed on another thread while this one cuts chunks
    // from the same buffer (both only read it; it moves once both are done).
    std::future<void> hashing;
    if (sha && got >= kParallelHashMin / 8) {
      try {
        hashing = std::async(std::launch::async, [sha, piece = base + filled, got] { sha->Update(piece, got); });
      } catch (const std::system_error&) {
        sha->Update(base + filled, got);  // no thread to spare
      }
    } else if (sha) {
      sha->Update(base + filled, got);
    }
    filled += got;
    content->size += got;
    size_t pos = 0;
    while (pos < filled && (eof || filled - pos >= chunker_.max_size())) {
      const size_t len = chunker_.NextChunkLength(base + pos, filled - pos, eof);
      const auto hash = cache::ChunkHash::Of(base + pos, len);
      writer_->Put(hash, base + pos, len);
      content->chunks.push_back({hash, static_cast<uint32_t>(len)});
      pos += len;
    }
    if (hashing.valid()) hashing.get();
    std::memmove(base, base + pos, filled - pos);
    filled -= pos;
  }
}

}  // namespace modelfs
