// src/remote_file.h — one remote content on its way into the store: a
// LazyFile that fetches it, and the check of the digest its origin promised.
//
// What is verified when (the origin promises one digest for the whole file):
//   - by default, bytes are served from the staging file as their segments
//     arrive, before the whole file can be checked (a file of one segment
//     arrives whole, so it is checked before any byte of it is served);
//   - FetchWhole() (strict reading) fetches and checks the whole file first;
//   - once every segment is present, no byte is served before the whole
//     file matched its digest.
// The digest is computed along the way, over the prefix of the file already
// present, by a background thread that reads start when it is behind, so
// readers are not held up. A mismatch discards every fetched byte (the
// staging file, its segment map and the segments in memory), moves
// generation() on so that every reader of the old bytes fails from then on,
// calls on_mismatch, and fails the read with Error(kCorruption); the next
// read fetches from byte 0, so wrong bytes are never kept or served twice.
// Thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "remote/range_fetcher.h"
#include "src/lazy_file.h"
#include "util/digest.h"

namespace modelfs {

class RemoteFile {
 public:
  // Told the digest the discarded bytes had (raw, as remote_id::Digest).
  using MismatchFn = std::function<void(RemoteFile& file, const std::string& actual_digest)>;

  // `id` is the remote id (see catalog_records.h): it names the digest to
  // check. `on_verified` runs once, on the reading thread, when the file
  // first matched it; `on_mismatch` (may be null) on the reading thread
  // after each mismatch, once the bytes are discarded.
  RemoteFile(std::string id, std::filesystem::path staging_path, uint64_t size, SegmentMap present,
             std::unique_ptr<remote::RangeFetcher> fetcher, LazyFile::Options options,
             std::function<void()> on_verified, MismatchFn on_mismatch = nullptr);
  // Waits for the background hashing.
  ~RemoteFile();
  RemoteFile(const RemoteFile&) = delete;
  RemoteFile& operator=(const RemoteFile&) = delete;

  // Reads as LazyFile::ReadAt does. Throws Error(kIOError) for a failed fetch
  // and Error(kCorruption) when the completed file does not match its digest,
  // or when `generation` is given and the bytes of that generation were
  // discarded since; kTimedOut and kInterrupted as LazyFile::ReadAt.
  size_t ReadAt(uint64_t offset, size_t n, char* out,
                std::optional<uint64_t> generation = std::nullopt,
                const std::stop_token& interrupt = {});
  // The same, as views (see LazyFile::ReadSegments); appends nothing when
  // it throws.
  size_t ReadSegments(uint64_t offset, size_t n, std::vector<FileReader::Segment>* out,
                      std::optional<uint64_t> generation = std::nullopt,
                      const std::stop_token& interrupt = {});

  // Returns once the whole file is fetched and matched its digest (at once
  // when it did before): strict reading calls it before serving a byte.
  // One thread fetches; the others wait for it. Throws as ReadAt().
  void FetchWhole(std::optional<uint64_t> generation = std::nullopt, const std::stop_token& interrupt = {});

  const std::string& id() const { return id_; }
  uint64_t size() const { return lazy_.size(); }
  bool verified() const;
  // Counts the times fetched bytes were discarded as wrong. A reader that
  // began before a discard may hold wrong bytes: it must fail from then on.
  uint64_t generation() const { return lazy_.epoch(); }
  LazyFile& lazy() { return lazy_; }
  const LazyFile& lazy() const { return lazy_; }

 private:
  // After a read of the era `era`: verifies a complete file (throwing on a
  // mismatch, after on_mismatch_), or moves the digest along.
  void AfterRead(uint64_t era);
  // Starts the background hashing of the present prefix unless it runs.
  void StartHashing();
  // Hashes the present prefix (skipped when another thread is hashing).
  void AdvanceDigest();
  // Hashes [hashed_, limit) of the staging file; under digest_mu_.
  void HashUpTo(uint64_t limit);
  // Finishes and checks the digest of the complete file; under digest_mu_.
  // On a mismatch discards the bytes and returns the digest they had.
  std::optional<std::string> VerifyComplete();
  void ResetDigest();  // under digest_mu_

  const std::string id_;
  std::unique_ptr<remote::RangeFetcher> fetcher_;
  LazyFile lazy_;
  std::function<void()> on_verified_;
  MismatchFn on_mismatch_;
  std::mutex whole_mu_;  // one FetchWhole() at a time

  mutable std::mutex digest_mu_;
  std::unique_ptr<MessageDigest> digest_;  // over [0, hashed_)
  uint64_t hashed_ = 0;
  bool verified_ = false;

  std::mutex hasher_mu_;
  std::future<void> hasher_;  // the background hashing, guarded by hasher_mu_
  bool hashing_ = false;      // guarded by hasher_mu_
};

}  // namespace modelfs
