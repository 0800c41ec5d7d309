// tools/cli_app.h — builds the `modelfs` command tree and runs one command
// line in a context; shared by main() and the mount daemon, which runs the
// command lines other processes forward to it.
#pragma once

#include <string>
#include <vector>

#include "tools/command_context.h"

namespace modelfs::tools {

// Parses `argv` (argv[0] is the program name) and runs the command. Errors
// are printed to ctx.err() as "Error: …"; returns the exit status.
int RunCommandLine(CommandContext& ctx, const std::vector<std::string>& argv);

}  // namespace modelfs::tools
