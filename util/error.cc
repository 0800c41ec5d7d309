#include "util/error.h"

#include <cerrno>
#include <cstring>

namespace modelfs {

void ThrowErrno(const std::string& what, int saved_errno) {
  ErrorCode code = (saved_errno == ENOSPC || saved_errno == EDQUOT)
                       ? ErrorCode::kNoSpace
                       : ErrorCode::kIOError;
  throw Error(code, what + ": " + std::strerror(saved_errno));
}

void ThrowErrno(const std::string& what) { ThrowErrno(what, errno); }

}  // namespace modelfs
