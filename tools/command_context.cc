#include "tools/command_context.h"

#include <cctype>

#include "src/control_socket.h"

namespace modelfs::tools {

Tag CommandContext::ParseTagArgument(const std::string& text) const {
  std::string lower = text;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower != text) {
    err() << "Warning: converting tag '" << text << "' to lowercase: '" << lower << "'" << std::endl;
  }
  return ParseTag(lower);
}

std::shared_ptr<Store> CommandContext::OpenStore(Store::Access access) const {
  if (daemon_store_) return daemon_store_;
  const auto home = Home();
  if (auto status = ForwardToDaemon(home / "control.sock", argv_)) {
    throw ForwardedToDaemon{*status};
  }
  return Store::Open(home, access);
}

}  // namespace modelfs::tools
