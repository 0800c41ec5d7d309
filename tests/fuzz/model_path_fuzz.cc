// Fuzzes the validation of relative model paths (src/model_path.h) against
// an oracle written from the header's rules, and checks that PrintablePath
// is printable and can be read back to the path.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "src/model_path.h"
#include "tests/fuzz/fuzz_check.h"
#include "util/error.h"
#include "util/utf8.h"

namespace {

// The header's rules, one by one.
bool OracleValid(std::string_view path) {
  if (path.empty() || path.size() > modelfs::kMaxModelPathBytes) return false;
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  if (!modelfs::IsValidUtf8(path)) return false;
  size_t start = 0;
  for (;;) {
    const size_t slash = path.find('/', start);
    const std::string_view part = path.substr(start, slash == std::string_view::npos ? path.npos : slash - start);
    if (part.empty() || part == "." || part == ".." || part.size() > modelfs::kMaxPathComponentBytes) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

// Reads PrintablePath's escapes back: \\ \" \n \t \xNN.
std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    FUZZ_CHECK(i + 1 < s.size());
    const char e = s[++i];
    if (e == 'n') {
      out += '\n';
    } else if (e == 't') {
      out += '\t';
    } else if (e == 'x') {
      FUZZ_CHECK(i + 2 < s.size());
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      FUZZ_CHECK(e == '\\' || e == '"');
      out += e;
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view path(reinterpret_cast<const char*>(data), size);
  const std::string problem = modelfs::ModelPathProblem(path);
  FUZZ_CHECK(problem.empty() == OracleValid(path));
  bool thrown = false;
  try {
    modelfs::ValidateModelPath(path, "file of the fuzz input");
  } catch (const modelfs::Error&) {
    thrown = true;
  }
  FUZZ_CHECK(thrown == !problem.empty());
  const std::string printable = modelfs::PrintablePath(path);
  FUZZ_CHECK(modelfs::IsValidUtf8(printable));
  for (unsigned char c : printable) FUZZ_CHECK(c >= 0x20 && c != 0x7f);
  FUZZ_CHECK(Unescape(printable) == path);
  return 0;
}
