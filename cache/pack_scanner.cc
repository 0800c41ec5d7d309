#include "cache/pack_scanner.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "cache/pack_reader.h"
#include "util/coding.h"
#include "util/error.h"
#include "util/file_io.h"

namespace modelfs::cache {
namespace {

constexpr size_t kResyncWindow = 1 << 20;

// Finds the next offset in [from, end) holding a valid record header, or end.
uint64_t Resync(const PackReader& pack, uint64_t from, uint64_t end) {
  std::string window;
  for (uint64_t pos = from; pos < end; pos += kResyncWindow) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kResyncWindow + kRecordHeaderSize, end - pos));
    window.resize(n);
    n = PreadFull(pack.fd(), window.data(), n, pos, pack.path().string());
    for (size_t i = 0; i + kRecordHeaderSize <= n && i < kResyncWindow; ++i) {
      if (DecodeFixed32(window.data() + i) == kRecordMagic &&
          RecordHeader::Decode(window.data() + i)) {
        return pos + i;
      }
    }
  }
  return end;
}

}  // namespace

void PackScanner::Scan(const std::filesystem::path& path, uint64_t length,
                       const RecordFn& on_record, const DamageFn& on_damage) {
  PackReader pack(path);
  struct stat st;
  if (::fstat(pack.fd(), &st) != 0) ThrowErrno("cannot stat pack " + path.string());
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < length) {
    on_damage({file_size, length - file_size, "pack is truncated"});
    length = file_size;
  }
  ::posix_fadvise(pack.fd(), 0, 0, POSIX_FADV_SEQUENTIAL);

  char file_header[kPackFileHeaderSize];
  if (length < kPackFileHeaderSize ||
      PreadFull(pack.fd(), file_header, kPackFileHeaderSize, 0, path.string()) != kPackFileHeaderSize ||
      !IsValidPackFileHeader(std::string_view(file_header, kPackFileHeaderSize))) {
    on_damage({0, std::min<uint64_t>(length, kPackFileHeaderSize), "pack file header is damaged"});
  }

  std::string record;
  std::string decoded;
  uint64_t pos = kPackFileHeaderSize;
  while (pos < length) {
    char header_bytes[kRecordHeaderSize];
    std::optional<RecordHeader> header;
    if (length - pos >= kRecordHeaderSize) {
      pack.ReadExact(pos, kRecordHeaderSize, header_bytes);
      header = RecordHeader::Decode(header_bytes);
    }
    if (!header || header->stored_size > length - pos - kRecordHeaderSize) {
      uint64_t next = Resync(pack, pos + 1, length);
      on_damage({pos, next - pos, header ? "record runs past the end of the pack"
                                         : "record header is damaged"});
      pos = next;
      continue;
    }
    record.resize(header->stored_size);
    pack.ReadExact(pos + kRecordHeaderSize, record.size(), record.data());
    bool ok = DecodeRecordPayload(*header, record.data(), &decoded);
    on_record({pos, *header, ok});
    if (!ok) on_damage({pos, kRecordHeaderSize + header->stored_size, "chunk data is damaged"});
    pos += kRecordHeaderSize + header->stored_size;
  }
}

}  // namespace modelfs::cache
