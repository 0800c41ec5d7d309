#include "cache/pack_reader.h"

#include <fcntl.h>
#include <sys/uio.h>

#include <cerrno>

#include <zstd.h>

#include "util/error.h"
#include "util/file_io.h"

namespace modelfs::cache {

bool DecodeRecordPayload(const RecordHeader& header, const char* payload, std::string* out) {
  if (header.codec == Codec::kRaw) {
    if (header.stored_size != header.raw_size) return false;
    out->assign(payload, header.raw_size);
  } else {
    // A damaged header may claim up to 4 GiB: allocate only what the zstd
    // frame itself declares (modelfs always writes the content size).
    if (ZSTD_getFrameContentSize(payload, header.stored_size) != header.raw_size) return false;
    out->resize(header.raw_size);
    size_t n = ZSTD_decompress(out->data(), out->size(), payload, header.stored_size);
    if (ZSTD_isError(n) || n != header.raw_size) return false;
  }
  return ChunkHash::Of(out->data(), out->size()) == header.hash;
}

PackReader::PackReader(std::filesystem::path path) : path_(std::move(path)) {
  fd_.Reset(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd_.valid()) {
    if (errno == ENOENT) throw Error(ErrorCode::kNotFound, "pack " + path_.string() + " is missing");
    ThrowErrno("cannot open pack " + path_.string());
  }
}

void PackReader::ReadExact(uint64_t offset, size_t n, char* out) const {
  if (PreadFull(fd_.get(), out, n, offset, "pack " + path_.string()) != n) {
    throw Error(ErrorCode::kCorruption, "pack " + path_.string() + " is truncated at offset " +
                                            std::to_string(offset));
  }
}

void PackReader::ReadChunk(const ChunkLocation& loc, const ChunkHash& expected,
                           std::string* out) const {
  auto damaged = [&] {
    return Error(ErrorCode::kCorruption, "chunk " + expected.ToHex() + " in pack " + path_.string() +
                                             " at offset " + std::to_string(loc.offset) + " is damaged");
  };
  char header_bytes[kRecordHeaderSize];
  thread_local std::string compressed;
  // Raw payloads land directly in `out`; compressed ones in a scratch buffer.
  std::string* payload = loc.codec == Codec::kRaw ? out : &compressed;
  payload->resize(loc.stored_size);
  iovec iov[2] = {{header_bytes, kRecordHeaderSize}, {payload->data(), loc.stored_size}};
  const size_t want = kRecordHeaderSize + loc.stored_size;
  ssize_t got;
  do {
    got = ::preadv(fd_.get(), iov, 2, static_cast<off_t>(loc.offset));
  } while (got < 0 && errno == EINTR);
  if (got < 0) ThrowErrno("cannot read pack " + path_.string());
  if (static_cast<size_t>(got) != want) {
    // A short read from a regular file means the pack is truncated (or a
    // rare partial read): retry with the plain loop, which tells which.
    ReadExact(loc.offset, kRecordHeaderSize, header_bytes);
    ReadExact(loc.offset + kRecordHeaderSize, loc.stored_size, payload->data());
  }
  auto header = RecordHeader::Decode(header_bytes);
  if (!header || !(header->hash == expected) || header->stored_size != loc.stored_size ||
      header->codec != loc.codec) {
    throw damaged();
  }
  if (header->codec == Codec::kRaw) {
    if (header->raw_size != header->stored_size || !(ChunkHash::Of(out->data(), out->size()) == expected)) {
      throw damaged();
    }
    return;
  }
  if (!DecodeRecordPayload(*header, compressed.data(), out)) throw damaged();
}

}  // namespace modelfs::cache
