// tools/command_context.h — what every subcommand shares: the global options
// and the way to open the store they name.
#pragma once

#include <memory>
#include <string>

#include "src/store.h"

namespace modelfs::tools {

struct CommandContext {
  std::string home_flag;   // --home
  std::string log_level;   // --log-level
  int exit_code = 0;       // set by a command that fails without throwing

  std::unique_ptr<Store> OpenStore(Store::Access access) const {
    return Store::Open(ResolveHome(home_flag), access);
  }
};

}  // namespace modelfs::tools
