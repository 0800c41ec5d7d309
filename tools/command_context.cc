#include "tools/command_context.h"

#include <unistd.h>

#include <cctype>
#include <cstdlib>

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

std::optional<std::string> CommandContext::Getenv(const char* name) const {
  if (in_daemon()) {
    auto it = env_.find(name);
    if (it == env_.end()) return std::nullopt;
    return it->second;
  }
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

bool CommandContext::err_is_terminal() const {
  return in_daemon() ? err_is_terminal_ : ::isatty(STDERR_FILENO) == 1;
}

std::shared_ptr<Store> CommandContext::OpenStore(Store::Access access) const {
  if (daemon_store_) return daemon_store_;
  const auto home = Home();
  if (auto status = ForwardToDaemon(home / "control.sock", argv_)) {
    throw ForwardedToDaemon{*status};
  }
  return Store::Open(home, access);
}

std::shared_ptr<Store> CommandContext::OpenStoreForRepair() const {
  if (daemon_store_) return daemon_store_;
  const auto home = Home();
  if (auto status = ForwardToDaemon(home / "control.sock", argv_)) {
    throw ForwardedToDaemon{*status};
  }
  return Store::OpenForRepair(home);
}

CommandContext::StoredModel CommandContext::OpenModelForReading(const Tag& tag, bool needs_network) const {
  if (!needs_network && !in_daemon()) {
    std::shared_ptr<Store> store = OpenStore(Store::Access::kRead);
    ModelRecord model = store->Get(tag);
    if (store->HasAllContent(model)) return {std::move(store), std::move(model)};
  }
  // (A read-only store is closed, releasing its lock, before this opens.)
  std::shared_ptr<Store> store = OpenStore(Store::Access::kWrite);
  ModelRecord model = store->Get(tag);
  return {std::move(store), std::move(model)};
}

}  // namespace modelfs::tools
