// src/control_request.h — the bodies of the messages on the control socket:
// the command a CLI forwards to the mount daemon, and the daemon's reply.
//
// Both are JSON objects: {"argv": [...], "cwd": "...", "env": {...}} and
// {"exit": N}. Every string travels byte for byte: one that is not UTF-8
// (a file name in another encoding) goes as {"hex": "..."} instead of a JSON
// string. The decoders are pure functions of the body, so anything a peer
// sends is either a well-formed command or an Error.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace modelfs {

struct ControlCommand {
  std::vector<std::string> argv;
  std::string cwd;
  // The caller's forwarded variables. Names are UTF-8 (they come from
  // kForwardedEnvironment); values may be any bytes.
  std::map<std::string, std::string> env;

  bool operator==(const ControlCommand&) const = default;
};

std::string EncodeControlCommand(const ControlCommand& command);
// Throws Error(kInvalidArgument) naming the problem when `body` is not JSON,
// not an object, lacks argv or cwd, or holds a field of the wrong type.
// DecodeControlCommand(EncodeControlCommand(c)) == c for every c whose env
// names are UTF-8 (EncodeControlCommand throws Error(kInvalidArgument) for
// any other name).
ControlCommand DecodeControlCommand(std::string_view body);

std::string EncodeControlReply(int exit_status);
// Throws Error(kInvalidArgument) unless `body` is {"exit": <int>}.
int DecodeControlReply(std::string_view body);

}  // namespace modelfs
