// capture_csv.h
//
// The CSV capture format: what a user writes out of a real system (from an
// ETW or eBPF probe on the send path, a driver's own log, a spreadsheet) to
// replay its traffic in vmbsim. README "Captures from real systems" is the
// user's documentation; this is the contract.
//
//   # Lines starting with '#' (after blanks) and blank lines are skipped.
//   time_ns,channel,direction,size,flags
//   0,net0,g2h,1514,signal
//   2500,net0,h2g,1514,
//   2600,net0,h2g,64,completion
//
// - The first line that is neither blank nor a comment is the header,
//   exactly these five names in this order (blanks around names allowed).
// - Every record has exactly five comma-separated fields; blanks around a
//   field are ignored; there is no quoting. A trailing CR (CRLF files) is
//   ignored.
// - time_ns: when the packet was written to the ring, in integer
//   nanoseconds on any clock (0 ..  2^63-1); records are in time order (equal
//   times allowed). The scenario replays times relative to the first record,
//   so the clock's origin does not matter; a capture may span at most about
//   11.6 days (10^15 ns).
// - channel: the channel's name, 1..64 characters from [a-z0-9_-] (the
//   scenario format's names); it becomes the scenario channel's name.
// - direction: "g2h" (the guest wrote it to the host) or "h2g".
// - size: the packet's payload in bytes, at least 1. A guest-to-host request
//   is at most the channel's max_packet_bytes (4096, or
//   `vmbsim import --max-packet-bytes`); anything else at most 16 MiB.
// - flags: empty, or names separated by '|': "completion" (the packet
//   completes an earlier packet from the other side instead of starting a
//   transaction), "signal" (the writer signalled the reader after writing
//   it).
//
// What becomes of a record: a g2h record without "completion" is a request,
// replayed at its time and size (capture_scenario.h). g2h completions, h2g
// packets and "signal" flags are counted per channel and reported, not
// replayed: in the scenario the host driver completes each request, and
// the simulated signalling decides its own doorbells.

#ifndef VMBSIM_TOOLS_RECORDING_CAPTURE_CSV_H_
#define VMBSIM_TOOLS_RECORDING_CAPTURE_CSV_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tools/recording/capture_scenario.h"

namespace vmbsim::recording {

inline constexpr absl::string_view kCsvCaptureHeader = "time_ns,channel,direction,size,flags";

// Parses a CSV capture. `source` starts every message. Requests larger than
// `max_packet_bytes` are refused. Returns InvalidArgumentError naming the
// line and the field, with what was expected and what was found:
//   cap.csv:7: size: expected a request of 1..4096 bytes (max_packet_bytes;
//   raise it with --max-packet-bytes), found 9000
absl::StatusOr<Capture> ParseCsvCapture(absl::string_view text, absl::string_view source,
                                        uint32_t max_packet_bytes);

}  // namespace vmbsim::recording

#endif  // VMBSIM_TOOLS_RECORDING_CAPTURE_CSV_H_
