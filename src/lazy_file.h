// src/lazy_file.h — one remote file fetched lazily into a sparse staging file.
//
// A LazyFile owns the staging file (created if missing, sized to the remote
// file, holes where nothing was fetched) and the map of which segments of it
// hold fetched bytes. ReadAt() serves present segments from the staging file
// and fetches absent ones through a RangeFetcher:
//   - concurrent readers of one absent segment share one fetch; the others
//     wait for it;
//   - a read starting where the reads before it ended, or a large one (as
//     the kernel's readahead sends, a few at a time and not always in
//     order) going past that end from near it, advances a stream (the first
//     read of a LazyFile does not, so a lone read fetches no more): the
//     readahead window doubles from one segment up to max_window, and once
//     less than half of it is claimed ahead of the reads, the segments up
//     to a window ahead are fetched in the background, in up to
//     max_parallel concurrent requests;
//   - a large read just behind that end leaves the stream as it is; any
//     other read is random and fetches only the segments it touches;
//   - a failed fetch leaves its segments absent, wakes their waiters (which
//     get the error) and throws Error(kIOError) to the reader — never a hang;
//   - no read waits longer than options.read_timeout for the network: its
//     own fetches end by then and so does its wait for others' (it then
//     throws Error(kTimedOut)); a stopped interrupt token ends it at once
//     (Error(kInterrupted)). A fetch cut short this way leaves its segments
//     to the next reader that needs them, with no error recorded against
//     them. Background readahead is bounded by the fetcher's progress rule;
//   - for kFailFast after a fetch failed slowly (it ran kFailFast or
//     longer: a stalled server) or by an abort of every transfer, a read
//     that needs a segment nobody is fetching fails at once with that
//     error. The kernel asks again right after a failed readahead, and sends
//     a file's buffered reads one at a time (Linux 6.18): neither must add
//     another wait to the reader's, nor undo an abort. A fetch that failed
//     quickly (an error status) is tried again at once.
// Bytes of a segment are served only once all of it is written, so a reader
// never sees a hole. The segments that arrived last stay in memory (see
// recent_segments.h), where readers and the digest take them; aligned
// transfers to and from the staging file use direct I/O where the filesystem
// offers it, so fetched bytes reach the disk without a second copy in the
// page cache (on this project's VMs, filling fresh page-cache pages ran at a
// quarter of the speed of a direct write). Thread-safe. The destructor
// waits for background readahead to finish.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "remote/range_fetcher.h"
#include "src/file_reader.h"
#include "src/memory_budget.h"
#include "src/recent_segments.h"
#include "src/segment_map.h"
#include "util/deadline.h"
#include "util/error.h"
#include "util/unique_fd.h"

namespace modelfs {

// What a read gets once the bytes of its era were discarded as wrong (see
// LazyFile::Discard): Error(kCorruption) telling to open the file again.
Error DiscardedBytesError();

class LazyFile {
 public:
  static constexpr std::chrono::seconds kFailFast{1};

  struct Options {
    // A lone random read fetches one segment: 256 KiB take ~0.5 ms on a
    // fast link; sequential reads fetch many segments per request anyway.
    uint64_t segment_size = 256 << 10;
    uint64_t max_window = 8 << 20;
    int max_parallel = 4;
    // Segments kept in memory after they arrive: two readahead windows, so
    // a sequential reader, and the digest behind it, find there what was
    // fetched ahead of them while parallel requests complete out of order.
    size_t recent_segments = 64;
    // Shared with the other files read at the same time (see
    // memory_budget.h); null: this file alone bounds what it keeps.
    std::shared_ptr<MemoryBudget> memory_budget = nullptr;
    // Called before n fetched bytes are written to the staging file: frees
    // room for them or throws Error(kNoSpace), which fails the fetch.
    std::function<void(uint64_t n)> make_room = nullptr;
    // The longest one read waits for the network (FetchLimits::read_timeout).
    std::chrono::milliseconds read_timeout{30000};
  };

  // `present` says which segments the staging file already holds (e.g. a
  // Snapshot() of an earlier LazyFile); its sizes must match `size` and
  // options.segment_size. *fetcher must outlive the LazyFile. Throws Error.
  LazyFile(std::filesystem::path staging_path, uint64_t size, SegmentMap present,
           remote::RangeFetcher* fetcher, Options options);
  // Default options, in segments of `present`'s size.
  LazyFile(std::filesystem::path staging_path, uint64_t size, SegmentMap present,
           remote::RangeFetcher* fetcher)
      : LazyFile(std::move(staging_path), size, present, fetcher,
                 Options{.segment_size = present.segment_size()}) {}
  ~LazyFile();
  LazyFile(const LazyFile&) = delete;
  LazyFile& operator=(const LazyFile&) = delete;

  // Reads up to `n` bytes at `offset` into `out`; fewer only at end of file.
  // Throws Error(kIOError) when a needed fetch fails. With `epoch`, throws
  // DiscardedBytesError() once Discard() moved past it, before fetching (a
  // reader of discarded bytes cannot refill the file from its era) and
  // after copying (what it copied may be of the discarded bytes). Throws
  // Error(kTimedOut) after options.read_timeout without the bytes, and
  // Error(kInterrupted) once `interrupt` is stopped while it waits.
  size_t ReadAt(uint64_t offset, size_t n, char* out, std::optional<uint64_t> epoch = std::nullopt,
                const std::stop_token& interrupt = {});
  // The same bytes as views (FileReader::Segment): segments held in memory
  // without a copy, the rest read from the staging file into new buffers.
  size_t ReadSegments(uint64_t offset, size_t n, std::optional<uint64_t> epoch,
                      std::vector<FileReader::Segment>* out, const std::stop_token& interrupt = {});

  // Fetches what [offset, offset + n) lacks, as a read of it would (it
  // counts towards the readahead stream), and waits until all of it is
  // present, serving nothing; returns n cut at the end of the file. Throws
  // as ReadAt().
  size_t Fetch(uint64_t offset, size_t n, std::optional<uint64_t> epoch,
               const std::stop_token& interrupt = {}) {
    return AwaitPresent(offset, n, epoch, interrupt);
  }

  // Hands bytes the caller knows are present (below PresentPrefix()) to
  // `visit` in order, fetching nothing. Throws Error.
  void VisitPresent(uint64_t offset, size_t n,
                    const std::function<void(const char* data, size_t size)>& visit) const;

  SegmentMap Snapshot() const;
  // Bytes from offset 0 up to the first absent segment.
  uint64_t PresentPrefix() const;
  // Forgets every fetched byte (they proved wrong): the staging file becomes
  // one hole and the next reads fetch again. Waits for fetches in flight.
  void Discard();
  // The number of Discard() calls so far.
  uint64_t epoch() const;
  // Frees the segments held in memory (reads take them from the staging
  // file from then on): for a file that will not be read much longer.
  void DropMemory();
  // fdatasync(2) of the staging file, so a Snapshot() taken before it holds.
  void Sync();
  // Waits for the background readahead started so far (a last Snapshot()
  // before destruction then records what it fetched).
  void WaitForReadahead();
  bool complete() const;
  // Bytes fetched from the remote by this object (readahead included).
  uint64_t fetched_bytes() const;

  uint64_t size() const { return size_; }
  const std::filesystem::path& staging_path() const { return path_; }

 private:
  // Adjacent segments [first, first + count) claimed (marked in flight) by one fetch.
  struct Piece {
    size_t first;
    size_t count;
  };

  // Claims the absent, not in-flight segments of [first, last] (under mu_),
  // cut into pieces of at most `piece_segments` segments.
  void ClaimLocked(size_t first, size_t last, size_t piece_segments, std::vector<Piece>* out);
  // Fetches and stores one claimed piece by `deadline`; on failure releases
  // it and throws: Error(kIOError) recorded for its waiters, or (cut short
  // by the deadline or its token) the kTimedOut or kInterrupted error,
  // recorded for no one.
  void FetchPiece(const Piece& piece, const Deadline& deadline);
  // Runs pieces, up to max_parallel at once; rethrows the first failure
  // after all have finished.
  void FetchAll(const std::vector<Piece>& pieces, const Deadline& deadline);
  void StartReadahead(std::vector<Piece> pieces);  // under mu_
  // Fetches what [offset, offset + n) lacks and waits until all of it is
  // present; returns n cut at the end of the file. Throws as ReadAt().
  size_t AwaitPresent(uint64_t offset, size_t n, std::optional<uint64_t> epoch,
                      const std::stop_token& interrupt);
  // Splits present bytes [offset, offset + n) into what memory holds
  // (from_memory(buffer, offset in it, length, position)) and runs of
  // segments to read from the staging file (from_disk(offset, length,
  // position)); positions count from `offset`.
  template <typename FromMemory, typename FromDisk>
  void ForEachSource(uint64_t offset, size_t n, FromMemory from_memory, FromDisk from_disk) const;
  void CheckEpoch(std::optional<uint64_t> epoch) const;  // under mu_
  // The staging file's bytes, through direct_fd_ when the transfer is
  // aligned and lies wholly inside the file, else through fd_. Throw Error.
  void WriteStaging(const char* data, size_t n, uint64_t offset);
  void ReadStaging(char* out, size_t n, uint64_t offset) const;  // all n bytes

  const std::filesystem::path path_;
  const uint64_t size_;
  remote::RangeFetcher* const fetcher_;
  const Options options_;
  UniqueFd fd_;
  UniqueFd direct_fd_;  // O_DIRECT, invalid where the filesystem refuses it
  std::counting_semaphore<> fetch_slots_;  // bounds concurrent Fetch() calls

  mutable std::mutex mu_;
  std::condition_variable_any cv_;           // a segment left the in-flight state
  SegmentMap present_;                       // guarded by mu_
  std::vector<bool> in_flight_;              // guarded by mu_
  std::vector<uint32_t> failures_;           // per segment, guarded by mu_
  std::vector<std::string> last_error_;      // per segment, guarded by mu_
  Deadline::Clock::time_point slow_failure_at_ = Deadline::Clock::time_point::min();  // guarded by mu_
  std::string slow_failure_;                 // its message, guarded by mu_
  static constexpr uint64_t kNoRead = ~uint64_t{0};
  uint64_t last_end_ = kNoRead;              // furthest end of the reads of this sequence
  uint64_t window_ = 0;                      // readahead window, bytes
  uint64_t ahead_end_ = 0;                   // end of what readahead claimed
  uint64_t fetched_bytes_ = 0;
  uint64_t epoch_ = 0;                       // guarded by mu_
  std::vector<std::future<void>> readahead_;  // background fetches, guarded by mu_
  RecentSegments recent_;                    // guarded by mu_
};

}  // namespace modelfs
