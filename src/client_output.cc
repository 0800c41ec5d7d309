#include "src/client_output.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace modelfs {

namespace {

// A pipe's own non-blocking description, opened through /proc (the
// caller's description and its flags stay as they are). Invalid when the
// pipe has no reader any more (ENXIO) or /proc is not there.
UniqueFd ReopenNonBlocking(int fd) {
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  return UniqueFd(::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
}

}  // namespace

ClientOutputBuf::ClientOutputBuf(UniqueFd fd, int client, int stop, size_t buffer_size)
    : fd_(std::move(fd)), client_(client), stop_(stop), buffer_(buffer_size) {
  setp(buffer_.data(), buffer_.data() + buffer_.size());
  struct stat st;
  if (!fd_.valid() || ::fstat(fd_.get(), &st) != 0) {
    failed_ = true;
  } else if (S_ISFIFO(st.st_mode)) {
    UniqueFd own = ReopenNonBlocking(fd_.get());
    if (own.valid()) {
      fd_ = std::move(own);
    } else if (errno == ENXIO) {
      failed_ = true;  // nobody reads the pipe
    }
  } else if (S_ISSOCK(st.st_mode)) {
    is_socket_ = true;
  }
}

ClientOutputBuf::~ClientOutputBuf() { FlushBuffer(); }

ClientOutputBuf::int_type ClientOutputBuf::overflow(int_type c) {
  if (!FlushBuffer()) return traits_type::eof();
  if (!traits_type::eq_int_type(c, traits_type::eof())) {
    *pptr() = traits_type::to_char_type(c);
    pbump(1);
  }
  return traits_type::not_eof(c);
}

std::streamsize ClientOutputBuf::xsputn(const char* data, std::streamsize n) {
  if (n <= epptr() - pptr()) {
    traits_type::copy(pptr(), data, static_cast<size_t>(n));
    pbump(static_cast<int>(n));
    return n;
  }
  // Large writes bypass the buffer.
  if (!FlushBuffer() || !WriteAll(data, static_cast<size_t>(n))) return 0;
  return n;
}

int ClientOutputBuf::sync() { return FlushBuffer() ? 0 : -1; }

bool ClientOutputBuf::FlushBuffer() {
  const size_t n = static_cast<size_t>(pptr() - pbase());
  setp(buffer_.data(), buffer_.data() + buffer_.size());
  return n == 0 || WriteAll(buffer_.data(), n);
}

bool ClientOutputBuf::WriteAll(const char* data, size_t n) {
  while (n > 0 && !failed_) {
    const ssize_t written = WriteSome(data, n);
    if (written < 0) {
      failed_ = true;
    } else if (written == 0) {
      if (!AwaitWritable()) failed_ = true;
    } else {
      data += written;
      n -= static_cast<size_t>(written);
    }
  }
  return !failed_;
}

ssize_t ClientOutputBuf::WriteSome(const char* data, size_t n) {
  for (;;) {
    const ssize_t r = is_socket_ ? ::send(fd_.get(), data, n, MSG_DONTWAIT | MSG_NOSIGNAL)
                                 : ::write(fd_.get(), data, n);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return -1;  // EPIPE and every other error: the output is gone
  }
}

bool ClientOutputBuf::AwaitWritable() {
  for (;;) {
    pollfd fds[3] = {{fd_.get(), POLLOUT, 0}, {client_, POLLIN | POLLRDHUP, 0}, {stop_, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    // The caller sends nothing after its request: readable means it closed.
    if (fds[1].revents != 0 || fds[2].revents != 0) return false;
    if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) return false;
    if (fds[0].revents & POLLOUT) return true;
  }
}

}  // namespace modelfs
