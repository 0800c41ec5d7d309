// src/lazy_file.cc — see lazy_file.h.
#include "src/lazy_file.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <system_error>
#include <thread>
#include <utility>

#include "util/aligned_buffer.h"
#include "util/error.h"
#include "util/file_io.h"

namespace modelfs {
namespace {

// How far from the end of the reads so far a large read (one of at least
// kStreamReadSize, as the kernel's readahead sends) still counts as
// sequential: the kernel has several reads of a stream in flight.
constexpr uint64_t kSequentialSlack = 4 << 20;
constexpr size_t kStreamReadSize = 64 << 10;

// Holds one of a semaphore's slots for its lifetime. Waits for it no longer
// than `deadline` allows (throwing as Deadline::Check does).
class SlotGuard {
 public:
  SlotGuard(std::counting_semaphore<>* sem, const Deadline& deadline, const std::string& what) : sem_(sem) {
    // (A semaphore cannot watch a stop token: look every few ms.)
    while (!sem_->try_acquire_for(std::chrono::milliseconds(20))) deadline.Check(what);
  }
  ~SlotGuard() { sem_->release(); }
  SlotGuard(const SlotGuard&) = delete;
  SlotGuard& operator=(const SlotGuard&) = delete;

 private:
  std::counting_semaphore<>* sem_;
};

}  // namespace

Error DiscardedBytesError() {
  return Error(ErrorCode::kCorruption,
               "the fetched bytes of this file did not match its digest and were discarded; "
               "open it again to fetch it afresh");
}

LazyFile::LazyFile(std::filesystem::path staging_path, uint64_t size, SegmentMap present,
                   remote::RangeFetcher* fetcher, Options options)
    : path_(std::move(staging_path)),
      size_(size),
      fetcher_(fetcher),
      options_(options),
      fetch_slots_(std::max(1, options.max_parallel)),
      present_(std::move(present)),
      recent_(options.recent_segments, options.segment_size, options.memory_budget) {
  if (options_.segment_size == 0 || options_.max_parallel < 1) {
    throw Error(ErrorCode::kInvalidArgument,
                "lazy file options need a segment size above 0 and at least one parallel fetch");
  }
  if (present_.file_size() != size_ || present_.segment_size() != options_.segment_size) {
    throw Error(ErrorCode::kInvalidArgument,
                "the segment map of " + path_.string() + " describes " +
                    std::to_string(present_.file_size()) + " bytes in segments of " +
                    std::to_string(present_.segment_size()) + ", not " + std::to_string(size_) +
                    " bytes in segments of " + std::to_string(options_.segment_size));
  }
  fd_.Reset(::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd_.valid()) ThrowErrno("cannot open staging file " + path_.string());
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) ThrowErrno("cannot stat staging file " + path_.string());
  if (static_cast<uint64_t>(st.st_size) != size_ &&
      ::ftruncate(fd_.get(), static_cast<off_t>(size_)) != 0) {
    ThrowErrno("cannot size staging file " + path_.string());
  }
  direct_fd_.Reset(::open(path_.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC));  // optional
  in_flight_.assign(present_.segments(), false);
  failures_.assign(present_.segments(), 0);
  last_error_.assign(present_.segments(), std::string());
}

LazyFile::~LazyFile() { WaitForReadahead(); }

void LazyFile::WaitForReadahead() {
  std::vector<std::future<void>> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending.swap(readahead_);
  }
  for (auto& f : pending) f.wait();
}

void LazyFile::ClaimLocked(size_t first, size_t last, size_t piece_segments,
                           std::vector<Piece>* out) {
  last = std::min(last, present_.segments() - 1);
  for (size_t i = first; i <= last; ++i) {
    if (present_.Has(i) || in_flight_[i]) continue;
    in_flight_[i] = true;
    if (!out->empty() && out->back().first + out->back().count == i &&
        out->back().count < piece_segments) {
      ++out->back().count;
    } else {
      out->push_back(Piece{i, 1});
    }
  }
}

void LazyFile::FetchPiece(const Piece& piece, const Deadline& deadline) {
  // (Geometry from the constants: present_ is guarded by mu_.)
  const uint64_t segment = options_.segment_size;
  auto begin_of = [&](size_t i) { return static_cast<uint64_t>(i) * segment; };
  const uint64_t end = std::min(size_, begin_of(piece.first + piece.count));
  const size_t stop = piece.first + piece.count;
  size_t next = piece.first;  // the segment being received
  const auto began = Deadline::Clock::now();
  try {
    // Each segment is received into a buffer of its own, written to the
    // staging file from there, then served (and kept in memory) as soon as
    // it is whole, while the rest of the piece is still arriving.
    SlotGuard slot(&fetch_slots_, deadline, "waiting for a free connection");
    RecentSegments::Buffer buffer;
    size_t filled = 0;
    fetcher_->FetchTo(begin_of(next), static_cast<size_t>(end - begin_of(next)),
                      [&](const char* data, size_t size) {
      while (size > 0) {
        if (!buffer.bytes) {
          std::lock_guard<std::mutex> lock(mu_);
          buffer = recent_.Acquire();
        }
        const size_t length = static_cast<size_t>(std::min(segment, size_ - begin_of(next)));
        const size_t take = std::min(size, length - filled);
        std::memcpy(buffer.data() + filled, data, take);
        filled += take;
        data += take;
        size -= take;
        if (filled < length) continue;
        WriteStaging(buffer.data(), length, begin_of(next));
        {
          std::lock_guard<std::mutex> lock(mu_);
          present_.Set(next);
          in_flight_[next] = false;
          fetched_bytes_ += length;
          recent_.Put(next, std::move(buffer));
        }
        cv_.notify_all();
        buffer = {};
        filled = 0;
        ++next;
      }
    }, deadline);
    if (next != stop) throw Error(ErrorCode::kIOError, "the fetch ended early");
  } catch (const std::exception& e) {
    const uint64_t failed_at = begin_of(next);
    std::string message = "cannot fetch bytes " + std::to_string(failed_at) + "-" +
                          std::to_string(end - 1) + " of " + path_.filename().string() + ": " +
                          e.what();
    // Cut short by this fetch's own bound (its reader's time ran out, or
    // its reader was interrupted): the server is not to blame, and a reader
    // with time left fetches the segments again. (An abort of every
    // transfer is recorded: it is meant for all waiters.)
    const auto* error = dynamic_cast<const Error*>(&e);
    const bool cut_short =
        error && ((error->code() == ErrorCode::kTimedOut && deadline.expired()) ||
                  (error->code() == ErrorCode::kInterrupted && deadline.stopped()));
    const bool aborted = error && error->code() == ErrorCode::kInterrupted && !cut_short;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const auto now = Deadline::Clock::now();
      if (aborted || now - began >= kFailFast) {
        slow_failure_at_ = now;
        slow_failure_ = message;
      }
      for (size_t i = next; i < stop; ++i) {
        in_flight_[i] = false;
        if (cut_short) continue;
        ++failures_[i];
        last_error_[i] = message;
      }
    }
    cv_.notify_all();
    throw Error(cut_short ? error->code() : ErrorCode::kIOError, message);
  }
}

void LazyFile::FetchAll(const std::vector<Piece>& pieces, const Deadline& deadline) {
  if (pieces.empty()) return;
  if (pieces.size() == 1) {
    FetchPiece(pieces[0], deadline);
    return;
  }
  std::atomic<size_t> next{0};
  std::mutex error_mu;
  std::exception_ptr error;
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < pieces.size();) {
      try {
        FetchPiece(pieces[i], deadline);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (!error) error = std::current_exception();
      }
    }
  };
  size_t workers = std::min(pieces.size(), static_cast<size_t>(options_.max_parallel));
  std::vector<std::thread> threads;
  for (size_t w = 1; w < workers; ++w) {
    try {
      threads.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // no more threads: this one does the rest
    }
  }
  work();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

void LazyFile::StartReadahead(std::vector<Piece> pieces) {
  if (pieces.empty()) return;
  std::erase_if(readahead_, [](const std::future<void>& f) {
    return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  });
  try {
    readahead_.push_back(std::async(std::launch::async, [this, pieces] {
      try {
        FetchAll(pieces, Deadline());  // no reader waits on it: the progress rule bounds it
      } catch (const std::exception&) {
        // A reader that needs these segments fetches them again and reports.
      }
    }));
  } catch (const std::system_error&) {
    // No thread for readahead: release the claims; readers fetch on demand.
    for (const Piece& piece : pieces) {
      for (size_t i = piece.first; i < piece.first + piece.count; ++i) in_flight_[i] = false;
    }
  }
}

void LazyFile::CheckEpoch(std::optional<uint64_t> epoch) const {
  if (epoch && *epoch != epoch_) throw DiscardedBytesError();
}

size_t LazyFile::AwaitPresent(uint64_t offset, size_t n, std::optional<uint64_t> epoch,
                              const std::stop_token& interrupt) {
  if (offset >= size_ || n == 0) {
    std::lock_guard<std::mutex> lock(mu_);
    CheckEpoch(epoch);
    return 0;
  }
  n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
  const uint64_t segment = options_.segment_size;
  size_t first = present_.SegmentOf(offset);
  size_t last = present_.SegmentOf(offset + n - 1);

  const Deadline deadline = Deadline::After(options_.read_timeout, interrupt);
  std::vector<Piece> claimed;
  size_t piece_segments = 1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    CheckEpoch(epoch);
    if (slow_failure_at_ > Deadline::Clock::now() - kFailFast) {
      for (size_t i = first; i <= last; ++i) {
        if (!present_.Has(i) && !in_flight_[i]) throw Error(ErrorCode::kIOError, slow_failure_);
      }
    }
    // A stream of reads: each starts where the reads so far ended, or, for
    // a large read, near it (the kernel's readahead sends a stream's reads
    // several at a time, not always in order). A read that goes past the
    // end advances the stream and grows the window; a large one that falls
    // just behind it leaves the stream as it is; any other read (and the
    // first, as one read is no stream yet) is random.
    const uint64_t slack = std::max<uint64_t>(segment, kSequentialSlack);
    const bool near = last_end_ != kNoRead && n >= kStreamReadSize && offset + slack >= last_end_ &&
                      offset <= last_end_ + slack;
    const bool advances = last_end_ != kNoRead && (offset == last_end_ || (near && offset + n > last_end_));
    if (advances) {
      window_ = window_ == 0 ? segment : std::min(window_ * 2, options_.max_window);
      window_ = std::max(window_, segment);
      last_end_ = std::max(last_end_, offset + n);
    } else if (!near) {
      window_ = 0;
      ahead_end_ = 0;
      last_end_ = offset + n;
    }
    piece_segments = std::max<size_t>(
        1, static_cast<size_t>(window_ / segment) / static_cast<size_t>(options_.max_parallel));
    ClaimLocked(first, last, piece_segments, &claimed);
    // Readahead tops the window up once less than half of it is left ahead
    // of the reads, so that it goes out in few, large requests.
    if (window_ > 0 && last_end_ < size_ && ahead_end_ < last_end_ + window_ / 2) {
      const uint64_t until = std::min(size_, last_end_ + window_);
      std::vector<Piece> ahead;
      ClaimLocked(present_.SegmentOf(std::max(ahead_end_, last_end_)), present_.SegmentOf(until - 1),
                  piece_segments, &ahead);
      ahead_end_ = until;
      StartReadahead(std::move(ahead));
    }
  }

  for (;;) {
    FetchAll(claimed, deadline);  // throws on failure
    claimed.clear();
    std::unique_lock<std::mutex> lock(mu_);
    CheckEpoch(epoch);
    ClaimLocked(first, last, piece_segments, &claimed);  // released by a failed fetch
    if (!claimed.empty()) continue;
    std::vector<uint32_t> failures(failures_.begin() + first, failures_.begin() + last + 1);
    const bool settled = deadline.Wait(cv_, lock, [&] {
      for (size_t i = first; i <= last; ++i) {
        if (in_flight_[i]) return false;
      }
      return true;
    });
    if (!settled) {
      lock.unlock();
      deadline.Check("waiting for bytes " + std::to_string(offset) + "-" + std::to_string(offset + n - 1) +
                     " of " + path_.filename().string() + " from the network");
      continue;  // (a spurious end of the wait)
    }
    bool all = true;
    for (size_t i = first; i <= last; ++i) {
      if (present_.Has(i)) continue;
      all = false;
      if (failures_[i] != failures[i - first]) throw Error(ErrorCode::kIOError, last_error_[i]);
    }
    if (all) return n;
  }
}

template <typename FromMemory, typename FromDisk>
void LazyFile::ForEachSource(uint64_t offset, size_t n, FromMemory from_memory,
                             FromDisk from_disk) const {
  const uint64_t end = offset + n;
  std::vector<std::pair<RecentSegments::Buffer, uint64_t>> held;  // (buffer, segment begin)
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = present_.SegmentOf(offset);
         i < present_.segments() && present_.SegmentBegin(i) < end; ++i) {
      const RecentSegments::Buffer* buffer = recent_.Find(i);
      held.emplace_back(buffer ? *buffer : RecentSegments::Buffer{}, present_.SegmentBegin(i));
    }
  }
  uint64_t disk_from = offset;  // start of the run of segments not in memory
  auto flush_disk = [&](uint64_t until) {
    if (until <= disk_from) return;
    from_disk(disk_from, static_cast<size_t>(until - disk_from), static_cast<size_t>(disk_from - offset));
  };
  for (const auto& [buffer, begin] : held) {
    const uint64_t from = std::max(offset, begin);
    const uint64_t to = std::min(end, begin + options_.segment_size);
    if (!buffer.bytes) continue;
    flush_disk(from);
    from_memory(buffer, static_cast<size_t>(from - begin), static_cast<size_t>(to - from),
                static_cast<size_t>(from - offset));
    disk_from = to;
  }
  flush_disk(end);
}

size_t LazyFile::ReadAt(uint64_t offset, size_t n, char* out, std::optional<uint64_t> epoch,
                        const std::stop_token& interrupt) {
  n = AwaitPresent(offset, n, epoch, interrupt);
  if (n == 0) return 0;
  ForEachSource(
      offset, n,
      [&](const RecentSegments::Buffer& buffer, size_t at, size_t length, size_t position) {
        std::memcpy(out + position, buffer.data() + at, length);
      },
      [&](uint64_t from, size_t length, size_t position) {
        ReadStaging(out + position, length, from);
      });
  std::lock_guard<std::mutex> lock(mu_);
  CheckEpoch(epoch);  // what was copied may be of discarded bytes
  return n;
}

size_t LazyFile::ReadSegments(uint64_t offset, size_t n, std::optional<uint64_t> epoch,
                              std::vector<FileReader::Segment>* out, const std::stop_token& interrupt) {
  n = AwaitPresent(offset, n, epoch, interrupt);
  if (n == 0) return 0;
  ForEachSource(
      offset, n,
      [&](const RecentSegments::Buffer& buffer, size_t at, size_t length, size_t) {
        out->push_back({buffer.bytes, buffer.pad + at, length});
      },
      [&](uint64_t from, size_t length, size_t) {
        RecentSegments::Buffer buffer = RecentSegments::Buffer::Allocate(length);  // aligned: read directly
        ReadStaging(buffer.data(), length, from);
        out->push_back({std::move(buffer.bytes), buffer.pad, length});
      });
  std::lock_guard<std::mutex> lock(mu_);
  CheckEpoch(epoch);  // what was gathered may be of discarded bytes
  return n;
}

void LazyFile::VisitPresent(uint64_t offset, size_t n,
                            const std::function<void(const char* data, size_t size)>& visit) const {
  AlignedBuffer scratch;
  ForEachSource(
      offset, n,
      [&](const RecentSegments::Buffer& buffer, size_t at, size_t length, size_t) {
        visit(buffer.data() + at, length);
      },
      [&](uint64_t from, size_t length, size_t) {
        constexpr size_t kStep = 1 << 20;
        if (!scratch) scratch = AllocateAligned(kStep);
        for (size_t done = 0; done < length;) {
          const size_t step = std::min(kStep, length - done);
          ReadStaging(scratch.get(), step, from + done);
          visit(scratch.get(), step);
          done += step;
        }
      });
}

void LazyFile::WriteStaging(const char* data, size_t n, uint64_t offset) {
  if (options_.make_room) options_.make_room(n);
  const bool direct = direct_fd_.valid() && DirectIoAligned(data, offset, n);
  PwriteFull(direct ? direct_fd_.get() : fd_.get(), data, n, offset,
             "staging file " + path_.string());
}

void LazyFile::ReadStaging(char* out, size_t n, uint64_t offset) const {
  const bool direct = direct_fd_.valid() && DirectIoAligned(out, offset, n) && offset + n <= size_;
  const std::string what = "staging file " + path_.string();
  if (PreadFull(direct ? direct_fd_.get() : fd_.get(), out, n, offset, what) != n) {
    throw Error(ErrorCode::kIOError, "the " + what + " is shorter than its content");
  }
}

SegmentMap LazyFile::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return present_;
}

uint64_t LazyFile::epoch() const {
  std::lock_guard<std::mutex> lock(mu_);
  return epoch_;
}

uint64_t LazyFile::PresentPrefix() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t i = 0;
  while (i < present_.segments() && present_.Has(i)) ++i;
  return std::min(size_, present_.SegmentBegin(i));
}

void LazyFile::Discard() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return std::none_of(in_flight_.begin(), in_flight_.end(), [](bool b) { return b; }); });
  present_ = SegmentMap(size_, options_.segment_size);
  ++epoch_;
  last_end_ = kNoRead;
  window_ = 0;
  ahead_end_ = 0;
  recent_.Clear();
  if (size_ > 0 && ::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                               static_cast<off_t>(size_)) != 0) {
    // No hole punching here: the bytes stay until overwritten, but the map
    // says absent, so they are never served.
  }
}

void LazyFile::DropMemory() {
  std::lock_guard<std::mutex> lock(mu_);
  recent_.Clear(/*keep_spares=*/false);
}

void LazyFile::Sync() {
  if (::fdatasync(fd_.get()) != 0) ThrowErrno("cannot sync staging file " + path_.string());
}

bool LazyFile::complete() const {
  std::lock_guard<std::mutex> lock(mu_);
  return present_.complete();
}

uint64_t LazyFile::fetched_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fetched_bytes_;
}

}  // namespace modelfs
