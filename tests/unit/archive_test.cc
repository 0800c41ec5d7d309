// Tests for the archive layer: the writer and reader round trip, the tar
// index over range reads (offsets and sha256 attributes), member path rules
// and ProducerSource.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "remote/archive_reader.h"
#include "remote/archive_writer.h"
#include "remote/tar_index.h"
#include "src/archive_importer.h"
#include "util/digest.h"
#include "util/error.h"
#include "util/producer_source.h"

namespace modelfs {
namespace {

class StringSink : public ByteSink {
 public:
  explicit StringSink(std::string* out) : out_(out) {}
  void Write(const char* data, size_t size) override { out_->append(data, size); }
  void Commit() override { committed = true; }
  std::string Describe() const override { return "memory"; }
  bool committed = false;

 private:
  std::string* out_;
};

// Fails its `fail_at`-th Write (counting from 1), and every one after it, as
// a full disk does; counts the writes.
class FullDiskSink : public ByteSink {
 public:
  explicit FullDiskSink(int fail_at, int* writes) : fail_at_(fail_at), writes_(writes) {}
  void Write(const char*, size_t) override {
    if (++*writes_ >= fail_at_) throw Error(ErrorCode::kIOError, "no space left on device (test disk)");
  }
  void Commit() override {}
  std::string Describe() const override { return "test disk"; }

 private:
  int fail_at_;
  int* writes_;
};

class StringSource : public ByteSource {
 public:
  explicit StringSource(std::string data) : data_(std::move(data)) {}
  size_t Read(char* buffer, size_t capacity) override {
    const size_t n = std::min(capacity, data_.size() - pos_);
    std::memcpy(buffer, data_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  std::optional<uint64_t> size() const override { return data_.size(); }
  std::string Describe() const override { return "memory archive"; }
  bool Seek(uint64_t offset) override {
    pos_ = static_cast<size_t>(std::min<uint64_t>(offset, data_.size()));
    return true;
  }
  bool seekable() const override { return true; }  // as local files are

 private:
  std::string data_;
  size_t pos_ = 0;
};

class StringFetcher : public remote::RangeFetcher {
 public:
  explicit StringFetcher(const std::string& data) : data_(data) {}
  void Fetch(uint64_t offset, size_t length, char* out, const Deadline&) override {
    REQUIRE(offset + length <= data_.size());
    std::memcpy(out, data_.data() + offset, length);
    fetched += length;
  }
  uint64_t fetched = 0;

 private:
  const std::string& data_;
};

std::string Pattern(size_t n, int seed) {
  std::string s(n, '\0');
  uint32_t x = 2463534242u + static_cast<uint32_t>(seed);
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

// Writes model.yaml, a directory and two files in `format` to `sink`.
void WriteArchiveTo(ArchiveFormat format, const std::string& big, bool digests,
                    std::unique_ptr<ByteSink> sink) {
  auto writer = remote::NewArchiveWriter(format, std::move(sink));
  writer->AddDirectory("", 0);
  writer->BeginFile("model.yaml", 9, false, 0, {});
  writer->Write("name: m\n\n", 9);
  writer->EndFile();
  writer->AddDirectory("sub", 0);
  const std::string sha = digests ? Sha256::Digest(big.data(), big.size()) : std::string();
  writer->BeginFile("sub/weights.bin", big.size(), true, 0, sha);
  writer->Write(big.data(), big.size() / 2);
  writer->Write(big.data() + big.size() / 2, big.size() - big.size() / 2);
  writer->EndFile();
  writer->Finish();
}

std::string WriteArchive(ArchiveFormat format, const std::string& big, bool digests) {
  std::string out;
  WriteArchiveTo(format, big, digests, std::make_unique<StringSink>(&out));
  return out;
}

}  // namespace

TEST_CASE("Archives written in every stream format read back member by member", "[archive]") {
  const std::string big = Pattern(3 << 20, 1);
  for (ArchiveFormat format : {ArchiveFormat::kBentoModel, ArchiveFormat::kTar, ArchiveFormat::kTarGz,
                               ArchiveFormat::kTarZst, ArchiveFormat::kZip}) {
    INFO(ArchiveFormatName(format));
    StringSource source(WriteArchive(format, big, false));
    auto reader = remote::ArchiveReader::FromSource(&source);
    remote::ArchiveEntry entry;
    std::vector<std::string> paths;
    std::string data;
    while (reader->Next(&entry)) {
      paths.push_back(NormalizeMemberPath(entry.path, "test"));
      if (entry.path.find("weights.bin") != std::string::npos) {
        CHECK(entry.executable);
        char buf[65536];
        while (size_t n = reader->ReadData(buf, sizeof buf)) data.append(buf, n);
      }
    }
    if (format == ArchiveFormat::kZip) {
      CHECK(paths == std::vector<std::string>{"model.yaml", "sub", "sub/weights.bin"});
    } else {
      CHECK(paths == std::vector<std::string>{"", "model.yaml", "sub", "sub/weights.bin"});
    }
    CHECK(data == big);
  }
}

TEST_CASE("A destination that fails is reported with its own error, wherever it fails", "[archive]") {
  const std::string big = Pattern(12 << 20, 2);  // xz: more 2 MiB blocks than it keeps in flight
  for (ArchiveFormat format : {ArchiveFormat::kBentoModel, ArchiveFormat::kTar, ArchiveFormat::kTarGz,
                               ArchiveFormat::kTarZst, ArchiveFormat::kZip}) {
    INFO(ArchiveFormatName(format));
    int total = 0;
    WriteArchiveTo(format, big, false, std::make_unique<FullDiskSink>(INT32_MAX, &total));
    REQUIRE(total > 0);
    for (int fail_at = 1; fail_at <= total; ++fail_at) {
      INFO("the write that fails: " << fail_at << " of " << total);
      int writes = 0;
      std::string message;
      try {
        WriteArchiveTo(format, big, false, std::make_unique<FullDiskSink>(fail_at, &writes));
      } catch (const std::exception& e) {
        message = e.what();
      }
      CHECK(message.find("no space left on device (test disk)") != std::string::npos);
    }
  }
}

TEST_CASE("A cut or damaged archive is refused as damaged", "[archive]") {
  const std::string big = Pattern(1 << 20, 2);
  for (ArchiveFormat format : {ArchiveFormat::kBentoModel, ArchiveFormat::kTarGz, ArchiveFormat::kTarZst}) {
    INFO(ArchiveFormatName(format));
    std::string bytes = WriteArchive(format, big, false);
    bytes[bytes.size() / 2] ^= 0x55;
    StringSource source(bytes);
    auto read_all = [&] {
      auto reader = remote::ArchiveReader::FromSource(&source);
      remote::ArchiveEntry entry;
      char buf[65536];
      while (reader->Next(&entry)) {
        while (reader->ReadData(buf, sizeof buf) > 0) {
        }
      }
    };
    CHECK_THROWS_AS(read_all(), Error);
  }
}

TEST_CASE("The tar index finds data offsets and sha256 attributes with range reads only", "[archive]") {
  const std::string big = Pattern(5 << 20, 3);
  const std::string tar = WriteArchive(ArchiveFormat::kTar, big, true);
  StringFetcher fetcher(tar);
  const auto members = remote::IndexTar(&fetcher, tar.size(), "test tar");
  REQUIRE(members.size() == 4);
  const remote::TarMember& weights = members[3];
  CHECK(weights.entry.path == "./sub/weights.bin");
  REQUIRE(weights.entry.size == big.size());
  CHECK(tar.compare(weights.data_offset, big.size(), big) == 0);
  CHECK(weights.sha256 == Sha256::Digest(big.data(), big.size()));
  CHECK(tar.compare(members[1].data_offset, 9, "name: m\n\n") == 0);
  CHECK(fetcher.fetched < tar.size() / 4);  // the 5 MiB of data were skipped
}

TEST_CASE("Member paths: normalized, and refused when they leave the model", "[archive]") {
  CHECK(NormalizeMemberPath("./a/./b/", "x") == "a/b");
  CHECK(NormalizeMemberPath(".", "x").empty());
  CHECK_THROWS_WITH(NormalizeMemberPath("/etc/passwd", "x"), Catch::Contains("absolute"));
  CHECK_THROWS_WITH(NormalizeMemberPath("a/../../b", "x"), Catch::Contains(".."));
  CHECK(ResolveLinkTarget("a/b", "../c") == std::optional<std::string>("a/c"));
  CHECK_FALSE(ResolveLinkTarget("a", "../../c"));
  CHECK_FALSE(ResolveLinkTarget("", "/etc/passwd"));
}

TEST_CASE("ProducerSource hands over a producer's bytes and its failure", "[archive]") {
  const std::string data = Pattern(10 << 20, 4);
  ProducerSource source([&](ByteSink* sink) {
    for (size_t i = 0; i < data.size(); i += 100000) sink->Write(data.data() + i, std::min<size_t>(100000, data.size() - i));
  }, data.size(), "test", 1 << 20);
  std::string got(data.size(), '\0');
  size_t n = 0;
  while (size_t r = source.Read(got.data() + n, got.size() - n)) n += r;
  CHECK(n == data.size());
  CHECK(got == data);

  ProducerSource failing([](ByteSink* sink) {
    sink->Write("abc", 3);
    throw Error(ErrorCode::kIOError, "the producer broke");
  }, std::nullopt, "test");
  char buf[16];
  CHECK(failing.Read(buf, sizeof buf) == 3);
  CHECK_THROWS_WITH(failing.Read(buf, sizeof buf), Catch::Contains("the producer broke"));

  // A reader that stops early does not leave the producer blocked.
  { ProducerSource abandoned([&](ByteSink* sink) { for (;;) sink->Write(data.data(), 1 << 20); }, std::nullopt, "test", 1 << 20); }
}

}  // namespace modelfs
