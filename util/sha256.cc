#include "util/sha256.h"

#include <openssl/evp.h>

#include "util/error.h"

namespace modelfs {

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1) {
    throw Error(ErrorCode::kIOError, "cannot initialise SHA-256 (OpenSSL)");
  }
}

Sha256::~Sha256() = default;

void Sha256::Update(const void* data, size_t n) { EVP_DigestUpdate(ctx_->md, data, n); }

std::string Sha256::Finish() {
  std::string out(kSize, '\0');
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_->md, reinterpret_cast<unsigned char*>(out.data()), &len);
  return out;
}

std::string Sha256::Digest(const void* data, size_t n) {
  Sha256 h;
  h.Update(data, n);
  return h.Finish();
}

}  // namespace modelfs
