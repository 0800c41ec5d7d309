// src/remote_file.cc — see remote_file.h.
#include "src/remote_file.h"

#include <algorithm>
#include <memory>
#include <system_error>
#include <utility>

#include <spdlog/spdlog.h>

#include "src/catalog_records.h"
#include "util/error.h"
#include "util/hex.h"

namespace modelfs {
namespace {

constexpr size_t kHashStep = 1 << 20;

}  // namespace

RemoteFile::RemoteFile(std::string id, std::filesystem::path staging_path, uint64_t size,
                       SegmentMap present, std::unique_ptr<remote::RangeFetcher> fetcher,
                       LazyFile::Options options, std::function<void()> on_verified,
                       MismatchFn on_mismatch)
    : id_(std::move(id)),
      fetcher_(std::move(fetcher)),
      lazy_(std::move(staging_path), size, std::move(present), fetcher_.get(), options),
      on_verified_(std::move(on_verified)),
      on_mismatch_(std::move(on_mismatch)) {
  if (!remote_id::IsValid(id_)) {
    throw Error(ErrorCode::kInvalidArgument, "not a remote content id");
  }
  ResetDigest();
}

RemoteFile::~RemoteFile() {
  std::future<void> hasher;
  {
    std::lock_guard<std::mutex> lock(hasher_mu_);
    hasher = std::move(hasher_);
  }
  if (hasher.valid()) hasher.wait();
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

size_t RemoteFile::ReadAt(uint64_t offset, size_t n, char* out, std::optional<uint64_t> generation,
                          const std::stop_token& interrupt) {
  // Another reader may verify, fail and discard the file while this one
  // reads: bytes of a discarded era are never served (LazyFile checks).
  const uint64_t era = generation.value_or(lazy_.epoch());
  const size_t got = lazy_.ReadAt(offset, n, out, era, interrupt);
  AfterRead(era);
  return got;
}

size_t RemoteFile::ReadSegments(uint64_t offset, size_t n, std::vector<FileReader::Segment>* out,
                                std::optional<uint64_t> generation, const std::stop_token& interrupt) {
  const uint64_t era = generation.value_or(lazy_.epoch());
  const size_t first = out->size();
  try {
    const size_t got = lazy_.ReadSegments(offset, n, era, out, interrupt);
    AfterRead(era);
    return got;
  } catch (...) {
    out->resize(first);  // nothing of a failed read is served
    throw;
  }
}

void RemoteFile::FetchWhole(std::optional<uint64_t> generation, const std::stop_token& interrupt) {
  const uint64_t era = generation.value_or(lazy_.epoch());
  if (verified()) return;
  std::lock_guard<std::mutex> whole(whole_mu_);
  // In steps of a readahead window, in order: the stream this makes keeps
  // requests large and parallel, and the digest follows the present prefix.
  constexpr size_t kStep = 8 << 20;
  uint64_t offset = 0;
  do {
    if (verified()) return;  // by the thread that held whole_mu_ before
    offset += lazy_.Fetch(offset, kStep, era, interrupt);
    AfterRead(era);          // throws on a mismatch
  } while (offset < size());
}

void RemoteFile::AfterRead(uint64_t era) {
  if (lazy_.complete()) {
    bool first = false;
    std::optional<std::string> mismatch;  // the digest of the discarded bytes
    {
      std::lock_guard<std::mutex> lock(digest_mu_);
      if (!verified_) {
        if (lazy_.epoch() != era) throw DiscardedBytesError();
        mismatch = VerifyComplete();
        first = !mismatch;
      }
    }
    if (mismatch) {
      if (on_mismatch_) on_mismatch_(*this, *mismatch);
      throw Error(ErrorCode::kCorruption,
                  "the fetched bytes of " + lazy_.staging_path().filename().string() +
                      " do not match " + remote_id::Describe(id_) + " (got " + HexEncode(*mismatch) +
                      "); they were discarded and will be fetched again");
    }
    if (first) {
      // Storing it comes next, and reads will come from the store: the
      // memory the fetch kept is better left to the ingestion.
      lazy_.DropMemory();
      if (on_verified_) on_verified_();
    }
  } else if (!remote_id::IsLocation(id_)) {  // (digest_ is guarded by digest_mu_)
    StartHashing();
  }
}

void RemoteFile::StartHashing() {
  std::lock_guard<std::mutex> lock(hasher_mu_);
  if (hashing_) return;
  if (hasher_.valid()) hasher_.wait();  // finished: it cleared hashing_
  hashing_ = true;
  try {
    hasher_ = std::async(std::launch::async, [this] {
      try {
        AdvanceDigest();
      } catch (const std::exception& e) {
        // The bytes stay unhashed; the check of the complete file reads them again.
        spdlog::warn("cannot hash {}: {}", lazy_.staging_path().string(), e.what());
      }
      std::lock_guard<std::mutex> lock(hasher_mu_);
      hashing_ = false;
    });
  } catch (const std::system_error&) {
    hashing_ = false;  // no thread: the check of the complete file hashes it all
  }
}

void RemoteFile::AdvanceDigest() {
  // Until the present prefix stops growing: a sequential read keeps it moving.
  for (;;) {
    std::unique_lock<std::mutex> lock(digest_mu_, std::try_to_lock);
    if (!lock.owns_lock() || verified_ || !digest_) return;
    const uint64_t limit = lazy_.PresentPrefix();
    if (hashed_ >= limit) return;
    HashUpTo(limit);
  }
}

void RemoteFile::HashUpTo(uint64_t limit) {
  while (hashed_ < limit) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kHashStep, limit - hashed_));
    lazy_.VisitPresent(hashed_, n, [&](const char* data, size_t size) { digest_->Update(data, size); });
    hashed_ += n;
  }
}

std::optional<std::string> RemoteFile::VerifyComplete() {
  if (!digest_) {
    verified_ = true;
    return std::nullopt;
  }
  HashUpTo(lazy_.size());
  std::string actual = digest_->Finish();
  if (actual == remote_id::Digest(id_)) {
    verified_ = true;
    return std::nullopt;
  }
  lazy_.Discard();
  ResetDigest();
  return actual;
}

}  // namespace modelfs
