// tools/cmd_mount.cc — `modelfs mount` and `modelfs umount`.
#include <unistd.h>

#include "remote/fetch_limits.h"
#include "tools/commands.h"
#include "tools/mount_daemon.h"
#include "util/error.h"

namespace modelfs::tools {
namespace {

// The mountpoint as /proc/self/mountinfo spells it. A stale mount cannot be
// stat'ed, so resolution falls back to the lexical form.
std::filesystem::path MountpointPath(const CommandContext& ctx, const std::string& arg) {
  const auto absolute = ctx.Absolute(arg).lexically_normal();
  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(absolute, ec);
  return ec ? absolute : canonical;
}

void AddMount(CLI::App& app, CommandContext& ctx) {
  auto* cmd = app.add_subcommand("mount", "Serve the store as a read-only filesystem at MOUNTPOINT");
  auto options = std::make_shared<DaemonOptions>();
  auto mountpoint = std::make_shared<std::string>();
  auto fuse_options = std::make_shared<std::vector<std::string>>();
  cmd->add_option("mountpoint", *mountpoint, "an empty directory")->required();
  cmd->add_flag("-f,--foreground", options->foreground, "stay in the foreground (logs to stderr)");
  cmd->add_flag("--latest-file", options->latest_as_file,
                "make models/<name>/latest a file holding the version (BentoML's layout) instead of a symlink");
  cmd->add_flag("--strict", options->strict,
                "serve no byte of a remote file before all of it is fetched and matched its digest "
                "(certainty over latency: a 4 KiB read of a 10 GiB file waits for 10 GiB)");
  cmd->add_flag("--debug-fuse", options->debug, "log every FUSE request");
  cmd->add_option("-o", *fuse_options,
                  "mount options: allow_other, strict (as --strict), read_timeout=SECONDS (the longest a "
                  "read waits for the network, default 30 or $MODELFS_READ_TIMEOUT); others are accepted "
                  "and ignored")
      ->delimiter(',');
  cmd->callback([=, &ctx] {
    if (ctx.in_daemon()) throw Error(ErrorCode::kInvalidArgument, "the store is already mounted");
    DaemonOptions o = *options;
    o.home = ctx.Home();
    o.mountpoint = MountpointPath(ctx, *mountpoint);
    for (const auto& opt : *fuse_options) {
      if (opt == "allow_other") o.allow_other = true;
      if (opt == "strict") o.strict = true;
      if (opt.starts_with("read_timeout=")) {
        o.read_timeout = opt.substr(std::string("read_timeout=").size());
        (void)remote::ParseReadTimeout(*o.read_timeout, "-o " + opt);  // refused here, not in the daemon
      }
    }
    RunMount(o);
    if (!o.foreground) ctx.out() << "Mounted " << o.home.string() << " at " << o.mountpoint.string() << std::endl;
  });
}

void AddUnmount(CLI::App& app, CommandContext& ctx) {
  auto* cmd = app.add_subcommand("umount", "Unmount a modelfs mount and stop its daemon");
  auto mountpoint = std::make_shared<std::string>();
  cmd->add_option("mountpoint", *mountpoint, "where the store is mounted")->required();
  cmd->callback([=, &ctx] {
    RunUnmount(MountpointPath(ctx, *mountpoint));
  });
}

// Sent by `modelfs umount` to the daemon of a busy mount (hidden from --help).
void AddAbortTransfers(CLI::App& app, CommandContext& ctx) {
  auto* cmd = app.add_subcommand(kAbortTransfers, "")->group("");
  cmd->callback([&ctx] {
    if (!ctx.in_daemon()) {
      throw Error(ErrorCode::kInvalidArgument, std::string(kAbortTransfers) + " is for the mount daemon only");
    }
    ctx.OpenStore(Store::Access::kWrite)->remote_sources()->client()->AbortInFlight();
  });
}

}  // namespace

void RegisterMountCommands(CLI::App& app, CommandContext& ctx) {
  AddMount(app, ctx);
  AddUnmount(app, ctx);
  AddAbortTransfers(app, ctx);
}

}  // namespace modelfs::tools
