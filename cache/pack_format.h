// cache/pack_format.h — the on-disk layout of pack files.
//
// A pack is append-only: a 16-byte file header, then records back to back.
// Every record is self-describing, so `verify` can check each byte and the
// chunk index can be rebuilt by scanning packs:
//
//   file header  "MFSPACK1" | version u32 | reserved u32
//   record       magic u32 "CHNK" | type u8 | codec u8 | reserved u16 |
//                raw_size u32 | stored_size u32 | hash[16] (XXH3-128 of raw) |
//                header_check u32 (XXH32 of the 32 bytes before it) |
//                payload[stored_size]
//
// All integers little-endian.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cache/chunk_hash.h"

namespace modelfs::cache {

inline constexpr char kPackFileMagic[8] = {'M', 'F', 'S', 'P', 'A', 'C', 'K', '1'};
inline constexpr uint32_t kPackFormatVersion = 1;
inline constexpr size_t kPackFileHeaderSize = 16;
inline constexpr uint32_t kRecordMagic = 0x4b4e4843;  // "CHNK"
inline constexpr size_t kRecordHeaderSize = 36;

enum class RecordType : uint8_t { kChunk = 1 };
enum class Codec : uint8_t { kRaw = 0, kZstd = 1 };

struct RecordHeader {
  RecordType type = RecordType::kChunk;
  Codec codec = Codec::kRaw;
  uint32_t raw_size = 0;
  uint32_t stored_size = 0;
  ChunkHash hash;

  void EncodeTo(char out[kRecordHeaderSize]) const;
  // Returns nullopt unless the magic, header check, type and codec are valid.
  static std::optional<RecordHeader> Decode(const char in[kRecordHeaderSize]);
};

std::string EncodePackFileHeader();
bool IsValidPackFileHeader(std::string_view header);

// Where a chunk's record lives: the pack id and the record's offset in it.
struct ChunkLocation {
  uint32_t pack_id = 0;
  uint64_t offset = 0;       // of the record header
  uint32_t stored_size = 0;  // payload bytes on disk
  uint32_t raw_size = 0;
  Codec codec = Codec::kRaw;

  uint64_t record_size() const { return kRecordHeaderSize + stored_size; }
  std::string Encode() const;
  static std::optional<ChunkLocation> Decode(std::string_view in);
};

}  // namespace modelfs::cache
