// src/bentocloud_push.h — `modelfs models push TAG`: upload one model version
// to BentoCloud the way BentoML does, as an uncompressed tar of its
// directory (./, ./model.yaml, ./<files>).
//
// The repository and the model are created when absent; a version already
// uploaded is skipped unless forced. The transfer takes the strategy the
// server asks for: one presigned PUT, a multipart upload in 100 MiB parts
// through presigned part URLs, or a PUT through the API (proxy). The tar is
// written from the store while it is sent — its exact size is known in
// advance from the files' sizes — so no copy of the model is made on disk;
// each file carries its sha256 as a pax attribute, which a lazy pull uses to
// verify it. A failed upload is reported to the server (finish_upload with
// "failed" and the reason) and raised.
#pragma once

#include <cstdint>
#include <string>

#include "remote/bentocloud_client.h"
#include "src/store.h"

namespace modelfs {

struct PushResult {
  bool skipped = false;       // already uploaded, not forced
  std::string strategy;       // "presigned_url", "multipart" or "proxy"
  uint64_t bytes = 0;         // payload size
};

PushResult PushToBentoCloud(const Store& store, const ModelRecord& model, remote::BentoCloudClient* cloud,
                            bool force, const ProgressFn& progress);

}  // namespace modelfs
