#include "cache/pack_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include "util/error.h"
#include "util/file_io.h"

namespace modelfs::cache {
namespace {
constexpr size_t kBufferSize = 8 << 20;
constexpr size_t kDirectWriteMin = 64 << 10;
// Dirty pack data is handed to the disk in steps of this size, so the final
// fdatasync waits for the tail only and disk writes overlap chunking.
constexpr uint64_t kWritebackStep = 32 << 20;
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
  if (header.stored_size >= kDirectWriteMin) {
    // Large payloads go straight from the caller's memory to the kernel.
    Flush();
    WriteFull(fd_.get(), payload, header.stored_size, "pack " + path_.string());
  } else {
    buffer_.append(payload, header.stored_size);
  }
  size_ += kRecordHeaderSize + header.stored_size;
  StartWriteback();
  return offset;
}

void PackWriter::StartWriteback() {
  const uint64_t flushed = size_ - buffer_.size();
  if (flushed < writeback_started_ + kWritebackStep) return;
  ::sync_file_range(fd_.get(), static_cast<off_t>(writeback_started_),
                    static_cast<off_t>(flushed - writeback_started_), SYNC_FILE_RANGE_WRITE);
  writeback_started_ = flushed;
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
