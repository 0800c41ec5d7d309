// util/logging.h — process-wide logging setup on top of spdlog.
//
// Log lines go to stderr. The level comes from --log-level or $MODELFS_LOG
// (trace, debug, info, warn, error, off); the default is "warn" so that CLI
// output stays clean.
#pragma once

#include <string>

#include <spdlog/spdlog.h>

namespace modelfs {

// Configures the default spdlog logger. An empty `level` means: use
// $MODELFS_LOG, else "warn". Throws Error(kInvalidArgument) on an unknown level.
void InitLogging(const std::string& level);

}  // namespace modelfs
