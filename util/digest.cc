#include "util/digest.h"

#include <openssl/evp.h>

#include "util/error.h"

namespace modelfs {

struct MessageDigest::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

MessageDigest::MessageDigest(Algorithm algorithm) : ctx_(std::make_unique<Ctx>()) {
  const EVP_MD* md = algorithm == Algorithm::kSha256 ? EVP_sha256() : EVP_sha1();
  ctx_->md = EVP_MD_CTX_new();
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md, md, nullptr) != 1) {
    throw Error(ErrorCode::kIOError, "cannot initialise a message digest (OpenSSL)");
  }
}

MessageDigest::~MessageDigest() = default;

void MessageDigest::Update(const void* data, size_t n) { EVP_DigestUpdate(ctx_->md, data, n); }

std::string MessageDigest::Finish() {
  std::string out(EVP_MD_CTX_get_size(ctx_->md), '\0');
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_->md, reinterpret_cast<unsigned char*>(out.data()), &len);
  out.resize(len);
  return out;
}

std::string Sha256::Digest(const void* data, size_t n) {
  Sha256 h;
  h.Update(data, n);
  return h.Finish();
}

}  // namespace modelfs
