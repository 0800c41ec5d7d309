// tests/unit/sim_fixture.h — the Hub simulator (tests/sims/hf_hub_sim.py)
// as a child process shared by the unit tests that talk to a remote: one
// instance per test binary (Sim()), started on first use and killed at exit,
// serving a repos directory with a few fixed repos (org/model, org/gated)
// that tests may add files to. Also a retry policy that never sleeps.
#pragma once

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

#include "remote/hf_hub.h"
#include "remote/retry_policy.h"
#include "tests/unit/test_util.h"

extern char** environ;

namespace modelfs::testing {

namespace sim_fs = std::filesystem;

inline constexpr const char* kToken = "hf_test_token_all";
inline constexpr const char* kLimitedToken = "hf_test_token_limited";

inline std::string SimPath() {
  std::vector<sim_fs::path> candidates;
  if (const char* src = std::getenv("MODELFS_SOURCE_DIR")) {
    candidates.push_back(sim_fs::path(src) / "tests/sims/hf_hub_sim.py");
  }
  candidates.push_back(sim_fs::path(__FILE__).parent_path() / "../sims/hf_hub_sim.py");
  std::error_code ec;
  sim_fs::path exe = sim_fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path() / "../../tests/sims/hf_hub_sim.py");
  for (const auto& c : candidates) {
    if (sim_fs::exists(c, ec)) return sim_fs::absolute(c).string();
  }
  throw std::runtime_error("cannot find tests/sims/hf_hub_sim.py");
}

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

// A repos directory and the simulator serving it, killed when the object dies.
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

    sim_fs::path port_file = dir_ / "port.json";
    std::string sim = SimPath();
    std::string repos_s = repos.string(), port_s = port_file.string();
    const char* argv[] = {"python3",   sim.c_str(), "--repos-dir", repos_s.c_str(), "--port",
                          "0",         "--port-file", port_s.c_str(), "--page-size", "2",
                          "--token",   kToken,      nullptr};
    int rc = posix_spawnp(&pid_, "python3", nullptr, nullptr, const_cast<char**>(argv), environ);
    if (rc != 0) throw std::runtime_error("cannot start the Hub simulator");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!sim_fs::exists(port_file)) {
      if (std::chrono::steady_clock::now() > deadline) {
        Stop();
        throw std::runtime_error("the Hub simulator did not write its port file");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    endpoint_ = nlohmann::json::parse(modelfs::testing::ReadFile(port_file))["endpoint"];
    while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
  }
  ~SimHub() { Stop(); }
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
  void Stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  TempDir dir_;
  sim_fs::path repos_;
  pid_t pid_ = -1;
  std::string endpoint_;
};

inline SimHub& Sim() {
  static SimHub sim;
  return sim;
}

// A retry policy that does not sleep.
inline const remote::RetryPolicy& FastRetry() {
  static remote::RetryPolicy policy(remote::RetryOptions{}, [](std::chrono::milliseconds) {});
  return policy;
}

}  // namespace modelfs::testing
