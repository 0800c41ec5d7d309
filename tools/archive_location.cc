#include "tools/archive_location.h"

#include "remote/s3_client.h"
#include "util/error.h"
#include "util/file_stream.h"

namespace modelfs::tools {
namespace {

namespace fs = std::filesystem;

bool IsS3(const std::string& location) { return location.starts_with("s3://"); }

// Reports the bytes read from a source to a progress callback.
class CountingSource : public ByteSource {
 public:
  CountingSource(std::unique_ptr<ByteSource> inner, ProgressFn progress)
      : inner_(std::move(inner)), progress_(std::move(progress)) {}
  size_t Read(char* buffer, size_t capacity) override {
    size_t n = inner_->Read(buffer, capacity);
    done_ += n;
    if (progress_) progress_(done_, inner_->size().value_or(0));
    return n;
  }
  std::optional<uint64_t> size() const override { return inner_->size(); }
  std::string Describe() const override { return inner_->Describe(); }
  bool Seek(uint64_t offset) override { return inner_->Seek(offset); }
  bool seekable() const override { return inner_->seekable(); }

 private:
  std::unique_ptr<ByteSource> inner_;
  ProgressFn progress_;
  uint64_t done_ = 0;
};

// NAME-VERSION plus the extension, as BentoML names exports.
std::string DefaultFileName(const ModelRecord& model, ArchiveFormat format) {
  return model.name + "-" + model.version + std::string(ArchiveExtension(format));
}

std::unique_ptr<remote::S3Client> S3For(const CommandContext& ctx, const std::string& endpoint_flag,
                                        RemoteSources* sources) {
  if (!sources) throw Error(ErrorCode::kIOError, "S3 needs a writable store");
  auto config = remote::S3ConfigFromEnvironment(
      endpoint_flag.empty() ? std::nullopt : std::optional<std::string>(endpoint_flag),
      [&ctx](const char* name) { return ctx.Getenv(name); });
  return std::make_unique<remote::S3Client>(std::move(config), sources->client(), sources->retry());
}

}  // namespace

ExportTarget::ExportTarget(const CommandContext& ctx, std::string dest, std::optional<ArchiveFormat> format,
                           std::string s3_endpoint, bool force)
    : ctx_(ctx), dest_(std::move(dest)), s3_endpoint_(std::move(s3_endpoint)), force_(force) {
  const auto from_extension = ArchiveFormatFromPath(dest_);
  if (format && from_extension && *format != *from_extension) {
    throw Error(ErrorCode::kInvalidArgument,
                "the destination " + dest_ + " ends in " + std::string(ArchiveExtension(*from_extension)) +
                    " but --format is " + std::string(ArchiveFormatName(*format)));
  }
  format_ = format ? *format : from_extension.value_or(ArchiveFormat::kBentoModel);
  if (IsS3(dest_) && format_ == ArchiveFormat::kFolder) {
    throw Error(ErrorCode::kInvalidArgument, "a folder cannot be exported to S3; choose an archive format");
  }
}

bool ExportTarget::is_s3() const { return IsS3(dest_); }

std::unique_ptr<remote::EntryWriter> ExportTarget::Open(const ModelRecord& model, RemoteSources* sources) {
  if (IsS3(dest_)) {
    remote::S3Location object = remote::ParseS3Url(dest_);
    if (object.is_prefix()) {
      object.key += DefaultFileName(model, format_);
    } else if (!ArchiveFormatFromPath(object.key)) {
      object.key += std::string(ArchiveExtension(format_));
    }
    s3_ = S3For(ctx_, s3_endpoint_, sources);
    if (!force_ && s3_->Head(object)) {
      throw Error(ErrorCode::kAlreadyExists, object.ToString() + " already exists; use --force to replace it");
    }
    resolved_ = object.ToString();
    return remote::NewArchiveWriter(format_, s3_->OpenWrite(object));
  }
  fs::path path = ctx_.Absolute(dest_);
  std::error_code ec;
  const bool names_directory = dest_.ends_with('/') || fs::is_directory(path, ec);
  if (format_ == ArchiveFormat::kFolder) {
    if (names_directory && fs::exists(path, ec) && !fs::is_empty(path, ec)) {
      path /= model.name + "-" + model.version;
    }
    resolved_ = path.lexically_normal().string();
    return remote::NewFolderWriter(path);
  }
  if (names_directory) {
    if (!fs::is_directory(path, ec)) throw Error(ErrorCode::kNotFound, "directory " + path.string() + " does not exist");
    path /= DefaultFileName(model, format_);
  } else if (!ArchiveFormatFromPath(path.filename().string())) {
    path += std::string(ArchiveExtension(format_));
  }
  if (!fs::is_directory(path.parent_path(), ec)) {
    throw Error(ErrorCode::kNotFound, "directory " + path.parent_path().string() + " does not exist");
  }
  if (fs::exists(path, ec) && !force_) {
    throw Error(ErrorCode::kAlreadyExists, path.string() + " already exists; use --force to replace it");
  }
  resolved_ = path.lexically_normal().string();
  return remote::NewArchiveWriter(format_, std::make_unique<AtomicFileSink>(path, force_));
}

ImportSource::ImportSource(const CommandContext& ctx, std::string source, std::string s3_endpoint)
    : ctx_(ctx), source_(std::move(source)), s3_endpoint_(std::move(s3_endpoint)) {
  if (!IsS3(source_)) {
    const fs::path path = ctx_.Absolute(source_);
    std::error_code ec;
    if (!fs::exists(path, ec)) throw Error(ErrorCode::kNotFound, source_ + " does not exist");
    source_ = path.lexically_normal().string();
  }
}

ImportSource::~ImportSource() = default;

std::unique_ptr<remote::ArchiveReader> ImportSource::Open(ProgressFn progress, RemoteSources* sources) {
  std::unique_ptr<ByteSource> raw;
  if (IsS3(source_)) {
    const remote::S3Location object = remote::ParseS3Url(source_);
    if (object.is_prefix()) {
      throw Error(ErrorCode::kInvalidArgument, source_ + " names a prefix; name the archive object itself");
    }
    s3_ = S3For(ctx_, s3_endpoint_, sources);
    raw = s3_->OpenRead(object);
  } else {
    std::error_code ec;
    if (fs::is_directory(source_, ec)) return remote::ArchiveReader::FromDirectory(source_);
    raw = std::make_unique<FileSource>(source_);
  }
  stream_ = std::make_unique<CountingSource>(std::move(raw), std::move(progress));
  return remote::ArchiveReader::FromSource(stream_.get());
}

}  // namespace modelfs::tools
