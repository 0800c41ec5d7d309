#include "src/file_ingester.h"

#include <fcntl.h>

#include <cstring>
#include <future>

#include "util/file_io.h"
#include "util/sha256.h"

namespace modelfs {
namespace {

constexpr size_t kReadBlock = 16 << 20;
// Below this, hashing on a second thread costs more than it saves.
constexpr size_t kParallelHashMin = 1 << 20;

}  // namespace

FileIngester::FileIngester(cache::ChunkWriter* writer, const cache::Chunker& chunker)
    : writer_(writer), chunker_(chunker) {}

IngestedContent FileIngester::Ingest(int fd, const std::string& name) {
  IngestedContent content;
  Sha256 sha;
  writer_->BeginFile();
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  buffer_.resize(kReadBlock + chunker_.max_size());
  auto* base = reinterpret_cast<uint8_t*>(buffer_.data());
  size_t filled = 0;  // bytes in buffer_ not yet cut into chunks
  bool eof = false;
  while (!eof || filled > 0) {
    const size_t got = eof ? 0 : ReadFull(fd, base + filled, buffer_.size() - filled, name);
    eof = eof || filled + got < buffer_.size();
    std::future<void> hashing;
    if (got >= kParallelHashMin) {
      hashing = std::async(std::launch::async, [&sha, p = base + filled, got] { sha.Update(p, got); });
    } else if (got > 0) {
      sha.Update(base + filled, got);
    }
    filled += got;
    content.size += got;

    size_t pos = 0;
    while (pos < filled && (eof || filled - pos >= chunker_.max_size())) {
      const size_t len = chunker_.NextChunkLength(base + pos, filled - pos, eof);
      const auto hash = cache::ChunkHash::Of(base + pos, len);
      writer_->Put(hash, base + pos, len);
      content.chunks.push_back({hash, static_cast<uint32_t>(len)});
      pos += len;
    }
    if (hashing.valid()) hashing.get();
    std::memmove(base, base + pos, filled - pos);
    filled -= pos;
  }
  content.sha256 = sha.Finish();
  return content;
}

}  // namespace modelfs
