#include "remote/archive_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <vector>

#include "remote/tar_index.h"
#include "remote/xz_writer.h"
#include "remote/zstd_writer.h"
#include "util/error.h"
#include "util/file_io.h"
#include "util/hex.h"
#include "util/unique_fd.h"

namespace modelfs::remote {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kZipStoreAbove = 1 << 20;

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

// A libarchive writer whose output goes to a ByteSink: through XzWriter for
// .bentomodel, through ZstdWriter for .tar.zst, and through libarchive's own
// filters otherwise.
class LibarchiveWriter : public EntryWriter {
 public:
  LibarchiveWriter(ArchiveFormat format, std::unique_ptr<modelfs::ByteSink> sink)
      : format_(format), sink_(std::move(sink)), archive_(archive_write_new()) {
    if (!archive_) throw Error(ErrorCode::kIOError, "libarchive could not create a writer.");
    auto to_sink = [this](const char* data, size_t n) { sink_->Write(data, n); };
    if (format == ArchiveFormat::kBentoModel) encoder_ = std::make_unique<XzWriter>(to_sink);
    if (format == ArchiveFormat::kTarZst) encoder_ = std::make_unique<ZstdWriter>(to_sink);
    Configure();
    if (archive_write_open2(archive_.get(), this, nullptr, &LibarchiveWriter::OnWrite, nullptr,
                            nullptr) != ARCHIVE_OK) {
      Fail("cannot start");
    }
  }

  void AddDirectory(const std::string& path, int64_t mtime) override {
    if (path.empty() && format_ == ArchiveFormat::kZip) return;  // zip has no root entry
    WriteHeader(MemberName(path, true), AE_IFDIR | 0755, 0, mtime, {});
  }

  void BeginFile(const std::string& path, uint64_t size, bool executable, int64_t mtime,
                 std::string_view sha256) override {
    if (format_ == ArchiveFormat::kZip) {
      int rc = size > kZipStoreAbove ? archive_write_zip_set_compression_store(archive_.get())
                                     : archive_write_zip_set_compression_deflate(archive_.get());
      if (rc != ARCHIVE_OK) Fail("cannot choose the zip compression for " + path);
    }
    WriteHeader(MemberName(path, false), AE_IFREG | (executable ? 0755 : 0644), size, mtime,
                format_ == ArchiveFormat::kZip ? std::string_view() : sha256);
    file_path_ = path;
    remaining_ = size;
  }

  void Write(const char* data, size_t size) override {
    if (size > remaining_) {
      throw Error(ErrorCode::kIOError, file_path_ + " has more bytes than its size says");
    }
    while (size > 0) {
      la_ssize_t n = archive_write_data(archive_.get(), data, size);
      if (n <= 0) Fail("cannot write " + file_path_);
      data += n;
      size -= static_cast<size_t>(n);
      remaining_ -= static_cast<uint64_t>(n);
    }
  }

  void EndFile() override {
    if (remaining_ != 0) {
      throw Error(ErrorCode::kIOError, file_path_ + " ended " + std::to_string(remaining_) +
                                            " bytes before its size");
    }
    if (archive_write_finish_entry(archive_.get()) != ARCHIVE_OK) Fail("cannot finish " + file_path_);
  }

  void Finish() override {
    // (A failed write while closing is not always reported by the close.)
    if (archive_write_close(archive_.get()) != ARCHIVE_OK || error_) Fail("cannot finish");
    if (encoder_) encoder_->Finish();
    sink_->Commit();
  }

 private:
  void Configure() {
    archive* a = archive_.get();
    int rc = ARCHIVE_OK;
    if (format_ == ArchiveFormat::kZip) {
      rc = archive_write_set_format_zip(a);
    } else {
      rc = archive_write_set_format_pax_restricted(a);
    }
    if (rc == ARCHIVE_OK && format_ == ArchiveFormat::kTarGz) {
      rc = archive_write_add_filter_gzip(a);
      if (rc == ARCHIVE_OK) rc = archive_write_set_filter_option(a, "gzip", "compression-level", "1");
    }
    // Names are UTF-8 (tools/main.cc sets the locale): say so in the headers.
    if (rc == ARCHIVE_OK) rc = archive_write_set_format_option(a, nullptr, "hdrcharset", "UTF-8");
    // No blocking: libarchive hands each piece it is given (and its own
    // headers and padding) straight to OnWrite, rather than copying file data
    // into blocks first; the encoders and sinks downstream gather their own.
    if (rc == ARCHIVE_OK) rc = archive_write_set_bytes_per_block(a, 0);
    if (rc != ARCHIVE_OK) Fail("cannot set up the " + std::string(ArchiveFormatName(format_)) + " format");
  }

  std::string MemberName(const std::string& path, bool directory) const {
    if (format_ == ArchiveFormat::kZip) return directory ? path + "/" : path;
    return path.empty() ? "./" : "./" + path;
  }

  void WriteHeader(const std::string& name, unsigned mode, uint64_t size, int64_t mtime,
                   std::string_view sha256) {
    std::unique_ptr<archive_entry, EntryDeleter> entry(archive_entry_new());
    archive_entry_set_pathname_utf8(entry.get(), name.c_str());
    archive_entry_set_mode(entry.get(), mode);
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(size));
    archive_entry_set_mtime(entry.get(), mtime, 0);
    archive_entry_set_uid(entry.get(), 0);
    archive_entry_set_gid(entry.get(), 0);
    if (!sha256.empty()) {
      const std::string hex = HexEncode(sha256);
      archive_entry_xattr_add_entry(entry.get(), kSha256Xattr, hex.data(), hex.size());
    }
    if (archive_write_header(archive_.get(), entry.get()) != ARCHIVE_OK) Fail("cannot add " + name);
  }

  static la_ssize_t OnWrite(archive*, void* user, const void* data, size_t size) {
    auto* self = static_cast<LibarchiveWriter*>(user);
    try {
      if (self->encoder_) {
        self->encoder_->Write(static_cast<const char*>(data), size);
      } else {
        self->sink_->Write(static_cast<const char*>(data), size);
      }
    } catch (...) {
      // The first failure is the one to report: libarchive may call again
      // (closing flushes), and a broken encoder then only says it is broken.
      if (!self->error_) self->error_ = std::current_exception();
      archive_set_error(self->archive_.get(), EIO, "the destination failed");
      return -1;
    }
    return static_cast<la_ssize_t>(size);
  }

  // Rethrows the sink's own error if it caused the failure.
  [[noreturn]] void Fail(const std::string& what) {
    if (error_) std::rethrow_exception(error_);
    const char* why = archive_error_string(archive_.get());
    throw Error(ErrorCode::kIOError, "Export to " + sink_->Describe() + ": " + what +
                                         (why ? std::string(": ") + why : std::string()));
  }

  ArchiveFormat format_;
  std::unique_ptr<modelfs::ByteSink> sink_;
  std::unique_ptr<StreamEncoder> encoder_;  // for .bentomodel and .tar.zst
  std::unique_ptr<archive, ArchiveDeleter> archive_;
  std::exception_ptr error_;
  std::string file_path_;
  uint64_t remaining_ = 0;
};

// Builds the folder under a temporary name beside it, renamed by Finish().
class FolderWriter : public EntryWriter {
 public:
  explicit FolderWriter(fs::path dir) : dir_(std::move(dir)) {
    std::error_code ec;
    if (fs::exists(dir_, ec) && !(fs::is_directory(dir_, ec) && fs::is_empty(dir_, ec))) {
      throw Error(ErrorCode::kAlreadyExists, dir_.string() + " exists and is not an empty directory");
    }
    temp_ = PartialPath(dir_);
    if (!fs::create_directories(temp_, ec) || ec) {
      throw Error(ErrorCode::kIOError, "cannot create " + temp_.string() + ": " + ec.message());
    }
  }

  ~FolderWriter() override {
    if (!finished_) {
      std::error_code ec;
      fs::remove_all(temp_, ec);
    }
  }

  void AddDirectory(const std::string& path, int64_t) override {
    if (path.empty()) return;
    std::error_code ec;
    fs::create_directories(temp_ / path, ec);
    if (ec) throw Error(ErrorCode::kIOError, "cannot create " + (dir_ / path).string() + ": " + ec.message());
  }

  void BeginFile(const std::string& path, uint64_t size, bool executable, int64_t, std::string_view) override {
    const fs::path target = temp_ / path;
    fd_ = UniqueFd(::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, executable ? 0755 : 0644));
    if (!fd_.valid()) ThrowErrno("cannot create " + (dir_ / path).string());
    file_path_ = path;
    remaining_ = size;
  }

  void Write(const char* data, size_t size) override {
    WriteFull(fd_.get(), data, size, (dir_ / file_path_).string());
    remaining_ -= std::min<uint64_t>(remaining_, size);
  }

  void EndFile() override {
    if (::close(fd_.Release()) != 0) ThrowErrno("cannot write " + (dir_ / file_path_).string());
  }

  void Finish() override {
    std::error_code ec;
    if (fs::exists(dir_, ec)) fs::remove(dir_, ec);  // the empty directory it replaces
    fs::rename(temp_, dir_, ec);
    if (ec) throw Error(ErrorCode::kIOError, "cannot create " + dir_.string() + ": " + ec.message());
    finished_ = true;
  }

 private:
  fs::path dir_;
  fs::path temp_;
  UniqueFd fd_;
  std::string file_path_;
  uint64_t remaining_ = 0;
  bool finished_ = false;
};

}  // namespace

std::unique_ptr<EntryWriter> NewArchiveWriter(ArchiveFormat format, std::unique_ptr<modelfs::ByteSink> sink) {
  if (format == ArchiveFormat::kFolder) {
    throw Error(ErrorCode::kInvalidArgument, "a folder is not written to a stream");
  }
  return std::make_unique<LibarchiveWriter>(format, std::move(sink));
}

std::unique_ptr<EntryWriter> NewFolderWriter(const fs::path& dir) {
  return std::make_unique<FolderWriter>(dir);
}

}  // namespace modelfs::remote
