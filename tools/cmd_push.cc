// tools/cmd_push.cc — `modelfs models push TAG [-f]`: upload a model version
// to BentoCloud (BENTO_CLOUD_API_ENDPOINT, BENTO_CLOUD_API_KEY).
#include <CLI/CLI.hpp>

#include "src/bentocloud_push.h"
#include "tools/commands.h"
#include "tools/output.h"
#include "tools/progress_bar.h"
#include "util/error.h"

namespace modelfs::tools {

void AddPush(CLI::App& models, CommandContext& ctx) {
  auto* cmd = models.add_subcommand("push", "Upload a model to BentoCloud");
  auto tag = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  cmd->add_option("tag", *tag, "the model, name[:version]")->required();
  cmd->add_flag("-f,--force", *force, "upload even if BentoCloud already has this version");
  cmd->callback([=, &ctx] {
    const Tag wanted = ctx.ParseTagArgument(*tag);
    const auto config = remote::BentoCloudConfigFromEnvironment([&ctx](const char* v) { return ctx.Getenv(v); });
    auto store = ctx.OpenStore(Store::Access::kWrite);
    const ModelRecord model = store->Get(wanted);
    RemoteSources* sources = store->remote_sources();
    remote::BentoCloudClient cloud(config, sources->client(), sources->retry());
    PushResult result;
    {
      ProgressBar bar(ctx.err(), ctx.err_is_terminal(), "Pushing " + model.name);
      result = PushToBentoCloud(*store, model, &cloud, *force,
                                [&bar](uint64_t done, uint64_t total) { bar.Update(done, total); });
    }
    if (result.skipped) {
      ctx.out() << QuotedTag(model) << " is already on BentoCloud; use --force to push it again." << std::endl;
    } else {
      ctx.out() << QuotedTag(model) << " pushed to BentoCloud (" << HumanSize(result.bytes) << ")." << std::endl;
    }
  });
}

}  // namespace modelfs::tools
