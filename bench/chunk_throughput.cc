// bench/chunk_throughput.cc — chunking + XXH3-128 hashing speed on one core,
// and how chunk-size choices trade speed against dedup of an edited copy.
//
// Usage: chunk_throughput [MiB]   (default 512)
// For each parameter set it prints MB/s of cut+hash over random data, the
// mean chunk size, and the bytes a copy with one 64 MiB region rewritten and
// one byte inserted near the start would add to a store that holds the
// original (new unique chunks).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <unordered_set>
#include <vector>

#include "cache/chunk_hash.h"
#include "cache/chunker.h"

using modelfs::cache::ChunkHash;
using modelfs::cache::ChunkHashHasher;
using modelfs::cache::Chunker;
using modelfs::cache::ChunkerParams;

namespace {

struct Cut {
  ChunkHash hash;
  size_t size;
};

std::vector<Cut> CutAll(const Chunker& chunker, const std::vector<uint8_t>& data) {
  std::vector<Cut> cuts;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t len = chunker.NextChunkLength(data.data() + pos, data.size() - pos, true);
    cuts.push_back({ChunkHash::Of(data.data() + pos, len), len});
    pos += len;
  }
  return cuts;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 512;
  std::vector<uint8_t> data(mib << 20);
  std::mt19937_64 rng(42);
  for (size_t i = 0; i + 8 <= data.size(); i += 8) {
    uint64_t v = rng();
    std::memcpy(&data[i], &v, 8);
  }
  // The edited copy: 64 MiB rewritten at 1/4, one byte inserted at 4 KiB.
  std::vector<uint8_t> edited = data;
  const size_t region = std::min<size_t>(64 << 20, data.size() / 4);
  for (size_t i = data.size() / 4; i < data.size() / 4 + region; ++i) edited[i] ^= 0x5a;
  edited.insert(edited.begin() + 4096, 0x42);

  const ChunkerParams sets[] = {
      {16 << 10, 64 << 10, 256 << 10}, {32 << 10, 128 << 10, 512 << 10},
      ChunkerParams::Default(),        {256 << 10, 1 << 20, 4 << 20}};
  std::printf("%-22s %10s %12s %16s\n", "min/avg/max KiB", "MB/s", "mean KiB", "edit adds MiB");
  for (const auto& p : sets) {
    Chunker chunker(p);
    auto t0 = std::chrono::steady_clock::now();
    auto cuts = CutAll(chunker, data);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::unordered_set<ChunkHash, ChunkHashHasher> have;
    for (const auto& c : cuts) have.insert(c.hash);
    uint64_t added = 0;
    for (const auto& c : CutAll(chunker, edited)) {
      if (have.insert(c.hash).second) added += c.size;
    }
    char label[64];
    std::snprintf(label, sizeof(label), "%zu/%zu/%zu%s", p.min_size >> 10, p.avg_size >> 10,
                  p.max_size >> 10, p.avg_size == ChunkerParams::Default().avg_size ? " *" : "");
    std::printf("%-22s %10.0f %12.1f %16.2f\n", label, data.size() / secs / 1e6,
                double(data.size()) / cuts.size() / 1024, added / 1048576.0);
  }
  std::printf("(* = the store's setting; edit = %zu MiB rewritten + 1 byte inserted)\n", region >> 20);
  return 0;
}
