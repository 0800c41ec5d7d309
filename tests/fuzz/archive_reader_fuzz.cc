// Fuzzes ArchiveReader::FromSource (remote/archive_reader.h), libarchive on
// a memory buffer: any bytes (tar, gzip, xz, zstd, zip, ...) are members
// or an Error. The first input byte picks a seekable source and the size
// of its reads; members' data is read up to a cap, so a small compressed
// bomb costs time but no memory.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "remote/archive_reader.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/memory_sources.h"

namespace {
constexpr size_t kMaxDataRead = 4 << 20;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool seekable = data[0] & 1;
  const size_t chunk = data[0] & 0x80 ? 7 : 1 << 20;
  modelfs::fuzz::MemorySource source(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1),
                                     seekable, chunk);
  std::vector<char> buffer(64 << 10);
  size_t total = 0;
  try {
    auto reader = modelfs::remote::ArchiveReader::FromSource(&source);
    modelfs::remote::ArchiveEntry entry;
    while (reader->Next(&entry)) {
      for (size_t n; total < kMaxDataRead && (n = reader->ReadData(buffer.data(), buffer.size())) > 0;) {
        FUZZ_CHECK(n <= buffer.size());
        total += n;
      }
    }
  } catch (const modelfs::Error&) {
  }
  return 0;
}
