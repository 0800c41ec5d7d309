// util/sha256.h — incremental SHA-256 (OpenSSL EVP, which uses SHA-NI where
// the CPU has it). The whole-file content key of the store.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace modelfs {

class Sha256 {
 public:
  static constexpr size_t kSize = 32;

  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t n);
  // Returns the 32-byte digest; the object must not be used afterwards.
  std::string Finish();

  static std::string Digest(const void* data, size_t n);

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

}  // namespace modelfs
