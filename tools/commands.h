// tools/commands.h — each command group registers its subcommands on the app.
#pragma once

#include <CLI/CLI.hpp>

#include "tools/command_context.h"

namespace modelfs::tools {

void RegisterModelsCommands(CLI::App& app, CommandContext& ctx);
// `models pull` (cmd_pull.cc), registered by RegisterModelsCommands.
void AddPull(CLI::App& models, CommandContext& ctx);
// `models export` and `models import` (cmd_archive.cc).
void AddExportImport(CLI::App& models, CommandContext& ctx);
// `models push` (cmd_push.cc).
void AddPush(CLI::App& models, CommandContext& ctx);
void RegisterCacheCommands(CLI::App& app, CommandContext& ctx);
void RegisterVerifyCommand(CLI::App& app, CommandContext& ctx);
void RegisterMountCommands(CLI::App& app, CommandContext& ctx);

}  // namespace modelfs::tools
