// Fuzzes the pack record formats (cache/pack_format.h, cache/pack_reader.h):
// record header and chunk location decode, their round trips, and payload
// decoding under a header with a valid check (built from the input, since a
// fuzzer cannot guess an XXH32).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cache/pack_format.h"
#include "cache/pack_reader.h"
#include "tests/fuzz/fuzz_check.h"
#include "util/coding.h"

using modelfs::cache::ChunkLocation;
using modelfs::cache::kRecordHeaderSize;
using modelfs::cache::RecordHeader;

namespace {

bool SameHeader(const RecordHeader& a, const RecordHeader& b) {
  return a.type == b.type && a.codec == b.codec && a.raw_size == b.raw_size &&
         a.stored_size == b.stored_size && a.hash == b.hash;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  if (std::optional<ChunkLocation> loc = ChunkLocation::Decode(in)) {
    FUZZ_CHECK(loc->Encode() == in);
  }
  if (size < kRecordHeaderSize) return 0;

  // The input's first 36 bytes as a header, as they are (a damaged record
  // almost always) ...
  if (std::optional<RecordHeader> h = RecordHeader::Decode(in.data())) {
    char again[kRecordHeaderSize];
    h->EncodeTo(again);
    std::optional<RecordHeader> h2 = RecordHeader::Decode(again);
    FUZZ_CHECK(h2 && SameHeader(*h, *h2));
  }
  // ... and with a valid check, so that the payload decoder is reached.
  std::string header(in.substr(0, kRecordHeaderSize));
  modelfs::EncodeFixed32(header.data(), modelfs::cache::kRecordMagic);
  header[4] = 1;
  header[5] = static_cast<char>(header[5] & 1);
  modelfs::EncodeFixed32(header.data() + 32, 0);
  std::optional<RecordHeader> h = RecordHeader::Decode(header.data());
  if (!h) {
    RecordHeader fixed;
    fixed.codec = static_cast<modelfs::cache::Codec>(header[5]);
    fixed.raw_size = modelfs::DecodeFixed32(header.data() + 8);
    fixed.stored_size = modelfs::DecodeFixed32(header.data() + 12);
    fixed.hash = modelfs::cache::ChunkHash::FromBytes(std::string_view(header.data() + 16, 16));
    fixed.EncodeTo(header.data());
    h = RecordHeader::Decode(header.data());
    FUZZ_CHECK(h && SameHeader(*h, fixed));
  }
  const std::string_view payload = in.substr(kRecordHeaderSize);
  if (h->stored_size <= payload.size()) {
    std::string out;
    if (modelfs::cache::DecodeRecordPayload(*h, payload.data(), &out)) {
      FUZZ_CHECK(out.size() == h->raw_size);
    }
  }
  return 0;
}
