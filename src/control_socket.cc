#include "src/control_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

#include "util/coding.h"
#include "util/error.h"
#include "util/file_io.h"

namespace modelfs {
namespace {

constexpr uint32_t kMaxMessage = 1 << 20;

sockaddr_un Address(const std::filesystem::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.native().size() >= sizeof(addr.sun_path)) {
    throw Error(ErrorCode::kInvalidArgument,
                "control socket path " + path.string() + " is too long (use a shorter --home)");
  }
  std::strcpy(addr.sun_path, path.c_str());
  return addr;
}

void SendMessage(int fd, const std::string& body, const int* fds, int nfds) {
  std::string frame;
  PutFixed32(&frame, static_cast<uint32_t>(body.size()));
  frame += body;
  iovec iov{frame.data(), frame.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 3)];
  if (nfds > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  ssize_t sent = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  if (sent < 0) ThrowErrno("cannot send to the control socket");
  if (static_cast<size_t>(sent) < frame.size()) {
    WriteFull(fd, frame.data() + sent, frame.size() - sent, "the control socket");
  }
}

// Receives one message; descriptors that came with it are stored in `fds`.
std::optional<std::string> ReceiveMessage(int fd, std::vector<UniqueFd>* fds) {
  char head[4];
  iovec iov{head, sizeof(head)};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 3)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t got;
  do {
    got = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
  } while (got < 0 && errno == EINTR);
  if (got <= 0) return std::nullopt;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && fds) {
      size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < n; ++i) {
        int received;
        std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        fds->emplace_back(received);
      }
    }
  }
  if (got != 4) return std::nullopt;
  const uint32_t len = DecodeFixed32(head);
  if (len > kMaxMessage) return std::nullopt;
  std::string body(len, '\0');
  if (ReadFull(fd, body.data(), len, "the control socket") != len) return std::nullopt;
  return body;
}

}  // namespace

ControlServer::ControlServer(std::filesystem::path path, Handler handler)
    : path_(std::move(path)), handler_(std::move(handler)) {
  sockaddr_un addr = Address(path_);
  listen_fd_.Reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listen_fd_.valid()) ThrowErrno("cannot create the control socket");
  ::unlink(path_.c_str());
  if (::bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ThrowErrno("cannot bind the control socket " + path_.string());
  }
  ::chmod(path_.c_str(), 0600);
  if (::listen(listen_fd_.get(), 64) != 0) ThrowErrno("cannot listen on " + path_.string());
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) ThrowErrno("cannot create a pipe");
  wake_read_.Reset(pipe_fds[0]);
  wake_write_.Reset(pipe_fds[1]);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

ControlServer::~ControlServer() {
  (void)!::write(wake_write_.get(), "x", 1);
  if (acceptor_.joinable()) acceptor_.join();
  std::unique_lock<std::mutex> lock(workers_mu_);
  workers_done_.wait(lock, [this] { return active_workers_ == 0; });
  ::unlink(path_.c_str());
}

void ControlServer::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_read_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("control socket: poll failed: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents) return;
    int conn = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    {
      std::lock_guard<std::mutex> lock(workers_mu_);
      ++active_workers_;
    }
    std::thread([this, conn] {
      Serve(UniqueFd(conn));
      std::lock_guard<std::mutex> lock(workers_mu_);
      if (--active_workers_ == 0) workers_done_.notify_all();
    }).detach();
  }
}

void ControlServer::Serve(UniqueFd conn) {
  std::vector<UniqueFd> fds;
  auto body = ReceiveMessage(conn.get(), &fds);
  if (!body || fds.size() != 3) return;
  ControlRequest request;
  int status = 1;
  try {
    static_cast<ControlCommand&>(request) = DecodeControlCommand(*body);
    request.in = std::move(fds[0]);
    request.out = std::move(fds[1]);
    request.err = std::move(fds[2]);
    request.connection = conn.get();
    request.stopping = wake_read_.get();
    status = handler_(request);
  } catch (const std::exception& e) {
    spdlog::error("control request failed: {}", e.what());
  }
  try {
    SendMessage(conn.get(), EncodeControlReply(status), nullptr, 0);
  } catch (const std::exception&) {
    // The client went away; nothing to report to.
  }
}

namespace {

// Connects to the daemon; an invalid fd when none listens (a stale socket
// file of a daemon that is gone counts as none).
UniqueFd Connect(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return UniqueFd();
  sockaddr_un addr = Address(path);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.valid() && ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    fd.Reset();
  }
  return fd;
}

}  // namespace

bool IsDaemonListening(const std::filesystem::path& path) { return Connect(path).valid(); }

std::optional<int> ForwardToDaemon(const std::filesystem::path& path,
                                   const std::vector<std::string>& argv) {
  UniqueFd fd = Connect(path);
  if (!fd.valid()) return std::nullopt;
  ControlCommand command{argv, std::filesystem::current_path().string(), {}};
  for (const char* name : kForwardedEnvironment) {
    if (const char* value = std::getenv(name)) command.env[name] = value;
  }
  const int stdio[3] = {0, 1, 2};
  SendMessage(fd.get(), EncodeControlCommand(command), stdio, 3);
  auto reply = ReceiveMessage(fd.get(), nullptr);
  if (!reply) {
    throw Error(ErrorCode::kIOError, "the mount daemon closed the control connection without a reply");
  }
  return DecodeControlReply(*reply);
}

}  // namespace modelfs
