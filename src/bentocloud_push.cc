#include "src/bentocloud_push.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "remote/archive_writer.h"
#include "src/model_info.h"
#include "util/error.h"
#include "util/producer_source.h"

namespace modelfs {
namespace {

constexpr uint64_t kPartSize = 100ull << 20;  // BentoML's FILE_CHUNK_SIZE

// The manifest BentoML sends for a model, from its model.yaml.
remote::CreateModelRequest ModelManifest(const ModelRecord& model) {
  const ModelInfo info = ModelInfo::Parse(model.yaml);
  remote::CreateModelRequest request;
  request.version = model.version;
  request.module = info.module();
  request.api_version = info.api_version();
  request.bentoml_version = info.context().value("bentoml_version", "");
  request.size_bytes = model.size + model.yaml.size();
  request.metadata = info.metadata();
  request.context = info.context();
  request.options = info.options();
  request.build_at = info.creation_time();
  for (const auto& [k, v] : info.labels()) request.labels.push_back({k, v});
  return request;
}

// The payload tar, written from the store on a thread while it is read.
class Payload {
 public:
  Payload(const Store& store, const ModelRecord& model, uint64_t size, const ProgressFn& progress)
      : store_(store), model_(model), size_(size), progress_(progress) {}

  // A fresh stream of the whole tar.
  std::shared_ptr<ProducerSource> Open() const {
    return std::make_shared<ProducerSource>(
        [this](ByteSink* sink) {
          // The writer commits (flushes) into `sink` through a forwarding sink it owns.
          class Forward : public ByteSink {
           public:
            explicit Forward(ByteSink* to) : to_(to) {}
            void Write(const char* d, size_t n) override { to_->Write(d, n); }
            void Commit() override {}
            std::string Describe() const override { return to_->Describe(); }

           private:
            ByteSink* to_;
          };
          auto writer = remote::NewArchiveWriter(ArchiveFormat::kTar, std::make_unique<Forward>(sink));
          store_.Export(model_, writer.get(), progress_, /*embed_digests=*/true);
        },
        size_, "the upload of " + model_.name + ":" + model_.version);
  }

  // A request body of `length` bytes read from `source`.
  static remote::RequestBody Body(std::shared_ptr<ProducerSource> source, uint64_t length) {
    remote::RequestBody body;
    body.size = length;
    body.read = [source](char* buffer, size_t capacity) { return source->Read(buffer, capacity); };
    return body;
  }

  uint64_t size() const { return size_; }

 private:
  const Store& store_;
  const ModelRecord& model_;
  uint64_t size_;
  ProgressFn progress_;
};

// A body reading `data` without copying it (a part is 100 MiB).
remote::RequestBody PartBody(const std::shared_ptr<const std::string>& data) {
  remote::RequestBody body;
  body.size = data->size();
  auto offset = std::make_shared<size_t>(0);
  body.read = [data, offset](char* buffer, size_t capacity) {
    const size_t n = std::min(capacity, data->size() - *offset);
    std::memcpy(buffer, data->data() + *offset, n);
    *offset += n;
    return n;
  };
  return body;
}

// Reads exactly `n` bytes (the stream's size is known, so fewer is a bug).
std::string ReadExactly(ByteSource* source, uint64_t n) {
  std::string out(static_cast<size_t>(n), '\0');
  for (size_t got = 0; got < out.size();) {
    const size_t r = source->Read(out.data() + got, out.size() - got);
    if (r == 0) throw Error(ErrorCode::kIOError, source->Describe() + " ended early");
    got += r;
  }
  return out;
}

void UploadMultipart(remote::BentoCloudClient* cloud, const ModelRecord& model, const Payload& payload) {
  const remote::CloudModel started = cloud->StartMultipartUpload(model.name, model.version);
  std::vector<remote::UploadedPart> parts;
  auto stream = payload.Open();
  const uint64_t count = std::max<uint64_t>(1, (payload.size() + kPartSize - 1) / kPartSize);
  try {
    for (uint64_t n = 1; n <= count; ++n) {
      const uint64_t length = std::min(kPartSize, payload.size() - (n - 1) * kPartSize);
      const auto data = std::make_shared<const std::string>(ReadExactly(stream.get(), length));
      const std::string url =
          cloud->PresignMultipartUploadUrl(model.name, model.version, started.upload_id, static_cast<int>(n));
      const std::string etag = cloud->PutPresigned(url, [data] { return PartBody(data); });
      parts.push_back({static_cast<int>(n), etag});
    }
  } catch (...) {
    // As BentoML does: complete what was sent, then report the failure.
    try {
      cloud->CompleteMultipartUpload(model.name, model.version, started.upload_id, parts);
    } catch (const Error&) {
    }
    throw;
  }
  cloud->CompleteMultipartUpload(model.name, model.version, started.upload_id, parts);
}

}  // namespace

PushResult PushToBentoCloud(const Store& store, const ModelRecord& model, remote::BentoCloudClient* cloud,
                            bool force, const ProgressFn& progress) {
  if (!cloud->GetRepository(model.name)) cloud->CreateRepository(model.name);
  std::optional<remote::CloudModel> remote_model = cloud->GetModel(model.name, model.version);
  PushResult result;
  if (remote_model && remote_model->upload_status == "success" && !force) {
    result.skipped = true;
    return result;
  }
  if (!remote_model) remote_model = cloud->CreateModel(model.name, ModelManifest(model));

  std::string upload_url;
  std::string strategy = "proxy";
  if (remote_model->transmission_strategy) {
    strategy = *remote_model->transmission_strategy == "presigned_url" ? "multipart" : "proxy";
  } else {
    upload_url = cloud->PresignUploadUrl(model.name, model.version).presigned_upload_url;
    if (!upload_url.empty()) strategy = "presigned_url";
  }
  const Payload payload(store, model, store.ExportedSize(model, ArchiveFormat::kTar, true), progress);
  result.strategy = strategy;
  result.bytes = payload.size();

  cloud->StartUpload(model.name, model.version);
  try {
    auto whole_body = [&payload] { return Payload::Body(payload.Open(), payload.size()); };
    if (strategy == "proxy") {
      cloud->ProxyUpload(model.name, model.version, whole_body);
      return result;  // the server finishes a proxy upload itself
    }
    if (strategy == "presigned_url") {
      cloud->PutPresigned(upload_url, whole_body);
    } else {
      UploadMultipart(cloud, model, payload);
    }
  } catch (const std::exception& e) {
    try {
      cloud->FinishUpload(model.name, model.version, false, e.what());
    } catch (const Error&) {
    }
    throw;
  }
  cloud->FinishUpload(model.name, model.version, true, "");
  return result;
}

}  // namespace modelfs
