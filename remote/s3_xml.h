// remote/s3_xml.h — the XML documents S3 answers with and the one it is
// sent, read and written with libxml2.
//
// S3XmlDocument parses a response body once, never touches the network
// (no DTDs, no entities) and never prints libxml2's diagnostics; a body that
// is not XML simply has no root. Elements are matched by local name, so the
// S3 namespace (xmlns="http://s3.amazonaws.com/doc/2006-03-01/") and its
// absence are both fine.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct _xmlDoc;

namespace modelfs::remote {

class S3XmlDocument {
 public:
  explicit S3XmlDocument(std::string_view body);
  ~S3XmlDocument();
  S3XmlDocument(const S3XmlDocument&) = delete;
  S3XmlDocument& operator=(const S3XmlDocument&) = delete;

  // True when the body parsed and its root element is named `name`.
  bool RootIs(std::string_view name) const;
  // The text of the root's first child element named `child`.
  std::optional<std::string> Text(std::string_view child) const;
  // For each of the root's child elements named `record`, the texts of its
  // first children named `fields` ("" where one is missing). ListMultipart-
  // UploadsResult: Records("Upload", {"Key", "UploadId"}).
  std::vector<std::vector<std::string>> Records(std::string_view record,
                                                const std::vector<std::string>& fields) const;

 private:
  struct Free {
    void operator()(_xmlDoc* doc) const;
  };
  std::unique_ptr<_xmlDoc, Free> doc_;
};

// The body of CompleteMultipartUpload: one <Part> with <PartNumber> n and
// <ETag> etags[n - 1] for each part, in order.
std::string CompleteMultipartUploadXml(const std::vector<std::string>& etags);

}  // namespace modelfs::remote
