// tests/unit/sim_fixture.h — the simulators of tests/sims as child
// processes shared by the unit tests that talk to a remote, one instance of
// each per test binary, started on first use on an ephemeral port of
// 127.0.0.1 and stopped at exit (or when the test binary dies):
//   Sim()           the Hub (hf_hub_sim.py) serving a repos directory with a
//                   few fixed repos (org/model, org/gated) that tests may add
//                   files to;
//   BentoCloudSim() the BentoCloud registry (bentocloud_sim.py), with
//                   kBentoCloudApiKey as its valid API key.
// Also a retry policy that never sleeps.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "remote/bentocloud_client.h"
#include "remote/hf_hub.h"
#include "remote/http_client.h"
#include "remote/retry_policy.h"
#include "tests/unit/test_util.h"

extern char** environ;

namespace modelfs::testing {

namespace sim_fs = std::filesystem;

inline constexpr const char* kToken = "hf_test_token_all";
inline constexpr const char* kLimitedToken = "hf_test_token_limited";

// The absolute path of the simulator tests/sims/<script>.
inline std::string SimScript(const std::string& script) {
  std::vector<sim_fs::path> candidates;
  if (const char* src = std::getenv("MODELFS_SOURCE_DIR")) {
    candidates.push_back(sim_fs::path(src) / "tests/sims" / script);
  }
  candidates.push_back(sim_fs::path(__FILE__).parent_path() / "../sims" / script);
  std::error_code ec;
  sim_fs::path exe = sim_fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path() / "../../tests/sims" / script);
  for (const auto& c : candidates) {
    if (sim_fs::exists(c, ec)) return sim_fs::absolute(c).string();
  }
  throw std::runtime_error("cannot find tests/sims/" + script + " (set MODELFS_SOURCE_DIR).");
}

// A simulator run as `python3 tests/sims/<script> --port 0 --port-file F
// <args>`, ready once it has written F (whose "endpoint" it serves), stopped
// by SIGTERM when the object dies. Its stdin is a pipe from this process,
// and a watcher thread in the child sends it SIGTERM when the pipe closes,
// so the simulator also stops when the test binary dies without running
// destructors.
class SimProcess {
 public:
  SimProcess(const std::string& script, const std::vector<std::string>& args) : dir_("sim") {
    static const char* const kWatchStdin =
        "import os, runpy, signal, sys, threading\n"
        "def watch():\n"
        "    while os.read(0, 4096):\n"
        "        pass\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "threading.Thread(target=watch, daemon=True).start()\n"
        "sys.argv = sys.argv[1:]\n"
        "runpy.run_path(sys.argv[0], run_name=\"__main__\")\n";
    const sim_fs::path port_file = dir_ / "port.json";
    std::vector<std::string> argv_s = {"python3", "-c", kWatchStdin, SimScript(script),
                                       "--port", "0", "--port-file", port_file.string()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);

    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[0], STDIN_FILENO);
    int rc = posix_spawnp(&pid_, "python3", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[0]);
    stdin_ = fds[1];
    if (rc != 0) {
      pid_ = -1;
      Stop();
      throw std::runtime_error("cannot run python3 tests/sims/" + script);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!sim_fs::exists(port_file)) {
      const bool exited = ::waitpid(pid_, nullptr, WNOHANG) == pid_;
      if (exited || std::chrono::steady_clock::now() > deadline) {
        if (exited) pid_ = -1;
        Stop();
        throw std::runtime_error("the simulator tests/sims/" + script + " did not start (see above).");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    endpoint_ = nlohmann::json::parse(modelfs::testing::ReadFile(port_file))["endpoint"];
    while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
  }
  ~SimProcess() { Stop(); }
  SimProcess(const SimProcess&) = delete;
  SimProcess& operator=(const SimProcess&) = delete;

  const std::string& endpoint() const { return endpoint_; }

 private:
  void Stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (stdin_ >= 0) {
      ::close(stdin_);
      stdin_ = -1;
    }
  }

  TempDir dir_;
  pid_t pid_ = -1;
  int stdin_ = -1;  // write end of the child's stdin
  std::string endpoint_;
};

// Output of a python3 snippet, trailing newline stripped.
inline std::string Python(const std::string& code) {
  std::string cmd = "python3 -c '" + code + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) throw std::runtime_error("popen failed");
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// A repos directory and the simulator serving it, stopped when the object dies.
class SimHub {
 public:
  SimHub() : dir_("hfhub") {
    sim_fs::path repos = dir_ / "repos";
    WriteFile(repos / ".sim.json",
              std::string("{\"tokens\": {\"") + kLimitedToken + "\": [\"org/model\"]}}");
    sim_fs::path main = repos / "org/model/main";
    WriteFile(main / "config.json", "{\"model_type\": \"test\"}\n");
    WriteFile(main / "model.safetensors", modelfs::testing::RandomBytes(2 << 20, 42));
    WriteFile(main / "sub/tok.json", "{\"tokens\": [1, 2, 3]}\n");
    sim_fs::path pr = repos / "org/model/refs%2Fpr%2F1";
    WriteFile(pr / "config.json", "{\"model_type\": \"pr\"}\n");
    WriteFile(repos / "org/gated/.sim.json", "{\"gated\": true}");
    WriteFile(repos / "org/gated/main/config.json", "{}\n");
    WriteFile(repos / "org/gated/main/weights.bin", modelfs::testing::RandomBytes(4096, 7));
    repos_ = repos;

    process_.emplace("hf_hub_sim.py", std::vector<std::string>{"--repos-dir", repos.string(),
                                                               "--page-size", "2", "--token", kToken});
    endpoint_ = process_->endpoint();
  }
  SimHub(const SimHub&) = delete;
  SimHub& operator=(const SimHub&) = delete;

  const std::string& endpoint() const { return endpoint_; }
  const sim_fs::path& repos() const { return repos_; }

  // POSTs a JSON body to a control endpoint.
  void Control(const std::string& path, const std::string& body) {
    std::string file = (dir_ / "control.json").string();
    WriteFile(file, body);
    std::string code =
        "import urllib.request; r=urllib.request.Request(\"" + endpoint_ + path +
        "\", data=open(\"" + file +
        "\",\"rb\").read(), headers={\"Content-Type\": \"application/json\"}); "
        "print(urllib.request.urlopen(r).status)";
    if (Python(code) != "200") throw std::runtime_error("control request failed: " + path);
  }
  void ClearFaults() { Control("/_sim/faults/clear", "{}"); }

  // Writes a file into a revision directory (repo "org/name") and makes the
  // simulator re-read its repos directory.
  void AddFile(const std::string& repo, const std::string& revision, const std::string& path,
               const std::string& data) {
    WriteFile(repos_ / repo / revision / path, data);
    Control("/_sim/reload", "{}");
  }

  // GET /_sim/stats without the request log.
  nlohmann::json Stats() {
    return nlohmann::json::parse(Python("import urllib.request; print(urllib.request.urlopen(\"" +
                                        endpoint_ + "/_sim/stats?requests=0\").read().decode())"));
  }
  // CDN body bytes sent so far for "<repo_id>/<path>".
  uint64_t CdnBytes(const std::string& file) {
    nlohmann::json s = Stats();
    if (!s["files"].contains(file)) return 0;
    return s["files"][file].value("cdn_bytes", uint64_t{0});
  }

  remote::HfConfig Config(std::optional<std::string> token = std::nullopt) const {
    remote::HfConfig c;
    c.endpoint = endpoint_;
    c.token = std::move(token);
    c.offline = false;
    return c;
  }

 private:
  TempDir dir_;
  sim_fs::path repos_;
  std::optional<SimProcess> process_;  // stopped before dir_ is removed
  std::string endpoint_;
};

inline SimHub& Sim() {
  static SimHub sim;
  return sim;
}

inline constexpr const char* kBentoCloudApiKey = "bentocloud-test-key";

// bentocloud_sim.py accepting kBentoCloudApiKey; see its module docstring
// for the control endpoints.
class BentoCloudSimServer {
 public:
  BentoCloudSimServer() : process_("bentocloud_sim.py", {"--api-key", kBentoCloudApiKey}) {}

  const std::string& endpoint() const { return process_.endpoint(); }

  // GETs a control endpoint ("/_stats", "/_config?strategy=proxy", ...) and
  // returns its JSON answer; throws unless it is a 200.
  nlohmann::json Control(const std::string& path_and_query) const {
    remote::HttpRequest request{.url = endpoint() + path_and_query};
    remote::HttpResponse response = remote::HttpClient().Perform(request);
    if (response.status != 200) {
      throw std::runtime_error("the BentoCloud simulator refused " + path_and_query + ": " +
                               response.body);
    }
    return nlohmann::json::parse(response.body);
  }

  // Drops every repository, object and statistic and restores the default
  // settings (one presigned URL, 5 MiB parts, 401 for a bad key, no faults).
  void Reset() const {
    Control("/_reset?data=1");
    Control("/_config?strategy=presigned_url&min_part=5242880&auth_status=401&fault=none"
            "&put_fault=none&fault_every=1");
  }

  remote::BentoCloudConfig Config(std::string api_key = kBentoCloudApiKey) const {
    return remote::BentoCloudConfig{endpoint(), std::move(api_key)};
  }

 private:
  SimProcess process_;
};

inline BentoCloudSimServer& BentoCloudSim() {
  static BentoCloudSimServer sim;
  return sim;
}

// A retry policy that does not sleep.
inline const remote::RetryPolicy& FastRetry() {
  static remote::RetryPolicy policy(remote::RetryOptions{}, [](std::chrono::milliseconds) {});
  return policy;
}

}  // namespace modelfs::testing
