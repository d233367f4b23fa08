// packet_format.h
//
// VMBus ring packets as values: their size formulas (spec 2.8), the encoding
// of an outgoing packet into descriptor + type-specific header + payload bytes
// (spec 2.1-2.7), and the strict parser that validates a packet read from a
// ring (spec 7.1, OpenVMM `parse_packet` rules).
//
// The parser works only on a private copy of the packet (the ring reader
// copies the bytes out of guest memory first), so every header field is
// fetched once and a peer cannot change a field between its check and its
// use. Every violation is absl::DataLoss whose message names the field, the
// value and the limit it broke, for example "offset8=1 below minimum 2".
//
// Accepted packet types are configurable (`PacketTypeSet`); the default is
// exactly {0x6, 0x7, 0x9, 0xB} (OpenVMM's set). Types outside those four have
// no known type-specific header, so when a caller chooses to accept one, its
// payload is simply bytes [offset8*8, len8*8).
//
// Not here on purpose: whether a transfer-page range lies inside the buffer
// its `xfer_pageset_id` names (the device protocol owns those buffers), PFN
// ownership checks for GPA-direct ranges (GPADL and memory layers), request /
// completion pairing (spec 2.7: a device-protocol contract), and pipe-mode
// headers.

#ifndef VMBSIM_SIM_FABRIC_PACKET_FORMAT_H_
#define VMBSIM_SIM_FABRIC_PACKET_FORMAT_H_

#include <cstdint>
#include <type_traits>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "sim/check.h"
#include "sim/fabric/ring_layout.h"

namespace vmbsim::fabric {

// ---------------------------------------------------------------------------
// Size formulas (spec 2.8). All results are in bytes unless named *8.

inline constexpr uint64_t RoundUpTo8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

// Ring footprint of an in-band packet with `payload_size_bytes` of payload:
// 16 + round_up8(n) + 8 (OpenVMM `PacketSize::in_band`).
inline constexpr uint64_t InBandRingFootprintBytes(uint64_t payload_size_bytes) {
  return kDescriptorSizeBytes + RoundUpTo8(payload_size_bytes) + kTrailerSizeBytes;
}

// Ring footprint of a transfer-page packet with `range_count` ranges:
// in_band(n) + 8 + 8 * count (OpenVMM `PacketSize::transfer_pages`).
inline constexpr uint64_t TransferPagesRingFootprintBytes(uint64_t range_count,
                                                          uint64_t payload_size_bytes) {
  return InBandRingFootprintBytes(payload_size_bytes) + sizeof(TransferPageHeader) +
         sizeof(TransferPageRange) * range_count;
}

// Number of PFNs that follow a `gpa_range` head:
// ceil((byte_offset + byte_count) / 4096), computed without overflow.
inline constexpr uint64_t GpaRangePfnCount(uint32_t byte_offset, uint32_t byte_count) {
  return (uint64_t{byte_offset} + byte_count + kPageSizeBytes - 1) >> kPageShift;
}

static_assert(InBandRingFootprintBytes(100) == 128, "spec 2.8 example");
static_assert(InBandRingFootprintBytes(4000) == 4024, "spec 1.4 example");

// Where one packet's parts lie, in the units the descriptor uses and in bytes.
struct PacketGeometry {
  uint16_t offset8 = 0;               // Header (descriptor + extension) / 8.
  uint16_t len8 = 0;                  // ceil((header + payload) / 8).
  uint32_t header_size_bytes = 0;     // offset8 * 8.
  uint32_t payload_size_bytes = 0;    // Payload before padding.
  uint32_t packet_size_bytes = 0;     // len8 * 8: header + payload + padding.
  uint32_t ring_footprint_bytes = 0;  // len8 * 8 + 8: what the ring consumes.
};

// Returns the geometry of a packet with a header of `header_size_bytes` and
// `payload_size_bytes` of payload, or InvalidArgument if the header is not a
// multiple of 8 or below 16 bytes, or offset8 or len8 would not fit in u16.
absl::StatusOr<PacketGeometry> GeometryFor(uint64_t header_size_bytes, uint64_t payload_size_bytes);

// ---------------------------------------------------------------------------
// Accepted packet types.

class PacketTypeSet {
 public:
  // Exactly {kDataInband, kDataUsingXferPages, kDataUsingGpaDirect, kComp}.
  static constexpr PacketTypeSet Default() {
    return PacketTypeSet()
        .With(PacketType::kDataInband)
        .With(PacketType::kDataUsingXferPages)
        .With(PacketType::kDataUsingGpaDirect)
        .With(PacketType::kComp);
  }
  static constexpr PacketTypeSet None() { return PacketTypeSet(); }

  constexpr PacketTypeSet With(PacketType type) const {
    return PacketTypeSet(mask_ | Bit(static_cast<uint16_t>(type)));
  }
  constexpr PacketTypeSet Without(PacketType type) const {
    return PacketTypeSet(mask_ & ~Bit(static_cast<uint16_t>(type)));
  }
  // `raw_type` is the descriptor's u16 as read from the ring.
  constexpr bool Contains(uint16_t raw_type) const { return (mask_ & Bit(raw_type)) != 0; }

  friend constexpr bool operator==(PacketTypeSet, PacketTypeSet) = default;

 private:
  constexpr PacketTypeSet() = default;
  explicit constexpr PacketTypeSet(uint32_t mask) : mask_(mask) {}
  // Types 0x0-0xD are defined; values from 32 up are never accepted.
  static constexpr uint32_t Bit(uint16_t raw_type) {
    return raw_type < 32 ? uint32_t{1} << raw_type : 0;
  }

  uint32_t mask_ = 0;
};

// ---------------------------------------------------------------------------
// Outgoing packets.

// One `gpa_range`: `byte_count` bytes starting `byte_offset` bytes into the
// first of `pfns`, continuing through the following PFNs.
struct GpaRange {
  uint32_t byte_count = 0;
  uint32_t byte_offset = 0;
  std::vector<uint64_t> pfns;  // Exactly GpaRangePfnCount(byte_offset, byte_count).

  friend bool operator==(const GpaRange&, const GpaRange&) = default;
};

// A packet to be written into a ring. It only refers to the caller's memory;
// everything it points at must stay valid until the write returns.
struct OutgoingPacket {
  PacketType type = PacketType::kDataInband;
  uint16_t flags = 0;  // 0 or kCompletionRequestedFlag.
  uint64_t trans_id = 0;
  absl::Span<const uint8_t> payload;

  // kDataUsingXferPages only.
  uint16_t xfer_pageset_id = 0;
  uint8_t sender_owns_set = 0;
  absl::Span<const TransferPageRange> transfer_page_ranges;

  // kDataUsingGpaDirect only.
  absl::Span<const GpaRange> gpa_ranges;

  // Simulation-only metadata that travels beside the packet, never in the
  // ring's bytes: a ChannelDataPath hands it to the peer's packet handler as
  // ParsedPacket::tag (the KMCL layer sends its send time this way, for
  // latency figures). 0 = none.
  uint64_t tag = 0;
};

// Type 6: descriptor and payload.
OutgoingPacket InBandPacket(absl::Span<const uint8_t> payload, uint64_t trans_id,
                            bool completion_requested);

// Type 0xB: a completion of request `trans_id`; flags 0 (spec 2.7).
OutgoingPacket CompletionPacket(uint64_t trans_id, absl::Span<const uint8_t> payload);

// Type 7 with completion requested (spec 2.6: the sender wants the ranges
// back through a completion).
OutgoingPacket TransferPagesPacket(uint16_t xfer_pageset_id,
                                   absl::Span<const TransferPageRange> ranges,
                                   absl::Span<const uint8_t> payload, uint64_t trans_id);

// Type 9 with completion requested (spec 2.3: Linux always sets it).
OutgoingPacket GpaDirectPacket(absl::Span<const GpaRange> ranges, absl::Span<const uint8_t> payload,
                               uint64_t trans_id);

// Validates `packet` and returns its geometry. InvalidArgument (naming the
// field) if the type is not one of {6, 7, 9, 0xB}, a flag other than bit 0 is
// set, a field that belongs to another type is non-empty, a GPA range has
// byte_count 0, byte_offset >= 4096, a PFN count other than
// GpaRangePfnCount(), a GPA-direct packet has no range, or the packet is too
// long for len8.
inline absl::StatusOr<PacketGeometry> MeasurePacket(const OutgoingPacket& packet);

// Writes the descriptor and type-specific header of `packet` (the first
// `geometry.header_size_bytes` bytes of the packet) to `out`.
// REQUIRES: `geometry` is MeasurePacket(packet)'s value, and
// out.size() >= geometry.header_size_bytes.
void EncodePacketHeader(const OutgoingPacket& packet, const PacketGeometry& geometry,
                        absl::Span<uint8_t> out);

// Returns the whole packet as it appears in a ring, without the trailer:
// len8 * 8 bytes of header, payload and zero padding. Errors as MeasurePacket.
absl::StatusOr<std::vector<uint8_t>> EncodePacket(const OutgoingPacket& packet);

// ---------------------------------------------------------------------------
// Parsing packets read from a ring.

// A validated packet: a small view (trivially copyable, no allocation) into
// the caller's private copy of the packet bytes, which must outlive it.
// Typed-header ranges were validated by the parser and are decoded on demand
// from that copy.
struct ParsedPacket {
  // The descriptor exactly as validated (after clamping, under the ring
  // reader's kClamp policy).
  PacketDescriptor descriptor = {};
  // The private copy: descriptor.len8 * 8 bytes.
  const uint8_t* bytes = nullptr;

  // kDataUsingXferPages only.
  uint16_t xfer_pageset_id = 0;
  uint8_t sender_owns_set = 0;
  // kDataUsingXferPages and kDataUsingGpaDirect: the validated `range_cnt`.
  uint32_t range_count = 0;
  // The writer's OutgoingPacket::tag when a ChannelDataPath carried it
  // (never read from the ring); 0 otherwise.
  uint64_t tag = 0;

  // Bytes [offset8*8, len8*8): the payload including any tail padding.
  absl::Span<const uint8_t> payload() const {
    return absl::MakeConstSpan(bytes + uint32_t{descriptor.offset8} * 8,
                               (uint32_t{descriptor.len8} - descriptor.offset8) * 8);
  }
  // Types 7 and 9: bytes [24, offset8*8), which hold the ranges; else empty.
  absl::Span<const uint8_t> range_bytes() const;
  // The transfer-page ranges of a type 7 packet; empty for other types.
  std::vector<TransferPageRange> TransferPageRanges() const;
  // The GPA ranges of a type 9 packet; empty for other types.
  std::vector<GpaRange> GpaRanges() const;

  PacketType type() const { return static_cast<PacketType>(descriptor.type); }
  bool completion_requested() const { return (descriptor.flags & kCompletionRequestedFlag) != 0; }
  uint32_t packet_size_bytes() const { return uint32_t{descriptor.len8} * 8; }
  uint32_t ring_footprint_bytes() const { return packet_size_bytes() + kTrailerSizeBytes; }
};
static_assert(std::is_trivially_copyable_v<ParsedPacket>, "a view, cheap to return");

// Checks the length fields of a descriptor against the bytes available in the
// ring from the descriptor onward (trailer included): offset8 >= 2,
// len8 >= offset8, len8 * 8 + 8 <= available_bytes. DataLoss otherwise.
absl::Status CheckDescriptorLengths(const PacketDescriptor& descriptor, uint64_t available_bytes);

// Validates everything but the lengths: the type is in `accepted_types`,
// flags hold only bit 0, and the type-specific header of types 7 and 9 is
// well formed (offset8 >= 3; range counts and ranges fit in
// [24, offset8 * 8); GPA ranges have byte_count > 0, byte_offset < 4096, all
// their PFNs and no overflow). Header fields beyond the descriptor are read
// from `packet_bytes`; `descriptor` is used as given (the caller fetched it
// once). DataLoss otherwise.
// REQUIRES: CheckDescriptorLengths(descriptor, ...) passed, or the lengths
// were clamped into the same bounds; packet_bytes.size() >= len8 * 8.
inline absl::StatusOr<ParsedPacket> ParsePacketContents(const PacketDescriptor& descriptor,
                                                        absl::Span<const uint8_t> packet_bytes,
                                                        PacketTypeSet accepted_types);

// Parses the packet at the start of `ring_bytes`, the bytes available in the
// ring from the descriptor onward (so at least the packet and its trailer).
// Applies CheckDescriptorLengths with available = ring_bytes.size(), then
// ParsePacketContents. DataLoss for any violation, including fewer than 16
// bytes.
absl::StatusOr<ParsedPacket> ParsePacket(absl::Span<const uint8_t> ring_bytes,
                                         PacketTypeSet accepted_types = PacketTypeSet::Default());

// ---------------------------------------------------------------------------
// Inline fast paths: packets without a typed header (in-band data and
// completions, nearly all traffic) are measured and parsed here without a
// call; everything else, and every error, goes out of line.

namespace packet_format_internal {

absl::StatusOr<PacketGeometry> MeasurePacketSlow(const OutgoingPacket& packet);
absl::StatusOr<ParsedPacket> ParsePacketContentsSlow(const PacketDescriptor& descriptor,
                                                     absl::Span<const uint8_t> packet_bytes,
                                                     PacketTypeSet accepted_types);

inline bool IsUntyped(uint16_t raw_type) {
  return raw_type == static_cast<uint16_t>(PacketType::kDataInband) ||
         raw_type == static_cast<uint16_t>(PacketType::kComp);
}

}  // namespace packet_format_internal

ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::StatusOr<PacketGeometry> MeasurePacket(
    const OutgoingPacket& packet) {
  const uint64_t payload_size_bytes = packet.payload.size();
  if (ABSL_PREDICT_TRUE(packet_format_internal::IsUntyped(static_cast<uint16_t>(packet.type)) &&
                        (packet.flags & ~kCompletionRequestedFlag) == 0 &&
                        packet.transfer_page_ranges.empty() && packet.gpa_ranges.empty() &&
                        payload_size_bytes <= uint64_t{kLen8Max} * 8 - kDescriptorSizeBytes)) {
    PacketGeometry g;
    g.offset8 = kOffset8Min;
    g.len8 = static_cast<uint16_t>(RoundUpTo8(kDescriptorSizeBytes + payload_size_bytes) / 8);
    g.header_size_bytes = kDescriptorSizeBytes;
    g.payload_size_bytes = static_cast<uint32_t>(payload_size_bytes);
    g.packet_size_bytes = uint32_t{g.len8} * 8;
    g.ring_footprint_bytes = g.packet_size_bytes + kTrailerSizeBytes;
    return g;
  }
  return packet_format_internal::MeasurePacketSlow(packet);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::StatusOr<ParsedPacket> ParsePacketContents(
    const PacketDescriptor& descriptor, absl::Span<const uint8_t> packet_bytes,
    PacketTypeSet accepted_types) {
  if (ABSL_PREDICT_TRUE(packet_format_internal::IsUntyped(descriptor.type) &&
                        accepted_types.Contains(descriptor.type) &&
                        (descriptor.flags & ~kCompletionRequestedFlag) == 0)) {
    const uint32_t header_size_bytes = uint32_t{descriptor.offset8} * 8;
    const uint32_t packet_size_bytes = uint32_t{descriptor.len8} * 8;
    VMBSIM_CHECK(descriptor.offset8 >= kOffset8Min);  // The caller's REQUIREs.
    VMBSIM_CHECK(header_size_bytes <= packet_size_bytes);
    VMBSIM_CHECK(packet_size_bytes <= packet_bytes.size());
    ParsedPacket parsed;
    parsed.descriptor = descriptor;
    parsed.bytes = packet_bytes.data();
    return parsed;
  }
  return packet_format_internal::ParsePacketContentsSlow(descriptor, packet_bytes, accepted_types);
}

}  // namespace vmbsim::fabric

#endif  // VMBSIM_SIM_FABRIC_PACKET_FORMAT_H_
