// tools/cmd_cache.cc — `modelfs cache stats|gc|evict|limit`.
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
    const FetchStats f = store->FetchedStats();
    const std::string limit = f.limit ? HumanSize(*f.limit) : "none";
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
                            {"garbage_bytes", s.garbage_bytes},
                            {"remote_registered_bytes", f.registered},
                            {"remote_fetched_bytes", f.fetched},
                            {"remote_evictable_bytes", f.evictable},
                            {"fetch_limit_bytes", f.limit ? nlohmann::json(*f.limit) : nlohmann::json()},
                            {"remote_digest_mismatches", f.digest_mismatches},
                            {"remote_models", [&] {
                               auto models = nlohmann::ordered_json::array();
                               for (const auto& m : f.models) {
                                 models.push_back({{"tag", m.tag},
                                                   {"registered_bytes", m.registered},
                                                   {"fetched_bytes", m.fetched},
                                                   {"strict", m.strict}});
                               }
                               return models;
                             }()}});
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
                           {"Reclaimable", HumanSize(s.garbage_bytes) + " (modelfs cache gc)"},
                           {"Remote files", HumanSize(f.fetched) + " fetched of " + HumanSize(f.registered) +
                                                " registered; " + HumanSize(f.evictable) +
                                                " evictable; limit " + limit},
                           {"Digest mismatches", std::to_string(f.digest_mismatches) +
                                                     " (fetched files that proved wrong and were discarded)"}});
    if (f.models.empty()) return;
    ctx.out() << "\n";
    std::vector<std::vector<std::string>> rows{{"Remote model", "Registered", "Fetched", "Reads"}};
    for (const auto& m : f.models) {
      rows.push_back({m.tag, HumanSize(m.registered), HumanSize(m.fetched), m.strict ? "strict" : "lazy"});
    }
    PrintTable(ctx.out(), rows);
  });
}

void AddEvict(CLI::App& cache, CommandContext& ctx) {
  auto* cmd = cache.add_subcommand(
      "evict", "Drop fetched remote files (they are fetched again when read); saved files stay");
  auto tag = std::make_shared<std::string>();
  auto keep = std::make_shared<std::string>();
  cmd->add_option("tag", *tag, "only the files of this model (name[:version])");
  cmd->add_option("--keep", *keep, "evict least recently used files until this much is left, e.g. 10G");
  cmd->callback([=, &ctx] {
    std::optional<Tag> parsed;
    if (!tag->empty()) parsed = ctx.ParseTagArgument(*tag);
    const uint64_t keep_bytes = keep->empty() ? 0 : ParseSize(*keep, "--keep");
    auto store = ctx.OpenStore(Store::Access::kWrite);
    std::optional<ModelRecord> model;
    if (parsed) model = store->Get(*parsed);
    const EvictResult r = store->Evict(model, keep_bytes);
    ctx.out() << "Evicted " << r.contents << (r.contents == 1 ? " file, " : " files, ")
              << HumanSize(r.bytes) << "." << std::endl;
  });
}

void AddLimit(CLI::App& cache, CommandContext& ctx) {
  auto* cmd = cache.add_subcommand("limit", "Show or set the most fetched remote data to keep");
  auto size = std::make_shared<std::string>();
  cmd->add_option("size", *size, "e.g. 50G, 500M or 'none'; without it, show the limit");
  cmd->callback([=, &ctx] {
    if (size->empty()) {
      auto store = ctx.OpenStore(Store::Access::kRead);
      auto limit = store->FetchLimit();
      ctx.out() << "Cache limit: " << (limit ? HumanSize(*limit) : "none") << std::endl;
      return;
    }
    std::optional<uint64_t> limit;
    if (*size != "none") limit = ParseSize(*size, "size");
    auto store = ctx.OpenStore(Store::Access::kWrite);
    store->SetFetchLimit(limit);
    ctx.out() << "Cache limit set to " << (limit ? HumanSize(*limit) : "none") << "." << std::endl;
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
    if (r.packs_too_big > 0) {
      ctx.err() << "Warning: " << r.packs_too_big << (r.packs_too_big == 1 ? " pack" : " packs")
                << " holding " << HumanSize(r.garbage_left)
                << " of garbage were not compacted: copying the live data of the smallest needs "
                << HumanSize(r.space_needed)
                << " free on the store's disk. Free some space and run `modelfs cache gc` again."
                << std::endl;
    }
  });
}

}  // namespace

void RegisterCacheCommands(CLI::App& app, CommandContext& ctx) {
  auto* cache = app.add_subcommand("cache", "Inspect and clean the chunk store and the fetched data");
  cache->require_subcommand(1);
  AddStats(*cache, ctx);
  AddGc(*cache, ctx);
  AddEvict(*cache, ctx);
  AddLimit(*cache, ctx);
}

}  // namespace modelfs::tools
