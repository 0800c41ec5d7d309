// tools/main.cc — the `modelfs` program.
#include <iostream>
#include <string>
#include <vector>

#include "tools/cli_app.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  modelfs::tools::CommandContext ctx(args, std::cout, std::cerr);
  return modelfs::tools::RunCommandLine(ctx, args);
}
