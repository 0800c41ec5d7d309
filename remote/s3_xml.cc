// remote/s3_xml.cc — see s3_xml.h.
#include "remote/s3_xml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <mutex>

#include "util/error.h"

namespace modelfs::remote {
namespace {

struct DocDeleter {
  void operator()(xmlDoc* doc) const { xmlFreeDoc(doc); }
};

const xmlChar* Chars(const char* s) { return reinterpret_cast<const xmlChar*>(s); }

bool NameIs(const xmlNode* node, std::string_view name) {
  return node->type == XML_ELEMENT_NODE &&
         std::string_view(reinterpret_cast<const char*>(node->name)) == name;
}

const xmlNode* FirstChild(const xmlNode* parent, std::string_view name) {
  for (const xmlNode* n = parent ? parent->children : nullptr; n != nullptr; n = n->next) {
    if (NameIs(n, name)) return n;
  }
  return nullptr;
}

std::string TextOf(const xmlNode* node) {
  xmlChar* text = xmlNodeGetContent(node);
  if (text == nullptr) return "";
  std::string s(reinterpret_cast<const char*>(text));
  xmlFree(text);
  return s;
}

}  // namespace

void S3XmlDocument::Free::operator()(_xmlDoc* doc) const { DocDeleter()(doc); }

S3XmlDocument::S3XmlDocument(std::string_view body) {
  static std::once_flag init;
  std::call_once(init, [] { xmlInitParser(); });
  if (body.empty()) return;
  doc_.reset(xmlReadMemory(body.data(), static_cast<int>(body.size()), "s3-response.xml", nullptr,
                           XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
}

S3XmlDocument::~S3XmlDocument() = default;

bool S3XmlDocument::RootIs(std::string_view name) const {
  const xmlNode* root = doc_ ? xmlDocGetRootElement(doc_.get()) : nullptr;
  return root != nullptr && NameIs(root, name);
}

std::optional<std::string> S3XmlDocument::Text(std::string_view child) const {
  const xmlNode* node = doc_ ? FirstChild(xmlDocGetRootElement(doc_.get()), child) : nullptr;
  if (node == nullptr) return std::nullopt;
  return TextOf(node);
}

std::vector<std::vector<std::string>> S3XmlDocument::Records(
    std::string_view record, const std::vector<std::string>& fields) const {
  std::vector<std::vector<std::string>> out;
  const xmlNode* root = doc_ ? xmlDocGetRootElement(doc_.get()) : nullptr;
  for (const xmlNode* n = root ? root->children : nullptr; n != nullptr; n = n->next) {
    if (!NameIs(n, record)) continue;
    std::vector<std::string>& values = out.emplace_back();
    for (const std::string& field : fields) {
      const xmlNode* f = FirstChild(n, field);
      values.push_back(f ? TextOf(f) : "");
    }
  }
  return out;
}

std::string CompleteMultipartUploadXml(const std::vector<std::string>& etags) {
  std::unique_ptr<xmlDoc, DocDeleter> doc(xmlNewDoc(Chars("1.0")));
  xmlNode* root = xmlNewNode(nullptr, Chars("CompleteMultipartUpload"));
  if (!doc || root == nullptr) throw Error(ErrorCode::kIOError, "libxml2 ran out of memory.");
  xmlDocSetRootElement(doc.get(), root);
  xmlNsPtr ns = xmlNewNs(root, Chars("http://s3.amazonaws.com/doc/2006-03-01/"), nullptr);
  xmlSetNs(root, ns);
  for (size_t i = 0; i < etags.size(); ++i) {
    xmlNode* part = xmlNewChild(root, ns, Chars("Part"), nullptr);
    xmlNewTextChild(part, ns, Chars("PartNumber"), Chars(std::to_string(i + 1).c_str()));
    xmlNewTextChild(part, ns, Chars("ETag"), Chars(etags[i].c_str()));
  }
  xmlChar* text = nullptr;
  int size = 0;
  xmlDocDumpMemoryEnc(doc.get(), &text, &size, "UTF-8");
  if (text == nullptr) throw Error(ErrorCode::kIOError, "libxml2 could not write an XML document.");
  std::string out(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
  xmlFree(text);
  return out;
}

}  // namespace modelfs::remote
