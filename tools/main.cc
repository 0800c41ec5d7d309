// tools/main.cc — the `modelfs` command: global options, subcommand
// dispatch, and the one place errors become "Error: …" and exit status 1.
#include <iostream>

#include <CLI/CLI.hpp>

#include "tools/commands.h"
#include "util/error.h"
#include "util/logging.h"

int main(int argc, char** argv) {
  using namespace modelfs;
  tools::CommandContext ctx;
  CLI::App app{"modelfs — a deduplicated model store, shaped like `bentoml models`"};
  app.set_version_flag("--version", "modelfs 0.1.0");
  app.add_option("--home", ctx.home_flag,
                 "store directory (default: $MODELFS_HOME, else ~/.local/share/modelfs)");
  app.add_option("--log-level", ctx.log_level, "trace, debug, info, warn (default), error, off");
  app.require_subcommand(1);
  app.parse_complete_callback([&] { InitLogging(ctx.log_level); });
  tools::RegisterModelsCommands(app, ctx);
  tools::RegisterCacheCommands(app, ctx);
  tools::RegisterVerifyCommand(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  } catch (const Error& e) {
    std::cerr << "Error: " << e.what() << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "Error: " << e.what() << std::endl;
    return 1;
  }
  return ctx.exit_code;
}
