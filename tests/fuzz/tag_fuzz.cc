// Fuzzes ParseTag (src/tag.h): any text is a valid tag or an Error, and a
// parsed tag re-validates and survives ToString().
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/tag.h"
#include "tests/fuzz/fuzz_check.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  modelfs::Tag tag;
  try {
    tag = modelfs::ParseTag(text);
  } catch (const modelfs::Error&) {
    return 0;
  }
  modelfs::ValidateTagPart(tag.name, "name");  // throws (a crash here) if invalid
  FUZZ_CHECK(tag.name.size() <= modelfs::kMaxTagPartLength);
  if (!tag.is_latest()) {
    modelfs::ValidateTagPart(tag.version, "version");
    FUZZ_CHECK(tag.version != "latest");
  }
  FUZZ_CHECK(modelfs::ParseTag(tag.ToString()) == tag);
  return 0;
}
