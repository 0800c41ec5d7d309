// tools/cmd_cache.cc — `modelfs cache stats|gc`.
#include <iostream>

#include "tools/commands.h"
#include "tools/output.h"

namespace modelfs::tools {
namespace {

void AddStats(CLI::App& cache, CommandContext& ctx) {
  auto* cmd = cache.add_subcommand("stats", "Show how much the store holds and saves by dedup");
  auto format = std::make_shared<std::string>("table");
  cmd->add_option("-o,--output", *format, "table or json")->check(CLI::IsMember({"table", "json"}));
  cmd->callback([=, &ctx] {
    auto store = ctx.OpenStore(Store::Access::kRead);
    const StoreStats s = store->Stats();
    const double dedup = s.unique_bytes ? double(s.logical_bytes) / double(s.unique_bytes) : 1.0;
    const double compression = s.stored_bytes ? double(s.unique_bytes) / double(s.stored_bytes) : 1.0;
    if (*format == "json") {
      PrintJson(ctx.out(), {{"home", store->home().string()},
                            {"models", s.models},
                            {"files", s.files},
                            {"logical_bytes", s.logical_bytes},
                            {"unique_bytes", s.unique_bytes},
                            {"stored_bytes", s.stored_bytes},
                            {"chunks", s.chunks},
                            {"dedup_ratio", dedup},
                            {"compression_ratio", compression},
                            {"packs", s.packs},
                            {"pack_bytes", s.pack_bytes},
                            {"garbage_bytes", s.garbage_bytes}});
      return;
    }
    char ratio[64];
    std::snprintf(ratio, sizeof(ratio), "%.2fx dedup, %.2fx compression", dedup, compression);
    PrintTable(ctx.out(), {{"Store", store->home().string()},
                           {"Models", std::to_string(s.models) + " versions, " + std::to_string(s.files) + " files"},
                           {"Logical size", HumanSize(s.logical_bytes)},
                           {"Unique data", HumanSize(s.unique_bytes) + " in " + std::to_string(s.chunks) + " chunks"},
                           {"Stored", HumanSize(s.stored_bytes)},
                           {"Savings", ratio},
                           {"Packs", std::to_string(s.packs) + " files, " + HumanSize(s.pack_bytes)},
                           {"Reclaimable", HumanSize(s.garbage_bytes) + " (modelfs cache gc)"}});
  });
}

void AddGc(CLI::App& cache, CommandContext& ctx) {
  auto* cmd = cache.add_subcommand("gc", "Reclaim the space of deleted models");
  cmd->callback([&ctx] {
    auto store = ctx.OpenStore(Store::Access::kWrite);
    const auto r = store->CollectGarbage();
    ctx.out() << "Reclaimed " << HumanSize(r.bytes_before - std::min(r.bytes_before, r.bytes_after))
              << ": dropped " << r.chunks_dropped << " chunks, deleted " << r.packs_deleted
              << " packs, compacted " << r.packs_compacted << " packs; packs now hold "
              << HumanSize(r.bytes_after) << "." << std::endl;
  });
}

}  // namespace

void RegisterCacheCommands(CLI::App& app, CommandContext& ctx) {
  auto* cache = app.add_subcommand("cache", "Inspect and clean the chunk store");
  cache->require_subcommand(1);
  AddStats(*cache, ctx);
  AddGc(*cache, ctx);
}

}  // namespace modelfs::tools
