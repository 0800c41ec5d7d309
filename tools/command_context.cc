#include "tools/command_context.h"

#include "src/control_socket.h"

namespace modelfs::tools {

std::shared_ptr<Store> CommandContext::OpenStore(Store::Access access) const {
  if (daemon_store_) return daemon_store_;
  const auto home = Home();
  if (auto status = ForwardToDaemon(home / "control.sock", argv_)) {
    throw ForwardedToDaemon{*status};
  }
  return Store::Open(home, access);
}

}  // namespace modelfs::tools
