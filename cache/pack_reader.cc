#include "cache/pack_reader.h"

#include <fcntl.h>

#include <cerrno>

#include <zstd.h>

#include "util/error.h"
#include "util/file_io.h"

namespace modelfs::cache {

bool DecodeRecordPayload(const RecordHeader& header, const char* payload, std::string* out) {
  out->resize(header.raw_size);
  if (header.codec == Codec::kRaw) {
    if (header.stored_size != header.raw_size) return false;
    std::memcpy(out->data(), payload, header.raw_size);
  } else {
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
  thread_local std::string record;
  record.resize(loc.record_size());
  ReadExact(loc.offset, record.size(), record.data());
  auto header = RecordHeader::Decode(record.data());
  const bool ok = header && header->hash == expected && header->stored_size == loc.stored_size &&
                  DecodeRecordPayload(*header, record.data() + kRecordHeaderSize, out);
  if (!ok) {
    throw Error(ErrorCode::kCorruption, "chunk " + expected.ToHex() + " in pack " +
                                            path_.string() + " at offset " +
                                            std::to_string(loc.offset) + " is damaged");
  }
}

}  // namespace modelfs::cache
