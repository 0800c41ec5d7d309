// src/model_path.h — what a path inside a model, and a file's size, may be.
//
// Every way a model enters the store (save, import, Hub and BentoCloud
// pulls) and the catalog itself, before it writes a model, check each
// relative path and size here, so the tree the mount shows is always
// unambiguous: one name per entry, printable, short enough for the kernel
// and every tool, and sizes whose sums cannot wrap.
//
// A valid model path is relative and '/'-separated: not empty, valid UTF-8,
// no control character (U+0000–U+001F, U+007F), no empty, "." or ".."
// component, no component over kMaxPathComponentBytes, and at most
// kMaxModelPathBytes in all.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace modelfs {

// NAME_MAX of Linux file systems.
inline constexpr size_t kMaxPathComponentBytes = 255;
// PATH_MAX (4096) less room for a mountpoint and "models/<name>/<version>/".
inline constexpr size_t kMaxModelPathBytes = 3840;
// The largest file a model may hold (1 TiB): larger than any single weights
// file published, and far below where byte counts could overflow.
inline constexpr uint64_t kMaxModelFileSize = uint64_t{1} << 40;
// The most files a model may hold.
inline constexpr uint64_t kMaxModelFiles = 10'000'000;

// Why `path` is not a valid model path, or "" when it is.
std::string ModelPathProblem(std::string_view path);

// Throws Error(kInvalidArgument) when `path` is not a valid model path; the
// message names `what` (e.g. "file of model org/x" or "member of a.tar") and
// the path, with unprintable bytes escaped.
void ValidateModelPath(std::string_view path, std::string_view what);

// Throws Error(kInvalidArgument) when `size` exceeds kMaxModelFileSize.
void ValidateModelFileSize(uint64_t size, std::string_view path, std::string_view what);

// `path` with control characters, backslashes, quotes and invalid UTF-8 shown
// as escapes (\n, \x1b, \\), for messages and logs.
std::string PrintablePath(std::string_view path);

// a + b, or Error(kInvalidArgument) naming `what` when the sum would not fit in 64 bits.
uint64_t CheckedAdd(uint64_t a, uint64_t b, std::string_view what);

}  // namespace modelfs
