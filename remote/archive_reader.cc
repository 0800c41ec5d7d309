#include "remote/archive_reader.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <functional>

#include <exception>
#include <vector>

#include "util/error.h"

namespace modelfs::remote {
namespace {

namespace fs = std::filesystem;

constexpr size_t kReadBlock = 1 << 20;

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveDeleter>;

std::string TypeName(mode_t type) {
  switch (type) {
    case AE_IFREG: return "regular file";
    case AE_IFDIR: return "directory";
    case AE_IFLNK: return "symbolic link";
    case AE_IFIFO: return "fifo";
    case AE_IFCHR: return "character device";
    case AE_IFBLK: return "block device";
    case AE_IFSOCK: return "socket";
    default: return "special file";
  }
}

// Fills `out` from libarchive's description of the current header.
void DescribeEntryImpl(archive_entry* e, ArchiveEntry* out) {
  const char* path = archive_entry_pathname_utf8(e);
  if (!path) path = archive_entry_pathname(e);
  out->path = path ? path : "";
  out->size.reset();
  out->link_target.clear();
  out->executable = (archive_entry_perm(e) & 0100) != 0;
  if (const char* hard = archive_entry_hardlink(e)) {
    out->type = ArchiveEntry::Type::kHardlink;
    out->type_name = "hard link";
    out->link_target = hard;
    return;
  }
  const mode_t type = archive_entry_filetype(e);
  out->type_name = TypeName(type);
  switch (type) {
    case AE_IFREG:
      out->type = ArchiveEntry::Type::kFile;
      if (archive_entry_size_is_set(e)) out->size = static_cast<uint64_t>(archive_entry_size(e));
      break;
    case AE_IFDIR:
      out->type = ArchiveEntry::Type::kDirectory;
      break;
    case AE_IFLNK: {
      out->type = ArchiveEntry::Type::kSymlink;
      const char* target = archive_entry_symlink_utf8(e);
      if (!target) target = archive_entry_symlink(e);
      out->link_target = target ? target : "";
      break;
    }
    default:
      out->type = ArchiveEntry::Type::kOther;
  }
}

// Inflates a gzip stream (members one after another) and checks each
// member's CRC-32 and length, which libarchive's own gzip reader skips.
class Gunzip {
 public:
  Gunzip() {
    if (inflateInit2(&z_, 15 + 16) != Z_OK) throw Error(ErrorCode::kIOError, "zlib could not start");
  }
  ~Gunzip() { inflateEnd(&z_); }
  Gunzip(const Gunzip&) = delete;
  Gunzip& operator=(const Gunzip&) = delete;

  // Inflates from `in` (refilled through `fill`) into out[0, capacity).
  size_t Read(const std::function<size_t(char*, size_t)>& fill, char* out, size_t capacity) {
    z_.next_out = reinterpret_cast<Bytef*>(out);
    z_.avail_out = static_cast<uInt>(capacity);
    while (z_.avail_out == capacity) {
      if (z_.avail_in == 0) {
        const size_t n = ended_ ? 0 : fill(in_.data(), in_.size());
        if (n == 0) {
          if (!member_done_) throw Error(ErrorCode::kCorruption, "the gzip data ends in the middle");
          ended_ = true;
          break;
        }
        z_.next_in = reinterpret_cast<Bytef*>(in_.data());
        z_.avail_in = static_cast<uInt>(n);
      }
      if (member_done_) {  // another member follows
        inflateReset(&z_);
        member_done_ = false;
      }
      const int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        member_done_ = true;
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        throw Error(ErrorCode::kCorruption, std::string("the gzip data is corrupt (") +
                                                (z_.msg ? z_.msg : "zlib error") + ")");
      }
    }
    return capacity - z_.avail_out;
  }

 private:
  z_stream z_{};
  std::vector<char> in_ = std::vector<char>(kReadBlock);
  bool member_done_ = false;
  bool ended_ = false;
};

// An archive in a stream.
class StreamReader : public ArchiveReader {
 public:
  explicit StreamReader(ByteSource* source) : source_(source), archive_(archive_read_new()), buffer_(kReadBlock) {
    if (!archive_) throw Error(ErrorCode::kIOError, "libarchive could not create a reader.");
    archive* a = archive_.get();
    // Sniff the start: gzip goes through Gunzip (it checks CRCs); a seekable
    // source lets libarchive read a zip's central directory (modes, links).
    pending_ = source_->Read(buffer_.data(), buffer_.size());
    const bool gzip = pending_ >= 2 && static_cast<unsigned char>(buffer_[0]) == 0x1f &&
                      static_cast<unsigned char>(buffer_[1]) == 0x8b;
    if (gzip) {
      gunzip_ = std::make_unique<Gunzip>();
      raw_ = std::vector<char>(buffer_.begin(), buffer_.begin() + static_cast<long>(pending_));
      raw_used_ = 0;
      pending_ = 0;
    } else if (source_->seekable() && source_->Seek(0)) {
      pending_ = 0;
      archive_read_set_seek_callback(a, &StreamReader::OnSeek);
      archive_read_support_format_zip_seekable(a);
    } else {
      archive_read_support_format_zip_streamable(a);
    }
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    archive_read_set_callback_data(a, this);
    archive_read_set_read_callback(a, &StreamReader::OnRead);
    if (archive_read_open1(a) != ARCHIVE_OK) Fail("is not an archive modelfs can read (tar, tar.gz, tar.xz, tar.zst, zip)");
  }

  bool Next(ArchiveEntry* out) override {
    archive_entry* e = nullptr;
    const int rc = archive_read_next_header(archive_.get(), &e);
    if (rc == ARCHIVE_EOF) {
      DrainGzip();
      return false;
    }
    if (rc < ARCHIVE_WARN) Fail(first_ ? "is not an archive modelfs can read (tar, tar.gz, tar.xz, tar.zst, zip)"
                                       : "is damaged or truncated");
    first_ = false;
    DescribeEntryImpl(e, out);
    if (out->type == ArchiveEntry::Type::kSymlink && out->link_target.empty()) {
      // A zip keeps a link's target as the member's data.
      char target[4096];
      const size_t n = ReadData(target, sizeof target);
      out->link_target.assign(target, n);
    }
    return true;
  }

  size_t ReadData(char* buffer, size_t capacity) override {
    la_ssize_t n = archive_read_data(archive_.get(), buffer, capacity);
    if (n < 0) Fail("is damaged or truncated");
    return static_cast<size_t>(n);
  }

  std::string Describe() const override { return source_->Describe(); }

 private:
  // libarchive stops at the tar's end marker; the gzip trailer after it
  // (CRC-32, length) is read here so that a damaged one is noticed.
  void DrainGzip() {
    if (!gunzip_) return;
    try {
      std::vector<char> scratch(kReadBlock);
      while (gunzip_->Read([this](char* in, size_t cap) { return ReadRaw(in, cap); }, scratch.data(),
                           scratch.size()) > 0) {
      }
    } catch (const Error& e) {
      throw Error(ErrorCode::kCorruption, source_->Describe() + " is damaged or truncated (" + e.what() + ")");
    }
  }

  // The bytes libarchive sees: the source's, inflated when gzip.
  size_t Fill(char* out, size_t capacity) {
    if (pending_ > 0) {  // the sniffed start of a non-seekable source
      const size_t n = pending_;
      pending_ = 0;
      position_ += n;
      return n;  // already in buffer_
    }
    if (!gunzip_) {
      const size_t n = source_->Read(out, capacity);
      position_ += n;
      return n;
    }
    return gunzip_->Read([this](char* in, size_t cap) { return ReadRaw(in, cap); }, out, capacity);
  }

  size_t ReadRaw(char* in, size_t capacity) {
    if (raw_used_ < raw_.size()) {
      const size_t n = std::min(capacity, raw_.size() - raw_used_);
      std::memcpy(in, raw_.data() + raw_used_, n);
      raw_used_ += n;
      return n;
    }
    return source_->Read(in, capacity);
  }

  static la_ssize_t OnRead(archive* a, void* user, const void** data) {
    auto* self = static_cast<StreamReader*>(user);
    try {
      *data = self->buffer_.data();
      return static_cast<la_ssize_t>(self->Fill(self->buffer_.data(), self->buffer_.size()));
    } catch (...) {
      self->error_ = std::current_exception();
      archive_set_error(a, EIO, "the source failed");
      return -1;
    }
  }

  static la_int64_t OnSeek(archive*, void* user, la_int64_t offset, int whence) {
    auto* self = static_cast<StreamReader*>(user);
    try {
      int64_t target = offset;
      if (whence == SEEK_CUR) target += static_cast<int64_t>(self->position_);
      if (whence == SEEK_END) target += static_cast<int64_t>(self->source_->size().value_or(0));
      if (target < 0 || !self->source_->Seek(static_cast<uint64_t>(target))) return ARCHIVE_FATAL;
      self->position_ = static_cast<uint64_t>(target);
      return target;
    } catch (...) {
      self->error_ = std::current_exception();
      return ARCHIVE_FATAL;
    }
  }

  [[noreturn]] void Fail(const std::string& what) {
    if (error_) {
      try {
        std::rethrow_exception(error_);
      } catch (const Error& e) {
        if (e.code() != ErrorCode::kCorruption) throw;
        throw Error(ErrorCode::kCorruption, source_->Describe() + " is damaged or truncated (" + e.what() + ")");
      }
    }
    const char* why = archive_error_string(archive_.get());
    throw Error(ErrorCode::kCorruption,
                source_->Describe() + " " + what + (why ? std::string(" (") + why + ")" : std::string()));
  }

  ByteSource* source_;
  ArchivePtr archive_;
  std::vector<char> buffer_;
  size_t pending_ = 0;
  uint64_t position_ = 0;
  std::unique_ptr<Gunzip> gunzip_;
  std::vector<char> raw_;   // the sniffed start of a gzip source
  size_t raw_used_ = 0;
  std::exception_ptr error_;
  bool first_ = true;
};

// A directory tree, through libarchive's disk reader.
class DirectoryReader : public ArchiveReader {
 public:
  explicit DirectoryReader(fs::path dir) : dir_(std::move(dir)), archive_(archive_read_disk_new()) {
    if (!archive_) throw Error(ErrorCode::kIOError, "libarchive could not create a reader.");
    std::error_code ec;
    if (!fs::is_directory(dir_, ec)) throw Error(ErrorCode::kNotFound, dir_.string() + " is not a directory");
    archive_read_disk_set_symlink_physical(archive_.get());
    archive_read_disk_set_behavior(archive_.get(), ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL |
                                                       ARCHIVE_READDISK_NO_FFLAGS);
    if (archive_read_disk_open(archive_.get(), dir_.c_str()) != ARCHIVE_OK) Fail("cannot be read");
    prefix_ = dir_.string();
  }

  bool Next(ArchiveEntry* out) override {
    archive_entry* e = entry_.get();
    archive_entry_clear(e);
    const int rc = archive_read_next_header2(archive_.get(), e);
    if (rc == ARCHIVE_EOF) return false;
    if (rc < ARCHIVE_WARN) Fail("cannot be read");
    if (archive_entry_filetype(e) == AE_IFDIR) archive_read_disk_descend(archive_.get());
    DescribeEntryImpl(e, out);
    std::string path = out->path;
    if (path.compare(0, prefix_.size(), prefix_) == 0) path.erase(0, prefix_.size());
    while (!path.empty() && path.front() == '/') path.erase(0, 1);
    out->path = path.empty() ? "./" : "./" + path;
    return true;
  }

  size_t ReadData(char* buffer, size_t capacity) override {
    la_ssize_t n = archive_read_data(archive_.get(), buffer, capacity);
    if (n < 0) Fail("cannot be read");
    return static_cast<size_t>(n);
  }

  std::string Describe() const override { return dir_.string(); }

 private:
  [[noreturn]] void Fail(const std::string& what) {
    const char* why = archive_error_string(archive_.get());
    throw Error(ErrorCode::kIOError, dir_.string() + " " + what + (why ? std::string(": ") + why : std::string()));
  }

  struct EntryDeleter {
    void operator()(archive_entry* e) const { archive_entry_free(e); }
  };
  fs::path dir_;
  ArchivePtr archive_;
  std::unique_ptr<archive_entry, EntryDeleter> entry_{archive_entry_new()};
  std::string prefix_;
};

}  // namespace

void DescribeArchiveEntry(void* libarchive_entry, ArchiveEntry* out) {
  DescribeEntryImpl(static_cast<archive_entry*>(libarchive_entry), out);
}

std::unique_ptr<ArchiveReader> ArchiveReader::FromSource(ByteSource* source) {
  return std::make_unique<StreamReader>(source);
}

std::unique_ptr<ArchiveReader> ArchiveReader::FromDirectory(const fs::path& dir) {
  return std::make_unique<DirectoryReader>(fs::absolute(dir).lexically_normal());
}

}  // namespace modelfs::remote
