// util/error.h — the one error type of modelfs.
//
// Every layer reports failure by throwing modelfs::Error. The code says what
// kind of failure it is (so the CLI can pick an exit status and the FUSE layer
// an errno); the message is a complete sentence meant for a human, without the
// "Error: " prefix, which the CLI adds.
#pragma once

#include <stdexcept>
#include <string>

namespace modelfs {

enum class ErrorCode {
  kInvalidArgument,  // bad user input: tag, path, option
  kNotFound,         // model, file or store does not exist
  kAlreadyExists,    // tag already in the store
  kBusy,             // another process holds the store
  kCorruption,       // stored bytes do not match their hash or format
  kIOError,          // the operating system refused a read or write
  kNoSpace,          // ENOSPC / EDQUOT while writing
  kUnsupported,      // a feature or format this build does not handle
  kTimedOut,         // a wait for the network outlasted its bound (see util/deadline.h)
  kInterrupted,      // a wait was cut short: a FUSE interrupt, an abort, the daemon stopping
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}

  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// Throws an Error built from errno: kNoSpace for ENOSPC/EDQUOT, else kIOError.
// The message is "<what>: <strerror(errno)>".
[[noreturn]] void ThrowErrno(const std::string& what);
[[noreturn]] void ThrowErrno(const std::string& what, int saved_errno);

}  // namespace modelfs
