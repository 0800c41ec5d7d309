// tests/unit/digest_test.cc — util/digest.h: SHA-256 and git blob SHA-1
// against known answers, whole and fed piece by piece.
#include "util/digest.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "tests/unit/test_util.h"
#include "util/hex.h"

namespace modelfs {
namespace {

std::string Sha256Hex(const std::string& data) { return HexEncode(Sha256::Digest(data.data(), data.size())); }

std::string GitSha1Hex(const std::string& data) {
  GitBlobSha1 h(data.size());
  h.Update(data);
  return HexEncode(h.Finish());
}

TEST_CASE("Sha256 known answers", "[digest]") {
  CHECK(Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(Sha256Hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  CHECK(Sha256::Digest("abc", 3).size() == Sha256::kSize);
}

TEST_CASE("Sha256 fed piece by piece equals the one-shot digest", "[digest]") {
  const std::string data = modelfs::testing::RandomBytes(300001, 5);
  for (size_t piece : {size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{4096}, size_t{100000}}) {
    Sha256 h;
    for (size_t at = 0; at < data.size(); at += piece) h.Update(data.data() + at, std::min(piece, data.size() - at));
    CHECK(h.Finish() == Sha256::Digest(data.data(), data.size()));
  }
  Sha256 empty_updates;
  empty_updates.Update("", 0);
  empty_updates.Update(std::string_view());
  CHECK(HexEncode(empty_updates.Finish()) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("GitBlobSha1 is git's blob id", "[digest]") {
  // `git hash-object` of these contents.
  CHECK(GitSha1Hex("") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
  CHECK(GitSha1Hex("hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a");
  CHECK(GitSha1Hex("hello world") == "95d09f2b10159347eece71399a7e2e907ea3df4f");

  GitBlobSha1 h(6);
  h.Update("hel");
  h.Update("lo\n");
  std::string raw = h.Finish();
  CHECK(raw.size() == GitBlobSha1::kSize);
  CHECK(HexEncode(raw) == "ce013625030ba8dba906f756967f9e9ca394464a");
}

TEST_CASE("GitBlobSha1 of a larger content matches python's hashlib", "[digest]") {
  // sha1(b"blob 70000\0" + bytes(i % 251 for i in range(70000)))
  std::string data(70000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i % 251);
  CHECK(GitSha1Hex(data) == "0bec32446e2c97b49e7855fd4e11bb6749c41f4b");
}

}  // namespace
}  // namespace modelfs
