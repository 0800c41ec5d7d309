// tests/unit/lazy_file_test.cc — SegmentMap, and LazyFile fetching a file of
// the Hub simulator through HttpRangeFetcher: byte-exact reads, bounded
// fetches for random reads, one fetch per segment under concurrency,
// recovery from faults and reopening from a snapshot; and HttpRangeFetcher
// learning its redirect target before the first fetch.
#include "src/lazy_file.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "remote/hf_hub.h"
#include "remote/http_client.h"
#include "remote/http_range_fetcher.h"
#include "remote/retry_policy.h"
#include "src/memory_budget.h"
#include "src/recent_segments.h"
#include "src/segment_map.h"
#include "util/aligned_buffer.h"
#include "tests/unit/sim_fixture.h"
#include "tests/unit/test_util.h"

namespace modelfs {
namespace {

using modelfs::testing::TempDir;
using modelfs::testing::ThrownCode;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kFileSize = 24 * kMiB;
constexpr const char* kRepo = "lazy/model";
constexpr const char* kCounterKey = "lazy/model/model.safetensors";

const std::string& FileData() {
  static const std::string data = modelfs::testing::RandomBytes(kFileSize, 2024);
  return data;
}

// The simulator with the lazy repo added (once), a client, a retry policy
// with tiny real delays, and a fetcher for the LFS file.
struct Remote {
  Remote()
      : sim(testing::Sim()),
        policy(Options(), {}),
        hub(sim.Config(), &client, &policy),
        listing(List(hub)),
        fetcher(&client, &policy, hub.DownloadRequest(listing, "model.safetensors")) {}

  static remote::RetryOptions Options() {
    remote::RetryOptions o;
    o.max_attempts = 3;
    o.base_delay = std::chrono::milliseconds(1);
    o.max_delay = std::chrono::milliseconds(5);
    return o;
  }
  static remote::HfListing List(const remote::HfHub& hub) {
    static bool added = false;
    if (!added) {
      testing::Sim().AddFile(kRepo, "main", "model.safetensors", FileData());
      added = true;
    }
    return hub.List(remote::ParseHfUrl(std::string("hf://") + kRepo));
  }
  uint64_t CdnBytes() { return sim.CdnBytes(kCounterKey); }

  testing::SimHub& sim;
  remote::HttpClient client;
  remote::RetryPolicy policy;
  remote::HfHub hub;
  remote::HfListing listing;
  remote::HttpRangeFetcher fetcher;
};

std::string Read(LazyFile& f, uint64_t offset, size_t n) {
  std::string out(n, '\0');
  out.resize(f.ReadAt(offset, n, out.data()));
  return out;
}

SegmentMap Empty() { return SegmentMap(kFileSize, kMiB); }

// Fails every fetch; counts calls.
class FailingFetcher : public remote::RangeFetcher {
 public:
  void Fetch(uint64_t, size_t, char*, const Deadline&) override {
    ++calls;
    throw Error(ErrorCode::kNotFound, "gone");
  }
  std::atomic<int> calls{0};
};

// Serves FileData() from memory, slowly, recording concurrency and bytes.
class MemoryFetcher : public remote::RangeFetcher {
 public:
  void Fetch(uint64_t offset, size_t length, char* out, const Deadline&) override {
    int now = ++active;
    int seen = max_active.load();
    while (now > seen && !max_active.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::memcpy(out, FileData().data() + offset, length);
    bytes += length;
    ++calls;
    --active;
  }
  std::atomic<int> calls{0};
  std::atomic<int> active{0};
  std::atomic<int> max_active{0};
  std::atomic<uint64_t> bytes{0};
};

// A server that stalls until Release(): each fetch waits for it, as long as
// its deadline allows, then serves FileData().
class StallingFetcher : public remote::RangeFetcher {
 public:
  void Fetch(uint64_t offset, size_t length, char* out, const Deadline& deadline) override {
    ++calls;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (!deadline.Wait(cv_, lock, [&] { return released_; })) deadline.Check("the stalled fetch");
    }
    std::memcpy(out, FileData().data() + offset, length);
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }
  std::atomic<int> calls{0};

 private:
  std::mutex mu_;
  std::condition_variable_any cv_;
  bool released_ = false;
};

// Polls `done` every 5 ms for up to 5 s.
template <typename Done>
bool Eventually(Done done) {
  for (int i = 0; i < 1000; ++i, std::this_thread::sleep_for(std::chrono::milliseconds(5))) {
    if (done()) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("SegmentMap tracks, encodes and decodes present segments", "[lazy]") {
  SegmentMap m(10 * kMiB + 1, kMiB);  // not a multiple: 11 segments, the last 1 byte
  CHECK(m.segments() == 11);
  CHECK(m.count() == 0);
  CHECK_FALSE(m.complete());
  CHECK(m.SegmentOf(0) == 0);
  CHECK(m.SegmentOf(kMiB - 1) == 0);
  CHECK(m.SegmentOf(kMiB) == 1);
  CHECK(m.SegmentOf(10 * kMiB) == 10);
  CHECK(m.SegmentLength(10) == 1);
  CHECK(m.SegmentLength(3) == kMiB);
  m.Set(0);
  m.Set(0);
  m.Set(9);
  m.Set(10);
  CHECK(m.count() == 3);
  CHECK(m.Has(9));
  CHECK_FALSE(m.Has(8));
  CHECK(ThrownCode([&] { m.Set(11); }) == "kInvalidArgument");
  CHECK(ThrownCode([&] { (void)m.Has(11); }) == "kInvalidArgument");

  std::string encoded = m.Encode();
  std::optional<SegmentMap> d = SegmentMap::Decode(encoded);
  REQUIRE(d.has_value());
  CHECK(*d == m);
  CHECK(d->count() == 3);
  CHECK(d->Has(10));

  for (size_t i = 0; i < m.segments(); ++i) m.Set(i);
  CHECK(m.complete());
  CHECK(SegmentMap::Decode(m.Encode())->complete());

  // Malformed encodings.
  CHECK_FALSE(SegmentMap::Decode("").has_value());
  CHECK_FALSE(SegmentMap::Decode(encoded.substr(0, encoded.size() - 1)).has_value());
  CHECK_FALSE(SegmentMap::Decode(encoded + "x").has_value());
  std::string stray = encoded;
  stray.back() = static_cast<char>(0x80);  // bit 15 of an 11-segment map
  CHECK_FALSE(SegmentMap::Decode(stray).has_value());
  std::string zero_segment = encoded;
  std::memset(zero_segment.data() + 8, 0, 8);
  CHECK_FALSE(SegmentMap::Decode(zero_segment).has_value());
  CHECK(ThrownCode([] { SegmentMap(1, 0); }) == "kInvalidArgument");
}

TEST_CASE("SegmentMap of edge sizes", "[lazy]") {
  SegmentMap empty(0, kMiB);
  CHECK(empty.segments() == 0);
  CHECK(empty.complete());
  std::optional<SegmentMap> e = SegmentMap::Decode(empty.Encode());
  REQUIRE(e.has_value());
  CHECK(e->segments() == 0);
  CHECK(e->file_size() == 0);

  SegmentMap exact(4 * kMiB, kMiB);
  CHECK(exact.segments() == 4);
  CHECK(exact.SegmentLength(3) == kMiB);
  SegmentMap small(5, kMiB);
  CHECK(small.segments() == 1);
  CHECK(small.SegmentLength(0) == 5);
  small.Set(0);
  CHECK(SegmentMap::Decode(small.Encode()) == small);
}

TEST_CASE("SegmentMap regrids to another segment size", "[lazy]") {
  SegmentMap map(5 * kMiB / 2, kMiB);  // segments 0, 1 and a half one
  map.Set(0);
  map.Set(2);
  SegmentMap finer = map.Regrid(kMiB / 4);
  REQUIRE(finer.segments() == 10);
  for (size_t i = 0; i < 10; ++i) CHECK(finer.Has(i) == (i < 4 || i >= 8));
  SegmentMap coarser = finer.Regrid(2 * kMiB);  // [0, 2 MiB) lacks 1-2 MiB; [2, 2.5) present
  REQUIRE(coarser.segments() == 2);
  CHECK_FALSE(coarser.Has(0));
  CHECK(coarser.Has(1));
  CHECK(SegmentMap(0, kMiB).Regrid(kMiB / 4).segments() == 0);
  CHECK_THROWS_AS(map.Regrid(0), Error);
}

TEST_CASE("LazyFile of 0 bytes and mismatched maps", "[lazy]") {
  TempDir dir("lazy");
  FailingFetcher failing;
  LazyFile empty(dir / "empty", 0, SegmentMap(0, kMiB), &failing);
  char c;
  CHECK(empty.ReadAt(0, 1, &c) == 0);
  CHECK(empty.complete());
  CHECK(failing.calls == 0);
  CHECK(ThrownCode([&] { LazyFile bad(dir / "bad", 10, SegmentMap(11, kMiB), &failing); }) ==
        "kInvalidArgument");
}

TEST_CASE("LazyFile reports a failed fetch to every waiting reader", "[lazy]") {
  TempDir dir("lazy");
  FailingFetcher failing;
  LazyFile f(dir / "staging", 4 * kMiB, SegmentMap(4 * kMiB, kMiB), &failing);
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      if (ThrownCode([&] { Read(f, kMiB + 10, 100); }) == "kIOError") ++errors;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(errors == 8);
  CHECK(failing.calls >= 1);
  CHECK(f.Snapshot().count() == 0);
}

TEST_CASE("LazyFile: no read waits on a stalled fetch past its timeout, an interrupt ends it at once",
          "[lazy][hang]") {
  using namespace std::chrono_literals;
  TempDir dir("lazy");
  StallingFetcher stalling;
  LazyFile::Options options;
  options.segment_size = kMiB;
  options.read_timeout = 1000ms;
  LazyFile f(dir / "staging", kFileSize, Empty(), &stalling, options);
  const auto start = std::chrono::steady_clock::now();
  auto since = [&] { return std::chrono::steady_clock::now() - start; };
  // A fetches segment 0 itself and runs out of time.
  auto a = std::async(std::launch::async, [&] { return ThrownCode([&] { Read(f, 0, 4096); }); });
  REQUIRE(Eventually([&] { return stalling.calls == 1; }));
  // B waits for A's fetch, and is interrupted.
  std::stop_source interrupt;
  auto b = std::async(std::launch::async, [&] {
    return ThrownCode([&] {
      std::string out(4096, '\0');
      f.ReadAt(100, out.size(), out.data(), std::nullopt, interrupt.get_token());
    });
  });
  std::this_thread::sleep_for(50ms);
  interrupt.request_stop();
  REQUIRE(b.wait_for(2s) == std::future_status::ready);
  CHECK(b.get() == "kInterrupted");
  CHECK(since() < 800ms);
  // C waits for A's fetch too; A times out, C fetches again with the time it has left.
  std::this_thread::sleep_for(200ms);
  auto c = std::async(std::launch::async, [&] { return Read(f, 200, 100); });
  REQUIRE(a.wait_for(3s) == std::future_status::ready);
  CHECK(a.get() == "kTimedOut");
  CHECK(since() < 1500ms);
  REQUIRE(Eventually([&] { return stalling.calls == 2; }));  // C's own fetch
  stalling.Release();
  REQUIRE(c.wait_for(2s) == std::future_status::ready);
  CHECK(c.get() == FileData().substr(200, 100));
}

TEST_CASE("LazyFile: right after a slow failure a read that needs the network fails at once", "[lazy][hang]") {
  using namespace std::chrono_literals;
  TempDir dir("lazy");
  StallingFetcher stalling;
  LazyFile::Options options;
  options.segment_size = kMiB;
  options.read_timeout = LazyFile::kFailFast;
  LazyFile f(dir / "staging", kFileSize, Empty(), &stalling, options);
  CHECK(ThrownCode([&] { Read(f, 0, 4096); }) == "kTimedOut");
  // The kernel's second try after a failed readahead, and the reads it held
  // back meanwhile, do not wait as long again.
  const auto start = std::chrono::steady_clock::now();
  CHECK(ThrownCode([&] { Read(f, 4096, 4096); }) == "kIOError");
  CHECK(ThrownCode([&] { Read(f, 5 * kMiB, 4096); }) == "kIOError");
  CHECK(std::chrono::steady_clock::now() - start < 200ms);
  CHECK(stalling.calls == 1);
  stalling.Release();
  REQUIRE(Eventually([&] { return ThrownCode([&] { Read(f, 0, 10); }) == "no error"; }));
  CHECK(std::chrono::steady_clock::now() - start >= LazyFile::kFailFast - 200ms);
  CHECK(Read(f, 5 * kMiB, 10) == FileData().substr(5 * kMiB, 10));
}

TEST_CASE("LazyFile reads ahead in parallel on sequential access only", "[lazy]") {
  TempDir dir("lazy");
  MemoryFetcher memory;
  LazyFile::Options options;
  options.segment_size = kMiB;
  options.max_window = 8 * kMiB;
  options.max_parallel = 4;
  {
    LazyFile f(dir / "seq", kFileSize, Empty(), &memory, options);
    for (uint64_t off = 0; off < 16 * kMiB; off += 256 * 1024) {
      REQUIRE(Read(f, off, 256 * 1024) == FileData().substr(off, 256 * 1024));
    }
  }  // waits for readahead still running
  CHECK(memory.max_active > 1);
  CHECK(memory.max_active <= 4);
  CHECK(memory.bytes <= 16 * kMiB + 8 * kMiB);  // at most one window past the last read
  CHECK(memory.bytes >= 16 * kMiB);

  MemoryFetcher random;
  LazyFile g(dir / "random", kFileSize, Empty(), &random, options);
  for (uint64_t off : {5 * kMiB + 3, 17 * kMiB, 9 * kMiB + 77, 1 * kMiB}) {
    REQUIRE(Read(g, off, 4096) == FileData().substr(off, 4096));
  }
  CHECK(random.bytes == 4 * kMiB);
}

TEST_CASE("LazyFile: a small random read fetches one segment", "[lazy][sim]") {
  Remote r;
  r.sim.ClearFaults();
  TempDir dir("lazy");
  LazyFile f(dir / "staging", kFileSize, Empty(), &r.fetcher);
  uint64_t before = r.CdnBytes();
  CHECK(Read(f, 20 * kMiB, 4096) == FileData().substr(20 * kMiB, 4096));
  uint64_t fetched = r.CdnBytes() - before;
  CHECK(fetched >= 4096);
  CHECK(fetched <= kMiB + 64 * 1024);
  CHECK(f.fetched_bytes() == kMiB);
  CHECK(f.Snapshot().count() == 1);
  CHECK(f.Snapshot().Has(20));
  // A read inside the same segment costs nothing.
  CHECK(Read(f, 20 * kMiB + 5000, 4096) == FileData().substr(20 * kMiB + 5000, 4096));
  CHECK(r.CdnBytes() - before == fetched);
  CHECK_FALSE(f.complete());
}

TEST_CASE("LazyFile: a sequential read returns the file and fetches it once", "[lazy][sim]") {
  Remote r;
  r.sim.ClearFaults();
  TempDir dir("lazy");
  LazyFile f(dir / "staging", kFileSize, Empty(), &r.fetcher);
  uint64_t before = r.CdnBytes();
  std::string all;
  all.reserve(kFileSize);
  for (uint64_t off = 0; off < kFileSize; off += 256 * 1024) all += Read(f, off, 256 * 1024);
  CHECK(Read(f, kFileSize, 10).empty());
  REQUIRE(all.size() == kFileSize);
  CHECK(all == FileData());
  CHECK(f.complete());
  uint64_t fetched = r.CdnBytes() - before;
  CHECK(fetched >= kFileSize);
  CHECK(fetched <= kFileSize + kFileSize / 20);
  CHECK(f.fetched_bytes() == kFileSize);
}

TEST_CASE("LazyFile: concurrent readers of a cold segment share one fetch", "[lazy][sim]") {
  Remote r;
  r.sim.ClearFaults();
  TempDir dir("lazy");
  LazyFile f(dir / "staging", kFileSize, Empty(), &r.fetcher);
  uint64_t before = r.CdnBytes();
  std::atomic<int> ready{0};
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      ++ready;
      while (ready < 16) std::this_thread::yield();
      // Gaps between the reads, so none looks sequential to the one before.
      uint64_t off = 7 * kMiB + 100 + static_cast<uint64_t>(t) * 8192;
      if (Read(f, off, 4096) == FileData().substr(off, 4096)) ++good;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(good == 16);
  uint64_t fetched = r.CdnBytes() - before;
  CHECK(fetched >= kMiB);
  CHECK(fetched <= kMiB + 64 * 1024);
  CHECK(f.fetched_bytes() == kMiB);
}

TEST_CASE("LazyFile: a connection reset mid-body still yields the right bytes", "[lazy][sim]") {
  Remote r;
  r.sim.ClearFaults();
  size_t hits_before = r.sim.Stats()["fault_hits"].size();
  r.sim.Control("/_sim/faults",
                R"({"kind": "reset", "server": "cdn", "after_bytes": 300000, "count": 1})");
  TempDir dir("lazy");
  LazyFile f(dir / "staging", kFileSize, Empty(), &r.fetcher);
  CHECK(Read(f, 3 * kMiB + 17, 512 * 1024) == FileData().substr(3 * kMiB + 17, 512 * 1024));
  CHECK(r.sim.Stats()["fault_hits"].size() > hits_before);
  r.sim.ClearFaults();
}

TEST_CASE("LazyFile: a persistent 500 fails the read promptly, then recovers", "[lazy][sim]") {
  Remote r;
  r.sim.ClearFaults();
  r.sim.Control("/_sim/faults", R"({"kind": "status", "status": 500, "server": "cdn", "count": -1})");
  TempDir dir("lazy");
  LazyFile f(dir / "staging", kFileSize, Empty(), &r.fetcher);
  auto start = std::chrono::steady_clock::now();
  CHECK(ThrownCode([&] { Read(f, 12 * kMiB, 4096); }) == "kIOError");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  CHECK(f.Snapshot().count() == 0);
  r.sim.ClearFaults();
  CHECK(Read(f, 12 * kMiB, 4096) == FileData().substr(12 * kMiB, 4096));
}

// With every `method` request to the Hub failing (500), a fresh fetcher
// starts its resolve, then fetches 4 KiB at `offset`; returns those bytes.
std::string FetchAfterResolve(Remote& r, const std::string& method, uint64_t offset) {
  r.sim.ClearFaults();
  r.sim.Control("/_sim/faults", R"({"kind": "status", "status": 500, "server": "hub", "method": ")" + method +
                                    R"(", "count": -1})");
  remote::HttpRangeFetcher fetcher(&r.client, &r.policy, r.hub.DownloadRequest(r.listing, "model.safetensors"),
                                   kFileSize);
  fetcher.StartResolve();
  std::string out(4096, '\0');
  try {
    fetcher.Fetch(offset, out.size(), out.data(), Deadline());
  } catch (...) {
    r.sim.ClearFaults();
    throw;
  }
  r.sim.ClearFaults();
  return out;
}

TEST_CASE("HttpRangeFetcher: a resolve started at open sends the first fetch to the CDN", "[lazy][sim]") {
  Remote r;
  // The Hub answers its HEAD but fails every GET: only a fetch that already
  // knows where the bytes are can succeed.
  CHECK(FetchAfterResolve(r, "GET", 5 * kMiB) == FileData().substr(5 * kMiB, 4096));
}

TEST_CASE("HttpRangeFetcher: a failed resolve leaves the fetch to ask the Hub", "[lazy][sim]") {
  Remote r;
  CHECK(FetchAfterResolve(r, "HEAD", 7 * kMiB) == FileData().substr(7 * kMiB, 4096));
}

TEST_CASE("LazyFile reopened from a snapshot serves present segments offline", "[lazy][sim]") {
  Remote r;
  r.sim.ClearFaults();
  TempDir dir("lazy");
  std::string encoded;
  {
    LazyFile f(dir / "staging", kFileSize, Empty(), &r.fetcher);
    CHECK(Read(f, 2 * kMiB, 4096) == FileData().substr(2 * kMiB, 4096));
    CHECK(Read(f, 23 * kMiB + 1, kMiB - 1) == FileData().substr(23 * kMiB + 1));
    f.Sync();
    encoded = f.Snapshot().Encode();
  }
  std::optional<SegmentMap> present = SegmentMap::Decode(encoded);
  REQUIRE(present.has_value());
  CHECK(present->count() == 2);
  FailingFetcher offline;
  uint64_t before = r.CdnBytes();
  LazyFile g(dir / "staging", kFileSize, *present, &offline);
  CHECK(Read(g, 2 * kMiB + 100, kMiB - 100) == FileData().substr(2 * kMiB + 100, kMiB - 100));
  CHECK(Read(g, 23 * kMiB, kMiB) == FileData().substr(23 * kMiB));
  CHECK(offline.calls == 0);
  CHECK(g.fetched_bytes() == 0);
  CHECK(r.CdnBytes() == before);
  // An absent segment needs the network, which this fetcher refuses.
  CHECK(ThrownCode([&] { Read(g, 5 * kMiB, 10); }) == "kIOError");
}

namespace {

// Joins the views of LazyFile::ReadSegments.
std::string Join(const std::vector<FileReader::Segment>& segments) {
  std::string out;
  for (const auto& s : segments) out.append(s.buffer->data() + s.offset, s.length);
  return out;
}

}  // namespace

TEST_CASE("RecentSegments keeps the newest segments, aligned, and recycles free buffers", "[lazy]") {
  RecentSegments recent(2, 4096);
  RecentSegments::Buffer a = recent.Acquire();
  CHECK(reinterpret_cast<uintptr_t>(a.data()) % kDirectIoAlignment == 0);
  CHECK(a.bytes->size() >= a.pad + 4096);
  std::memset(a.data(), 'a', 4096);
  recent.Put(0, a);
  recent.Put(1, recent.Acquire());
  REQUIRE(recent.Find(0) != nullptr);
  CHECK(recent.Find(0)->data()[4095] == 'a');
  recent.Put(2, recent.Acquire());  // drops segment 0, the oldest
  CHECK(recent.Find(0) == nullptr);
  CHECK(recent.Find(1) != nullptr);
  CHECK(recent.Find(2) != nullptr);
  // Segment 0's buffer is still held here, so it is not handed out again.
  std::string* held = a.bytes.get();
  CHECK(recent.Acquire().bytes.get() != held);
  a = {};
  CHECK(recent.Acquire().bytes.get() == held);
  recent.Clear();
  CHECK(recent.Find(1) == nullptr);
}

TEST_CASE("RecentSegments share a MemoryBudget: past it, each keeps its newest few", "[lazy]") {
  constexpr size_t kSegment = 4096;
  auto budget = std::make_shared<MemoryBudget>(20 * kSegment);
  {
    RecentSegments a(16, kSegment, budget);
    RecentSegments b(16, kSegment, budget);
    for (size_t i = 0; i < 16; ++i) a.Put(i, a.Acquire());
    CHECK(a.held() == 16);  // alone under the budget: its whole capacity
    CHECK(budget->used() == 16 * kSegment);
    for (size_t i = 0; i < 16; ++i) b.Put(i, b.Acquire());
    // Past the budget, b kept no more than its floor of newest segments.
    CHECK(b.held() == RecentSegments::kMinHeld);
    CHECK(b.Find(15) != nullptr);
    CHECK(b.Find(15 - RecentSegments::kMinHeld) == nullptr);
    // a's next segment finds the budget exceeded: a gives up its oldest
    // until the two are back within it (16 + 8 + 1 -> 12 + 8).
    a.Put(16, a.Acquire());
    CHECK(a.held() == 12);
    CHECK(a.Find(16) != nullptr);
    CHECK(a.Find(4) == nullptr);
    CHECK(budget->used() == budget->limit());
    b.Clear(/*keep_spares=*/false);
    CHECK(budget->used() == a.held() * kSegment);
  }
  CHECK(budget->used() == 0);  // everything held was released
}

TEST_CASE("LazyFile: files sharing a budget serve right bytes from disk when it is spent", "[lazy]") {
  TempDir dir("lazy");
  MemoryFetcher memory;
  LazyFile::Options options;
  options.segment_size = 256 * 1024;
  options.recent_segments = 64;
  options.memory_budget = std::make_shared<MemoryBudget>(4 * kMiB);
  LazyFile a(dir / "a", kFileSize, SegmentMap(kFileSize, options.segment_size), &memory, options);
  LazyFile b(dir / "b", kFileSize, SegmentMap(kFileSize, options.segment_size), &memory, options);
  // Interleaved sequential readers of two files, each with readahead.
  for (uint64_t m = 0; m < kFileSize / kMiB; ++m) {
    REQUIRE(Read(a, m * kMiB, kMiB) == FileData().substr(m * kMiB, kMiB));
    REQUIRE(Read(b, m * kMiB, kMiB) == FileData().substr(m * kMiB, kMiB));
    // The limit, plus a few segments (and spare buffers) each file keeps
    // whatever the budget says; without the budget both would hold 16 MiB.
    CHECK(options.memory_budget->used() <=
          options.memory_budget->limit() + 2 * (RecentSegments::kMinHeld + 8) * options.segment_size);
  }
  a.WaitForReadahead();
  b.WaitForReadahead();
  // Re-reads of early segments come back from the staging files.
  CHECK(Read(a, 0, kMiB) == FileData().substr(0, kMiB));
  CHECK(Read(b, kMiB, kMiB) == FileData().substr(kMiB, kMiB));
  CHECK(memory.bytes == 2 * kFileSize);
}

TEST_CASE("LazyFile serves views from memory, and from the staging file once dropped", "[lazy]") {
  TempDir dir("lazy");
  MemoryFetcher memory;
  LazyFile::Options options;
  options.segment_size = kMiB;
  options.recent_segments = 2;
  LazyFile f(dir / "views", kFileSize, Empty(), &memory, options);
  // Three segments fetched by one read: the first no longer in memory.
  std::vector<FileReader::Segment> views;
  REQUIRE(f.ReadSegments(kMiB + 100, 3 * kMiB, std::nullopt, &views) == 3 * kMiB);
  CHECK(Join(views) == FileData().substr(kMiB + 100, 3 * kMiB));
  // Segment 1 comes back from the staging file, 2 and 3 from memory.
  views.clear();
  REQUIRE(f.ReadSegments(kMiB, 3 * kMiB, std::nullopt, &views) == 3 * kMiB);
  CHECK(Join(views) == FileData().substr(kMiB, 3 * kMiB));
  CHECK(memory.bytes == 4 * kMiB);
  // Reads that end at the end of the file, and past it.
  views.clear();
  REQUIRE(f.ReadSegments(kFileSize - 5000, 10000, std::nullopt, &views) == 5000);
  CHECK(Join(views) == FileData().substr(kFileSize - 5000));
  views.clear();
  CHECK(f.ReadSegments(kFileSize, 10, std::nullopt, &views) == 0);
  CHECK(views.empty());
  // VisitPresent hands the same bytes over, in order.
  std::string visited;
  f.VisitPresent(kMiB, 3 * kMiB, [&](const char* data, size_t size) { visited.append(data, size); });
  CHECK(visited == FileData().substr(kMiB, 3 * kMiB));
  // A discarded era is never served.
  const uint64_t era = f.epoch();
  f.Discard();
  views.clear();
  CHECK(ThrownCode([&] { f.ReadSegments(kMiB, 10, era, &views); }) == "kCorruption");
}

TEST_CASE("LazyFile: large reads a little out of order still read ahead, in few requests", "[lazy]") {
  TempDir dir("lazy");
  MemoryFetcher memory;
  LazyFile::Options options;
  options.segment_size = 256 * 1024;
  options.max_window = 8 * kMiB;
  options.max_parallel = 4;
  {
    LazyFile f(dir / "stream", kFileSize, SegmentMap(kFileSize, options.segment_size), &memory, options);
    // 1 MiB reads in the order the kernel's readahead may deliver them: 0, 2, 1, 4, 3, ...
    std::vector<uint64_t> order = {0};
    for (uint64_t m = 1; m + 1 < 16; m += 2) {
      order.push_back(m + 1);
      order.push_back(m);
    }
    for (uint64_t m : order) REQUIRE(Read(f, m * kMiB, kMiB) == FileData().substr(m * kMiB, kMiB));
  }
  // The stream kept its readahead: bytes past the last read were fetched,
  // at most one window of them.
  CHECK(memory.bytes > 15 * kMiB);
  CHECK(memory.bytes <= 15 * kMiB + 8 * kMiB);
  CHECK(memory.max_active > 1);
  INFO("requests: " << memory.calls);
  CHECK(memory.calls < 60);  // of up to 92 segments: most requests carry several
}

}  // namespace modelfs
