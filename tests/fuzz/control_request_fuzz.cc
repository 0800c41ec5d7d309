// Fuzzes the control-socket messages (src/control_request.h): any body is a
// command or an Error; a decoded command round-trips, and so does a command
// of arbitrary bytes (file names that are not UTF-8 included).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/control_request.h"
#include "tests/fuzz/fuzz_check.h"
#include "util/error.h"

using modelfs::ControlCommand;
using modelfs::DecodeControlCommand;
using modelfs::EncodeControlCommand;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  try {
    const ControlCommand command = DecodeControlCommand(body);
    FUZZ_CHECK(DecodeControlCommand(EncodeControlCommand(command)) == command);
  } catch (const modelfs::Error&) {
  }
  try {
    (void)modelfs::DecodeControlReply(body);
  } catch (const modelfs::Error&) {
  }

  FuzzedDataProvider fdp(data, size);
  ControlCommand made;
  made.cwd = fdp.ConsumeRandomLengthString(64);
  if (fdp.ConsumeBool()) made.env["HF_TOKEN"] = fdp.ConsumeRandomLengthString(64);
  while (fdp.remaining_bytes() > 0) made.argv.push_back(fdp.ConsumeRandomLengthString(64));
  FUZZ_CHECK(DecodeControlCommand(EncodeControlCommand(made)) == made);
  return 0;
}
