// src/control_socket.h — the Unix socket through which CLI commands reach
// the running mount daemon, which owns the store while it runs.
//
// A request carries the command line, the caller's working directory, the
// caller's values of the environment variables commands read
// (kForwardedEnvironment: the Hugging Face, S3 and BentoCloud settings, secrets included, which
// travel only over this root-or-owner-only socket and are never stored), and
// the caller's stdin/stdout/stderr descriptors (SCM_RIGHTS), so the daemon
// writes output straight to the caller's terminal or pipe. The reply is the
// command's exit status. Messages are a 4-byte length and a JSON body
// (src/control_request.h).
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "src/control_request.h"
#include "util/unique_fd.h"

namespace modelfs {

// The environment variables a forwarded command sees from its caller.
inline constexpr const char* kForwardedEnvironment[] = {
    "HF_ENDPOINT",  "HF_TOKEN",       "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HOME",
    "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "XDG_CACHE_HOME", "HOME",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
    "BENTO_CLOUD_API_ENDPOINT", "BENTO_CLOUD_API_KEY"};

// The command (env: those of kForwardedEnvironment the caller has set) and
// the caller's stdio.
struct ControlRequest : ControlCommand {
  UniqueFd in, out, err;
  // Borrowed for the handler's run (see ClientOutputBuf): the caller's
  // connection, which closes when the caller dies, and a descriptor that
  // turns readable when the server stops.
  int connection = -1;
  int stopping = -1;
};

class ControlServer {
 public:
  using Handler = std::function<int(ControlRequest&)>;

  // Listens on `path` (replacing a stale socket file). Each connection is
  // served on its own thread by `handler`.
  ControlServer(std::filesystem::path path, Handler handler);
  // Stops accepting, tells running commands to stop (ControlRequest::stopping),
  // waits for them, removes the socket file.
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  void AcceptLoop();
  void Serve(UniqueFd conn);

  std::filesystem::path path_;
  Handler handler_;
  UniqueFd listen_fd_;
  UniqueFd wake_read_, wake_write_;  // a pipe that interrupts poll() on shutdown
  std::thread acceptor_;
  std::mutex workers_mu_;
  std::condition_variable workers_done_;
  int active_workers_ = 0;  // connections being served on detached threads
};

// True when a daemon accepts connections on `path`.
bool IsDaemonListening(const std::filesystem::path& path);

// Sends the command to the daemon listening on `path`. Returns nullopt when
// no daemon answers there (the caller then opens the store itself), else
// the command's exit status.
std::optional<int> ForwardToDaemon(const std::filesystem::path& path,
                                   const std::vector<std::string>& argv);

}  // namespace modelfs
