// capture_scenario.h
//
// A capture from a real system, as the importers read it (capture_csv.h,
// capture_trace_cmd.h), and the scenario that replays it. A capture is a
// list of channels; each holds the guest-to-host requests to replay (time
// relative to the capture's first record, size in bytes) and what was seen
// but is not replayed: host-to-guest packets, guest completions, signals.
//
// The scenario: one channel per capture channel, served by `echo_vsp` on the
// host and opened by `rr_vsc` in guest 1 (the library's request/response
// pair), and one workload per channel with requests, whose arrival is the
// `trace` kind: each request is submitted by the guest driver at its
// captured time and size. Host-to-guest traffic is not replayed: the host
// driver answers each request with its completion, as `echo_vsp` does, so
// what the capture's host sent is counted in the import summary and the
// scenario's description only.
//
// Left out on purpose: anything the capture cannot tell (costs, ring sizes,
// monitor latency: the scenario defaults apply and can be set with
// `vmbsim run --set`).

#ifndef VMBSIM_TOOLS_RECORDING_CAPTURE_SCENARIO_H_
#define VMBSIM_TOOLS_RECORDING_CAPTURE_SCENARIO_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmbsim::recording {

// The scenario format's limits that an import must respect
// (tools/scenario/loader.cc): names, packet sizes, file size.
inline constexpr size_t kChannelNameBytesMax = 64;
inline constexpr uint32_t kPacketBytesMax = uint32_t{16} << 20;
inline constexpr size_t kScenarioFileBytesMax = size_t{64} << 20;
// The largest capture file read: its scenario must fit kScenarioFileBytesMax,
// and every record takes at least a few bytes in both.
inline constexpr size_t kCaptureFileBytesMax = size_t{256} << 20;
// The largest time a capture may span, in ns (about 11.6 days): the
// scenario format's bound for a duration.
inline constexpr int64_t kCaptureSpanNsMax = 1'000'000'000'000'000;
// Channels a scenario may have (the scenario format's limit).
inline constexpr size_t kChannelsMax = 4096;
// Guest VPs an imported scenario may have (the scenario format's limit).
inline constexpr uint32_t kGuestVpsMax = 64;

// One request to replay: the guest driver submits `bytes` at `time_ns`
// after the capture's first record.
struct CaptureRequest {
  int64_t time_ns = 0;
  uint32_t bytes = 0;
};

struct CaptureChannel {
  std::string name;                       // Becomes the scenario channel's name.
  std::vector<CaptureRequest> requests;   // Guest-to-host requests, in time order.
  uint64_t guest_completions = 0;         // Guest-to-host completions: counted only.
  uint64_t host_packets = 0;              // Host-to-guest packets: counted only.
  uint64_t host_bytes = 0;                // Their bytes (0 when the capture has no sizes).
  uint64_t signals = 0;                   // Doorbells the capture recorded for the channel.
  std::optional<uint32_t> relid;          // The VMBus channel id, when the capture tells it.
  std::optional<uint32_t> guest_target_vp;  // The guest VP the channel interrupts (vmbus_open).
};

struct Capture {
  std::string source;                   // The file name, as in messages.
  std::string format;                   // "csv" or "trace-cmd".
  std::vector<CaptureChannel> channels;  // In order of first appearance.
  int64_t origin_ns = 0;                // The first record's time, in the capture's clock.
  uint64_t lines = 0;                   // Lines read.
  uint64_t records = 0;                 // Lines that were records or known events.
  uint64_t skipped_lines = 0;           // Blank, comment and header lines.
  uint64_t unknown_lines = 0;           // Lines that are no event at all.
  std::map<std::string, uint64_t> unknown_events;  // Events of no known kind, by name.
  std::map<std::string, uint64_t> events;          // Known events, by name (trace-cmd).
  // Facts the importer learnt but the scenario does not carry, one line each
  // ("relid 0xe: 3 vmbus_setevent"); printed by the import summary.
  std::vector<std::string> notes;
};

// When the capture's first record is replayed, by default: 1 ms, after
// every channel has opened (with the default costs a channel is open about
// 0.3 ms into a run; a request before that waits in KMCL's queue and the
// replay would start with a pile-up the capture never had).
inline constexpr int64_t kReplayStartNsDefault = 1'000'000;

struct ScenarioOptions {
  std::string name;                  // The scenario's name.
  uint32_t max_packet_bytes = 4096;  // Every channel's max_packet_bytes.
  int64_t start_ns = kReplayStartNsDefault;  // Every workload's start_ns.
};

// `text` made a name: lower case, other characters outside [a-z0-9_-] as
// '_', cut to kChannelNameBytesMax; "capture" when empty.
std::string NameFrom(absl::string_view text);

// The channel named `name`, created (at the end) if the capture has none yet.
CaptureChannel& ChannelNamed(Capture* capture, absl::string_view name);

// Whether `name` may name a channel or a scenario: 1..kChannelNameBytesMax
// characters from [a-z0-9_-] (the scenario format's names).
bool IsChannelName(absl::string_view name);

// The scenario JSON that replays `capture` (see the file comment), ending
// in a newline. Returns InvalidArgumentError when the capture has no
// channel or more than kChannelsMax, when its time span or a request
// exceeds the scenario format's limits, or when the scenario would be larger than a scenario file may be
// ("<source>: the scenario would be more than 67108864 bytes (N requests),
// the most a scenario file may have; import a part of the capture").
absl::StatusOr<std::string> ScenarioJsonFor(const Capture& capture, const ScenarioOptions& options);

// What `vmbsim import` prints about a capture: the lines read, skipped and
// unknown, and per channel the requests to replay (count, size range, time
// span) and what is counted but not replayed; the notes follow.
std::string CaptureSummary(const Capture& capture);

// `text` as a JSON string literal (quotes included): `"` and `\` escaped,
// control characters as \u00XX, bytes outside ASCII as "?" (a file name
// need not be UTF-8, and the scenario must be valid JSON).
std::string JsonQuote(absl::string_view text);

// `text` as it appears after "found" in a message: JSON-quoted, cut to 48
// characters with "..." when longer.
std::string QuoteFound(absl::string_view text);

}  // namespace vmbsim::recording

#endif  // VMBSIM_TOOLS_RECORDING_CAPTURE_SCENARIO_H_
