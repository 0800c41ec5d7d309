// tools/progress_bar.cc — see progress_bar.h.
#include "tools/progress_bar.h"

#include <algorithm>
#include <cstdio>

#include "tools/output.h"

namespace modelfs::tools {

ProgressBar::ProgressBar(std::ostream& out, bool enabled, std::string label)
    : out_(out), enabled_(enabled), label_(std::move(label)), start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() {
  if (drawn_) out_ << std::endl;
}

void ProgressBar::Update(uint64_t done, uint64_t total) {
  if (!enabled_) return;
  if (first_done_ == UINT64_MAX) first_done_ = done;
  const auto now = std::chrono::steady_clock::now();
  if (done < total && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  Draw(done, total);
}

void ProgressBar::Draw(uint64_t done, uint64_t total) {
  constexpr int kWidth = 30;
  const double fraction = total ? std::min(1.0, double(done) / double(total)) : 1.0;
  const int filled = static_cast<int>(fraction * kWidth);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = seconds > 0 ? double(done - first_done_) / seconds : 0;
  std::string eta = "--:--";
  if (rate > 0 && done < total) {
    const auto left = static_cast<long>(double(total - done) / rate);
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%02ld:%02ld", left / 60, left % 60);
    eta = buf;
  } else if (done >= total) {
    eta = "00:00";
  }
  out_ << "\r" << label_ << " [" << std::string(filled, '#') << std::string(kWidth - filled, '.')
       << "] " << HumanSize(done) << " / " << HumanSize(total) << "  "
       << HumanSize(static_cast<uint64_t>(rate)) << "/s  ETA " << eta << "\033[K" << std::flush;
  drawn_ = true;
}

}  // namespace modelfs::tools
