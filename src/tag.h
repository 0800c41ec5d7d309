// src/tag.h — the model tag "name[:version]", as BentoML spells it.
//
// Owns the rules for what a tag may look like and how a new version is made.
// Each part matches ^[a-z0-9]([-._a-z0-9]*[a-z0-9])?$ and is at most 63
// characters. A Tag returned by ParseTag always satisfies these rules; an empty
// version means "latest", the newest version by creation time, which the
// store resolves. Invalid input throws Error(kInvalidArgument) with a message
// that names the input and the rule it breaks.
#pragma once

#include <string>
#include <string_view>

namespace modelfs {

struct Tag {
  std::string name;
  std::string version;  // empty means "latest" (newest by creation time)

  bool is_latest() const { return version.empty(); }

  // "name:version", or "name:latest" when the version is empty.
  std::string ToString() const;

  bool operator==(const Tag&) const = default;
};

// The longest a tag name or version may be.
inline constexpr size_t kMaxTagPartLength = 63;

// Parses user input. The input is lower-cased first; if that changed it a
// warning is logged, as BentoML does. "name" and "name:latest" give an empty
// version. Throws Error(kInvalidArgument) for an empty string, an empty name
// or version around ':', more than one ':', a part longer than 63 characters,
// or a part with characters outside [-._a-z0-9] or not starting and ending
// with a letter or digit (so "../x", "a/b", "-a", "a." are rejected).
Tag ParseTag(std::string_view text);

// Checks one part of a tag; `what` is "name" or "version" and appears in the
// message. Does not lower-case. Throws Error(kInvalidArgument).
void ValidateTagPart(std::string_view part, std::string_view what);

// Checks the version of a model being written: a valid tag part and not
// "latest", which always means the newest version and so is never stored.
// Throws Error(kInvalidArgument) naming `name` (an empty version is
// "needs a concrete version, not 'latest'").
void ValidateConcreteVersion(std::string_view name, std::string_view version);

// A new version string as BentoML makes it: 16 lower-case base32 characters
// (RFC 4648 alphabet a-z2-7) encoding 10 bytes: 6 bytes of a 100 ns timestamp
// (strictly increasing within the process) and 4 random bytes from the
// kernel, so versions are unique across calls, threads and processes.
std::string GenerateVersion();

}  // namespace modelfs
