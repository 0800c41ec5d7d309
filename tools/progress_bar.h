// tools/progress_bar.h — a one-line transfer progress bar with rate and ETA,
// redrawn in place on a terminal at most ten times a second; silent when the
// output is not a terminal (so logs and pipes stay clean).
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace modelfs::tools {

class ProgressBar {
 public:
  ProgressBar(std::ostream& out, bool enabled, std::string label);
  // Ends the line if anything was drawn.
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void Update(uint64_t done, uint64_t total);

 private:
  void Draw(uint64_t done, uint64_t total);

  std::ostream& out_;
  const bool enabled_;
  const std::string label_;
  const std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
  uint64_t first_done_ = UINT64_MAX;  // bytes already there when the bar started
  bool drawn_ = false;
};

}  // namespace modelfs::tools
