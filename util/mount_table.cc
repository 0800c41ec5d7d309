#include "util/mount_table.h"

#include <fstream>
#include <sstream>

namespace modelfs {
namespace {

// Undoes the octal escapes (\040 for a space, …) of mountinfo fields.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::optional<MountEntry> FindMount(const std::filesystem::path& mountpoint) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  std::optional<MountEntry> found;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, device, root, point, word;
    fields >> id >> parent >> device >> root >> point;
    if (Unescape(point) != mountpoint.string()) continue;
    while (fields >> word && word != "-") {
    }
    MountEntry entry;
    entry.device = device;
    fields >> entry.fstype >> entry.source;
    entry.source = Unescape(entry.source);
    found = entry;
  }
  return found;
}

}  // namespace modelfs
