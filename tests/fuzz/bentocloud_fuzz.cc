// Fuzzes BentoCloud's model answers (remote/bentocloud_client.h): any JSON
// is a model, a list of models or neither, never another exception.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "remote/bentocloud_client.h"
#include "tests/fuzz/fuzz_check.h"

using modelfs::remote::CloudModel;
using modelfs::remote::ParseCloudModel;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;  // the client refuses it before any parser
  if (std::optional<CloudModel> model = ParseCloudModel(j, "repo")) {
    FUZZ_CHECK(model->repository == "repo" && model->manifest.is_object());
    FUZZ_CHECK(model->version == j["version"].get<std::string>());
  }
  // LatestModel takes items[0] of a list.
  if (auto items = j.find("items"); items != j.end() && items->is_array() && !items->empty()) {
    (void)ParseCloudModel((*items)[0], "repo");
  }
  return 0;
}
