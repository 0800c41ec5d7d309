// Fuzzes PackScanner (cache/pack_scanner.h) on a pack held in a memfd:
// records are reported in order without overlap, and records and damage
// stay within the scanned length. The first input byte asks for the record header
// checks to be made valid first (a fuzzer cannot guess an XXH32), and for
// a scanned length beyond the file's end.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include <xxhash.h>

#include "cache/pack_format.h"
#include "cache/pack_scanner.h"
#include "tests/fuzz/fuzz_check.h"
#include "util/coding.h"
#include "util/error.h"
#include "util/unique_fd.h"

namespace {

using modelfs::cache::kRecordHeaderSize;

// Rewrites the check of every would-be record header (magic found).
void FixHeaderChecks(std::string* pack) {
  for (size_t i = 0; i + kRecordHeaderSize <= pack->size(); ++i) {
    if (modelfs::DecodeFixed32(pack->data() + i) != modelfs::cache::kRecordMagic) continue;
    modelfs::EncodeFixed32(pack->data() + i + 32, XXH32(pack->data() + i, 32, 0));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::string pack(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (mode & 1) FixHeaderChecks(&pack);
  const uint64_t length = pack.size() + (mode & 2 ? 100 : 0);

  static modelfs::UniqueFd fd(::memfd_create("pack", MFD_CLOEXEC));
  FUZZ_CHECK(fd.valid());
  FUZZ_CHECK(::ftruncate(fd.get(), 0) == 0);
  FUZZ_CHECK(::pwrite(fd.get(), pack.data(), pack.size(), 0) == static_cast<ssize_t>(pack.size()));
  const std::string path = "/proc/self/fd/" + std::to_string(fd.get());

  uint64_t next_record = modelfs::cache::kPackFileHeaderSize;  // the earliest a record may start
  auto inside = [&](uint64_t offset, uint64_t n) { return offset <= length && n <= length - offset; };
  try {
    modelfs::cache::PackScanner::Scan(
        path, length,
        [&](const modelfs::cache::ScannedRecord& r) {
          FUZZ_CHECK(r.offset >= next_record);
          FUZZ_CHECK(inside(r.offset, kRecordHeaderSize + uint64_t{r.header.stored_size}));
          next_record = r.offset + kRecordHeaderSize + r.header.stored_size;
        },
        [&](const modelfs::cache::PackDamage& d) { FUZZ_CHECK(inside(d.offset, d.length)); });
  } catch (const modelfs::Error&) {
  }
  return 0;
}
