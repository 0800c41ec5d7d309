#include "tools/cli_app.h"

#include <CLI/CLI.hpp>

#include "tools/commands.h"
#include "util/error.h"
#include "util/logging.h"

namespace modelfs::tools {

int RunCommandLine(CommandContext& ctx, const std::vector<std::string>& argv) {
  CLI::App app{"modelfs — a deduplicated model store and filesystem, shaped like `bentoml models`"};
  app.set_version_flag("--version", "modelfs 0.1.0");
  app.add_option("--home", ctx.home_flag,
                 "store directory (default: $MODELFS_HOME, else ~/.local/share/modelfs)");
  app.add_option("--log-level", ctx.log_level, "trace, debug, info, warn (default), error, off");
  app.require_subcommand(1);
  if (!ctx.in_daemon()) app.parse_complete_callback([&] { InitLogging(ctx.log_level); });
  RegisterModelsCommands(app, ctx);
  RegisterCacheCommands(app, ctx);
  RegisterVerifyCommand(app, ctx);
  RegisterMountCommands(app, ctx);

  std::vector<std::string> args(argv.rbegin(), argv.rend() - 1);  // CLI11 wants them reversed
  try {
    app.parse(args);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e, ctx.out(), ctx.err());
  } catch (const CLI::ParseError& e) {
    ctx.err() << "Error: " << e.what() << "\nRun with --help for usage." << std::endl;
    return 1;
  } catch (const ForwardedToDaemon& forwarded) {
    return forwarded.exit_code;
  } catch (const std::exception& e) {
    ctx.out().flush();
    ctx.err() << "Error: " << e.what() << std::endl;
    return 1;
  }
  ctx.out().flush();
  return ctx.exit_code;
}

}  // namespace modelfs::tools
