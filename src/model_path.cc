#include "src/model_path.h"

#include <cstdio>

#include "util/error.h"
#include "util/utf8.h"

namespace modelfs {

namespace {

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

std::string ComponentProblem(std::string_view component) {
  if (component.empty()) return "it has an empty component ('//', or a leading or trailing '/')";
  if (component == "." || component == "..") {
    return "it has a '" + std::string(component) + "' component";
  }
  if (component.size() > kMaxPathComponentBytes) {
    return "a component is " + std::to_string(component.size()) + " bytes long (at most " +
           std::to_string(kMaxPathComponentBytes) + ")";
  }
  return "";
}

}  // namespace

std::string ModelPathProblem(std::string_view path) {
  if (path.empty()) return "it is empty";
  if (path.size() > kMaxModelPathBytes) {
    return "it is " + std::to_string(path.size()) + " bytes long (at most " +
           std::to_string(kMaxModelPathBytes) + ")";
  }
  for (unsigned char c : path) {
    if (IsControl(c)) return "it holds a control character";
  }
  if (!IsValidUtf8(path)) return "it is not valid UTF-8";
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    const std::string problem = ComponentProblem(path.substr(start, slash - start));
    if (!problem.empty()) return problem;
    if (slash == std::string_view::npos) return "";
    start = slash + 1;
  }
}

void ValidateModelPath(std::string_view path, std::string_view what) {
  const std::string problem = ModelPathProblem(path);
  if (problem.empty()) return;
  throw Error(ErrorCode::kInvalidArgument,
              "refusing the " + std::string(what) + " named \"" + PrintablePath(path) + "\": " + problem +
                  "; a path in a model must be relative, printable UTF-8, without '.', '..' or empty "
                  "components; nothing was stored");
}

void ValidateModelFileSize(uint64_t size, std::string_view path, std::string_view what) {
  if (size <= kMaxModelFileSize) return;
  throw Error(ErrorCode::kInvalidArgument,
              "refusing the " + std::string(what) + " named \"" + PrintablePath(path) + "\": its size " +
                  std::to_string(size) + " bytes is over the limit of 1 TiB a model file may have; "
                  "nothing was stored");
}

std::string PrintablePath(std::string_view path) {
  std::string out;
  const bool utf8 = IsValidUtf8(path);
  for (unsigned char c : path) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (IsControl(c) || (!utf8 && c >= 0x80)) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

uint64_t CheckedAdd(uint64_t a, uint64_t b, std::string_view what) {
  uint64_t sum;
  if (__builtin_add_overflow(a, b, &sum)) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string(what) + " adds up to more than 2^64 bytes; nothing was stored");
  }
  return sum;
}

}  // namespace modelfs
