// Fuzzes S3XmlDocument (remote/s3_xml.h) on any body, and checks that the
// CompleteMultipartUpload body modelfs writes reads back to its ETags.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "remote/s3_xml.h"
#include "tests/fuzz/fuzz_check.h"

using modelfs::remote::S3XmlDocument;

namespace {

// ETags as S3 sends them: quoted hex, or anything printable from a peer.
std::vector<std::string> PrintableEtags(std::string_view text) {
  std::vector<std::string> etags(1);
  for (char c : text) {
    if (c == '\n') {
      etags.emplace_back();
    } else if (c >= 0x20 && c < 0x7f) {
      etags.back().push_back(c);
    }
  }
  return etags;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  S3XmlDocument doc(body);
  (void)doc.RootIs("ListMultipartUploadsResult");
  (void)doc.Text("UploadId");
  (void)doc.Text("Code");
  (void)doc.Records("Upload", {"Key", "UploadId"});

  const std::vector<std::string> etags = PrintableEtags(body);
  S3XmlDocument written(modelfs::remote::CompleteMultipartUploadXml(etags));
  FUZZ_CHECK(written.RootIs("CompleteMultipartUpload"));
  const auto parts = written.Records("Part", {"PartNumber", "ETag"});
  FUZZ_CHECK(parts.size() == etags.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    FUZZ_CHECK(parts[i][0] == std::to_string(i + 1) && parts[i][1] == etags[i]);
  }
  return 0;
}
