// gpadl_messages.h
//
// Moving a GPADL's page list through the control channel (spec/vmbus-fabric.md
// 5.2): the guest side splits it into one GPADL_HEADER and zero or more
// GPADL_BODY messages, and the host side reassembles and validates it.
//
// The range data is one stream of u64 granules, `range_buflen` bytes long:
// for each range a `gpa_range` head {u32 byte_count; u32 byte_offset} (one u64)
// followed by its ceil((byte_offset + byte_count) / 4096) PFNs. The header
// message carries the first 27 u64 of the stream (220 bytes of room, of which
// 216 hold whole u64s), each body the next 28. For a single range of N pages
// that is 1 + ceil(max(0, N - 26) / 28) messages; because `range_buflen` is a
// u16, a single-range GPADL holds at most 8190 pages.
//
// Reassembly follows OpenVMM's host: bodies are matched by GPADL id alone
// (GPADL_BODY has no channel id, so ids in progress are unique connection-
// wide), the GPADL is complete when range_buflen bytes have arrived, and the
// ranges are validated only then. Trimming: some clients (UEFI) always send
// full 240-byte messages, so a message of the maximum size may carry more
// than the bytes still missing and the excess is dropped. A shorter message
// that carries more than is missing, or a partial u64, is DataLoss: a sender
// that sizes its messages to their content must size them right. That is
// stricter than OpenVMM, which trims any message.
//
// Not here on purpose: GPADL_CREATED / TEARDOWN handling and the host GPADL
// states of spec 5.3 (the channel state machine owns them), whether PFNs name
// guest memory (the memory layer), and the ring-GPADL layout of 5.4.

#ifndef VMBSIM_SIM_FABRIC_GPADL_MESSAGES_H_
#define VMBSIM_SIM_FABRIC_GPADL_MESSAGES_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "sim/fabric/channel_messages.h"
#include "sim/fabric/packet_format.h"  // GpaRange, GpaRangePfnCount

namespace vmbsim::fabric {

// u64 granules of range data per message (spec 5.2; FreeBSD/DPDK
// `VMBUS_CHANMSG_GPADL_CONN_PGMAX` 26 = 27 - 1 range head, `..._SUBCONN_PGMAX` 28).
inline constexpr uint32_t kGpadlHeaderDataU64Max = GpadlHeader::kRangeDataBytesMax / 8;
inline constexpr uint32_t kGpadlBodyDataU64Max = GpadlBody::kPfnsMax;
static_assert(kGpadlHeaderDataU64Max == 27 && kGpadlBodyDataU64Max == 28, "spec 5.2");

// `range_buflen` is a u16.
inline constexpr uint32_t kGpadlRangeBuflenMax = 0xFFFF;
// (65535 - 8) / 8: one gpa_range head and the rest PFNs.
inline constexpr uint32_t kGpadlSingleRangePagesMax = (kGpadlRangeBuflenMax - 8) / 8;
static_assert(kGpadlSingleRangePagesMax == 8190, "spec 5.2");

// The number of messages (one header plus bodies) that carry
// `range_buflen_bytes` of range data.
// REQUIRES: range_buflen_bytes % 8 == 0.
constexpr uint32_t GpadlMessageCount(uint32_t range_buflen_bytes) {
  const uint32_t data_u64_count = range_buflen_bytes / 8;
  if (data_u64_count <= kGpadlHeaderDataU64Max) return 1;
  return 1 + (data_u64_count - kGpadlHeaderDataU64Max + kGpadlBodyDataU64Max - 1) /
                 kGpadlBodyDataU64Max;
}
static_assert(GpadlMessageCount(8 + 8 * 64) == 3, "spec 5.2: 64 pages = 26 + 28 + 10");

// Returns the GPADL_HEADER and then the GPADL_BODY messages (msgnumber 0, as
// Linux sends) that describe `ranges` as GPADL `gpadl_id` of channel
// `child_relid`. Every message fits in kMaxMessagePayloadBytes; only the last
// may be shorter than the maximum.
// Errors (InvalidArgument, naming the range and field): no ranges; a range
// with byte_count 0, byte_offset >= 4096, or a PFN count other than
// GpaRangePfnCount(byte_offset, byte_count); range data longer than 65535
// bytes (for one range: more than 8190 pages).
absl::StatusOr<std::vector<ChannelMessage>> SplitGpadl(uint32_t child_relid, uint32_t gpadl_id,
                                                       absl::Span<const GpaRange> ranges);

// Host-side reassembly of the GPADLs one connection has in progress. Feed it
// every GPADL_HEADER and GPADL_BODY in arrival order; when an Add* call
// returns true, that GPADL is complete and Finish() validates and returns its
// ranges.
//
// Error codes: InvalidArgument for a message that names the wrong GPADL (a
// body for an id with no header in progress, a header for an id already in
// progress); ResourceExhausted when gpadls_max() GPADLs are already held;
// DataLoss for range data that is malformed. A DataLoss about a GPADL also
// discards that GPADL, since it can never become valid; its later bodies are
// then unknown.
//
// Single-threaded, like the rest of the model.
class GpadlAssembler {
 public:
  static constexpr size_t kGpadlsMaxDefault = 1024;

  // `gpadls_max` bounds the GPADLs held at once (in progress or complete and
  // not yet finished); each holds at most 64 KiB.
  // REQUIRES: gpadls_max > 0.
  explicit GpadlAssembler(size_t gpadls_max = kGpadlsMaxDefault);

  // Starts GPADL `header.gpadl`. Returns whether it is already complete (all
  // its range data fitted in the header). DataLoss if rangecount is 0,
  // range_buflen is not a multiple of 8 or below 16 (one range head and one
  // PFN), or the header carries a partial u64 or more than range_buflen bytes
  // without being a full 240-byte message.
  absl::StatusOr<bool> AddHeader(const GpadlHeader& header);

  // Appends `body` to the GPADL it names. Returns whether that GPADL is now
  // complete. InvalidArgument if no header for body.gpadl is held; DataLoss if
  // that GPADL is already complete, or the body carries more than the missing
  // bytes without being a full 240-byte (28-PFN) message.
  absl::StatusOr<bool> AddBody(const GpadlBody& body);

  // Whether GPADL `gpadl` is held and all of its range_buflen bytes arrived.
  bool IsComplete(uint32_t gpadl) const;

  // The channel named in GPADL `gpadl`'s header, if it is held: the relid a
  // GPADL_CREATED reply must carry when a body completed it.
  std::optional<uint32_t> ChildRelidOf(uint32_t gpadl) const;

  // Validates and returns the ranges of the complete GPADL `gpadl`, and stops
  // holding it whatever the outcome. DataLoss (naming the range and field) if
  // a range has byte_count 0 or byte_offset >= 4096, the stream ends before a
  // range's head or PFNs, or the `rangecount` ranges do not use exactly
  // range_buflen bytes.
  // REQUIRES: IsComplete(gpadl).
  absl::StatusOr<std::vector<GpaRange>> Finish(uint32_t gpadl);

  // Stops holding GPADL `gpadl` (e.g. its channel was rescinded or the
  // connection unloaded). Returns whether it was held.
  bool Discard(uint32_t gpadl);

  size_t gpadl_count() const { return gpadls_.size(); }
  size_t gpadls_max() const { return gpadls_max_; }

 private:
  struct Pending {
    uint32_t child_relid = 0;
    uint16_t range_buflen = 0;
    uint16_t rangecount = 0;
    std::vector<uint64_t> data;  // Received u64s; never more than range_buflen / 8.
  };

  // Appends `values`, the whole u64s of the `carried_bytes` of range data
  // that one message carried, to `pending`, applying the trimming rule;
  // `full_size` says whether that message was 240 bytes long.
  static absl::Status Append(uint32_t gpadl, const char* message_name,
                             absl::Span<const uint64_t> values, size_t carried_bytes,
                             bool full_size, Pending& pending);

  size_t gpadls_max_;
  std::map<uint32_t, Pending> gpadls_;  // By GPADL id.
};

}  // namespace vmbsim::fabric

#endif  // VMBSIM_SIM_FABRIC_GPADL_MESSAGES_H_
