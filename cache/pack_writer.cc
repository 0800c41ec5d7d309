#include "cache/pack_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include "util/error.h"
#include "util/file_io.h"

namespace modelfs::cache {
namespace {
constexpr size_t kBufferSize = 8 << 20;
}

PackWriter::PackWriter(std::filesystem::path path, uint64_t start_length)
    : path_(std::move(path)) {
  const int flags = O_WRONLY | O_CLOEXEC | (start_length == 0 ? O_CREAT | O_EXCL : 0);
  fd_.Reset(::open(path_.c_str(), flags, 0644));
  if (!fd_.valid()) ThrowErrno("cannot open pack " + path_.string());
  buffer_.reserve(kBufferSize);
  if (start_length == 0) {
    buffer_ = EncodePackFileHeader();
    size_ = buffer_.size();
  } else {
    if (::lseek(fd_.get(), static_cast<off_t>(start_length), SEEK_SET) < 0) {
      ThrowErrno("cannot seek in pack " + path_.string());
    }
    size_ = start_length;
  }
}

uint64_t PackWriter::Append(const RecordHeader& header, const char* payload) {
  const uint64_t offset = size_;
  if (buffer_.size() + kRecordHeaderSize + header.stored_size > kBufferSize) Flush();
  char encoded[kRecordHeaderSize];
  header.EncodeTo(encoded);
  buffer_.append(encoded, kRecordHeaderSize);
  if (header.stored_size > kBufferSize) {
    Flush();
    WriteFull(fd_.get(), payload, header.stored_size, "pack " + path_.string());
  } else {
    buffer_.append(payload, header.stored_size);
  }
  size_ += kRecordHeaderSize + header.stored_size;
  return offset;
}

void PackWriter::Flush() {
  if (buffer_.empty()) return;
  WriteFull(fd_.get(), buffer_.data(), buffer_.size(), "pack " + path_.string());
  buffer_.clear();
}

void PackWriter::Sync() {
  Flush();
  if (::fdatasync(fd_.get()) != 0) ThrowErrno("cannot sync pack " + path_.string());
}

}  // namespace modelfs::cache
