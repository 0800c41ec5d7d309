// Tests for src/model_path.h and the checks every way into the catalog
// shares: hostile paths, sizes and versions are refused before anything is
// stored, whichever way the model comes in.
#include "src/model_path.h"

#include <fcntl.h>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "src/catalog.h"
#include "src/dir_scanner.h"
#include "src/model_info.h"
#include "src/store.h"
#include "src/tag.h"
#include "tests/unit/test_util.h"
#include "util/error.h"
#include "util/unique_fd.h"

namespace modelfs {
namespace {

namespace fs = std::filesystem;
using modelfs::testing::TempDir;
using modelfs::testing::ThrownCode;
using modelfs::testing::WriteFile;
using modelfs::testing::ThrownMessage;

// Paths no model may hold, each a neighbour of one the probe registered.
const std::vector<std::string>& HostilePaths() {
  static const std::vector<std::string> paths = {
      std::string("config.json\0zz", 14), "config.json\nx", "a\x1b[2Jb", "tab\there", "del\x7f",
      ".", "..", "a/../b", "a/./b", "./a", "a/..", "/etc/passwd", "a//b", "a/", "",
      std::string(256, 'x'), "d/" + std::string(256, 'y'), std::string(3841, 'z'),
      "bad\xff" "utf8", "\xc0\xaf"};
  return paths;
}

TEST_CASE("ModelPathProblem: accepts ordinary model paths", "[model_path]") {
  for (const std::string& ok : std::vector<std::string>{"config.json", "onnx/model.onnx", "a/b/c/d.bin", ".gitattributes",
                                "..hidden", "x..y", "日本語/モデル.bin", "with space.txt",
                                std::string(255, 'x'), "d/" + std::string(255, 'y')}) {
    INFO(ok);
    CHECK(ModelPathProblem(ok).empty());
    CHECK_NOTHROW(ValidateModelPath(ok, "file"));
  }
}

TEST_CASE("ModelPathProblem: refuses every confusing or unusable path", "[model_path]") {
  for (const std::string& bad : HostilePaths()) {
    INFO(PrintablePath(bad));
    CHECK_FALSE(ModelPathProblem(bad).empty());
    CHECK(ThrownCode([&] { ValidateModelPath(bad, "file"); }) == "kInvalidArgument");
  }
  // The message names the entry printably: no raw NUL, newline or escape reaches a terminal.
  const std::string message = ThrownMessage([] { ValidateModelPath(std::string("c\0z\n\x1b", 5), "file of x"); });
  CHECK(message.find("c\\x00z\\n\\x1b") != std::string::npos);
  CHECK(message.find("file of x") != std::string::npos);
  CHECK(message.find('\n') == std::string::npos);
}

TEST_CASE("Sizes: bounded per file, sums checked", "[model_path]") {
  CHECK_NOTHROW(ValidateModelFileSize(kMaxModelFileSize, "a", "file"));
  CHECK(ThrownCode([] { ValidateModelFileSize(kMaxModelFileSize + 1, "a", "file"); }) == "kInvalidArgument");
  CHECK(ThrownCode([] { ValidateModelFileSize(UINT64_MAX, "a", "file"); }) == "kInvalidArgument");
  CHECK(CheckedAdd(1, 2, "x") == 3);
  CHECK(ThrownCode([] { CheckedAdd(UINT64_MAX, 1, "x"); }) == "kInvalidArgument");
  CHECK(ThrownCode([] { CheckedAdd(uint64_t{1} << 63, uint64_t{1} << 63, "x"); }) == "kInvalidArgument");
}

TEST_CASE("Versions: 'latest' is never a stored version", "[model_path][tag]") {
  CHECK_NOTHROW(ValidateConcreteVersion("ok", "v1"));
  CHECK(ThrownCode([] { ValidateConcreteVersion("ok", "latest"); }) == "kInvalidArgument");
  CHECK(ThrownMessage([] { ValidateConcreteVersion("ok", ""); }).find("needs a concrete version") !=
        std::string::npos);
  CHECK(ThrownMessage([] { ValidateConcreteVersion("ok", "latest"); }).find("needs a concrete version") !=
        std::string::npos);
  CHECK(ThrownCode([] { ModelInfo::Create(Tag{"ok", "latest"}, "", std::chrono::system_clock::now()); }) ==
        "kInvalidArgument");
}

FileRecord RemoteFile(const std::string& path, uint64_t size) {
  FileRecord f;
  f.path = path;
  f.size = size;
  f.remote_id = "r" + path;
  return f;
}

TEST_CASE("Catalog::ValidateNewModel: the last guard before any model is written", "[model_path]") {
  ModelRecord model;
  model.name = "ok";
  model.version = "v1";
  CHECK_NOTHROW(Catalog::ValidateNewModel(model, {RemoteFile("a", 1), FileRecord::Directory("d")}));
  CHECK(ThrownCode([&] { Catalog::ValidateNewModel(model, {RemoteFile("a", 1), RemoteFile("a", 2)}); }) ==
        "kInvalidArgument");
  CHECK(ThrownCode([&] { Catalog::ValidateNewModel(model, {RemoteFile("..", 1)}); }) == "kInvalidArgument");
  CHECK(ThrownCode([&] {
          Catalog::ValidateNewModel(model, {RemoteFile("a", kMaxModelFileSize), RemoteFile("b", kMaxModelFileSize)});
        }) == "no error");
  CHECK(ThrownCode([&] { Catalog::ValidateNewModel(model, {RemoteFile("a", UINT64_MAX)}); }) ==
        "kInvalidArgument");
  model.version = "latest";
  CHECK(ThrownCode([&] { Catalog::ValidateNewModel(model, {RemoteFile("a", 1)}); }) == "kInvalidArgument");
  model.version = "";
  CHECK(ThrownCode([&] { Catalog::ValidateNewModel(model, {RemoteFile("a", 1)}); }) == "kInvalidArgument");
}

RegisterRequest Registration(const std::string& version, std::vector<RemoteFileEntry> files) {
  RegisterRequest request;
  request.tag = Tag{"hostile", version};
  request.origin = {"hf", "http://127.0.0.1:1", "org/hostile", "main", std::string(40, 'a')};
  request.source = "hf://org/hostile";
  request.files = std::move(files);
  return request;
}

RemoteFileEntry Entry(const std::string& path, uint64_t size) {
  RemoteFileEntry e;
  e.path = path;
  e.size = size;
  e.git_sha1 = std::string(20, static_cast<char>(path.size()));
  return e;
}

TEST_CASE("Store::RegisterRemote: a hostile listing changes nothing", "[model_path][store]") {
  TempDir tmp("modelpath");
  auto store = Store::Open(tmp / "home", Store::Access::kWrite);
  for (const std::string& bad : HostilePaths()) {
    INFO(PrintablePath(bad));
    CHECK(ThrownCode([&] { store->RegisterRemote(Registration("v1", {Entry("ok.json", 2), Entry(bad, 5)})); }) ==
          "kInvalidArgument");
  }
  // Sizes: one over the bound, a sum that wraps, 2^64-1.
  for (uint64_t size : {kMaxModelFileSize + 1, UINT64_MAX, uint64_t{1} << 50}) {
    INFO(size);
    CHECK(ThrownCode([&] { store->RegisterRemote(Registration("v1", {Entry("a", size)})); }) ==
          "kInvalidArgument");
  }
  CHECK(ThrownCode([&] {
          store->RegisterRemote(Registration("v1", {Entry("a", kMaxModelFileSize), Entry("b", kMaxModelFileSize)}));
        }) == "no error");
  store->DeleteAllVersions("hostile");
  CHECK(ThrownCode([&] { store->RegisterRemote(Registration("latest", {Entry("a", 1)})); }) ==
        "kInvalidArgument");
  // A listed directory is a path too.
  RegisterRequest dirs = Registration("v2", {Entry("a", 1)});
  dirs.directories = {"d/../.."};
  CHECK(ThrownCode([&] { store->RegisterRemote(dirs); }) == "kInvalidArgument");
  CHECK(store->List().empty());
  CHECK(store->catalog().ListRemotes().empty());
}

TEST_CASE("ScanModelDirectory: refuses unprintable names and kernel pseudo files", "[model_path][dir_scanner]") {
  TempDir tmp("modelpath-scan");
  SECTION("a newline in a file name") {
    WriteFile(tmp / "m" / "ok.bin", "x");
    WriteFile(tmp / "m" / "evil\nname", "x");
    CHECK(ThrownCode([&] { ScanModelDirectory(tmp / "m"); }) == "kInvalidArgument");
  }
  SECTION("an escape sequence in a directory name") {
    WriteFile(tmp / "m" / "d\x1b[31m" / "f", "x");
    CHECK(ThrownCode([&] { ScanModelDirectory(tmp / "m"); }) == "kInvalidArgument");
  }
  SECTION("a link to the reader's own process files") {
    WriteFile(tmp / "m" / "ok.bin", "x");
    fs::create_symlink("/proc/self/environ", tmp / "m" / "e");
    const std::string message = ThrownMessage([&] { ScanModelDirectory(tmp / "m"); });
    CHECK(message.find("proc") != std::string::npos);
  }
  SECTION("a link through /proc/self/fd, which leads to the reader's own open files") {
    WriteFile(tmp / "m" / "ok.bin", "x");
    UniqueFd own(::open((tmp / "m" / "ok.bin").c_str(), O_RDONLY | O_CLOEXEC));
    fs::create_symlink("/proc/self/fd/" + std::to_string(own.get()), tmp / "m" / "fd");
    CHECK(ThrownMessage([&] { ScanModelDirectory(tmp / "m"); }).find("/proc link") != std::string::npos);
  }
  SECTION("a directory of /proc as the model") {
    CHECK(ThrownMessage([&] { ScanModelDirectory("/proc/self/fd"); }).find("proc") != std::string::npos);
    CHECK(ThrownMessage([&] { ScanModelDirectory("/proc/self/cwd"); }).find("/proc link") != std::string::npos);
  }
  SECTION("a link to a sysfs file") {
    WriteFile(tmp / "m" / "ok.bin", "x");
    fs::create_symlink("/sys/kernel/mm/transparent_hugepage/enabled", tmp / "m" / "s");
    if (fs::exists("/sys/kernel/mm/transparent_hugepage/enabled")) {
      CHECK(ThrownMessage([&] { ScanModelDirectory(tmp / "m"); }).find("sysfs") != std::string::npos);
    }
  }
}

TEST_CASE("ModelInfo::Parse: many keys parse in linear time, oversize text is refused", "[model_path][model_info]") {
  std::string yaml = "name: ok\nversion: v1\nmetadata:\n";
  constexpr int kKeys = 100'000;
  for (int i = 0; i < kKeys; ++i) yaml += "  k" + std::to_string(i) + ": " + std::to_string(i) + "\n";
  yaml += "  k7: last\n";  // a duplicate key: the later value wins, in the first one's place
  const ModelInfo info = ModelInfo::Parse(yaml);
  REQUIRE(info.metadata().size() == kKeys);
  CHECK(info.metadata().begin().key() == "k0");
  CHECK(info.metadata()["k7"] == "last");
  CHECK(info.metadata()["k99999"] == 99999);
  const std::string huge = "name: ok\nx: '" + std::string(kMaxModelYamlBytes, 'a') + "'\n";
  CHECK(ThrownMessage([&] { ModelInfo::Parse(huge); }).find("at most 16 MiB") != std::string::npos);
}

}  // namespace
}  // namespace modelfs
