// tests/unit/s3rver_fixture.h — a real S3 server for the unit tests:
// tests/sims/s3rver.py (s3rver behind a signature-checking proxy) as a child
// process, one per test binary (S3rver()), started on first use with the
// bucket kS3Bucket and stopped at exit; it also dies with the test binary
// if that is killed. Starting fails the test, never skips it: the message
// says to run scripts/install-deps.
#pragma once

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "remote/http_client.h"
#include "remote/s3_location.h"

extern char** environ;

namespace modelfs::testing {

inline constexpr const char* kS3Bucket = "modelfs-test";

inline std::string S3rverScript() {
  namespace fs = std::filesystem;
  std::vector<fs::path> candidates;
  if (const char* src = std::getenv("MODELFS_SOURCE_DIR")) {
    candidates.push_back(fs::path(src) / "tests/sims/s3rver.py");
  }
  candidates.push_back(fs::path(__FILE__).parent_path() / "../sims/s3rver.py");
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);  // <build>/tests/unit_tests
  if (!ec) candidates.push_back(exe.parent_path() / "../../tests/sims/s3rver.py");
  for (const auto& c : candidates) {
    if (fs::exists(c, ec)) return fs::absolute(c).string();
  }
  throw std::runtime_error("cannot find tests/sims/s3rver.py (set MODELFS_SOURCE_DIR).");
}

class S3rverProcess {
 public:
  explicit S3rverProcess(const std::vector<std::string>& buckets) {
    const std::string script = S3rverScript();
    std::vector<std::string> args = {"python3", script};
    for (const auto& b : buckets) args.insert(args.end(), {"--bucket", b});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    int rc = posix_spawnp(&pid_, "python3", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
      ::close(fds[0]);
      throw std::runtime_error("cannot run python3 " + script);
    }
    std::string line;
    pollfd p{fds[0], POLLIN, 0};
    for (char c = 0; c != '\n' && ::poll(&p, 1, 60000) == 1 && ::read(fds[0], &c, 1) == 1;) {
      line.push_back(c);
    }
    ::close(fds[0]);
    nlohmann::json info = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!info.is_object() || !info.contains("endpoint")) {
      Stop();
      throw std::runtime_error(
          "s3rver could not be started by tests/sims/s3rver.py (its message is above): "
          "run scripts/install-deps, which installs s3rver into .deps/s3rver.");
    }
    endpoint_ = info["endpoint"];
    access_key_ = info["access_key"];
    secret_key_ = info["secret_key"];
  }
  ~S3rverProcess() { Stop(); }
  S3rverProcess(const S3rverProcess&) = delete;
  S3rverProcess& operator=(const S3rverProcess&) = delete;

  const std::string& endpoint() const { return endpoint_; }

  // The configuration of a client of this server, as from the environment.
  remote::S3Config Config() const {
    remote::S3Config config;
    config.endpoint = endpoint_;
    config.path_style = true;
    config.region = "us-east-1";
    config.access_key_id = access_key_;
    config.secret_access_key = secret_key_;
    return config;
  }

  // Makes the next matching requests fail; see tests/sims/sigv4_proxy.py.
  // "[]" clears every fault.
  void InjectFaults(const std::string& json) const {
    remote::HttpRequest request{.method = remote::HttpRequest::Method::kPost,
                                .url = endpoint_ + "/_sim/faults"};
    request.body = remote::RequestBody::FromString(json);
    if (remote::HttpClient().Perform(request).status != 200) {
      throw std::runtime_error("the s3rver proxy refused the faults " + json);
    }
  }

  // "METHOD /path?query" of every S3 request served so far.
  std::vector<std::string> Requests() const {
    remote::HttpRequest request{.url = endpoint_ + "/_sim/requests"};
    return nlohmann::json::parse(remote::HttpClient().Perform(request).body);
  }

 private:
  void Stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);  // the helper stops s3rver and removes its directory
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  pid_t pid_ = -1;
  std::string endpoint_;
  std::string access_key_;
  std::string secret_key_;
};

inline S3rverProcess& S3rver() {
  static S3rverProcess server({kS3Bucket});
  return server;
}

}  // namespace modelfs::testing
