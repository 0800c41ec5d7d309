// tools/cmd_verify.cc — `modelfs verify [TAG] [--repair]`.
#include <iostream>

#include "tools/commands.h"
#include "tools/output.h"
#include "util/error.h"

namespace modelfs::tools {

void RegisterVerifyCommand(CLI::App& app, CommandContext& ctx) {
  auto* cmd = app.add_subcommand("verify", "Re-hash every stored chunk and report damage");
  auto tag = std::make_shared<std::string>();
  auto repair = std::make_shared<bool>(false);
  cmd->add_option("tag", *tag, "check only this model (name[:version])");
  cmd->add_flag("--repair", *repair, "rebuild the chunk index from the pack files first");
  cmd->callback([=, &ctx] {
    if (*repair && !tag->empty()) {
      throw Error(ErrorCode::kInvalidArgument, "--repair works on the whole store; drop the tag");
    }
    std::optional<Tag> only;
    if (!tag->empty()) only = ctx.ParseTagArgument(*tag);
    auto store = *repair ? ctx.OpenStoreForRepair() : ctx.OpenStore(Store::Access::kRead);
    const VerifyReport report = *repair ? store->Repair() : store->Verify(only);
    for (const auto& r : report.repairs) ctx.out() << "repair: " << r << "\n";
    for (const auto& d : report.pack_damage) {
      ctx.out() << "damaged: pack " << d.pack << " bytes " << d.offset << "-" << d.offset + d.length
                << ": " << d.reason << "\n";
    }
    for (const auto& f : report.damaged_files) {
      ctx.out() << "damaged: model " << f.tag << " file " << f.path << ": " << f.reason << "\n";
    }
    ctx.out() << (report.ok() ? "OK" : "DAMAGED") << ": checked " << report.models << " models, "
              << report.files << " files, " << report.chunks << " chunks (" << HumanSize(report.bytes)
              << ")";
    if (!report.ok()) {
      ctx.out() << "; " << report.damaged_files.size() << " damaged files";
    }
    ctx.out() << std::endl;
    if (!report.ok()) {
      ctx.err() << "Error: the store is damaged; the files above cannot be read back intact"
                << std::endl;
      ctx.exit_code = 1;
    }
  });
}

}  // namespace modelfs::tools
