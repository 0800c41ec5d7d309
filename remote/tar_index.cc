#include "remote/tar_index.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <exception>
#include <memory>

#include "util/error.h"
#include "util/hex.h"

namespace modelfs::remote {
namespace {

// Headers are small; a read this size also takes in the small files beside them.
constexpr size_t kHeaderRead = 64 << 10;

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};

// Feeds libarchive from a RangeFetcher, skipping instead of reading data.
class RangeReader {
 public:
  RangeReader(RangeFetcher* fetcher, uint64_t size) : fetcher_(fetcher), size_(size), buffer_(kHeaderRead) {}

  static la_ssize_t Read(archive* a, void* user, const void** data) {
    auto* self = static_cast<RangeReader*>(user);
    try {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(self->buffer_.size(), self->size_ - self->offset_));
      if (n > 0) self->fetcher_->Fetch(self->offset_, n, self->buffer_.data(), Deadline());
      self->offset_ += n;
      *data = self->buffer_.data();
      return static_cast<la_ssize_t>(n);
    } catch (...) {
      self->error_ = std::current_exception();
      archive_set_error(a, EIO, "the remote read failed");
      return -1;
    }
  }

  static la_int64_t Skip(archive*, void* user, la_int64_t request) {
    auto* self = static_cast<RangeReader*>(user);
    const uint64_t n = std::min<uint64_t>(static_cast<uint64_t>(request), self->size_ - self->offset_);
    self->offset_ += n;
    return static_cast<la_int64_t>(n);
  }

  std::exception_ptr error() const { return error_; }

 private:
  RangeFetcher* fetcher_;
  uint64_t size_;
  uint64_t offset_ = 0;
  std::vector<char> buffer_;
  std::exception_ptr error_;
};

std::string Sha256Xattr(archive_entry* e) {
  archive_entry_xattr_reset(e);
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    if (std::string_view(name) != kSha256Xattr) continue;
    auto raw = HexDecode(std::string_view(static_cast<const char*>(value), size));
    if (raw && raw->size() == 32) return *raw;
  }
  return {};
}

}  // namespace

std::vector<TarMember> IndexTar(RangeFetcher* fetcher, uint64_t size, const std::string& name) {
  RangeReader reader(fetcher, size);
  std::unique_ptr<archive, ArchiveDeleter> a(archive_read_new());
  if (!a) throw Error(ErrorCode::kIOError, "libarchive could not create a reader.");
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  archive_read_set_callback_data(a.get(), &reader);
  archive_read_set_read_callback(a.get(), &RangeReader::Read);
  archive_read_set_skip_callback(a.get(), &RangeReader::Skip);
  auto fail = [&](const std::string& what) {
    if (reader.error()) std::rethrow_exception(reader.error());
    const char* why = archive_error_string(a.get());
    throw Error(ErrorCode::kCorruption,
                name + " " + what + (why ? std::string(" (") + why + ")" : std::string()));
  };
  if (archive_read_open1(a.get()) != ARCHIVE_OK) fail("is not an uncompressed tar");

  std::vector<TarMember> members;
  archive_entry* e = nullptr;
  for (;;) {
    const int rc = archive_read_next_header(a.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) fail(members.empty() ? "is not an uncompressed tar" : "is damaged or truncated");
    TarMember m;
    DescribeArchiveEntry(e, &m.entry);
    // The tar reader has consumed this member's headers: what it consumed
    // so far is where the data starts.
    m.data_offset = static_cast<uint64_t>(archive_filter_bytes(a.get(), 0));
    m.sha256 = Sha256Xattr(e);
    if (m.entry.size && m.data_offset + *m.entry.size > size) fail("is truncated");
    members.push_back(std::move(m));
  }
  return members;
}

}  // namespace modelfs::remote
