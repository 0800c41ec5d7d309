// Fuzzes ModelInfo::Parse (src/model_info.h): any text is a document or an
// Error, and a parsed document's canonical YAML parses back to the same
// YAML (the header's promise) and converts to JSON.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "src/model_info.h"
#include "tests/fuzz/fuzz_check.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string yaml;
  try {
    modelfs::ModelInfo info = modelfs::ModelInfo::Parse(text);
    yaml = info.ToYaml();
    (void)info.ToJson().dump();
  } catch (const modelfs::Error&) {
    return 0;
  }
  FUZZ_CHECK(modelfs::ModelInfo::Parse(yaml).ToYaml() == yaml);
  return 0;
}
