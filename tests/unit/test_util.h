// tests/unit/test_util.h — helpers shared by the unit tests: temporary
// directories removed on scope exit, deterministic random bytes, and small
// file manipulation utilities.
#pragma once

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <system_error>

#include "util/error.h"

namespace modelfs::testing {

// A fresh directory under /tmp, removed (recursively) when the object dies.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "t") {
    static std::atomic<int> counter{0};
    std::string pattern = "/tmp/modelfs-unit-" + tag + "-" + std::to_string(::getpid()) + "-" +
                          std::to_string(counter++) + "-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed for " + pattern);
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    // Make everything writable again first, in case a test removed permissions.
    for (auto it = std::filesystem::recursive_directory_iterator(
             path_, std::filesystem::directory_options::skip_permission_denied, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) {
        ::chmod(it->path().c_str(), 0755);
      }
    }
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  std::filesystem::path path_;
};

// A tmpfs of `size` bytes mounted in a fresh directory, unmounted when the
// object dies: a small disk to fill. mounted() is false where mounting needs
// privileges the test lacks (the test then has nothing to check).
class SmallTmpfs {
 public:
  explicit SmallTmpfs(uint64_t size) : dir_("tmpfs") {
    const std::string options = "size=" + std::to_string(size);
    mounted_ = ::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, options.c_str()) == 0;
  }
  ~SmallTmpfs() {
    if (mounted_ && ::umount(dir_.path().c_str()) != 0) ::umount2(dir_.path().c_str(), MNT_DETACH);
  }
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;

  bool mounted() const { return mounted_; }
  std::filesystem::path operator/(const std::string& rel) const { return dir_ / rel; }

  // Writes `path` until the disk is full; returns the bytes written.
  static uint64_t Fill(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot create " + path.string());
    const std::string block(4096, 'f');
    uint64_t written = 0;
    for (ssize_t n; (n = ::write(fd, block.data(), block.size())) > 0;) written += n;
    ::close(fd);
    return written;
  }

 private:
  TempDir dir_;
  bool mounted_ = false;
};

// Sets an environment variable for the object's lifetime, restoring the old value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (had_) {
      ::setenv(name_.c_str(), old_.c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::string old_;
  bool had_ = false;
};

// `n` pseudo-random bytes, a pure function of `seed`.
inline std::string RandomBytes(size_t n, uint64_t seed) {
  std::string out(n, '\0');
  std::mt19937_64 rng(seed);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  uint64_t v = rng();
  for (; i < n; ++i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
  return out;
}

// Text-like bytes that zstd compresses well.
inline std::string CompressibleBytes(size_t n, uint64_t seed) {
  static const char* const kWords[] = {"weight ", "bias ", "layer ", "tensor ", "float32 ",
                                       "attention ", "head ", "embedding\n"};
  std::mt19937_64 rng(seed);
  std::string out;
  out.reserve(n + 16);
  while (out.size() < n) out += kWords[rng() % 8];
  out.resize(n);
  return out;
}

inline void WriteFile(const std::filesystem::path& path, const std::string& data) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// XORs the byte at `offset` of the file with `mask` in place.
inline void FlipByte(const std::filesystem::path& path, uint64_t offset, uint8_t mask = 0xff) {
  int fd = ::open(path.c_str(), O_RDWR);
  if (fd < 0) throw std::runtime_error("cannot open " + path.string());
  unsigned char c = 0;
  if (::pread(fd, &c, 1, static_cast<off_t>(offset)) != 1) {
    ::close(fd);
    throw std::runtime_error("cannot read byte of " + path.string());
  }
  c ^= mask;
  if (::pwrite(fd, &c, 1, static_cast<off_t>(offset)) != 1) {
    ::close(fd);
    throw std::runtime_error("cannot write byte of " + path.string());
  }
  ::close(fd);
}

inline const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "kInvalidArgument";
    case ErrorCode::kNotFound: return "kNotFound";
    case ErrorCode::kAlreadyExists: return "kAlreadyExists";
    case ErrorCode::kBusy: return "kBusy";
    case ErrorCode::kCorruption: return "kCorruption";
    case ErrorCode::kIOError: return "kIOError";
    case ErrorCode::kNoSpace: return "kNoSpace";
    case ErrorCode::kUnsupported: return "kUnsupported";
    case ErrorCode::kTimedOut: return "kTimedOut";
    case ErrorCode::kInterrupted: return "kInterrupted";
  }
  return "unknown";
}

// Runs `fn` and names what it threw: the ErrorCode name of a modelfs::Error,
// "no error" when it returned, or "other: <what>" for any other exception.
// Use as CHECK(ThrownCode([&] { ... }) == "kNotFound").
template <typename Fn>
std::string ThrownCode(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return ErrorCodeName(e.code());
  } catch (const std::exception& e) {
    return std::string("other: ") + e.what();
  }
  return "no error";
}

// The message of the modelfs::Error `fn` throws, or "no error".
template <typename Fn>
std::string ThrownMessage(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace modelfs::testing
