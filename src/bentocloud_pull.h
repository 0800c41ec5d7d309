// src/bentocloud_pull.h — `modelfs models pull NAME[:VERSION]` from
// BentoCloud: register a model version without downloading it.
//
// The payload of a BentoCloud model is an uncompressed tar. When the server
// hands out a presigned download URL that honours Range (it does unless the
// organisation is set to the legacy proxy), the tar's headers are read with
// small range requests (remote/tar_index.h) and every file is registered as
// a remote file at its offset in the tar, fetched on first read. A file
// whose tar header carries modelfs's sha256 attribute (a modelfs push) is
// verified against it and shared at once with equal content already
// stored; one without (a BentoML push) is checked for its size and shared
// once stored. When no range read is possible, the tar is downloaded and
// imported whole.
#pragma once

#include <string>

#include "remote/bentocloud_client.h"
#include "src/store.h"

namespace modelfs {

struct CloudPullResult {
  ModelRecord model;
  bool already_registered = false;
  bool downloaded = false;        // imported whole (no range reads possible)
  bool made_strict = false;       // it existed, and `strict` made it strict
  uint64_t present_bytes = 0;     // of its files, held here already
};

// `tag` names the model on BentoCloud (no version or "latest": its newest).
// `strict`: a model registered for lazy reads is read in strict mode (see
// ModelRecord::strict); one downloaded whole was verified as it arrived.
CloudPullResult PullFromBentoCloud(Store* store, remote::BentoCloudClient* cloud, remote::HttpClient* http,
                                   const remote::RetryPolicy* retry, const Tag& tag, const ProgressFn& progress,
                                   bool strict = false);

}  // namespace modelfs
