#include "src/tag.h"

#include <spdlog/spdlog.h>
#include <sys/random.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <random>

#include "util/error.h"

namespace modelfs {

namespace {

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool IsTagChar(char c) { return IsAlnum(c) || c == '-' || c == '.' || c == '_'; }

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

// Fills `out` with `n` bytes from the kernel's random source, falling back to
// std::random_device if getrandom(2) is unavailable.
void RandomBytes(uint8_t* out, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = getrandom(out + got, n - got, 0);
    if (r > 0) {
      got += static_cast<size_t>(r);
    } else if (r < 0 && errno != EINTR) {
      break;
    }
  }
  if (got < n) {
    std::random_device rd;
    for (; got < n; ++got) out[got] = static_cast<uint8_t>(rd());
  }
}

// 100 ns intervals since the Unix epoch, strictly increasing across calls in
// this process even when the clock stalls or steps back.
uint64_t NextTimestamp() {
  static std::atomic<uint64_t> last{0};
  auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  uint64_t now = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch).count() / 100);
  uint64_t prev = last.load(std::memory_order_relaxed);
  uint64_t next;
  do {
    next = now > prev ? now : prev + 1;
  } while (!last.compare_exchange_weak(prev, next, std::memory_order_relaxed));
  return next;
}

}  // namespace

std::string Tag::ToString() const {
  return name + ":" + (version.empty() ? std::string("latest") : version);
}

void ValidateTagPart(std::string_view part, std::string_view what) {
  std::string label = "tag " + std::string(what);
  if (part.empty()) {
    throw Error(ErrorCode::kInvalidArgument, label + " must not be empty");
  }
  if (part.size() > kMaxTagPartLength) {
    throw Error(ErrorCode::kInvalidArgument, "invalid " + label + " " + Quote(part) + ": it is " +
                                                 std::to_string(part.size()) +
                                                 " characters long, and a tag's name or version "
                                                 "must be at most " +
                                                 std::to_string(kMaxTagPartLength) + " characters");
  }
  bool ok = IsAlnum(part.front()) && IsAlnum(part.back());
  for (char c : part) ok = ok && IsTagChar(c);
  if (!ok) {
    throw Error(ErrorCode::kInvalidArgument,
                "invalid " + label + " " + Quote(part) +
                    ": a tag's name or version must consist of lower-case letters, digits, "
                    "'-', '_' or '.', and must start and end with a letter or digit");
  }
}

void ValidateConcreteVersion(std::string_view name, std::string_view version) {
  if (version.empty() || version == "latest") {
    throw Error(ErrorCode::kInvalidArgument,
                "model " + Quote(name) + " needs a concrete version, not 'latest' (" +
                    (version.empty() ? "an empty version means 'latest', which" : "'latest'") +
                    " always names the newest version and is reserved); give the model a version "
                    "such as 'v1'");
  }
  ValidateTagPart(version, "version");
}

Tag ParseTag(std::string_view text) {
  if (text.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "the model tag is empty; expected 'name' or 'name:version'");
  }
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (lower != text) {
    spdlog::warn("converting tag '{}' to lowercase: '{}'", text, lower);
  }

  size_t colon = lower.find(':');
  if (colon != std::string::npos && lower.find(':', colon + 1) != std::string::npos) {
    throw Error(ErrorCode::kInvalidArgument,
                "invalid tag " + Quote(lower) +
                    ": it contains more than one ':'; expected 'name' or 'name:version'");
  }
  Tag tag;
  tag.name = lower.substr(0, colon);
  if (colon != std::string::npos) {
    tag.version = lower.substr(colon + 1);
    if (tag.name.empty()) {
      throw Error(ErrorCode::kInvalidArgument,
                  "invalid tag " + Quote(lower) + ": the name before ':' is empty");
    }
    if (tag.version.empty()) {
      throw Error(ErrorCode::kInvalidArgument,
                  "invalid tag " + Quote(lower) + ": the version after ':' is empty; use " +
                      Quote(tag.name) + " or " + Quote(tag.name + ":latest") +
                      " for the newest version");
    }
  }

  try {
    ValidateTagPart(tag.name, "name");
    if (!tag.version.empty()) ValidateTagPart(tag.version, "version");
  } catch (const Error& e) {
    if (colon == std::string::npos) throw;
    throw Error(e.code(), std::string(e.what()) + " (in tag " + Quote(lower) + ")");
  }
  if (tag.version == "latest") tag.version.clear();
  return tag;
}

std::string GenerateVersion() {
  // Laid out like the bytes BentoML takes from a uuid1: the low 32 bits of the
  // timestamp, then the next 16, then what stands for clock sequence and node.
  uint64_t ts = NextTimestamp();
  uint8_t bytes[10];
  uint32_t low = static_cast<uint32_t>(ts);
  uint16_t mid = static_cast<uint16_t>(ts >> 32);
  bytes[0] = static_cast<uint8_t>(low >> 24);
  bytes[1] = static_cast<uint8_t>(low >> 16);
  bytes[2] = static_cast<uint8_t>(low >> 8);
  bytes[3] = static_cast<uint8_t>(low);
  bytes[4] = static_cast<uint8_t>(mid >> 8);
  bytes[5] = static_cast<uint8_t>(mid);
  RandomBytes(bytes + 6, 4);

  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::string out;
  out.reserve(16);
  uint32_t buffer = 0;
  int bits = 0;
  for (uint8_t b : bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(kAlphabet[(buffer >> bits) & 31]);
    }
  }
  return out;  // 80 bits is exactly 16 characters, no padding
}

}  // namespace modelfs
