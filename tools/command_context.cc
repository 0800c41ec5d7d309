#include "tools/command_context.h"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>

#include "src/control_socket.h"
#include "util/error.h"

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

std::string CommandContext::ReadTokenFile(const std::string& path) const {
  if (in_daemon()) {
    // The caller read the file and forwarded the token as HF_TOKEN.
    if (auto token = Getenv("HF_TOKEN")) return *token;
    throw Error(ErrorCode::kInvalidArgument, "--token-file: the token did not reach the mount daemon");
  }
  constexpr size_t kMaxToken = 4096;
  std::string text;
  if (path == "-") {
    std::getline(std::cin, text);
  } else {
    std::ifstream in(Absolute(path));
    if (!in) {
      throw Error(ErrorCode::kInvalidArgument,
                  "--token-file: cannot read " + Absolute(path).string() + ": " + std::strerror(errno));
    }
    std::getline(in, text);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  size_t start = 0;
  while (start < text.size() && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
  text.erase(0, start);
  if (text.empty() || text.size() > kMaxToken) {
    throw Error(ErrorCode::kInvalidArgument,
                "--token-file: " + std::string(path == "-" ? "standard input" : path) +
                    (text.empty() ? " holds no token" : " is not a token (its first line is over 4 KiB)") +
                    "; put the token (hf_...) on its first line");
  }
  ::setenv("HF_TOKEN", text.c_str(), 1);  // what a command forwarded to the daemon carries
  return text;
}

}  // namespace modelfs::tools
