// gzip.h
//
// gzip (RFC 1952) compression of a whole file held in memory, through zlib,
// for outputs a person keeps or sends around (`run --timeline t.json.gz`).
// The header carries no file name and a modification time of zero, so the
// same input gives the same bytes with the same zlib.
//
// Not provided: streaming, and reading concatenated gzip members (a file
// written here has one member).

#ifndef VMBSIM_TOOLS_SCENARIO_GZIP_H_
#define VMBSIM_TOOLS_SCENARIO_GZIP_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmbsim::scenario {

// Returns `data` as one gzip member at zlib's default level. Never fails on
// input; an internal zlib error (out of memory) is a CHECK.
std::string GzipCompress(absl::string_view data);

// Returns the bytes of the first gzip member of `data`. DataLoss if `data`
// is not a complete, intact gzip member (bad header, bad CRC, truncated).
absl::StatusOr<std::string> GzipDecompress(absl::string_view data);

// Whether `path` names a gzip file by its suffix (".gz").
bool IsGzipPath(absl::string_view path);

}  // namespace vmbsim::scenario

#endif  // VMBSIM_TOOLS_SCENARIO_GZIP_H_
