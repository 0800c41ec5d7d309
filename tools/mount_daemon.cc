#include "tools/mount_daemon.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "fs/fuse_filesystem.h"
#include "fs/model_tree.h"
#include "fs/mount_session.h"
#include "remote/fetch_limits.h"
#include "src/client_output.h"
#include "src/control_socket.h"
#include "src/store.h"
#include "tools/cli_app.h"
#include "util/error.h"
#include "util/file_lock.h"
#include "util/mount_table.h"
#include "util/unique_fd.h"

namespace modelfs::tools {
namespace {

namespace stdfs = std::filesystem;

bool OnPath(const char* program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (::access((stdfs::path(dir) / program).c_str(), X_OK) == 0) return true;
  }
  return ::access((stdfs::path("/usr/bin") / program).c_str(), X_OK) == 0;
}

int RunProgram(std::vector<std::string> args) {
  pid_t pid = ::fork();
  if (pid < 0) ThrowErrno("cannot fork");
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) ::dup2(devnull, 1);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

// Calls `done` every 100 ms until it returns true or `limit` passes.
template <typename Done>
bool Poll(Done done, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// A FUSE mount whose daemon died (kill -9) answers statfs with ENOTCONN
// (stat may still succeed from the kernel's attribute cache).
bool IsStaleMount(const stdfs::path& mountpoint) {
  struct statvfs sv;
  return ::statvfs(mountpoint.c_str(), &sv) != 0 && (errno == ENOTCONN || errno == ECONNABORTED);
}

void CheckMountpoint(const stdfs::path& mountpoint) {
  if (IsStaleMount(mountpoint)) {
    spdlog::warn("cleaning up the stale mount at {}", mountpoint.string());
    if (RunProgram({"fusermount3", "-uz", mountpoint.string()}) != 0) {
      ::umount2(mountpoint.c_str(), MNT_DETACH);
    }
  }
  struct stat st;
  if (::stat(mountpoint.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      throw Error(ErrorCode::kNotFound, "mountpoint " + mountpoint.string() + " does not exist");
    } else {
      ThrowErrno("cannot use mountpoint " + mountpoint.string());
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    throw Error(ErrorCode::kInvalidArgument, "mountpoint " + mountpoint.string() + " is not a directory");
  }
  if (FindMount(mountpoint)) {
    throw Error(ErrorCode::kInvalidArgument, mountpoint.string() + " is already a mount point");
  }
  std::error_code ec;
  if (!stdfs::is_empty(mountpoint, ec)) {
    throw Error(ErrorCode::kInvalidArgument, "mountpoint " + mountpoint.string() + " is not empty");
  }
}

void CheckFuse() {
  if (::access("/dev/fuse", R_OK | W_OK) != 0) {
    throw Error(ErrorCode::kUnsupported,
                "/dev/fuse is missing or not accessible: load the fuse module (modprobe fuse) or, in "
                "a container, pass --device /dev/fuse");
  }
  if (!OnPath("fusermount3")) {
    throw Error(ErrorCode::kUnsupported, "fusermount3 was not found: install the fuse3 package");
  }
}

// A CLI command forwarded by another process, run against our open store.
int ServeCommand(const std::shared_ptr<Store>& store, const stdfs::path& mountpoint, ControlRequest& request) {
  const bool err_is_terminal = ::isatty(request.err.get()) == 1;
  // Writes never block the daemon on a caller that died or whose pipe nobody drains.
  ClientOutputBuf out_buf(std::move(request.out), request.connection, request.stopping, 1 << 16);
  ClientOutputBuf err_buf(std::move(request.err), request.connection, request.stopping, 1 << 12);
  std::ostream out(&out_buf);
  std::ostream err(&err_buf);
  CommandContext ctx(store, mountpoint, out, err, request.cwd, std::move(request.env), err_is_terminal);
  int status = RunCommandLine(ctx, request.argv);
  out.flush();
  err.flush();
  return status;
}

// The daemon proper. `ready` is told "ok" or the error once mounting is done.
// Chunk buffers are 64 KiB–1 MiB and are allocated and freed at the read
// rate. Above glibc's default mmap threshold each one would be a fresh
// mapping, page-faulted and zeroed by the kernel on every read; kept in the
// heap they are reused. One arena bounds the memory the FUSE threads hold.
void TuneAllocator() {
  ::mallopt(M_MMAP_THRESHOLD, 16 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 64 << 20);
  ::mallopt(M_ARENA_MAX, 1);
}

void Serve(const DaemonOptions& options, int ready_fd) {
  auto report = [&](const std::string& message) {
    if (ready_fd >= 0) {
      (void)!::write(ready_fd, message.data(), message.size());
      ::close(ready_fd);
      ready_fd = -1;
    }
  };
  try {
    TuneAllocator();
    ::signal(SIGPIPE, SIG_IGN);  // a caller's closed pipe is an error to report, not a reason to die
    // The store reads its limits from the environment, in one place.
    if (options.read_timeout) ::setenv(remote::FetchLimits::kVariable, options.read_timeout->c_str(), 1);
    std::shared_ptr<Store> store = Store::Open(options.home, Store::Access::kWrite);
    store->SetStrictReads(options.strict);
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    fs::ModelTree tree(store.get(), options.latest_as_file, now);
    fs::FuseFilesystem filesystem(&tree);
    fs::MountSession session(&filesystem,
                             {options.mountpoint, options.home.string(), options.allow_other, options.debug});
    store->SetChangeListener([&filesystem](const std::string& name) { filesystem.ModelChanged(name); });
    store->SetDiscardListener([&filesystem](const std::string& id) { filesystem.ContentDiscarded(id); });
    {
      ControlServer control(options.home / "control.sock", [&](ControlRequest& request) {
        return ServeCommand(store, options.mountpoint, request);
      });
      spdlog::info("serving store {} at {}{}", options.home.string(), options.mountpoint.string(),
                   options.strict ? " (strict: remote files are verified whole before a byte is served)" : "");
      report("ok");
      // Unmounted or signalled: every transfer and wait for the network
      // ends now, so the requests in progress are answered and the loop can end.
      session.Run([&store] { store->remote_sources()->client()->Shutdown(); });
    }
    store->SetChangeListener(nullptr);
    store->SetDiscardListener(nullptr);
    spdlog::info("unmounted {}", options.mountpoint.string());
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    report(e.what());
    throw;
  }
}

}  // namespace

void RunMount(const DaemonOptions& options) {
  CheckFuse();
  CheckMountpoint(options.mountpoint);
  stdfs::create_directories(options.home);
  if (IsDaemonListening(options.home / "control.sock")) {
    throw Error(ErrorCode::kBusy, "store " + options.home.string() + " is already mounted by another modelfs daemon");
  }
  if (options.foreground) {
    Serve(options, -1);
    return;
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) ThrowErrno("cannot create a pipe");
  pid_t pid = ::fork();
  if (pid < 0) ThrowErrno("cannot fork");
  if (pid == 0) {
    ::close(pipe_fds[0]);
    ::setsid();
    int log = ::open((options.home / "mount.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) ::dup2(devnull, 0);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    int status = 0;
    try {
      Serve(options, pipe_fds[1]);
    } catch (...) {
      status = 1;
    }
    ::_exit(status);
  }
  ::close(pipe_fds[1]);
  UniqueFd ready(pipe_fds[0]);
  std::string answer;
  char buf[512];
  ssize_t n;
  while ((n = ::read(ready.get(), buf, sizeof(buf))) > 0) answer.append(buf, n);
  if (answer != "ok") {
    int status;
    ::waitpid(pid, &status, 0);
    throw Error(ErrorCode::kIOError, answer.empty() ? "the mount daemon died while starting (see " +
                                                          (options.home / "mount.log").string() + ")"
                                                    : answer);
  }
}

void RunUnmount(const stdfs::path& mountpoint) {
  auto entry = FindMount(mountpoint);
  if (!entry || entry->fstype != "fuse.modelfs") {
    throw Error(ErrorCode::kInvalidArgument, mountpoint.string() + " is not a modelfs mount");
  }
  int error = 0;  // of the last umount2(2)
  auto unmount = [&] {
    if (RunProgram({"fusermount3", "-u", "-q", mountpoint.string()}) == 0 ||
        ::umount2(mountpoint.c_str(), 0) == 0) {
      return true;
    }
    error = errno;
    return false;
  };
  if (!unmount()) {
    // Busy: files are open. Readers waiting on a stalled server would hold
    // theirs for up to the read timeout; their transfers are aborted, so
    // they fail at once and let go.
    const stdfs::path home = entry->source;
    try {
      (void)ForwardToDaemon(home / "control.sock", {"modelfs", "--home", home.string(), kAbortTransfers});
    } catch (const Error&) {
      // No daemon to ask (it died): the tries below say whether the mount is still busy.
    }
    if (!Poll([&] { return unmount(); }, std::chrono::seconds(5))) {
      // (Without root umount2 says EPERM, and fusermount3 refused for a reason it did not say.)
      if (error != EBUSY && error != EPERM) ThrowErrno("cannot unmount " + mountpoint.string(), error);
      throw Error(ErrorCode::kBusy, "cannot unmount " + mountpoint.string() +
                                        ": it is busy, processes still have files open under it; close them "
                                        "(`fuser -vm " + mountpoint.string() + "` lists them) and try again");
    }
  }
  // The daemon releases the store lock when it has shut down cleanly.
  const stdfs::path lock = stdfs::path(entry->source) / "lock";
  if (stdfs::exists(lock)) {
    FileLock::Acquire(lock, FileLock::Mode::kExclusive, std::chrono::seconds(30),
                      "the daemon of " + mountpoint.string() + " is still shutting down");
  }
}

}  // namespace modelfs::tools
