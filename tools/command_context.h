// tools/command_context.h — what every subcommand shares: the global
// options, where its output goes, and how it reaches the store.
//
// A command runs either in the `modelfs` process the user started, or inside
// the mount daemon (which owns the store while it runs) on behalf of that
// process; the context hides which. Commands must print through out()/err()
// and resolve user paths with Absolute(), never through std::cout or the
// process's working directory.
#pragma once

#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/store.h"

namespace modelfs::tools {

// Thrown by OpenStore() when a mount daemon ran the command instead.
struct ForwardedToDaemon {
  int exit_code;
};

class CommandContext {
 public:
  // A context for the process the user started.
  CommandContext(std::vector<std::string> argv, std::ostream& out, std::ostream& err)
      : argv_(std::move(argv)), out_(&out), err_(&err), cwd_(std::filesystem::current_path()) {}

  // A context inside the daemon: `store` is the daemon's, output goes to the
  // caller's streams and relative paths are the caller's.
  // `env` holds the caller's forwarded environment (kForwardedEnvironment).
  CommandContext(std::shared_ptr<Store> store, std::filesystem::path mountpoint,
                 std::ostream& out, std::ostream& err, std::filesystem::path cwd,
                 std::map<std::string, std::string> env, bool err_is_terminal)
      : out_(&out), err_(&err), cwd_(std::move(cwd)), daemon_store_(std::move(store)),
        mountpoint_(std::move(mountpoint)), env_(std::move(env)), err_is_terminal_(err_is_terminal) {}

  std::string home_flag;  // --home
  std::string log_level;  // --log-level
  int exit_code = 0;      // set by a command that fails without throwing

  std::ostream& out() const { return *out_; }
  std::ostream& err() const { return *err_; }
  std::filesystem::path Absolute(const std::filesystem::path& p) const {
    return p.is_absolute() ? p : cwd_ / p;
  }
  bool in_daemon() const { return daemon_store_ != nullptr; }
  // The caller's environment variable `name` (only kForwardedEnvironment
  // ones inside the daemon); nullopt when unset.
  std::optional<std::string> Getenv(const char* name) const;
  // Whether err() reaches a terminal (progress bars are drawn only then).
  bool err_is_terminal() const;
  // The mountpoint serving the store, when known (inside the daemon).
  const std::filesystem::path& mountpoint() const { return mountpoint_; }

  std::filesystem::path Home() const { return ResolveHome(home_flag); }

  // The Hugging Face token a --token-file names: the first line of the file
  // `path` (relative to the caller's directory), or of standard input for
  // "-". Read by the process the user started, which hands it on as the
  // HF_TOKEN of a forwarded command, so the token is in neither argv nor the
  // daemon's reads of the caller's stdin. Throws kInvalidArgument for an
  // unreadable, empty or oversized (> 4 KiB) file.
  std::string ReadTokenFile(const std::string& path) const;

  // ParseTag for a command-line argument; the lower-casing warning goes to
  // err(), so the caller sees it even when the daemon runs the command.
  Tag ParseTagArgument(const std::string& text) const;

  // The store to run against. Outside the daemon: when a mount daemon serves
  // the store, forwards the whole command line to it and throws
  // ForwardedToDaemon; otherwise opens the store in this process.
  std::shared_ptr<Store> OpenStore(Store::Access access) const;
  // Like OpenStore(kWrite), through Store::OpenForRepair().
  std::shared_ptr<Store> OpenStoreForRepair() const;

  // The store and the model `tag` names, for a command that reads the
  // model's bytes. Like OpenStore(), but read-only (shared with other
  // readers, and ~20 ms faster to open and close than for writing: no new
  // write-ahead log, MANIFEST record, fsyncs or flush) when every file of
  // the model is stored; writable when some file is still to be fetched or
  // the command needs the network (only a writable store has the clients).
  struct StoredModel {
    std::shared_ptr<Store> store;
    ModelRecord model;
  };
  StoredModel OpenModelForReading(const Tag& tag, bool needs_network) const;

 private:
  std::vector<std::string> argv_;
  std::ostream* out_;
  std::ostream* err_;
  std::filesystem::path cwd_;
  std::shared_ptr<Store> daemon_store_;
  std::filesystem::path mountpoint_;
  std::map<std::string, std::string> env_;  // inside the daemon
  bool err_is_terminal_ = false;            // inside the daemon
};

}  // namespace modelfs::tools
