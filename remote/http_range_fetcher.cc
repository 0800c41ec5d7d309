// remote/http_range_fetcher.cc — see http_range_fetcher.h.
#include "remote/http_range_fetcher.h"

#include <cstring>
#include <string>
#include <utility>

#include "util/error.h"

namespace modelfs::remote {

HttpRangeFetcher::HttpRangeFetcher(HttpClient* client, const RetryPolicy* policy,
                                   HttpRequest request)
    : fetch_(client, policy), request_(std::move(request)) {}

void HttpRangeFetcher::Fetch(uint64_t offset, size_t length, char* out) {
  if (length == 0) return;
  size_t got = 0;
  bool overflow = false;
  BodySink sink = [&](const char* data, size_t size) {
    size_t take = std::min(size, length - got);
    std::memcpy(out + got, data, take);
    got += take;
    if (take < size) overflow = true;
    return got < length;
  };
  fetch_.FetchRange(request_, ByteRange{offset, offset + length - 1}, sink);
  if (overflow) {
    throw Error(ErrorCode::kIOError, "GET " + request_.url + " sent more bytes than the " +
                                         std::to_string(length) + " asked for at offset " +
                                         std::to_string(offset));
  }
  if (got < length) {
    throw Error(ErrorCode::kIOError, "GET " + request_.url + " returned " + std::to_string(got) +
                                         " bytes at offset " + std::to_string(offset) +
                                         " where " + std::to_string(length) +
                                         " were expected: the file is shorter than listed");
  }
}

}  // namespace modelfs::remote
