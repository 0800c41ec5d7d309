// tools/main.cc — the `modelfs` program.
//
// Besides its own command lines it accepts the form mount(8) uses for
// `mount -t fuse.modelfs STORE MOUNTPOINT -o OPTIONS` (via mount.fuse3):
//   modelfs STORE MOUNTPOINT [-o OPTIONS]  ==  modelfs --home STORE mount MOUNTPOINT [-o OPTIONS]
#include <malloc.h>

#include <clocale>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "tools/cli_app.h"

namespace {

std::vector<std::string> FromMountHelper(std::vector<std::string> args) {
  static const std::set<std::string> kCommands = {"models", "cache", "verify", "mount", "umount"};
  if (args.size() < 3 || args[1].empty() || args[1][0] == '-' || kCommands.count(args[1])) return args;
  std::error_code ec;
  if (!std::filesystem::is_directory(args[1], ec)) return args;
  std::vector<std::string> rewritten = {args[0], "--home", args[1], "mount", args[2]};
  rewritten.insert(rewritten.end(), args.begin() + 3, args.end());
  return rewritten;
}

}  // namespace

int main(int argc, char** argv) {
  // Buffers of a few MiB (xz blocks, zstd jobs, read blocks) come and go by
  // the thousand in a transfer; from mmap each would cost fresh zeroed pages
  // (a measured 2-4x slowdown of exports). Keep them on the reused heap.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  // Archive member names are UTF-8 whatever the caller's locale; libarchive
  // converts names through the C library's character type.
  if (!std::setlocale(LC_CTYPE, "C.UTF-8")) std::setlocale(LC_CTYPE, "");
  std::vector<std::string> args = FromMountHelper(std::vector<std::string>(argv, argv + argc));
  modelfs::tools::CommandContext ctx(args, std::cout, std::cerr);
  return modelfs::tools::RunCommandLine(ctx, args);
}
