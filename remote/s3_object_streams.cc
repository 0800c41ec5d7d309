// remote/s3_object_streams.cc — S3Client's ByteSource (ranged GETs, one
// range read ahead) and ByteSink (PutObject or multipart upload); see
// s3_client.h for what they promise.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <future>

#include "remote/http_error.h"
#include "remote/retrying_fetch.h"
#include "remote/s3_client.h"
#include "util/error.h"

namespace modelfs::remote {
namespace {

constexpr int kMaxParts = 10000;
constexpr int kPartsPerSize = 1000;  // parts of one size before it doubles

}  // namespace

class S3Client::ObjectReader : public ByteSource {
 public:
  ObjectReader(const S3Client* client, S3Location object, S3ObjectInfo info)
      : client_(client), object_(std::move(object)), info_(std::move(info)) {}
  // A pending read-ahead is waited for by the future's destructor.
  ~ObjectReader() override = default;

  size_t Read(char* buffer, size_t capacity) override {
    if (failed_) {
      throw Error(ErrorCode::kIOError, "an earlier read of " + object_.ToString() + " failed.");
    }
    if (position_ == range_.size()) {
      if (!next_.valid()) {
        if (requested_ >= info_.size) return 0;
        next_ = FetchNextRange();
      }
      TakeNextRange();
    }
    size_t n = std::min(capacity, range_.size() - position_);
    std::copy_n(range_.data() + position_, n, buffer);
    position_ += n;
    return n;
  }

  std::optional<uint64_t> size() const override { return info_.size; }
  std::string Describe() const override { return object_.ToString(); }

  // A zip is read through its central directory, then member by member: a
  // seek inside the range at hand or the one read ahead costs no request.
  bool Seek(uint64_t offset) override {
    if (failed_ || offset > info_.size) return false;
    if (offset >= range_start_ && offset <= range_start_ + range_.size()) {
      position_ = static_cast<size_t>(offset - range_start_);
      return true;
    }
    if (next_.valid() && offset >= range_start_ + range_.size() && offset < requested_) {
      TakeNextRange();
      position_ = static_cast<size_t>(offset - range_start_);
      return true;
    }
    if (next_.valid()) next_.wait();  // its result is of no use
    next_ = {};
    range_.clear();
    range_start_ = requested_ = offset;
    position_ = 0;
    return true;
  }
  bool seekable() const override { return true; }

 private:
  // Makes the range read ahead (next_, valid) the one at hand, from its
  // start, and starts reading the one after it.
  void TakeNextRange() {
    const uint64_t next_start = range_start_ + range_.size();
    try {
      range_ = next_.get();
    } catch (...) {
      failed_ = true;
      throw;
    }
    range_start_ = next_start;
    position_ = 0;
    if (requested_ < info_.size) next_ = FetchNextRange();
  }

  // Starts fetching the range after the last one asked for, in the background.
  std::future<std::string> FetchNextRange() {
    uint64_t first = requested_;
    uint64_t last = std::min(info_.size, first + client_->options_.read_range_size) - 1;
    requested_ = last + 1;
    return std::async(std::launch::async, [this, first, last] { return Fetch(first, last); });
  }

  std::string Fetch(uint64_t first, uint64_t last) const {
    HttpRequest request = client_->NewRequest(HttpRequest::Method::kGet, object_);
    request.headers.emplace_back("If-Match", info_.etag);
    std::string bytes;
    bytes.reserve(last - first + 1);
    FetchResult result;
    try {
      result = RetryingFetch(client_->http_, client_->retry_)
                   .FetchRange(request, ByteRange{first, last}, [&](const char* p, size_t n) {
                     bytes.append(p, n);
                     return true;
                   });
    } catch (const HttpError& e) {
      if (e.status() == 0) client_->ThrowUnreachable(e);
      if (e.status() < 200 || e.status() >= 300) {
        client_->ThrowS3Error(e.status(), e.headers(), "", object_, "GET");
      }
      throw;
    }
    std::optional<std::string> etag = result.headers.Get("ETag");
    bool same_size = !result.total_size || *result.total_size == info_.size;
    if ((etag && *etag != info_.etag) || !same_size) {
      throw Error(ErrorCode::kIOError, object_.ToString() +
                                           " changed while it was being read (its ETag or size "
                                           "differs from when it was opened); read it again.");
    }
    if (bytes.size() != last - first + 1) {
      throw Error(ErrorCode::kIOError, "S3 returned " + std::to_string(bytes.size()) +
                                           " bytes of " + object_.ToString() + " when bytes " +
                                           std::to_string(first) + "-" + std::to_string(last) +
                                           " were asked for.");
    }
    return bytes;
  }

  const S3Client* client_;
  const S3Location object_;
  const S3ObjectInfo info_;
  std::string range_;           // the range being consumed
  uint64_t range_start_ = 0;    // its offset in the object
  size_t position_ = 0;         // in range_
  uint64_t requested_ = 0;      // end of the ranges asked for so far
  std::future<std::string> next_;  // the range after range_, when asked for
  bool failed_ = false;
};

class S3Client::ObjectWriter : public ByteSink {
 public:
  ObjectWriter(const S3Client* client, S3Location object)
      : client_(client), object_(std::move(object)) {
    buffer_.reserve(PartSize(1));
  }

  ~ObjectWriter() override {
    if (state_ != State::kCommitted) Abort();
  }

  void Write(const char* data, size_t size) override {
    CheckOpen();
    try {
      while (size > 0) {
        // A full buffer becomes a part only once more bytes follow, so that
        // a stream of at most one part goes up with a single PutObject.
        if (buffer_.size() == PartSize(parts_started_ + 1)) StartPart();
        size_t n = std::min<uint64_t>(size, PartSize(parts_started_ + 1) - buffer_.size());
        buffer_.append(data, n);
        data += n;
        size -= n;
      }
    } catch (...) {
      state_ = State::kFailed;
      throw;
    }
  }

  void Commit() override {
    CheckOpen();
    try {
      if (upload_id_.empty()) {
        client_->PutObject(object_, std::move(buffer_));
      } else {
        if (!buffer_.empty()) StartPart();
        while (!in_flight_.empty()) CollectOldest();
        client_->CompleteMultipartUpload(object_, upload_id_, etags_);
      }
      state_ = State::kCommitted;
    } catch (...) {
      state_ = State::kFailed;
      throw;
    }
  }

  std::string Describe() const override { return object_.ToString(); }

 private:
  enum class State { kOpen, kFailed, kCommitted };

  void CheckOpen() const {
    if (state_ == State::kCommitted) {
      throw Error(ErrorCode::kInvalidArgument, object_.ToString() + " was already committed.");
    }
    if (state_ == State::kFailed) {
      throw Error(ErrorCode::kIOError,
                  "the upload to " + object_.ToString() + " failed earlier and was abandoned.");
    }
  }

  // The size of part `number` (1-based): part_size, doubled every 1000 parts.
  uint64_t PartSize(int number) const {
    int doublings = std::min((number - 1) / kPartsPerSize, 10);  // 5 MiB << 10 = 5 GiB
    return std::min(S3TransferOptions::kMaxPartSize, client_->options_.part_size << doublings);
  }

  // Hands buffer_ to a background upload as the next part, after waiting for
  // a free slot.
  void StartPart() {
    if (parts_started_ == kMaxParts) {
      throw Error(ErrorCode::kInvalidArgument,
                  "the stream written to " + object_.ToString() +
                      " is larger than S3 allows for one object (10,000 parts).");
    }
    if (upload_id_.empty()) upload_id_ = client_->InitiateMultipartUpload(object_);
    while (!in_flight_.empty() &&
           in_flight_.front().wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      CollectOldest();  // surfaces a failed part early
    }
    while (in_flight_.size() >= static_cast<size_t>(client_->options_.parts_in_flight)) {
      CollectOldest();
    }
    int number = ++parts_started_;
    std::string part = std::move(buffer_);
    buffer_ = std::string();
    buffer_.reserve(PartSize(number + 1));
    in_flight_.push_back(std::async(
        std::launch::async, [client = client_, object = object_, id = upload_id_, number,
                             part = std::move(part)]() mutable {
          return client->UploadPart(object, id, number, std::move(part));
        }));
  }

  // Waits for the oldest part in flight and keeps its ETag; rethrows its error.
  void CollectOldest() {
    std::future<std::string> oldest = std::move(in_flight_.front());
    in_flight_.pop_front();
    etags_.push_back(oldest.get());
  }

  // Lets the parts in flight end, then aborts the multipart upload; never throws.
  void Abort() noexcept {
    for (auto& part : in_flight_) part.wait();
    in_flight_.clear();
    if (upload_id_.empty()) return;
    try {
      client_->AbortMultipartUpload(object_, upload_id_);
    } catch (const std::exception& e) {
      spdlog::warn("Could not abort the multipart upload to {}; its parts stay stored (and billed) "
                   "until a bucket lifecycle rule removes them: {}",
                   object_.ToString(), e.what());
    }
  }

  const S3Client* client_;
  const S3Location object_;
  std::string buffer_;     // the part being filled
  std::string upload_id_;  // empty until the first part starts
  int parts_started_ = 0;
  std::deque<std::future<std::string>> in_flight_;  // ETags of parts uploading, oldest first
  std::vector<std::string> etags_;                  // ETags of parts done, in order
  State state_ = State::kOpen;
};

std::unique_ptr<ByteSource> S3Client::OpenRead(const S3Location& object) const {
  if (object.is_prefix()) {
    throw Error(ErrorCode::kInvalidArgument,
                object.ToString() + " names a prefix, not an object: give the object's full key.");
  }
  std::optional<S3ObjectInfo> info = Head(object);
  if (!info) ThrowMissing(object);
  return std::make_unique<ObjectReader>(this, object, std::move(*info));
}

std::unique_ptr<ByteSink> S3Client::OpenWrite(const S3Location& object) const {
  if (object.is_prefix()) {
    throw Error(ErrorCode::kInvalidArgument,
                object.ToString() + " names a prefix, not an object: give the object's full key.");
  }
  return std::make_unique<ObjectWriter>(this, object);
}

}  // namespace modelfs::remote
