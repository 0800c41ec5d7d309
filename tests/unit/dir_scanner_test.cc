// Tests for src/dir_scanner.h: what `models save` takes from a directory.
#include "src/dir_scanner.h"

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "tests/unit/test_util.h"
#include "util/error.h"

namespace modelfs {
namespace {

namespace fs = std::filesystem;
using modelfs::testing::TempDir;
using modelfs::testing::ThrownCode;
using modelfs::testing::WriteFile;

std::map<std::string, ScannedEntry> ByPath(const ScannedTree& tree) {
  std::map<std::string, ScannedEntry> out;
  for (const auto& e : tree.entries) out[e.path] = e;
  return out;
}

std::vector<std::string> Paths(const ScannedTree& tree) {
  std::vector<std::string> out;
  for (const auto& e : tree.entries) out.push_back(e.path);
  return out;
}

std::string MessageOf(const fs::path& root) {
  try {
    ScanModelDirectory(root);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST_CASE("ScanModelDirectory: nested directories, empty directories, sizes", "[dir_scanner]") {
  TempDir t("scan");
  const fs::path root = t / "model";
  WriteFile(root / "a.txt", "hello");
  WriteFile(root / "sub" / "b.bin", std::string(1000, 'x'));
  WriteFile(root / "sub" / "deeper" / "c", "");
  WriteFile(root / "z" / "y" / "x" / "w.dat", "12345678");
  fs::create_directories(root / "empty");
  fs::create_directories(root / "sub" / "empty2" / "empty3");

  ScannedTree tree = ScanModelDirectory(root);
  CHECK(Paths(tree) == std::vector<std::string>{"a.txt", "empty", "sub", "sub/b.bin", "sub/deeper",
                                                "sub/deeper/c", "sub/empty2", "sub/empty2/empty3",
                                                "z", "z/y", "z/y/x", "z/y/x/w.dat"});
  CHECK(tree.file_count == 4);
  CHECK(tree.total_size == 5 + 1000 + 0 + 8);
  CHECK(tree.model_yaml.empty());
  auto e = ByPath(tree);
  CHECK(e["a.txt"].type == FileType::kFile);
  CHECK(e["a.txt"].size == 5);
  CHECK(e["sub/b.bin"].size == 1000);
  CHECK(e["sub/deeper/c"].size == 0);
  CHECK(e["empty"].type == FileType::kDirectory);
  CHECK(e["sub/empty2/empty3"].type == FileType::kDirectory);
  // The source of a plain file can be opened and holds its bytes.
  CHECK(modelfs::testing::ReadFile(e["sub/b.bin"].source) == std::string(1000, 'x'));
}

TEST_CASE("ScanModelDirectory: sorting is by full path", "[dir_scanner]") {
  TempDir t("scan");
  WriteFile(t / "a-b", "1");
  WriteFile(t / "a" / "b", "2");
  WriteFile(t / "a.b", "3");
  WriteFile(t / "B", "4");
  ScannedTree tree = ScanModelDirectory(t.path());
  auto paths = Paths(tree);
  CHECK(std::is_sorted(paths.begin(), paths.end()));
  CHECK(paths.size() == 5);
}

TEST_CASE("ScanModelDirectory: the executable bit", "[dir_scanner]") {
  TempDir t("scan");
  WriteFile(t / "run.sh", "#!/bin/sh\n");
  WriteFile(t / "data", "x");
  WriteFile(t / "group_exec", "x");
  fs::permissions(t / "run.sh", fs::perms::owner_all | fs::perms::group_read);
  fs::permissions(t / "data", fs::perms::owner_read | fs::perms::owner_write);
  fs::permissions(t / "group_exec", fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_exec);
  auto e = ByPath(ScanModelDirectory(t.path()));
  CHECK(e["run.sh"].executable);
  CHECK_FALSE(e["data"].executable);
  CHECK(e["group_exec"].executable);
}

TEST_CASE("ScanModelDirectory: a Hugging Face style snapshot of symlinks to blobs", "[dir_scanner]") {
  TempDir t("scan");
  // models--x/blobs/<hash>, models--x/snapshots/<rev>/config.json -> ../../blobs/<hash>
  const fs::path repo = t / "models--org--x";
  WriteFile(repo / "blobs" / "abc", "{\"a\": 1}");
  WriteFile(repo / "blobs" / "def", std::string(5000, 'w'));
  const fs::path snap = repo / "snapshots" / "rev1";
  fs::create_directories(snap / "sub");
  fs::create_symlink("../../blobs/abc", snap / "config.json");
  fs::create_symlink("../../../blobs/def", snap / "sub" / "model.safetensors");
  ScannedTree tree = ScanModelDirectory(snap);
  CHECK(Paths(tree) == std::vector<std::string>{"config.json", "sub", "sub/model.safetensors"});
  auto e = ByPath(tree);
  CHECK(e["config.json"].type == FileType::kFile);
  CHECK(e["config.json"].size == 8);
  CHECK(fs::equivalent(e["config.json"].source, repo / "blobs" / "abc"));
  CHECK(modelfs::testing::ReadFile(e["config.json"].source) == "{\"a\": 1}");
  CHECK(e["sub/model.safetensors"].size == 5000);
  CHECK(tree.total_size == 5008);
  CHECK(tree.file_count == 2);

  SECTION("an absolute symlink to a file elsewhere") {
    WriteFile(t / "elsewhere.txt", "far away");
    fs::create_symlink(t / "elsewhere.txt", snap / "far.txt");
    auto e2 = ByPath(ScanModelDirectory(snap));
    CHECK(e2["far.txt"].size == 8);
    CHECK(e2["far.txt"].type == FileType::kFile);
  }
  SECTION("a chain of symlinks") {
    fs::create_symlink("config.json", snap / "alias.json");
    auto e2 = ByPath(ScanModelDirectory(snap));
    CHECK(e2["alias.json"].size == 8);
    CHECK(fs::equivalent(e2["alias.json"].source, repo / "blobs" / "abc"));
  }
}

TEST_CASE("ScanModelDirectory: a symlink to a directory inside the tree is followed", "[dir_scanner]") {
  TempDir t("scan");
  WriteFile(t / "real" / "w.bin", "weights");
  fs::create_symlink("real", t / "link");
  ScannedTree tree = ScanModelDirectory(t.path());
  CHECK(Paths(tree) == std::vector<std::string>{"link", "link/w.bin", "real", "real/w.bin"});
  auto e = ByPath(tree);
  CHECK(e["link"].type == FileType::kDirectory);
  CHECK(e["link/w.bin"].size == 7);
  CHECK(tree.file_count == 2);
}

TEST_CASE("ScanModelDirectory: the root itself may be a symlink", "[dir_scanner]") {
  TempDir t("scan");
  WriteFile(t / "real" / "w.bin", "weights");
  fs::create_symlink("real", t / "alias");
  ScannedTree tree = ScanModelDirectory(t / "alias");
  CHECK(Paths(tree) == std::vector<std::string>{"w.bin"});
}

TEST_CASE("ScanModelDirectory: refusals", "[dir_scanner]") {
  TempDir t("scan");
  const fs::path root = t / "model";
  WriteFile(root / "ok.bin", "ok");

  SECTION("a symlink to a directory outside the tree") {
    WriteFile(t / "outside" / "secret", "s");
    fs::create_symlink("../outside", root / "out");
    CHECK(ThrownCode([&] { ScanModelDirectory(root); }) == "kInvalidArgument");
    CHECK_THAT(MessageOf(root), Catch::Contains("out"));
  }
  SECTION("an absolute symlink to /") {
    fs::create_symlink("/", root / "slash");
    CHECK(ThrownCode([&] { ScanModelDirectory(root); }) == "kInvalidArgument");
  }
  SECTION("a dangling symlink") {
    fs::create_directories(root / "sub");
    fs::create_symlink("does-not-exist", root / "sub" / "dangling");
    CHECK(ThrownCode([&] { ScanModelDirectory(root); }) == "kInvalidArgument");
    CHECK_THAT(MessageOf(root), Catch::Contains("dangling"));
  }
  SECTION("a fifo") {
    REQUIRE(::mkfifo((root / "pipe").c_str(), 0644) == 0);
    CHECK(ThrownCode([&] { ScanModelDirectory(root); }) == "kInvalidArgument");
    CHECK_THAT(MessageOf(root), Catch::Contains("pipe"));
  }
  SECTION("a symlink to a fifo") {
    REQUIRE(::mkfifo((t / "pipe").c_str(), 0644) == 0);
    fs::create_symlink(t / "pipe", root / "to-pipe");
    CHECK(ThrownCode([&] { ScanModelDirectory(root); }) == "kInvalidArgument");
  }
  SECTION("a socket") {
    const fs::path sock = root / "s.sock";
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(sock.string().size() < sizeof(addr.sun_path));
    std::strncpy(addr.sun_path, sock.c_str(), sizeof(addr.sun_path) - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    CHECK(ThrownCode([&] { ScanModelDirectory(root); }) == "kInvalidArgument");
    ::close(fd);
  }
  SECTION("a symlink loop to an ancestor") {
    fs::create_directories(root / "a" / "b");
    fs::create_symlink("..", root / "a" / "b" / "up");
    CHECK(ThrownCode([&] { ScanModelDirectory(root); }) == "kInvalidArgument");
    CHECK_THAT(MessageOf(root), Catch::Contains("loop"));
  }
  SECTION("a symlink to the root itself") {
    fs::create_symlink(".", root / "self");
    CHECK(ThrownCode([&] { ScanModelDirectory(root); }) == "kInvalidArgument");
  }
  SECTION("a symlink pointing at itself") {
    fs::create_symlink("me", root / "me");
    CHECK(ThrownCode([&] { ScanModelDirectory(root); }) == "kInvalidArgument");
  }
  SECTION("two symlinks pointing at each other") {
    fs::create_symlink("b", root / "a");
    fs::create_symlink("a", root / "b");
    CHECK(ThrownCode([&] { ScanModelDirectory(root); }) == "kInvalidArgument");
  }
}

TEST_CASE("ScanModelDirectory: the top-level model.yaml is reported separately", "[dir_scanner]") {
  TempDir t("scan");
  WriteFile(t / "model.yaml", "name: x\n");
  WriteFile(t / "weights.bin", "w");
  WriteFile(t / "sub" / "model.yaml", "nested: kept\n");
  ScannedTree tree = ScanModelDirectory(t.path());
  CHECK(Paths(tree) == std::vector<std::string>{"sub", "sub/model.yaml", "weights.bin"});
  REQUIRE_FALSE(tree.model_yaml.empty());
  CHECK(modelfs::testing::ReadFile(tree.model_yaml) == "name: x\n");
  CHECK(tree.file_count == 2);
  CHECK(tree.total_size == 1 + 13);

  SECTION("a tree with only model.yaml has no files to save") {
    TempDir only("scan");
    WriteFile(only / "model.yaml", "name: x\n");
    CHECK(ThrownCode([&] { ScanModelDirectory(only.path()); }) == "kInvalidArgument");
  }
}

TEST_CASE("ScanModelDirectory: trees without files are refused", "[dir_scanner]") {
  TempDir t("scan");
  SECTION("empty root") {
    CHECK(ThrownCode([&] { ScanModelDirectory(t.path()); }) == "kInvalidArgument");
  }
  SECTION("only empty directories") {
    fs::create_directories(t / "a" / "b");
    fs::create_directories(t / "c");
    CHECK(ThrownCode([&] { ScanModelDirectory(t.path()); }) == "kInvalidArgument");
  }
  SECTION("an empty file is a file") {
    WriteFile(t / "a" / "empty", "");
    ScannedTree tree = ScanModelDirectory(t.path());
    CHECK(tree.file_count == 1);
    CHECK(tree.total_size == 0);
  }
}

TEST_CASE("ScanModelDirectory: a bad root", "[dir_scanner]") {
  TempDir t("scan");
  CHECK(ThrownCode([&] { ScanModelDirectory(t / "missing"); }) == "kNotFound");
  WriteFile(t / "file", "x");
  CHECK(ThrownCode([&] { ScanModelDirectory(t / "file"); }) == "kInvalidArgument");
  fs::create_symlink("missing", t / "dangling-root");
  CHECK(ThrownCode([&] { ScanModelDirectory(t / "dangling-root"); }) == "kNotFound");
}

TEST_CASE("ScanModelDirectory: an unreadable subdirectory is refused", "[dir_scanner]") {
  if (::geteuid() == 0) {
    WARN("running as root: permissions are not enforced, skipping");
    return;
  }
  TempDir t("scan");
  WriteFile(t / "ok", "x");
  fs::create_directories(t / "locked");
  WriteFile(t / "locked" / "f", "x");
  fs::permissions(t / "locked", fs::perms::none);
  CHECK(ThrownCode([&] { ScanModelDirectory(t.path()); }) == "kInvalidArgument");
  fs::permissions(t / "locked", fs::perms::owner_all);
}

}  // namespace
}  // namespace modelfs
