// Fuzzes the Hub's listing answers (remote/hf_hub.h): any body is a revision
// info and a page of files, or an Error (never another exception).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "remote/hf_hub.h"
#include "tests/fuzz/fuzz_check.h"
#include "util/error.h"

using modelfs::remote::HfFile;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;  // HfHub::List refuses it before any parser
  try {
    const modelfs::remote::HfRevisionInfo info = modelfs::remote::ParseHfRevisionInfo(j, "fuzz");
    FUZZ_CHECK(info.commit.size() == 40);
  } catch (const modelfs::Error&) {
  }
  try {
    const std::vector<HfFile> files = modelfs::remote::ParseHfTreePage(j, "fuzz");
    FUZZ_CHECK(j.is_array() && files.size() <= j.size());
  } catch (const modelfs::Error&) {
  }
  return 0;
}
