#include "cache/pack_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "util/error.h"
#include "util/file_io.h"

namespace modelfs::cache {

namespace {

UniqueFd OpenPack(const std::filesystem::path& path, uint64_t start_length) {
  const int flags = O_WRONLY | O_CLOEXEC | (start_length == 0 ? O_CREAT | O_EXCL : 0);
  UniqueFd fd(::open(path.c_str(), flags, 0600));
  if (!fd.valid()) ThrowErrno("cannot open pack " + path.string());
  return fd;
}

}  // namespace

PackWriter::PackWriter(std::filesystem::path path, uint64_t start_length)
    : path_(std::move(path)),
      fd_(OpenPack(path_, start_length)),
      writer_(fd_.get(), start_length, "pack " + path_.string(), WritebackWindow::Sync::kByOwner) {
  if (start_length == 0) {
    const std::string header = EncodePackFileHeader();
    writer_.Append(header.data(), header.size());
  }
}

uint64_t PackWriter::Append(const RecordHeader& header, const char* payload) {
  const uint64_t offset = writer_.size();
  char encoded[kRecordHeaderSize];
  header.EncodeTo(encoded);
  writer_.Append(encoded, kRecordHeaderSize);
  writer_.Append(payload, header.stored_size);
  return offset;
}

void PackWriter::Sync() {
  writer_.Flush();
  if (::fdatasync(fd_.get()) != 0) ThrowErrno("cannot sync pack " + path_.string());
}

}  // namespace modelfs::cache
