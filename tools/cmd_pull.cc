// tools/cmd_pull.cc — `modelfs models pull hf://org/name[@revision]` or
// `modelfs models pull NAME[:VERSION]` (BentoCloud): register a model
// without fetching it (or, with --prefetch, fetch it all).
#include <CLI/CLI.hpp>

#include "src/bentocloud_pull.h"
#include "src/hf_pull.h"
#include "tools/commands.h"
#include "tools/output.h"
#include "tools/progress_bar.h"
#include "util/error.h"

namespace modelfs::tools {
namespace {

void PrintRegistered(CommandContext& ctx, const ModelRecord& model, uint64_t present_bytes) {
  ctx.out() << QuotedTag(model) << " registered (" << model.file_count
            << (model.file_count == 1 ? " file, " : " files, ") << HumanSize(model.size) << ", "
            << HumanSize(present_bytes) << " fetched)." << std::endl;
}

void PrintMadeStrict(CommandContext& ctx, const ModelRecord& model) {
  ctx.out() << QuotedTag(model)
            << " is strict from now on: no byte of a file is served before all of it matched its digest."
            << std::endl;
}

void PrefetchAll(CommandContext& ctx, Store* store, const ModelRecord& model) {
  {
    ProgressBar bar(ctx.err(), ctx.err_is_terminal(), "Fetching " + model.name);
    store->Prefetch(model, [&bar](uint64_t done, uint64_t total) { bar.Update(done, total); });
  }
  ctx.out() << QuotedTag(model) << " fetched (" << HumanSize(model.size) << ")." << std::endl;
}

// `models pull NAME[:VERSION]` from BentoCloud.
void PullFromCloud(CommandContext& ctx, const std::string& source, bool prefetch, bool strict) {
  const Tag tag = ctx.ParseTagArgument(source);
  const auto config = remote::BentoCloudConfigFromEnvironment([&ctx](const char* v) { return ctx.Getenv(v); });
  auto store = ctx.OpenStore(Store::Access::kWrite);
  RemoteSources* sources = store->remote_sources();
  remote::BentoCloudClient cloud(config, sources->client(), sources->retry());
  sources->RememberCloudKey(config);
  CloudPullResult result;
  {
    ProgressBar bar(ctx.err(), ctx.err_is_terminal(), "Downloading " + tag.name);
    result = PullFromBentoCloud(store.get(), &cloud, sources->client(), sources->retry(), tag,
                                [&bar](uint64_t done, uint64_t total) { bar.Update(done, total); }, strict);
  }
  const ModelRecord& model = result.model;
  if (result.made_strict) {
    PrintMadeStrict(ctx, model);
  } else if (result.already_registered) {
    ctx.out() << QuotedTag(model) << " is already in the store; nothing to do." << std::endl;
  } else if (result.downloaded) {
    ctx.out() << QuotedTag(model) << " downloaded (" << HumanSize(model.size) << ")." << std::endl;
  } else {
    PrintRegistered(ctx, model, result.present_bytes);
  }
  if (prefetch && !result.downloaded) PrefetchAll(ctx, store.get(), model);
}

}  // namespace

void AddPull(CLI::App& models, CommandContext& ctx) {
  auto* cmd = models.add_subcommand(
      "pull", "Register a model from the Hugging Face Hub (hf://org/name) or BentoCloud (NAME[:VERSION]); "
              "its files are fetched when first read");
  auto source = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  auto include = std::make_shared<std::vector<std::string>>();
  auto exclude = std::make_shared<std::vector<std::string>>();
  auto token = std::make_shared<std::string>();
  auto token_file = std::make_shared<std::string>();
  auto prefetch = std::make_shared<bool>(false);
  auto strict = std::make_shared<bool>(false);
  cmd->add_option("source", *source,
                  "hf://org/name[@revision] (revision: branch, tag or commit; default main), or a BentoCloud "
                  "model NAME[:VERSION] (BENTO_CLOUD_API_ENDPOINT, BENTO_CLOUD_API_KEY)")
      ->required();
  cmd->add_option("--name", *name, "the model name (default: the repo id lower-cased, '/' -> '--')");
  cmd->add_option("--include", *include, "only files matching this glob, e.g. '*.safetensors' (repeatable)");
  cmd->add_option("--exclude", *exclude, "not the files matching this glob, e.g. 'onnx/*' (repeatable)");
  cmd->add_option("--token", *token,
                  "Hugging Face token (default: HF_TOKEN, then the token file); visible to every user in "
                  "`ps` while the command runs: prefer --token-file or HF_TOKEN");
  cmd->add_option("--token-file", *token_file,
                  "read the Hugging Face token from the first line of FILE, or of standard input for '-' "
                  "(keeps it out of the process list)")
      ->excludes("--token");
  cmd->add_flag("--prefetch", *prefetch, "fetch every file now, with a progress bar");
  cmd->add_flag("--strict", *strict,
                "always read this model's files whole: no byte of a file is served before all of it is "
                "fetched and matched its digest, wherever it is read (certainty over latency; pulling "
                "again with --strict makes a registered model strict)");
  cmd->callback([=, &ctx] {
    if (!source->starts_with("hf://")) {
      // A BentoCloud tag has no '/' or ':' before its version; anything
      // else is a mistyped URL, not a tag.
      if (source->find('/') != std::string::npos || source->starts_with("hf:")) {
        throw Error(ErrorCode::kInvalidArgument, "\"" + *source +
                                                     "\" is not a source modelfs can pull from: expected "
                                                     "hf://org/name[@revision] or a BentoCloud NAME[:VERSION]");
      }
      if (!name->empty() || !include->empty() || !exclude->empty() || !token->empty() ||
          !token_file->empty()) {
        throw Error(ErrorCode::kInvalidArgument,
                    "--name, --include, --exclude, --token and --token-file apply to hf:// pulls only");
      }
      PullFromCloud(ctx, *source, *prefetch, *strict);
      return;
    }
    if (!token_file->empty()) *token = ctx.ReadTokenFile(*token_file);
    HfPullOptions options;
    options.url = *source;
    if (!name->empty()) options.name = ctx.ParseTagArgument(*name).name;
    options.include = *include;
    options.exclude = *exclude;
    options.config = remote::HfConfigFromEnvironment(
        token->empty() ? std::nullopt : std::optional<std::string>(*token),
        [&ctx](const char* var) { return ctx.Getenv(var); });
    remote::ParseHfUrl(options.url);  // a malformed URL fails before the store is opened

    auto store = ctx.OpenStore(Store::Access::kWrite);
    RemoteSources* sources = store->remote_sources();
    RegisterRequest request = PlanHfPull(options, sources->client(), sources->retry());
    request.strict = *strict;
    sources->RememberToken(options.config);
    RegisterResult result = store->RegisterRemote(request);
    const ModelRecord& model = result.model;
    if (result.made_strict) {
      PrintMadeStrict(ctx, model);
    } else if (result.already_registered) {
      ctx.out() << QuotedTag(model) << " is already registered at commit " << model.origin.commit
                << "; nothing to do." << std::endl;
    } else {
      PrintRegistered(ctx, model, result.present_bytes);
    }
    if (*prefetch) PrefetchAll(ctx, store.get(), model);
  });
}

}  // namespace modelfs::tools
