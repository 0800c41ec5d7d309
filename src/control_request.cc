// src/control_request.cc — see control_request.h.
#include "src/control_request.h"

#include <cstdint>

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/hex.h"

namespace modelfs {
namespace {

using nlohmann::json;

[[noreturn]] void Malformed(const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument,
              "malformed control request: " + what +
                  "; the client and the mount daemon may be different modelfs versions, "
                  "restart the mount.");
}

// `s` as a JSON string when it is UTF-8, else as {"hex": "..."}.
json BytesToJson(const std::string& s) {
  try {
    (void)json(s).dump();
    return s;
  } catch (const json::type_error&) {
    return json{{"hex", HexEncode(s)}};
  }
}

std::string BytesFromJson(const json& j, const std::string& what) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.size() == 1 && j.contains("hex") && j["hex"].is_string()) {
    if (auto bytes = HexDecode(j["hex"].get<std::string>())) return *bytes;
  }
  Malformed(what + " is not a string");
}

json Parse(std::string_view body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) Malformed("the body is not JSON");
  if (!j.is_object()) Malformed("the body is not a JSON object");
  return j;
}

}  // namespace

std::string EncodeControlCommand(const ControlCommand& command) {
  json argv = json::array();
  for (const std::string& arg : command.argv) argv.push_back(BytesToJson(arg));
  json env = json::object();
  for (const auto& [name, value] : command.env) env[name] = BytesToJson(value);
  try {
    return json{{"argv", argv}, {"cwd", BytesToJson(command.cwd)}, {"env", env}}.dump();
  } catch (const json::type_error&) {  // only a name can still be other than UTF-8
    throw Error(ErrorCode::kInvalidArgument, "an environment variable name is not UTF-8.");
  }
}

ControlCommand DecodeControlCommand(std::string_view body) {
  const json j = Parse(body);
  ControlCommand command;
  auto argv = j.find("argv");
  if (argv == j.end() || !argv->is_array()) Malformed("argv is missing or not a list");
  for (const json& arg : *argv) command.argv.push_back(BytesFromJson(arg, "an argument"));
  auto cwd = j.find("cwd");
  if (cwd == j.end()) Malformed("cwd is missing");
  command.cwd = BytesFromJson(*cwd, "cwd");
  if (auto env = j.find("env"); env != j.end()) {
    if (!env->is_object()) Malformed("env is not an object");
    for (const auto& [name, value] : env->items()) command.env[name] = BytesFromJson(value, "env " + name);
  }
  return command;
}

std::string EncodeControlReply(int exit_status) { return json{{"exit", exit_status}}.dump(); }

int DecodeControlReply(std::string_view body) {
  const json j = Parse(body);
  auto exit = j.find("exit");
  if (exit == j.end() || !exit->is_number_integer()) Malformed("the reply has no exit status");
  const int64_t status = exit->get<int64_t>();
  if (status < INT32_MIN || status > INT32_MAX) Malformed("the exit status " + std::to_string(status) + " is out of range");
  return static_cast<int>(status);
}

}  // namespace modelfs
