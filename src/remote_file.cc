// src/remote_file.cc — see remote_file.h.
#include "src/remote_file.h"

#include <fcntl.h>

#include <algorithm>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "src/catalog_records.h"
#include "util/error.h"
#include "util/file_io.h"
#include "util/hex.h"
#include "util/unique_fd.h"

namespace modelfs {
namespace {

constexpr uint64_t kHashStep = 1 << 20;

}  // namespace

RemoteFile::RemoteFile(std::string id, std::filesystem::path staging_path, uint64_t size,
                       SegmentMap present, std::unique_ptr<remote::RangeFetcher> fetcher,
                       LazyFile::Options options, std::function<void()> on_verified)
    : id_(std::move(id)),
      fetcher_(std::move(fetcher)),
      lazy_(std::move(staging_path), size, std::move(present), fetcher_.get(), options),
      on_verified_(std::move(on_verified)) {
  if (!remote_id::IsValid(id_)) {
    throw Error(ErrorCode::kInvalidArgument, "not a remote content id");
  }
  ResetDigest();
}

void RemoteFile::ResetDigest() {
  if (remote_id::IsLocation(id_)) {
    digest_.reset();  // no digest promised: the size is all there is to check
  } else if (remote_id::IsSha256(id_)) {
    digest_ = std::make_unique<Sha256>();
  } else {
    digest_ = std::make_unique<GitBlobSha1>(lazy_.size());
  }
  hashed_ = 0;
}

bool RemoteFile::verified() const {
  std::lock_guard<std::mutex> lock(digest_mu_);
  return verified_;
}

size_t RemoteFile::ReadAt(uint64_t offset, size_t n, char* out, std::optional<uint64_t> generation) {
  const uint64_t era = lazy_.epoch();
  const size_t got = lazy_.ReadAt(offset, n, out, generation);
  // Another reader may have verified, failed and discarded the file since
  // this one read: its bytes are of that era and are never served.
  auto check_era = [&] {
    if (lazy_.epoch() != era) {
      throw Error(ErrorCode::kCorruption,
                  "the fetched bytes of this file did not match its digest and were discarded; "
                  "open it again to fetch it afresh");
    }
  };
  check_era();
  if (lazy_.complete()) {
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(digest_mu_);
      if (!verified_) {
        check_era();
        VerifyComplete();  // throws on a mismatch
        first = true;
      }
    }
    if (first && on_verified_) on_verified_();
  } else {
    // Keep the digest abreast of sequential readers: twice what was read.
    AdvanceDigest(2 * static_cast<uint64_t>(got) + kHashStep);
  }
  return got;
}

void RemoteFile::AdvanceDigest(uint64_t budget) {
  std::unique_lock<std::mutex> lock(digest_mu_, std::try_to_lock);
  if (!lock.owns_lock() || verified_ || !digest_) return;
  HashUpTo(std::min(lazy_.PresentPrefix(), hashed_ + budget));
}

void RemoteFile::HashUpTo(uint64_t limit) {
  if (hashed_ >= limit) return;
  std::vector<char> buf(static_cast<size_t>(std::min<uint64_t>(kHashStep * 4, limit - hashed_)));
  UniqueFd fd(::open(lazy_.staging_path().c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) ThrowErrno("cannot read staging file " + lazy_.staging_path().string());
  while (hashed_ < limit) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), limit - hashed_));
    PreadFull(fd.get(), buf.data(), n, hashed_, "cannot read staging file " + lazy_.staging_path().string());
    digest_->Update(buf.data(), n);
    hashed_ += n;
  }
}

void RemoteFile::VerifyComplete() {
  if (!digest_) {
    verified_ = true;
    return;
  }
  HashUpTo(lazy_.size());
  const std::string actual = digest_->Finish();
  const std::string_view expected = remote_id::Digest(id_);
  if (actual == expected) {
    verified_ = true;
    return;
  }
  lazy_.Discard();
  ResetDigest();
  const std::string message = "the fetched bytes of " + lazy_.staging_path().filename().string() +
                              " do not match " + remote_id::Describe(id_) + " (got " +
                              HexEncode(actual) +
                              "); they were discarded and will be fetched again";
  spdlog::error("{}", message);
  throw Error(ErrorCode::kCorruption, message);
}

}  // namespace modelfs
