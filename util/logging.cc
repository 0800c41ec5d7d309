#include "util/logging.h"

#include <cstdlib>

#include <spdlog/sinks/stdout_color_sinks.h>

#include "util/error.h"

namespace modelfs {

void InitLogging(const std::string& level) {
  std::string name = level;
  if (name.empty()) {
    const char* env = std::getenv("MODELFS_LOG");
    name = env && *env ? env : "warn";
  }
  auto parsed = spdlog::level::from_str(name);
  if (parsed == spdlog::level::off && name != "off") {
    throw Error(ErrorCode::kInvalidArgument,
                "unknown log level '" + name + "' (use trace, debug, info, warn, error or off)");
  }
  auto logger = spdlog::stderr_color_mt("modelfs");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ modelfs: %v");
  logger->set_level(parsed);
  spdlog::set_default_logger(logger);
}

}  // namespace modelfs
