#include "cache/pack_prefetcher.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <vector>

#include "cache/chunk_store.h"
#include "util/file_io.h"

namespace modelfs::cache {
namespace {

// True when every page of [offset, offset + length) of `fd` is in the page
// cache (and false when that cannot be told).
bool Resident(int fd, uint64_t offset, uint64_t length) {
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t start = offset / page * page;
  const uint64_t span = offset + length - start;
  void* map = ::mmap(nullptr, span, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(start));
  if (map == MAP_FAILED) return false;
  std::vector<unsigned char> pages((span + page - 1) / page);
  bool all = ::mincore(map, span, pages.data()) == 0;
  for (size_t i = 0; all && i < pages.size(); ++i) all = (pages[i] & 1) != 0;
  ::munmap(map, span);
  return all;
}

}  // namespace

PackPrefetcher::PackPrefetcher(const ChunkStore* store, std::vector<Chunk> chunks, uint64_t window)
    : store_(store), chunks_(std::move(chunks)), window_(window), thread_([this] { Loop(); }) {}

PackPrefetcher::~PackPrefetcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void PackPrefetcher::Consumed(uint64_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    consumed_ += bytes;
  }
  changed_.notify_all();
}

uint64_t PackPrefetcher::runs_read() const {
  std::lock_guard<std::mutex> lock(mu_);
  return runs_read_;
}

uint64_t PackPrefetcher::bytes_read() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_read_;
}

bool PackPrefetcher::done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return done_;
}

bool PackPrefetcher::WaitForRoom(uint64_t raw_end) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return stopping_ || raw_end <= consumed_ + window_; });
  return !stopping_;
}

void PackPrefetcher::Loop() {
  Run run;
  uint64_t raw_end = 0;  // raw bytes of the chunks up to the end of `run`
  for (const Chunk& chunk : chunks_) {
    std::optional<ChunkLocation> loc;
    try {
      loc = store_->Locate(chunk.hash);
    } catch (const std::exception&) {
      loc.reset();  // only a hint: the reader will say what is wrong
    }
    const bool extends = loc && run.length > 0 && loc->pack_id == run.pack_id &&
                         loc->offset == run.offset + run.length && run.length + loc->record_size() <= kMaxRun;
    if (!extends && run.length > 0) {
      if (!WaitForRoom(raw_end)) return;
      Fetch(run);
      run = Run{};
    }
    raw_end += chunk.size;
    if (!loc) continue;
    if (run.length == 0) run = Run{loc->pack_id, loc->offset, 0};
    run.length += loc->record_size();
  }
  if (run.length > 0) {
    if (!WaitForRoom(raw_end)) return;
    Fetch(run);
  }
  std::lock_guard<std::mutex> lock(mu_);
  done_ = true;
}

void PackPrefetcher::Fetch(const Run& run) {
  const int fd = PackFd(run.pack_id);
  if (fd < 0 || Resident(fd, run.offset, run.length)) return;
  if (scratch_.size() < run.length) scratch_.resize(std::max<uint64_t>(run.length, kMaxRun));
  try {
    PreadFull(fd, scratch_.data(), static_cast<size_t>(run.length), run.offset, "pack");
  } catch (const std::exception&) {
    return;  // only a hint
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++runs_read_;
  bytes_read_ += run.length;
}

int PackPrefetcher::PackFd(uint32_t pack_id) {
  auto it = fds_.find(pack_id);
  if (it == fds_.end()) {
    UniqueFd fd(::open(store_->PackPath(pack_id).c_str(), O_RDONLY | O_CLOEXEC));
    it = fds_.emplace(pack_id, std::move(fd)).first;
  }
  return it->second.valid() ? it->second.get() : -1;
}

}  // namespace modelfs::cache
