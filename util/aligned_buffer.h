// util/aligned_buffer.h — heap buffers aligned for O_DIRECT transfers.
//
// Direct I/O (O_DIRECT) moves bytes between the disk and the caller's memory
// without the page cache, but only for buffers, offsets and lengths that are
// multiples of the device's block size. kDirectIoAlignment covers every
// block size Linux uses (512 and 4096 bytes); DirectIoAligned() says whether
// one transfer qualifies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

namespace modelfs {

inline constexpr size_t kDirectIoAlignment = 4096;

struct AlignedFree {
  void operator()(char* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<char[], AlignedFree>;

// `n` bytes (rounded up to the alignment) at an aligned address; throws
// std::bad_alloc.
inline AlignedBuffer AllocateAligned(size_t n) {
  const size_t rounded = (n + kDirectIoAlignment - 1) / kDirectIoAlignment * kDirectIoAlignment;
  void* p = std::aligned_alloc(kDirectIoAlignment, rounded == 0 ? kDirectIoAlignment : rounded);
  if (p == nullptr) throw std::bad_alloc();
  return AlignedBuffer(static_cast<char*>(p));
}

inline bool DirectIoAligned(const void* buffer, uint64_t offset, size_t n) {
  return reinterpret_cast<uintptr_t>(buffer) % kDirectIoAlignment == 0 &&
         offset % kDirectIoAlignment == 0 && n % kDirectIoAlignment == 0;
}

}  // namespace modelfs
