// Fuzzes IndexTar (remote/tar_index.h) over a remote tar held in memory:
// any bytes are an index or an Error, and every member indexed lies inside
// the tar.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "remote/tar_index.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/memory_sources.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view tar(reinterpret_cast<const char*>(data), size);
  modelfs::fuzz::MemoryFetcher fetcher(tar);
  try {
    for (const auto& m : modelfs::remote::IndexTar(&fetcher, size, "fuzz.tar")) {
      FUZZ_CHECK(m.data_offset <= size);
      FUZZ_CHECK(!m.entry.size || *m.entry.size <= size - m.data_offset);
      FUZZ_CHECK(m.sha256.empty() || m.sha256.size() == 32);
    }
  } catch (const modelfs::Error&) {
  }
  return 0;
}
