#include "tools/scenario/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "sim/check.h"

namespace vmbsim::scenario {
namespace {

// zlib counts in uInt; larger inputs go in slices of this size.
constexpr size_t kSliceBytesMax = size_t{1} << 30;
constexpr int kGzipWindowBits = 15 + 16;  // 32 KiB window, gzip wrapper (zlib.h, deflateInit2).
constexpr size_t kOutputChunkBytes = size_t{1} << 16;

}  // namespace

std::string GzipCompress(absl::string_view data) {
  z_stream stream{};
  VMBSIM_CHECK_EQ(deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kGzipWindowBits, /*memLevel=*/8,
                               Z_DEFAULT_STRATEGY),
                  Z_OK);
  std::string out;
  out.reserve(data.size() / 8 + 64);
  size_t consumed = 0;
  int flush = Z_NO_FLUSH;
  int result = Z_OK;
  while (result != Z_STREAM_END) {
    if (stream.avail_in == 0 && flush != Z_FINISH) {
      const size_t slice = std::min(data.size() - consumed, kSliceBytesMax);
      stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + consumed));
      stream.avail_in = static_cast<uInt>(slice);
      consumed += slice;
      if (consumed == data.size()) flush = Z_FINISH;
    }
    const size_t before = out.size();
    out.resize(before + kOutputChunkBytes);
    stream.next_out = reinterpret_cast<Bytef*>(out.data() + before);
    stream.avail_out = static_cast<uInt>(kOutputChunkBytes);
    result = deflate(&stream, flush);
    VMBSIM_CHECK(result == Z_OK || result == Z_STREAM_END || result == Z_BUF_ERROR);
    out.resize(before + kOutputChunkBytes - stream.avail_out);
  }
  VMBSIM_CHECK_EQ(consumed, data.size());  // Every slice went in before the end.
  VMBSIM_CHECK_EQ(deflateEnd(&stream), Z_OK);
  return out;
}

absl::StatusOr<std::string> GzipDecompress(absl::string_view data) {
  z_stream stream{};
  VMBSIM_CHECK_EQ(inflateInit2(&stream, kGzipWindowBits), Z_OK);
  std::string out;
  size_t consumed = 0;
  int result = Z_OK;
  while (result != Z_STREAM_END) {
    if (stream.avail_in == 0) {
      if (consumed == data.size()) break;  // Truncated: the member did not end.
      const size_t slice = std::min(data.size() - consumed, kSliceBytesMax);
      stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + consumed));
      stream.avail_in = static_cast<uInt>(slice);
      consumed += slice;
    }
    const size_t before = out.size();
    out.resize(before + kOutputChunkBytes);
    stream.next_out = reinterpret_cast<Bytef*>(out.data() + before);
    stream.avail_out = static_cast<uInt>(kOutputChunkBytes);
    result = inflate(&stream, Z_NO_FLUSH);
    out.resize(before + kOutputChunkBytes - stream.avail_out);
    if (result != Z_OK && result != Z_STREAM_END && result != Z_BUF_ERROR) break;
  }
  const char* message = stream.msg;
  inflateEnd(&stream);
  if (result != Z_STREAM_END) {
    return absl::DataLossError(absl::StrCat("gzip: ", message != nullptr ? message : "truncated data"));
  }
  return out;
}

bool IsGzipPath(absl::string_view path) { return absl::EndsWith(path, ".gz"); }

}  // namespace vmbsim::scenario
