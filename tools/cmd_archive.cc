// tools/cmd_archive.cc — `modelfs models export TAG DEST` and
// `modelfs models import SOURCE`: a model as a .bentomodel (or tar, tar.gz,
// tar.zst, zip, folder) on disk or in S3, and back.
#include <CLI/CLI.hpp>

#include "tools/archive_location.h"
#include "tools/commands.h"
#include "tools/output.h"
#include "tools/progress_bar.h"
#include "util/error.h"

namespace modelfs::tools {
namespace {

void AddExport(CLI::App& models, CommandContext& ctx) {
  auto* cmd = models.add_subcommand("export", "Export a model to an archive file, a folder or S3");
  auto tag = std::make_shared<std::string>();
  auto dest = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  auto s3_endpoint = std::make_shared<std::string>();
  cmd->add_option("tag", *tag, "the model, name[:version]")->required();
  cmd->add_option("dest", *dest,
                  "a file (its extension picks the format), a directory (for NAME-VERSION.bentomodel), "
                  "or s3://bucket/prefix/ (default: the current directory)");
  cmd->add_option("--format", *format, "one of " + ArchiveFormatNames() + " (default: from the extension)");
  cmd->add_flag("-f,--force", *force, "replace an existing file of that name");
  cmd->add_option("--s3-endpoint", *s3_endpoint, "S3 endpoint URL (default: AWS_ENDPOINT_URL, then AWS)");
  cmd->callback([=, &ctx] {
    std::optional<ArchiveFormat> chosen;
    if (!format->empty()) {
      chosen = ArchiveFormatFromName(*format);
      if (!chosen) {
        throw Error(ErrorCode::kInvalidArgument,
                    "unknown format '" + *format + "': expected one of " + ArchiveFormatNames());
      }
    }
    const Tag wanted = ctx.ParseTagArgument(*tag);
    ExportTarget target(ctx, dest->empty() ? std::string(".") : *dest, chosen, *s3_endpoint, *force);
    const auto [store, model] = ctx.OpenModelForReading(wanted, target.is_s3());
    auto writer = target.Open(model, store->remote_sources());
    {
      ProgressBar bar(ctx.err(), ctx.err_is_terminal(), "Exporting " + model.name);
      store->Export(model, writer.get(), [&bar](uint64_t done, uint64_t total) { bar.Update(done, total); });
    }
    ctx.out() << QuotedTag(model) << " exported to " << target.Describe() << "." << std::endl;
  });
}

void AddImport(CLI::App& models, CommandContext& ctx) {
  auto* cmd = models.add_subcommand("import", "Import a model from an archive file, a folder or S3");
  auto source = std::make_shared<std::string>();
  auto skip_existing = std::make_shared<bool>(false);
  auto s3_endpoint = std::make_shared<std::string>();
  cmd->add_option("source", *source, "a .bentomodel, tar, tar.gz, tar.zst or zip file, a folder, or s3://bucket/key")
      ->required();
  cmd->add_flag("--skip-existing", *skip_existing, "do nothing, successfully, when the model is already stored");
  cmd->add_option("--s3-endpoint", *s3_endpoint, "S3 endpoint URL (default: AWS_ENDPOINT_URL, then AWS)");
  cmd->callback([=, &ctx] {
    ImportSource from(ctx, *source, *s3_endpoint);
    auto store = ctx.OpenStore(Store::Access::kWrite);
    ImportResult result;
    {
      ProgressBar bar(ctx.err(), ctx.err_is_terminal(), "Importing");
      auto reader = from.Open([&bar](uint64_t done, uint64_t total) { bar.Update(done, total); },
                              store->remote_sources());
      result = store->Import(reader.get(), {*skip_existing, "import:" + from.Describe()});
    }
    if (result.skipped) {
      ctx.out() << QuotedTag(result.model) << " already exists; skipped." << std::endl;
    } else {
      ctx.out() << QuotedTag(result.model) << " imported." << std::endl;
    }
  });
}

}  // namespace

void AddExportImport(CLI::App& models, CommandContext& ctx) {
  AddExport(models, ctx);
  AddImport(models, ctx);
}

}  // namespace modelfs::tools
