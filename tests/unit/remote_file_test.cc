// tests/unit/remote_file_test.cc — src/remote_file.h over an in-memory
// RangeFetcher: bytes served as fetched, the digest checked once the file is
// complete (sha256 and git blob sha1 ids), on_verified called exactly once,
// a mismatch discarding every fetched byte so the next read fetches again
// (and reported once to on_mismatch), files of one segment verified before
// any byte is served, and strict reading (FetchWhole, a strict
// RemoteFileReader) serving nothing before the whole file matched.
#include "src/remote_file.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "remote/range_fetcher.h"
#include "src/catalog_records.h"
#include "src/remote_file_reader.h"
#include "src/segment_map.h"
#include "tests/unit/test_util.h"
#include "util/digest.h"
#include "util/error.h"
#include "util/hex.h"

namespace modelfs {
namespace {

using modelfs::testing::RandomBytes;
using modelfs::testing::TempDir;
using modelfs::testing::ThrownCode;

constexpr uint64_t kSegment = 64 << 10;

// What the fake remote serves; tests may change it between reads.
struct Source {
  std::mutex mu;
  std::string data;
  std::atomic<uint64_t> served{0};
  std::atomic<int> fetches{0};
  bool fail = false;

  void Set(std::string d) {
    std::lock_guard<std::mutex> lock(mu);
    data = std::move(d);
  }
};

class MemoryFetcher : public remote::RangeFetcher {
 public:
  explicit MemoryFetcher(std::shared_ptr<Source> source) : source_(std::move(source)) {}
  void Fetch(uint64_t offset, size_t length, char* out, const Deadline&) override {
    std::lock_guard<std::mutex> lock(source_->mu);
    ++source_->fetches;
    if (source_->fail) throw Error(ErrorCode::kIOError, "the fake remote fails");
    if (offset + length > source_->data.size()) throw Error(ErrorCode::kIOError, "past the end");
    std::memcpy(out, source_->data.data() + offset, length);
    source_->served += length;
  }

 private:
  std::shared_ptr<Source> source_;
};

std::string Sha256Id(const std::string& data) {
  return remote_id::FromSha256(Sha256::Digest(data.data(), data.size()));
}
std::string GitId(const std::string& data) {
  GitBlobSha1 h(data.size());
  h.Update(data);
  return remote_id::FromGitSha1(h.Finish());
}

LazyFile::Options Opts() {
  LazyFile::Options o;
  o.segment_size = kSegment;
  o.max_window = 4 * kSegment;
  o.max_parallel = 2;
  return o;
}

struct Harness {
  TempDir dir{"remotefile"};
  std::shared_ptr<Source> source = std::make_shared<Source>();
  std::atomic<int> verified_calls{0};
  // What on_mismatch saw: the digest found, and the segments still present.
  std::vector<std::pair<std::string, size_t>> mismatches;

  std::unique_ptr<RemoteFile> Make(const std::string& id, uint64_t size, const std::string& name = "staged") {
    return std::make_unique<RemoteFile>(
        id, dir / name, size, SegmentMap(size, kSegment), std::make_unique<MemoryFetcher>(source), Opts(),
        [this] { ++verified_calls; },
        [this](RemoteFile& file, const std::string& actual) {
          mismatches.emplace_back(actual, file.lazy().Snapshot().count());
        });
  }
};

std::string Read(RemoteFile& f, uint64_t offset, size_t n) {
  std::string out(n, '\0');
  out.resize(f.ReadAt(offset, n, out.data()));
  return out;
}

TEST_CASE("RemoteFile: correct sha256 content is served and verified once", "[remote_file]") {
  Harness h;
  const std::string data = RandomBytes(5 * kSegment + 1234, 11);
  h.source->Set(data);
  auto f = h.Make(Sha256Id(data), data.size());
  CHECK(f->size() == data.size());
  CHECK_FALSE(f->verified());

  // Bytes are served before the file is complete; not verified yet.
  CHECK(Read(*f, 100, 1000) == data.substr(100, 1000));
  CHECK_FALSE(f->verified());
  CHECK(h.verified_calls == 0);

  SECTION("one read of the whole file") {
    CHECK(Read(*f, 0, data.size()) == data);
  }
  SECTION("sequential reads in pieces") {
    std::string all;
    for (uint64_t at = 0; at < data.size(); at += 10000) all += Read(*f, at, 10000);
    CHECK(all == data);
  }
  SECTION("backwards reads") {
    std::string all(data.size(), '\0');
    for (uint64_t end = data.size(); end > 0;) {
      uint64_t begin = end > 50000 ? end - 50000 : 0;
      CHECK(f->ReadAt(begin, end - begin, all.data() + begin) == end - begin);
      end = begin;
    }
    CHECK(all == data);
  }
  CHECK(f->lazy().complete());
  CHECK(f->verified());
  CHECK(h.verified_calls == 1);
  // Reading on does not verify (nor call back) again, nor fetch.
  const uint64_t served = h.source->served;
  CHECK(Read(*f, 0, data.size()) == data);
  CHECK(Read(*f, data.size() - 10, 100) == data.substr(data.size() - 10));
  CHECK(Read(*f, data.size(), 100).empty());
  CHECK(h.verified_calls == 1);
  CHECK(h.source->served == served);
  CHECK(served == data.size());  // every byte fetched exactly once
}

TEST_CASE("RemoteFile: concurrent readers verify once", "[remote_file]") {
  Harness h;
  const std::string data = RandomBytes(16 * kSegment + 77, 12);
  h.source->Set(data);
  auto f = h.Make(Sha256Id(data), data.size());
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      std::string buf(7000 + t * 1000, '\0');
      for (uint64_t at = t * 3000; at < data.size(); at += buf.size()) {
        size_t n = f->ReadAt(at, buf.size(), buf.data());
        if (std::string_view(buf.data(), n) != std::string_view(data).substr(at, n)) ++bad;
      }
    });
  }
  for (auto& t : threads) t.join();
  // Threads starting at t * 3000 left a prefix unread; finish it.
  CHECK(Read(*f, 0, data.size()) == data);
  CHECK(bad == 0);
  CHECK(f->verified());
  CHECK(h.verified_calls == 1);
}

TEST_CASE("RemoteFile: a wrong digest discards the bytes and the next read fetches again",
          "[remote_file]") {
  Harness h;
  const std::string good = RandomBytes(4 * kSegment + 99, 13);
  std::string corrupt = good;
  corrupt[3 * kSegment + 5] ^= 0x01;
  h.source->Set(corrupt);
  auto f = h.Make(Sha256Id(good), good.size());

  // The first segments are served as fetched: they cannot be checked yet.
  CHECK(Read(*f, 0, 2 * kSegment) == corrupt.substr(0, 2 * kSegment));
  CHECK_FALSE(f->lazy().complete());

  // The read that completes the file fails, and nothing stays.
  std::string buf(good.size(), '\0');
  CHECK(ThrownCode([&] { f->ReadAt(2 * kSegment, good.size(), buf.data()); }) == "kCorruption");
  CHECK_FALSE(f->verified());
  CHECK_FALSE(f->lazy().complete());
  CHECK(f->lazy().PresentPrefix() == 0);
  CHECK(f->lazy().Snapshot().count() == 0);
  CHECK(h.verified_calls == 0);

  // Reads of a still-wrong remote keep failing, never serving the bad bytes
  // of a completed file.
  CHECK(ThrownCode([&] { f->ReadAt(0, good.size(), buf.data()); }) == "kCorruption");
  CHECK(f->lazy().PresentPrefix() == 0);

  // The remote fixed: fetched again, verified.
  h.source->Set(good);
  const uint64_t before = h.source->served;
  CHECK(Read(*f, 0, good.size()) == good);
  CHECK(h.source->served - before == good.size());
  CHECK(f->verified());
  CHECK(h.verified_calls == 1);
}

TEST_CASE("RemoteFile: git sha1 ids verify small files", "[remote_file]") {
  Harness h;
  SECTION("hello") {
    const std::string data = "hello\n";
    const std::string id = remote_id::FromGitSha1(*HexDecode("ce013625030ba8dba906f756967f9e9ca394464a"));
    CHECK(id == GitId(data));
    h.source->Set(data);
    auto f = h.Make(id, data.size());
    CHECK(Read(*f, 0, 100) == data);
    CHECK(f->verified());
    CHECK(h.verified_calls == 1);
  }
  SECTION("several segments") {
    const std::string data = RandomBytes(3 * kSegment + 5, 14);
    h.source->Set(data);
    auto f = h.Make(GitId(data), data.size());
    CHECK(Read(*f, kSegment, 3 * kSegment) == data.substr(kSegment));
    CHECK_FALSE(f->verified());
    CHECK(Read(*f, 0, kSegment) == data.substr(0, kSegment));
    CHECK(f->verified());
    CHECK(h.verified_calls == 1);
  }
  SECTION("a wrong git sha1 is corruption") {
    const std::string data = "hello\n";
    h.source->Set("hellO\n");
    auto f = h.Make(GitId(data), data.size());
    std::string buf(10, '\0');
    CHECK(ThrownCode([&] { f->ReadAt(0, 10, buf.data()); }) == "kCorruption");
    CHECK_FALSE(f->lazy().complete());
    CHECK_FALSE(f->verified());
    h.source->Set(data);
    CHECK(Read(*f, 0, 10) == data);
    CHECK(f->verified());
    CHECK(h.verified_calls == 1);
  }
}

TEST_CASE("RemoteFile: a 0-byte file", "[remote_file]") {
  Harness h;
  SECTION("sha256 id") {
    auto f = h.Make(Sha256Id(""), 0);
    CHECK(f->size() == 0);
    CHECK(Read(*f, 0, 10).empty());
    CHECK(f->verified());
    CHECK(h.verified_calls == 1);
    CHECK(Read(*f, 0, 10).empty());
    CHECK(h.verified_calls == 1);
  }
  SECTION("git sha1 id") {
    auto f = h.Make(remote_id::FromGitSha1(*HexDecode("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")), 0);
    CHECK(Read(*f, 0, 10).empty());
    CHECK(f->verified());
    CHECK(h.verified_calls == 1);
  }
  SECTION("a wrong id") {
    auto f = h.Make(Sha256Id("x"), 0);
    std::string buf(10, '\0');
    CHECK(ThrownCode([&] { f->ReadAt(0, 10, buf.data()); }) == "kCorruption");
    CHECK_FALSE(f->verified());
    CHECK(h.verified_calls == 0);
  }
  CHECK(h.source->fetches == 0);
}

TEST_CASE("RemoteFile: a failed fetch is kIOError and leaves nothing verified", "[remote_file]") {
  Harness h;
  const std::string data = RandomBytes(2 * kSegment, 15);
  h.source->Set(data);
  h.source->fail = true;
  auto f = h.Make(Sha256Id(data), data.size());
  std::string buf(data.size(), '\0');
  CHECK(ThrownCode([&] { f->ReadAt(0, data.size(), buf.data()); }) == "kIOError");
  CHECK_FALSE(f->verified());
  h.source->fail = false;
  CHECK(Read(*f, 0, data.size()) == data);
  CHECK(f->verified());
  CHECK(h.verified_calls == 1);
}

TEST_CASE("RemoteFile: resumes from a segment map and still checks every byte", "[remote_file]") {
  Harness h;
  const std::string data = RandomBytes(4 * kSegment, 16);
  h.source->Set(data);
  SegmentMap present(data.size(), kSegment);
  {
    auto f = h.Make(Sha256Id(data), data.size());
    // Random (non-sequential) reads: no readahead.
    CHECK(Read(*f, kSegment, 10) == data.substr(kSegment, 10));
    CHECK(Read(*f, 0, 10) == data.substr(0, 10));
    present = f->lazy().Snapshot();
  }
  CHECK(present.count() == 2);

  SECTION("a good staging file") {
    RemoteFile f(Sha256Id(data), h.dir / "staged", data.size(), present,
                 std::make_unique<MemoryFetcher>(h.source), Opts(), [&] { ++h.verified_calls; });
    const uint64_t before = h.source->served;
    CHECK(Read(f, 0, data.size()) == data);
    CHECK(h.source->served - before == 2 * kSegment);
    CHECK(f.verified());
  }
  SECTION("a staging file damaged while the process was gone") {
    modelfs::testing::FlipByte(h.dir / "staged", kSegment + 3);
    RemoteFile f(Sha256Id(data), h.dir / "staged", data.size(), present,
                 std::make_unique<MemoryFetcher>(h.source), Opts(), [&] { ++h.verified_calls; });
    std::string buf(data.size(), '\0');
    CHECK(ThrownCode([&] { f.ReadAt(0, data.size(), buf.data()); }) == "kCorruption");
    CHECK(f.lazy().PresentPrefix() == 0);
    CHECK(Read(f, 0, data.size()) == data);
    CHECK(f.verified());
  }
  CHECK(h.verified_calls == 1);
}

TEST_CASE("RemoteFile: only remote ids are accepted", "[remote_file]") {
  Harness h;
  CHECK(ThrownCode([&] { h.Make("not an id", 10); }) == "kInvalidArgument");
  CHECK(ThrownCode([&] { h.Make(std::string(33, 'x'), 10); }) == "kInvalidArgument");
}

TEST_CASE("RemoteFile: a mismatch is reported once, after every byte is gone", "[remote_file]") {
  Harness h;
  const std::string good = RandomBytes(5 * kSegment + 7, 21);
  std::string corrupt = good;
  corrupt[kSegment + 1] ^= 0x40;
  h.source->Set(corrupt);
  auto f = h.Make(Sha256Id(good), good.size());
  const uint64_t generation = f->generation();
  std::string buf(good.size(), '\0');
  CHECK(ThrownCode([&] { f->ReadAt(0, good.size(), buf.data()); }) == "kCorruption");
  REQUIRE(h.mismatches.size() == 1);
  CHECK(h.mismatches[0].first == Sha256::Digest(corrupt.data(), corrupt.size()));
  CHECK(h.mismatches[0].second == 0);  // nothing staged when it was told
  CHECK(f->generation() == generation + 1);
  CHECK(h.verified_calls == 0);
  // The next read fetches from byte 0; once right, nothing more is reported.
  h.source->Set(good);
  CHECK(Read(*f, 0, good.size()) == good);
  CHECK(h.mismatches.size() == 1);
}

// A file of one segment arrives whole with the first read of any of it, so
// it is checked before that read returns a byte.
TEST_CASE("RemoteFile: a file of one segment is verified before any byte is served", "[remote_file]") {
  Harness h;
  const std::string good = RandomBytes(kSegment - 100, 22);
  std::string corrupt = good;
  corrupt[kSegment / 2] ^= 0x01;
  h.source->Set(corrupt);
  auto f = h.Make(Sha256Id(good), good.size());
  std::string buf(4096, '\0');
  CHECK(ThrownCode([&] { f->ReadAt(0, 4096, buf.data()); }) == "kCorruption");
  std::vector<FileReader::Segment> views;
  CHECK(ThrownCode([&] { f->ReadSegments(8192, 4096, &views); }) == "kCorruption");
  CHECK(views.empty());
  CHECK(h.mismatches.size() == 2);
  h.source->Set(good);
  CHECK(f->ReadSegments(8192, 4096, &views) == 4096);
  REQUIRE(views.size() == 1);
  CHECK(std::string_view(views[0].buffer->data() + views[0].offset, views[0].length) ==
        std::string_view(good).substr(8192, 4096));
  CHECK(f->verified());
}

TEST_CASE("RemoteFile: FetchWhole serves nothing before the whole file matched", "[remote_file]") {
  Harness h;
  const std::string good = RandomBytes(9 * kSegment + 321, 23);
  std::string corrupt = good;
  corrupt[8 * kSegment + 3] ^= 0x10;  // in the last segments: found only at the end
  h.source->Set(corrupt);
  auto f = h.Make(Sha256Id(good), good.size());

  SECTION("FetchWhole") {
    CHECK(ThrownCode([&] { f->FetchWhole(); }) == "kCorruption");
    CHECK(h.source->served == corrupt.size());
    CHECK(h.mismatches.size() == 1);
    CHECK(f->lazy().Snapshot().count() == 0);
    h.source->Set(good);
    f->FetchWhole();
    CHECK(f->verified());
    CHECK(h.verified_calls == 1);
    const uint64_t served = h.source->served;
    f->FetchWhole();  // verified: nothing more
    CHECK(h.source->served == served);
  }
  SECTION("a strict reader, a 10-byte read at the end") {
    std::shared_ptr<RemoteFile> shared(std::move(f));
    RemoteFileReader strict(shared, /*strict=*/true);
    RemoteFileReader lax(shared, /*strict=*/false);
    std::string buf(10, '\0');
    CHECK(ThrownCode([&] { strict.ReadAt(good.size() - 10, 10, buf.data()); }) == "kCorruption");
    // It served none of the wrong bytes, so it goes on: fetched afresh.
    h.source->Set(good);
    CHECK(strict.ReadAt(good.size() - 10, 10, buf.data()) == 10);
    CHECK(buf == good.substr(good.size() - 10));
    CHECK(strict.verified());
    CHECK(h.source->served == corrupt.size() + good.size());
    // A lax reader opened before the mismatch may have served wrong bytes:
    // it fails from now on.
    CHECK(ThrownCode([&] { lax.ReadAt(0, 10, buf.data()); }) == "kCorruption");
  }
  SECTION("a lax reader serves the bytes it has") {
    RemoteFileReader lax(std::shared_ptr<RemoteFile>(std::move(f)), /*strict=*/false);
    std::string buf(10, '\0');
    CHECK(lax.ReadAt(good.size() - 10, 10, buf.data()) == 10);
    CHECK(h.source->served == good.size() - 9 * kSegment);
    CHECK_FALSE(lax.verified());
  }
}

TEST_CASE("RemoteFile: concurrent FetchWhole calls fetch once", "[remote_file]") {
  Harness h;
  const std::string data = RandomBytes(12 * kSegment + 5, 24);
  h.source->Set(data);
  auto f = h.Make(Sha256Id(data), data.size());
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      try {
        f->FetchWhole();
      } catch (...) {
        ++failed;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failed == 0);
  CHECK(f->verified());
  CHECK(h.verified_calls == 1);
  CHECK(h.source->served == data.size());
}

}  // namespace
}  // namespace modelfs
