// src/client_output.h — the stream a command forwarded to the mount daemon
// writes to its caller's stdout or stderr.
//
// The daemon must never block on a client's descriptor: a caller whose
// pipe nobody drains, or who died, would hold the command's thread (and
// what it holds of the store) and keep the daemon from stopping. So writes
// never block: a pipe is reopened non-blocking (a description of its own,
// the caller's flags untouched), a socket is sent to with MSG_DONTWAIT, and
// a full descriptor is waited for with poll(), which also watches the
// caller's control connection and the server's stop signal. The stream goes
// bad — and the command fails with "cannot write" — as soon as the caller's
// connection closes (it died), the server stops, or the reader is gone
// (EPIPE). A caller that is alive and merely slow is waited for.
#pragma once

#include <cstddef>
#include <streambuf>
#include <vector>

#include "util/unique_fd.h"

namespace modelfs {

class ClientOutputBuf : public std::streambuf {
 public:
  // Writes to `fd` (taken). `client` is the caller's control connection,
  // `stop` a descriptor that turns readable when the server stops; both are
  // borrowed, and -1 means "not watched".
  // REQUIRES: `client` and `stop` stay open while this lives.
  ClientOutputBuf(UniqueFd fd, int client, int stop, size_t buffer_size);
  // Flushes what it can without blocking on a caller that is gone.
  ~ClientOutputBuf() override;
  ClientOutputBuf(const ClientOutputBuf&) = delete;
  ClientOutputBuf& operator=(const ClientOutputBuf&) = delete;

  // Whether the last write failed (the caller or its reader is gone, or the server stops).
  bool failed() const { return failed_; }

 protected:
  int_type overflow(int_type c) override;
  std::streamsize xsputn(const char* data, std::streamsize n) override;
  int sync() override;

 private:
  bool FlushBuffer();
  bool WriteAll(const char* data, size_t n);
  // Bytes written without blocking; 0 when the descriptor is full; -1 on error.
  ssize_t WriteSome(const char* data, size_t n);
  // Waits until the descriptor takes bytes; false when writing should stop.
  bool AwaitWritable();

  UniqueFd fd_;
  int client_;
  int stop_;
  bool is_socket_ = false;
  bool failed_ = false;
  std::vector<char> buffer_;
};

}  // namespace modelfs
