// util/sequential_writer.cc — see sequential_writer.h.
#include "util/sequential_writer.h"

#include "util/file_io.h"

namespace modelfs {

SequentialWriter::SequentialWriter(int fd, uint64_t start, std::string what, WritebackWindow::Sync sync)
    : fd_(fd), what_(std::move(what)), written_(start), window_(fd, start, what_, sync) {
  buffer_.reserve(kBufferSize);
}

void SequentialWriter::Append(const char* data, size_t n) {
  if (n >= kPassThroughMin) {
    Flush();
    Write(data, n);
    return;
  }
  if (buffer_.size() + n > kBufferSize) Flush();
  buffer_.append(data, n);
}

void SequentialWriter::Flush() {
  if (buffer_.empty()) return;
  Write(buffer_.data(), buffer_.size());
  buffer_.clear();
}

void SequentialWriter::Write(const char* data, size_t n) {
  PwriteFull(fd_, data, n, written_, what_);
  written_ += n;
  window_.Advance(written_);
}

}  // namespace modelfs
