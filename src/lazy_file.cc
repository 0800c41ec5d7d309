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

#include "util/error.h"
#include "util/file_io.h"

namespace modelfs {
namespace {

void PwriteFull(int fd, const char* buf, size_t n, uint64_t offset, const std::string& what) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, buf, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      ThrowErrno(what);
    }
    buf += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
}

constexpr size_t kWriteBatch = 256 << 10;

// Holds one of a semaphore's slots for its lifetime.
class SlotGuard {
 public:
  explicit SlotGuard(std::counting_semaphore<>* sem) : sem_(sem) { sem_->acquire(); }
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
      present_(std::move(present)) {
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
  fd_.Reset(::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd_.valid()) ThrowErrno("cannot open staging file " + path_.string());
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) ThrowErrno("cannot stat staging file " + path_.string());
  if (static_cast<uint64_t>(st.st_size) != size_ &&
      ::ftruncate(fd_.get(), static_cast<off_t>(size_)) != 0) {
    ThrowErrno("cannot size staging file " + path_.string());
  }
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

void LazyFile::FetchPiece(const Piece& piece) {
  const uint64_t begin = present_.SegmentBegin(piece.first);
  const uint64_t end = std::min(size_, present_.SegmentBegin(piece.first + piece.count));
  const size_t stop = piece.first + piece.count;
  size_t next = piece.first;  // the first segment of the piece not yet present
  // Marks the segments wholly written below `at` present, waking their readers.
  auto publish = [&](uint64_t at) {
    size_t done = next;
    while (done < stop && present_.SegmentBegin(done) + present_.SegmentLength(done) <= at) ++done;
    if (done == next) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (size_t i = next; i < done; ++i) {
        present_.Set(i);
        in_flight_[i] = false;
        fetched_bytes_ += present_.SegmentLength(i);
      }
    }
    next = done;
    cv_.notify_all();
  };
  try {
    // Written as it arrives, in batches of up to kWriteBatch (curl hands
    // bodies over 16 KiB at a time; a write per piece would cost a system
    // call each) that end at segment boundaries, so each segment is served
    // as soon as it is whole and no buffer of the piece's size is needed.
    SlotGuard slot(&fetch_slots_);
    std::unique_ptr<char[]> batch(new char[kWriteBatch]);
    size_t batched = 0;
    uint64_t at = begin;  // where the batch goes
    fetcher_->FetchTo(begin, static_cast<size_t>(end - begin), [&](const char* data, size_t size) {
      while (size > 0) {
        const uint64_t pos = at + batched;
        const uint64_t boundary = std::min(end, present_.SegmentBegin(present_.SegmentOf(pos) + 1));
        const size_t take = static_cast<size_t>(std::min<uint64_t>({size, kWriteBatch - batched, boundary - pos}));
        std::memcpy(batch.get() + batched, data, take);
        batched += take;
        data += take;
        size -= take;
        if (batched == kWriteBatch || pos + take == boundary) {
          PwriteFull(fd_.get(), batch.get(), batched, at, "cannot write staging file " + path_.string());
          at += batched;
          batched = 0;
          publish(at);
        }
      }
    });
    if (next != stop) throw Error(ErrorCode::kIOError, "the fetch ended early");
  } catch (const std::exception& e) {
    const uint64_t failed_at = present_.SegmentBegin(next);
    std::string message = "cannot fetch bytes " + std::to_string(failed_at) + "-" +
                          std::to_string(end - 1) + " of " + path_.filename().string() + ": " +
                          e.what();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (size_t i = next; i < stop; ++i) {
        in_flight_[i] = false;
        ++failures_[i];
        last_error_[i] = message;
      }
    }
    cv_.notify_all();
    throw Error(ErrorCode::kIOError, message);
  }
}

void LazyFile::FetchAll(const std::vector<Piece>& pieces) {
  if (pieces.empty()) return;
  if (pieces.size() == 1) {
    FetchPiece(pieces[0]);
    return;
  }
  std::atomic<size_t> next{0};
  std::mutex error_mu;
  std::exception_ptr error;
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < pieces.size();) {
      try {
        FetchPiece(pieces[i]);
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
        FetchAll(pieces);
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

size_t LazyFile::ReadAt(uint64_t offset, size_t n, char* out, std::optional<uint64_t> epoch) {
  auto check_epoch = [&] {  // under mu_
    if (epoch && *epoch != epoch_) throw DiscardedBytesError();
  };
  if (offset >= size_ || n == 0) {
    std::lock_guard<std::mutex> lock(mu_);
    check_epoch();
    return 0;
  }
  n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
  const uint64_t segment = options_.segment_size;
  size_t first = present_.SegmentOf(offset);
  size_t last = present_.SegmentOf(offset + n - 1);

  std::vector<Piece> claimed;
  size_t piece_segments = 1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    check_epoch();
    if (offset == last_end_) {  // never on the first read: one read is no sequence yet
      window_ = window_ == 0 ? segment : std::min(window_ * 2, options_.max_window);
      window_ = std::max(window_, segment);
    } else {
      window_ = 0;
    }
    last_end_ = offset + n;
    piece_segments = std::max<size_t>(
        1, static_cast<size_t>(window_ / segment) / static_cast<size_t>(options_.max_parallel));
    ClaimLocked(first, last, piece_segments, &claimed);
    if (window_ > 0 && offset + n < size_) {
      size_t ahead_last = present_.SegmentOf(std::min(size_, offset + n + window_) - 1);
      std::vector<Piece> ahead;
      if (ahead_last > last) ClaimLocked(last + 1, ahead_last, piece_segments, &ahead);
      StartReadahead(std::move(ahead));
    }
  }

  for (;;) {
    FetchAll(claimed);  // throws Error(kIOError) on failure
    claimed.clear();
    std::unique_lock<std::mutex> lock(mu_);
    check_epoch();
    ClaimLocked(first, last, piece_segments, &claimed);  // released by a failed fetch
    if (!claimed.empty()) continue;
    std::vector<uint32_t> failures(failures_.begin() + first, failures_.begin() + last + 1);
    cv_.wait(lock, [&] {
      for (size_t i = first; i <= last; ++i) {
        if (in_flight_[i]) return false;
      }
      return true;
    });
    bool all = true;
    for (size_t i = first; i <= last; ++i) {
      if (present_.Has(i)) continue;
      all = false;
      if (failures_[i] != failures[i - first]) throw Error(ErrorCode::kIOError, last_error_[i]);
    }
    if (all) break;
  }
  const size_t got = PreadFull(fd_.get(), out, n, offset, "cannot read staging file " + path_.string());
  if (epoch) {
    std::lock_guard<std::mutex> lock(mu_);
    check_epoch();
  }
  return got;
}

size_t LazyFile::ReadPresent(uint64_t offset, size_t n, char* out) const {
  return PreadFull(fd_.get(), out, n, offset, "cannot read staging file " + path_.string());
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
  if (size_ > 0 && ::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                               static_cast<off_t>(size_)) != 0) {
    // No hole punching here: the bytes stay until overwritten, but the map
    // says absent, so they are never served.
  }
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
