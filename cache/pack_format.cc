#include "cache/pack_format.h"

#include <cstring>

#include <xxhash.h>

#include "util/coding.h"

namespace modelfs::cache {

void RecordHeader::EncodeTo(char out[kRecordHeaderSize]) const {
  EncodeFixed32(out, kRecordMagic);
  out[4] = static_cast<char>(type);
  out[5] = static_cast<char>(codec);
  out[6] = out[7] = 0;
  EncodeFixed32(out + 8, raw_size);
  EncodeFixed32(out + 12, stored_size);
  std::memcpy(out + 16, hash.bytes().data(), ChunkHash::kSize);
  EncodeFixed32(out + 32, XXH32(out, 32, 0));
}

std::optional<RecordHeader> RecordHeader::Decode(const char in[kRecordHeaderSize]) {
  if (DecodeFixed32(in) != kRecordMagic) return std::nullopt;
  if (DecodeFixed32(in + 32) != XXH32(in, 32, 0)) return std::nullopt;
  RecordHeader h;
  h.type = static_cast<RecordType>(in[4]);
  h.codec = static_cast<Codec>(in[5]);
  if (h.type != RecordType::kChunk) return std::nullopt;
  if (h.codec != Codec::kRaw && h.codec != Codec::kZstd) return std::nullopt;
  h.raw_size = DecodeFixed32(in + 8);
  h.stored_size = DecodeFixed32(in + 12);
  h.hash = ChunkHash::FromBytes(std::string_view(in + 16, ChunkHash::kSize));
  return h;
}

std::string EncodePackFileHeader() {
  std::string out(kPackFileMagic, sizeof(kPackFileMagic));
  PutFixed32(&out, kPackFormatVersion);
  PutFixed32(&out, 0);
  return out;
}

bool IsValidPackFileHeader(std::string_view header) {
  return header.size() >= kPackFileHeaderSize &&
         std::memcmp(header.data(), kPackFileMagic, sizeof(kPackFileMagic)) == 0 &&
         DecodeFixed32(header.data() + 8) == kPackFormatVersion;
}

std::string ChunkLocation::Encode() const {
  std::string out;
  PutFixed32(&out, pack_id);
  PutFixed64(&out, offset);
  PutFixed32(&out, stored_size);
  PutFixed32(&out, raw_size);
  out.push_back(static_cast<char>(codec));
  return out;
}

std::optional<ChunkLocation> ChunkLocation::Decode(std::string_view in) {
  ChunkLocation loc;
  uint32_t pack_id, stored, raw;
  uint64_t offset;
  if (!GetFixed32(&in, &pack_id) || !GetFixed64(&in, &offset) || !GetFixed32(&in, &stored) ||
      !GetFixed32(&in, &raw) || in.size() != 1) {
    return std::nullopt;
  }
  loc.pack_id = pack_id;
  loc.offset = offset;
  loc.stored_size = stored;
  loc.raw_size = raw;
  loc.codec = static_cast<Codec>(in[0]);
  if (loc.codec != Codec::kRaw && loc.codec != Codec::kZstd) return std::nullopt;
  return loc;
}

}  // namespace modelfs::cache
