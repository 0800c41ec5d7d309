// util/digest.h — incremental message digests (OpenSSL EVP, which uses
// SHA-NI where the CPU has it): SHA-256, the whole-file content key of the
// store, and SHA-1, which git (and so the Hugging Face Hub) names small files by.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace modelfs {

class MessageDigest {
 public:
  enum class Algorithm { kSha256, kSha1 };

  explicit MessageDigest(Algorithm algorithm);
  ~MessageDigest();
  MessageDigest(const MessageDigest&) = delete;
  MessageDigest& operator=(const MessageDigest&) = delete;

  void Update(const void* data, size_t n);
  void Update(std::string_view data) { Update(data.data(), data.size()); }
  // Returns the raw digest; the object must not be used afterwards.
  std::string Finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

class Sha256 : public MessageDigest {
 public:
  static constexpr size_t kSize = 32;

  Sha256() : MessageDigest(Algorithm::kSha256) {}

  static std::string Digest(const void* data, size_t n);
};

// git's blob id: SHA-1 of "blob <size>\0" followed by the content.
class GitBlobSha1 : public MessageDigest {
 public:
  static constexpr size_t kSize = 20;

  explicit GitBlobSha1(uint64_t content_size) : MessageDigest(Algorithm::kSha1) {
    Update("blob " + std::to_string(content_size) + std::string(1, '\0'));
  }
};

}  // namespace modelfs
