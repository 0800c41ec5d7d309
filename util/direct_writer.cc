// util/direct_writer.cc — see direct_writer.h.
#include "util/direct_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <system_error>
#include <utility>

#include "util/error.h"
#include "util/file_io.h"

namespace modelfs {

DirectWriter::DirectWriter(int fd, const std::filesystem::path& path, std::string what)
    : fd_(fd), what_(std::move(what)) {
  direct_fd_.Reset(::open(path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC));  // optional
  if (direct_fd_.valid()) {
    for (auto& block : blocks_) block = AllocateAligned(kBlockSize);
  }
}

DirectWriter::~DirectWriter() {
  for (auto& write : in_flight_) write.wait();
}

void DirectWriter::Append(const char* data, size_t n) {
  if (!direct_fd_.valid()) {
    WriteFull(fd_, data, n, what_);
    return;
  }
  while (n > 0) {
    const size_t take = std::min(n, kBlockSize - filled_);
    std::memcpy(blocks_[current_].get() + filled_, data, take);
    filled_ += take;
    data += take;
    n -= take;
    if (filled_ == kBlockSize) Flush();
  }
}

void DirectWriter::Flush() {
  if (in_flight_.size() == kWritesInFlight) WaitOldest();
  const char* block = blocks_[current_].get();
  const uint64_t offset = offset_;
  auto write = [this, block, offset] {
    if (::pwrite(direct_fd_.get(), block, kBlockSize, static_cast<off_t>(offset)) ==
        static_cast<ssize_t>(kBlockSize)) {
      return;
    }
    // Refused (EINVAL: no direct I/O here) or short: the ordinary way.
    PwriteFull(fd_, block, kBlockSize, offset, what_);
  };
  try {
    in_flight_.push_back(std::async(std::launch::async, write));
  } catch (const std::system_error&) {
    write();  // no thread to spare: on this one
  }
  current_ = (current_ + 1) % (kWritesInFlight + 1);
  offset_ += kBlockSize;
  filled_ = 0;
}

void DirectWriter::WaitOldest() {
  std::future<void> oldest = std::move(in_flight_.front());
  in_flight_.pop_front();
  oldest.get();
}

void DirectWriter::Finish() {
  if (!direct_fd_.valid()) return;
  while (!in_flight_.empty()) WaitOldest();
  PwriteFull(fd_, blocks_[current_].get(), filled_, offset_, what_);
  offset_ += filled_;
  filled_ = 0;
}

}  // namespace modelfs
