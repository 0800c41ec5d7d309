// tests/unit/hf_pull_test.cc — the pure parts of a pull: the model name of a
// repo (src/hf_pull.h), the --include/--exclude patterns, and the size
// arguments of `modelfs cache` (tools/output.h ParseSize).
#include "src/hf_pull.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/unit/test_util.h"
#include "tools/output.h"
#include "util/error.h"

namespace modelfs {
namespace {

using modelfs::testing::ThrownCode;
using tools::ParseSize;

TEST_CASE("ModelNameForRepo follows BentoML's rule", "[hf_pull]") {
  CHECK(ModelNameForRepo("Org/Name_X") == "org--name_x");
  CHECK(ModelNameForRepo("bert-base-uncased") == "bert-base-uncased");
  CHECK(ModelNameForRepo("meta-llama/Llama-3.1-8B") == "meta-llama--llama-3.1-8b");
  CHECK(ModelNameForRepo("a/b") == "a--b");
}

TEST_CASE("SelectedByPatterns: include and exclude", "[hf_pull]") {
  const std::vector<std::string> none;
  CHECK(SelectedByPatterns("config.json", none, none));
  CHECK(SelectedByPatterns("deep/dir/x.bin", none, none));

  const std::vector<std::string> st{"*.safetensors"};
  CHECK(SelectedByPatterns("model.safetensors", st, none));
  CHECK_FALSE(SelectedByPatterns("model.bin", st, none));
  // '*' matches '/' too (fnmatch without FNM_PATHNAME).
  CHECK(SelectedByPatterns("sub/dir/model.safetensors", st, none));

  // Excludes win over includes.
  CHECK_FALSE(SelectedByPatterns("model.safetensors", st, st));
  CHECK_FALSE(SelectedByPatterns("x.bin", none, {"*.bin"}));
  CHECK(SelectedByPatterns("x.json", none, {"*.bin"}));
  CHECK_FALSE(SelectedByPatterns("a/x.bin", none, {"*.bin"}));

  // Several patterns: any include, no exclude.
  const std::vector<std::string> two{"*.json", "tokenizer*"};
  CHECK(SelectedByPatterns("config.json", two, none));
  CHECK(SelectedByPatterns("tokenizer.model", two, none));
  CHECK_FALSE(SelectedByPatterns("model.bin", two, none));
  CHECK_FALSE(SelectedByPatterns("config.json", two, {"config*"}));
  CHECK(SelectedByPatterns("tokenizer.json", two, {"config*"}));

  // ? and [] as fnmatch has them.
  CHECK(SelectedByPatterns("model-1.bin", {"model-?.bin"}, none));
  CHECK_FALSE(SelectedByPatterns("model-10.bin", {"model-?.bin"}, none));
  CHECK(SelectedByPatterns("model-3.bin", {"model-[0-4].bin"}, none));
  CHECK_FALSE(SelectedByPatterns("model-7.bin", {"model-[0-4].bin"}, none));

  // A plain name matches only itself.
  CHECK(SelectedByPatterns("config.json", {"config.json"}, none));
  CHECK_FALSE(SelectedByPatterns("sub/config.json", {"config.json"}, none));
}

TEST_CASE("SelectedByPatterns: \"dir/\" means everything below dir", "[hf_pull]") {
  const std::vector<std::string> none;
  const std::vector<std::string> onnx{"onnx/"};
  CHECK(SelectedByPatterns("onnx/model.onnx", onnx, none));
  CHECK(SelectedByPatterns("onnx/sub/deeper.bin", onnx, none));
  CHECK_FALSE(SelectedByPatterns("onnx", onnx, none));
  CHECK_FALSE(SelectedByPatterns("other/onnx/model.onnx", onnx, none));
  CHECK_FALSE(SelectedByPatterns("onnx2/model.onnx", onnx, none));

  CHECK_FALSE(SelectedByPatterns("onnx/model.onnx", none, onnx));
  CHECK(SelectedByPatterns("model.safetensors", none, onnx));
  CHECK(SelectedByPatterns("onnx/keep.json", {"*.json"}, {"onnx/*.bin"}));
  CHECK_FALSE(SelectedByPatterns("onnx/drop.bin", {"onnx/"}, {"*.bin"}));
}

TEST_CASE("ParseSize", "[hf_pull][parse_size]") {
  constexpr uint64_t K = 1024, M = K * K, G = M * K, T = G * K;
  CHECK(ParseSize("10G", "size") == 10 * G);
  CHECK(ParseSize("500M", "size") == 500 * M);
  CHECK(ParseSize("1.5K", "size") == 1536);
  CHECK(ParseSize("2T", "size") == 2 * T);
  CHECK(ParseSize("0", "size") == 0);
  CHECK(ParseSize("123", "size") == 123);
  CHECK(ParseSize("123B", "size") == 123);
  CHECK(ParseSize("1KiB", "size") == K);
  CHECK(ParseSize("3MB", "size") == 3 * M);
  CHECK(ParseSize("10g", "size") == 10 * G);
  CHECK(ParseSize("2gib", "size") == 2 * G);
  CHECK(ParseSize("0.5G", "size") == G / 2);

  for (const char* bad : {"none", "12Q", "-1", "", "G", "K10", "1.5.5K", "10 G", "10GG", "10KB B",
                          "-0.5M", "1P"}) {
    INFO(bad);
    CHECK(ThrownCode([&] { ParseSize(bad, "size"); }) == "kInvalidArgument");
  }
  // The message names the argument and what was given.
  try {
    ParseSize("12Q", "--keep");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("--keep"));
    CHECK_THAT(e.what(), Catch::Contains("12Q"));
  }
}

TEST_CASE("ParseSize refuses non-finite and out-of-range numbers", "[hf_pull][parse_size]") {
  // std::stod accepts "nan", "inf" and "1e30": converting them to uint64_t
  // is undefined behaviour, so they must be refused, not turned into some
  // arbitrary limit.
  for (const char* bad : {"nan", "inf", "infinity", "NaN", "INF", "1e30", "20000000T", "1e300G"}) {
    INFO(bad);
    CHECK(ThrownCode([&] { ParseSize(bad, "size"); }) == "kInvalidArgument");
  }
  // Large but representable sizes still parse.
  CHECK(ParseSize("16000000T", "size") == 16000000ull << 40);
}

}  // namespace
}  // namespace modelfs
