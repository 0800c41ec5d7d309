#include "fs/mount_session.h"

#include <chrono>
#include <fstream>
#include <stop_token>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "util/error.h"
#include "util/mount_table.h"

namespace modelfs::fs {

MountSession::MountSession(FuseFilesystem* fs, const MountOptions& options) : fs_(fs) {
  std::string opts = "ro,default_permissions,subtype=modelfs,fsname=" + options.fsname;
  if (options.allow_other) opts += ",allow_other";
  std::vector<std::string> args = {"modelfs", "-o", opts};
  if (options.debug) args.push_back("-d");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  session_ = fuse_session_new(&fargs, &FuseFilesystem::Operations(), sizeof(fuse_lowlevel_ops), fs_);
  if (!session_) throw Error(ErrorCode::kIOError, "cannot create the FUSE session (see the log above)");
  if (fuse_set_signal_handlers(session_) != 0) {
    fuse_session_destroy(session_);
    throw Error(ErrorCode::kIOError, "cannot install signal handlers");
  }
  signals_ = true;
  if (fuse_session_mount(session_, options.mountpoint.c_str()) != 0) {
    fuse_remove_signal_handlers(session_);
    fuse_session_destroy(session_);
    throw Error(ErrorCode::kIOError, "cannot mount on " + options.mountpoint.string() +
                                         " (is fusermount3 installed and /dev/fuse present?)");
  }
  mounted_ = true;
  fs_->set_session(session_);
  RaiseReadAhead(options.mountpoint);
}

void MountSession::RaiseReadAhead(const std::filesystem::path& mountpoint) {
  // The kernel offers FUSE a 128 KiB readahead window, which caps every
  // buffered read at 128 KiB requests. The mount's backing device info can
  // be given a larger window (as root), and the negotiated max_pages lets
  // each request carry up to 1 MiB.
  auto entry = FindMount(mountpoint);
  if (!entry) return;
  std::ofstream knob("/sys/class/bdi/" + entry->device + "/read_ahead_kb");
  knob << kReadAheadKb << std::endl;
  if (!knob) spdlog::info("cannot raise the readahead of {} (not root?)", mountpoint.string());
}

MountSession::~MountSession() {
  fs_->set_session(nullptr);
  if (mounted_) fuse_session_unmount(session_);
  if (signals_) fuse_remove_signal_handlers(session_);
  fuse_session_destroy(session_);
}

void MountSession::Run(const std::function<void()>& on_exit) {
  // libfuse ends its loop by joining the worker threads, each of which must
  // first answer its request: whoever waits on the network is told at once.
  std::jthread watcher([this, &on_exit](std::stop_token done) {
    while (!done.stop_requested() && !fuse_session_exited(session_)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (fuse_session_exited(session_)) on_exit();
  });
  fuse_loop_config* config = fuse_loop_cfg_create();
  // Few threads: reads are CPU-bound memory copies on a machine with few
  // cores, and more threads only contend on the kernel's FUSE locks.
  fuse_loop_cfg_set_max_threads(config, 6);
  fuse_loop_cfg_set_idle_threads(config, 4);
  int rc = fuse_session_loop_mt(session_, config);
  fuse_loop_cfg_destroy(config);
  if (rc != 0) spdlog::warn("the FUSE loop ended with status {}", rc);
}

}  // namespace modelfs::fs
