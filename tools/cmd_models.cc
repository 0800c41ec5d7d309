// tools/cmd_models.cc — `modelfs models …`: save, list, get, delete, files, cat.
#include <unistd.h>

#include <iostream>

#include <CLI/CLI.hpp>

#include "src/model_info.h"
#include "tools/commands.h"
#include "tools/output.h"
#include "util/error.h"
#include "util/hex.h"

namespace modelfs::tools {
namespace {

std::pair<std::string, std::string> SplitKeyValue(const std::string& text, const char* option) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string(option) + " expects KEY=VALUE, got '" + text + "'");
  }
  return {text.substr(0, eq), text.substr(eq + 1)};
}

void AddSave(CLI::App& models, CommandContext& ctx) {
  auto* cmd = models.add_subcommand("save", "Save a directory as a new model version");
  auto tag = std::make_shared<std::string>();
  auto dir = std::make_shared<std::string>();
  auto labels = std::make_shared<std::vector<std::string>>();
  auto metadata = std::make_shared<std::vector<std::string>>();
  auto module = std::make_shared<std::string>();
  cmd->add_option("tag", *tag, "name[:version]; a version is generated when omitted")->required();
  cmd->add_option("dir", *dir, "the directory holding the model's files")->required();
  cmd->add_option("--label", *labels, "a label KEY=VALUE (repeatable)");
  cmd->add_option("--metadata", *metadata, "a metadata entry KEY=VALUE, VALUE read as YAML (repeatable)");
  cmd->add_option("--module", *module, "the module that made the model (e.g. bentoml.transformers)");
  cmd->callback([=, &ctx] {
    SaveRequest request;
    request.tag = ctx.ParseTagArgument(*tag);
    request.dir = ctx.Absolute(*dir);
    request.module = *module;
    for (const auto& l : *labels) request.labels.push_back(SplitKeyValue(l, "--label"));
    for (const auto& m : *metadata) request.metadata.push_back(SplitKeyValue(m, "--metadata"));
    auto store = ctx.OpenStore(Store::Access::kWrite);
    SaveResult result = store->SaveDirectory(request);
    ctx.out() << QuotedTag(result.model) << " saved." << std::endl;
  });
}

void AddList(CLI::App& models, CommandContext& ctx) {
  auto* cmd = models.add_subcommand("list", "List models, newest first");
  auto name = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("table");
  cmd->add_option("name", *name, "only the versions of this model name");
  cmd->add_option("-o,--output", *format, "table, json or yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}));
  cmd->callback([=, &ctx] {
    std::string filter;
    if (!name->empty()) filter = ctx.ParseTagArgument(*name).name;
    auto store = ctx.OpenStore(Store::Access::kRead);
    auto models = store->List(filter);
    if (*format == "table") {
      std::vector<std::vector<std::string>> rows{{"Tag", "Module", "Size", "Creation Time"}};
      for (const auto& m : models) {
        rows.push_back({m.name + ":" + m.version, m.module, HumanSize(m.size), ListTime(m.creation_ns)});
      }
      PrintTable(ctx.out(), rows);
      return;
    }
    nlohmann::ordered_json doc = nlohmann::ordered_json::array();
    for (const auto& m : models) {
      doc.push_back({{"tag", m.name + ":" + m.version},
                     {"module", m.module},
                     {"size", HumanSize(m.size)},
                     {"creation_time", ListTime(m.creation_ns)}});
    }
    *format == "json" ? PrintJson(ctx.out(), doc) : PrintYaml(ctx.out(), doc);
  });
}

void AddGet(CLI::App& models, CommandContext& ctx) {
  auto* cmd = models.add_subcommand("get", "Print a model's model.yaml");
  auto tag = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("yaml");
  cmd->add_option("tag", *tag, "name[:version]")->required();
  cmd->add_option("-o,--output", *format, "yaml, json or path")
      ->check(CLI::IsMember({"yaml", "json", "path"}));
  cmd->callback([=, &ctx] {
    const Tag parsed = ctx.ParseTagArgument(*tag);
    auto store = ctx.OpenStore(Store::Access::kRead);
    ModelRecord model = store->Get(parsed);
    if (*format == "yaml") {
      ctx.out() << model.yaml;
      if (!model.yaml.empty() && model.yaml.back() != '\n') ctx.out() << '\n';
    } else if (*format == "json") {
      PrintJson(ctx.out(), ModelInfo::Parse(model.yaml).ToJson());
    } else if (ctx.in_daemon() && !ctx.mountpoint().empty()) {
      ctx.out() << (ctx.mountpoint() / "models" / model.name / model.version).string() << '\n';
    } else {
      throw Error(ErrorCode::kUnsupported,
                  "-o path needs a mounted store: the model's files live in packs, not in a "
                  "directory; run `modelfs mount DIR` and use DIR/models/" + model.name + "/" +
                      model.version);
    }
  });
}

void AddDelete(CLI::App& models, CommandContext& ctx) {
  auto* cmd = models.add_subcommand("delete", "Delete a model version, or every version of a name");
  auto tags = std::make_shared<std::vector<std::string>>();
  auto yes = std::make_shared<bool>(false);
  cmd->add_option("tags", *tags, "name[:version] (a bare name deletes every version; name:latest only the newest)")->required();
  cmd->add_flag("-y,--yes", *yes, "do not ask for confirmation");
  cmd->callback([=, &ctx] {
    // A bare name deletes every version; "name:latest" only the newest.
    std::vector<std::pair<Tag, bool>> parsed;
    for (const auto& t : *tags) {
      parsed.emplace_back(ctx.ParseTagArgument(t), t.find(':') == std::string::npos);
    }
    // Inside the daemon the caller has already confirmed.
    if (!*yes && !ctx.in_daemon()) {
      if (!::isatty(STDIN_FILENO)) {
        throw Error(ErrorCode::kInvalidArgument,
                    "refusing to delete without confirmation; pass -y to confirm");
      }
      ctx.out() << "Are you sure to delete " << (tags->size() == 1 ? (*tags)[0] : "these models")
                << "? [y/N] " << std::flush;
      std::string answer;
      std::getline(std::cin, answer);
      if (answer != "y" && answer != "Y" && answer != "yes") {
        ctx.out() << "Aborted." << std::endl;
        return;
      }
    }
    auto store = ctx.OpenStore(Store::Access::kWrite);
    for (const auto& [tag, every_version] : parsed) {
      for (const auto& m : every_version ? store->DeleteAllVersions(tag.name) : store->Delete(tag)) {
        ctx.out() << QuotedTag(m) << " deleted." << std::endl;
      }
    }
  });
}

void AddFiles(CLI::App& models, CommandContext& ctx) {
  auto* cmd = models.add_subcommand("files", "List the files of a model");
  auto tag = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("table");
  cmd->add_option("tag", *tag, "name[:version]")->required();
  cmd->add_option("-o,--output", *format, "table or json")->check(CLI::IsMember({"table", "json"}));
  cmd->callback([=, &ctx] {
    const Tag parsed = ctx.ParseTagArgument(*tag);
    auto store = ctx.OpenStore(Store::Access::kRead);
    const auto files = store->Files(store->Get(parsed));
    auto mode_of = [](const FileRecord& f) { return f.type == FileType::kDirectory || f.executable ? 0555 : 0444; };
    if (*format == "table") {
      std::vector<std::vector<std::string>> rows{{"Path", "Size", "SHA-256"}};
      for (const auto& f : files) {
        rows.push_back({f.type == FileType::kDirectory ? f.path + "/" : f.path,
                        f.type == FileType::kDirectory ? "-" : HumanSize(f.size), HexEncode(f.sha256)});
      }
      PrintTable(ctx.out(), rows);
      return;
    }
    nlohmann::ordered_json doc = nlohmann::ordered_json::array();
    for (const auto& f : files) {
      doc.push_back({{"path", f.path},
                     {"type", f.type == FileType::kDirectory ? "dir" : "file"},
                     {"size", f.size},
                     {"mode", mode_of(f)},
                     {"sha256", HexEncode(f.sha256)}});
    }
    PrintJson(ctx.out(), doc);
  });
}

void AddCat(CLI::App& models, CommandContext& ctx) {
  auto* cmd = models.add_subcommand("cat", "Write one file of a model to standard output");
  auto tag = std::make_shared<std::string>();
  auto path = std::make_shared<std::string>();
  cmd->add_option("tag", *tag, "name[:version]")->required();
  cmd->add_option("path", *path, "the file's path inside the model")->required();
  cmd->callback([=, &ctx] {
    const Tag parsed = ctx.ParseTagArgument(*tag);
    // Writable: reading a remote file fetches it.
    auto store = ctx.OpenStore(Store::Access::kWrite);
    store->ReadFile(store->Get(parsed), *path, [&ctx](const char* data, size_t n) {
      if (!ctx.out().write(data, static_cast<std::streamsize>(n))) {
        throw Error(ErrorCode::kIOError, "cannot write to standard output");
      }
    });
    ctx.out().flush();
  });
}

}  // namespace

void RegisterModelsCommands(CLI::App& app, CommandContext& ctx) {
  auto* models = app.add_subcommand("models", "Save, pull, list, get and delete models");
  models->require_subcommand(1);
  AddSave(*models, ctx);
  AddList(*models, ctx);
  AddGet(*models, ctx);
  AddDelete(*models, ctx);
  AddFiles(*models, ctx);
  AddCat(*models, ctx);
  AddPull(*models, ctx);
  AddExportImport(*models, ctx);
  AddPush(*models, ctx);
}

}  // namespace modelfs::tools
