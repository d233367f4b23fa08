#include "sim/fabric/packet_format.h"

#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "sim/check.h"

namespace vmbsim::fabric {
namespace {

constexpr uint32_t kRangesStartBytes = kExtendedHeaderSizeBytes;  // 24
// The range-count field of both typed headers sits at packet byte 20.
constexpr uint32_t kRangeCntAtBytes = kDescriptorSizeBytes + offsetof(GpaDirectHeader, range_cnt);
static_assert(offsetof(GpaDirectHeader, range_cnt) == offsetof(TransferPageHeader, range_cnt));
// A GPA range is at least its head plus one PFN, since byte_count > 0.
constexpr uint32_t kGpaRangeSizeBytesMin = sizeof(GpaRangeHeader) + kPfnSizeBytes;

bool IsEncodable(PacketType type) {
  switch (type) {
    case PacketType::kDataInband:
    case PacketType::kDataUsingXferPages:
    case PacketType::kDataUsingGpaDirect:
    case PacketType::kComp:
      return true;
    default:
      return false;
  }
}

absl::Status CheckOutgoingGpaRange(const GpaRange& range, size_t range_index) {
  if (range.byte_count == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("outgoing packet: gpa_range[", range_index, "].byte_count=0 below minimum 1"));
  }
  if (range.byte_offset >= kGpaRangeByteOffsetLimit) {
    return absl::InvalidArgumentError(absl::StrCat("outgoing packet: gpa_range[", range_index,
                                                   "].byte_offset=", range.byte_offset,
                                                   " not below ", kGpaRangeByteOffsetLimit));
  }
  const uint64_t pfn_count = GpaRangePfnCount(range.byte_offset, range.byte_count);
  if (range.pfns.size() != pfn_count) {
    return absl::InvalidArgumentError(
        absl::StrCat("outgoing packet: gpa_range[", range_index, "] has ", range.pfns.size(),
                     " pfns but byte_offset=", range.byte_offset, " byte_count=", range.byte_count,
                     " needs ", pfn_count));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PacketGeometry> GeometryFor(uint64_t header_size_bytes,
                                           uint64_t payload_size_bytes) {
  if (header_size_bytes < kDescriptorSizeBytes || header_size_bytes % 8 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("packet geometry: header_size_bytes=", header_size_bytes,
                     " is not a multiple of 8 of at least 16"));
  }
  const uint64_t offset8 = header_size_bytes / 8;
  // Compare before adding so that a huge payload cannot wrap the sum.
  if (payload_size_bytes > uint64_t{kLen8Max} * 8) {
    return absl::InvalidArgumentError(
        absl::StrCat("packet geometry: payload_size_bytes=", payload_size_bytes,
                     " above len8 maximum ", kLen8Max, " * 8"));
  }
  const uint64_t len8 = RoundUpTo8(header_size_bytes + payload_size_bytes) / 8;
  if (len8 > kLen8Max) {
    return absl::InvalidArgumentError(
        absl::StrCat("packet geometry: len8=", len8, " above maximum ", kLen8Max));
  }
  VMBSIM_CHECK_LE(offset8, len8);  // Implied by len8 <= kLen8Max.
  PacketGeometry g;
  g.offset8 = static_cast<uint16_t>(offset8);
  g.len8 = static_cast<uint16_t>(len8);
  g.header_size_bytes = static_cast<uint32_t>(header_size_bytes);
  g.payload_size_bytes = static_cast<uint32_t>(payload_size_bytes);
  g.packet_size_bytes = static_cast<uint32_t>(len8 * 8);
  g.ring_footprint_bytes = g.packet_size_bytes + kTrailerSizeBytes;
  VMBSIM_CHECK_GE(g.packet_size_bytes, g.header_size_bytes + g.payload_size_bytes);
  return g;
}

OutgoingPacket InBandPacket(absl::Span<const uint8_t> payload, uint64_t trans_id,
                            bool completion_requested) {
  OutgoingPacket p;
  p.type = PacketType::kDataInband;
  p.flags = completion_requested ? kCompletionRequestedFlag : 0;
  p.trans_id = trans_id;
  p.payload = payload;
  return p;
}

OutgoingPacket CompletionPacket(uint64_t trans_id, absl::Span<const uint8_t> payload) {
  OutgoingPacket p;
  p.type = PacketType::kComp;
  p.trans_id = trans_id;
  p.payload = payload;
  return p;
}

OutgoingPacket TransferPagesPacket(uint16_t xfer_pageset_id,
                                   absl::Span<const TransferPageRange> ranges,
                                   absl::Span<const uint8_t> payload, uint64_t trans_id) {
  OutgoingPacket p;
  p.type = PacketType::kDataUsingXferPages;
  p.flags = kCompletionRequestedFlag;
  p.trans_id = trans_id;
  p.payload = payload;
  p.xfer_pageset_id = xfer_pageset_id;
  p.transfer_page_ranges = ranges;
  return p;
}

OutgoingPacket GpaDirectPacket(absl::Span<const GpaRange> ranges, absl::Span<const uint8_t> payload,
                               uint64_t trans_id) {
  OutgoingPacket p;
  p.type = PacketType::kDataUsingGpaDirect;
  p.flags = kCompletionRequestedFlag;
  p.trans_id = trans_id;
  p.payload = payload;
  p.gpa_ranges = ranges;
  return p;
}

namespace packet_format_internal {

absl::StatusOr<PacketGeometry> MeasurePacketSlow(const OutgoingPacket& packet) {
  if (!IsEncodable(packet.type)) {
    return absl::InvalidArgumentError(absl::StrCat("outgoing packet: type=0x",
                                                   absl::Hex(static_cast<uint16_t>(packet.type)),
                                                   " is not one of 0x6, 0x7, 0x9, 0xb"));
  }
  if ((packet.flags & ~kCompletionRequestedFlag) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("outgoing packet: flags=0x", absl::Hex(packet.flags),
                     " has bits other than completion-requested 0x1"));
  }
  const bool is_transfer_pages = packet.type == PacketType::kDataUsingXferPages;
  const bool is_gpa_direct = packet.type == PacketType::kDataUsingGpaDirect;
  if (!is_transfer_pages && !packet.transfer_page_ranges.empty()) {
    return absl::InvalidArgumentError(
        "outgoing packet: transfer_page_ranges set on a packet of another type");
  }
  if (!is_gpa_direct && !packet.gpa_ranges.empty()) {
    return absl::InvalidArgumentError(
        "outgoing packet: gpa_ranges set on a packet of another type");
  }

  uint64_t header_size_bytes = kDescriptorSizeBytes;
  if (is_transfer_pages) {
    header_size_bytes = kRangesStartBytes +
                        uint64_t{sizeof(TransferPageRange)} * packet.transfer_page_ranges.size();
  } else if (is_gpa_direct) {
    if (packet.gpa_ranges.empty()) {
      return absl::InvalidArgumentError("outgoing packet: GPA-direct range_cnt=0 below minimum 1");
    }
    header_size_bytes = kRangesStartBytes;
    for (size_t i = 0; i < packet.gpa_ranges.size(); ++i) {
      const GpaRange& range = packet.gpa_ranges[i];
      VMBSIM_RETURN_IF_ERROR(CheckOutgoingGpaRange(range, i));
      header_size_bytes += sizeof(GpaRangeHeader) + uint64_t{kPfnSizeBytes} * range.pfns.size();
    }
  }
  return GeometryFor(header_size_bytes, packet.payload.size());
}

}  // namespace packet_format_internal

void EncodePacketHeader(const OutgoingPacket& packet, const PacketGeometry& geometry,
                        absl::Span<uint8_t> out) {
  VMBSIM_CHECK_GE(out.size(), geometry.header_size_bytes);
  VMBSIM_CHECK_EQ(uint32_t{geometry.offset8} * 8, geometry.header_size_bytes);
  uint8_t* bytes = out.data();
  PacketDescriptor descriptor;
  descriptor.type = static_cast<uint16_t>(packet.type);
  descriptor.offset8 = geometry.offset8;
  descriptor.len8 = geometry.len8;
  descriptor.flags = packet.flags;
  descriptor.trans_id = packet.trans_id;
  EncodeDescriptor(descriptor, bytes);

  uint32_t at_bytes = kDescriptorSizeBytes;
  if (packet.type == PacketType::kDataUsingXferPages) {
    uint8_t* header = bytes + kDescriptorSizeBytes;
    StoreLe16(header + offsetof(TransferPageHeader, xfer_pageset_id), packet.xfer_pageset_id);
    header[offsetof(TransferPageHeader, sender_owns_set)] = packet.sender_owns_set;
    header[offsetof(TransferPageHeader, reserved)] = 0;
    StoreLe32(header + offsetof(TransferPageHeader, range_cnt),
              static_cast<uint32_t>(packet.transfer_page_ranges.size()));
    at_bytes = kRangesStartBytes;
    for (const TransferPageRange& range : packet.transfer_page_ranges) {
      StoreLe32(bytes + at_bytes + offsetof(TransferPageRange, byte_count), range.byte_count);
      StoreLe32(bytes + at_bytes + offsetof(TransferPageRange, byte_offset), range.byte_offset);
      at_bytes += sizeof(TransferPageRange);
    }
  } else if (packet.type == PacketType::kDataUsingGpaDirect) {
    uint8_t* header = bytes + kDescriptorSizeBytes;
    StoreLe32(header + offsetof(GpaDirectHeader, reserved), 0);
    StoreLe32(header + offsetof(GpaDirectHeader, range_cnt),
              static_cast<uint32_t>(packet.gpa_ranges.size()));
    at_bytes = kRangesStartBytes;
    for (const GpaRange& range : packet.gpa_ranges) {
      StoreLe32(bytes + at_bytes + offsetof(GpaRangeHeader, byte_count), range.byte_count);
      StoreLe32(bytes + at_bytes + offsetof(GpaRangeHeader, byte_offset), range.byte_offset);
      at_bytes += sizeof(GpaRangeHeader);
      for (uint64_t pfn : range.pfns) {
        StoreLe64(bytes + at_bytes, pfn);
        at_bytes += kPfnSizeBytes;
      }
    }
  }
  VMBSIM_CHECK_EQ(at_bytes, geometry.header_size_bytes);  // Paired with Measure.
}

absl::StatusOr<std::vector<uint8_t>> EncodePacket(const OutgoingPacket& packet) {
  VMBSIM_ASSIGN_OR_RETURN(const PacketGeometry geometry, MeasurePacket(packet));
  std::vector<uint8_t> bytes(geometry.packet_size_bytes, 0);  // Zero padding.
  EncodePacketHeader(packet, geometry, absl::MakeSpan(bytes));
  if (!packet.payload.empty()) {
    std::memcpy(bytes.data() + geometry.header_size_bytes, packet.payload.data(),
                packet.payload.size());
  }
  return bytes;
}

absl::Status CheckDescriptorLengths(const PacketDescriptor& descriptor, uint64_t available_bytes) {
  if (descriptor.offset8 < kOffset8Min) {
    return absl::DataLossError(
        absl::StrCat("offset8=", descriptor.offset8, " below minimum ", kOffset8Min));
  }
  if (descriptor.len8 < descriptor.offset8) {
    return absl::DataLossError(
        absl::StrCat("len8=", descriptor.len8, " below offset8=", descriptor.offset8));
  }
  const uint64_t needed_bytes = uint64_t{descriptor.len8} * 8 + kTrailerSizeBytes;
  if (needed_bytes > available_bytes) {
    return absl::DataLossError(absl::StrCat("len8=", descriptor.len8, " needs ", needed_bytes,
                                            " bytes with trailer but only ", available_bytes,
                                            " available"));
  }
  return absl::OkStatus();
}

absl::Span<const uint8_t> ParsedPacket::range_bytes() const {
  if (type() != PacketType::kDataUsingXferPages && type() != PacketType::kDataUsingGpaDirect) {
    return {};
  }
  VMBSIM_CHECK_GE(descriptor.offset8, kExtendedOffset8Min);  // As parsed.
  return absl::MakeConstSpan(bytes + kRangesStartBytes,
                             uint32_t{descriptor.offset8} * 8 - kRangesStartBytes);
}

std::vector<TransferPageRange> ParsedPacket::TransferPageRanges() const {
  std::vector<TransferPageRange> ranges;
  if (type() != PacketType::kDataUsingXferPages) return ranges;
  const absl::Span<const uint8_t> range_bytes = this->range_bytes();
  VMBSIM_CHECK_LE(uint64_t{range_count} * sizeof(TransferPageRange), range_bytes.size());
  ranges.resize(range_count);
  const uint8_t* at = range_bytes.data();
  for (TransferPageRange& range : ranges) {
    range.byte_count = LoadLe32(at + offsetof(TransferPageRange, byte_count));
    range.byte_offset = LoadLe32(at + offsetof(TransferPageRange, byte_offset));
    at += sizeof(TransferPageRange);
  }
  return ranges;
}

std::vector<GpaRange> ParsedPacket::GpaRanges() const {
  std::vector<GpaRange> ranges;
  if (type() != PacketType::kDataUsingGpaDirect) return ranges;
  const absl::Span<const uint8_t> range_bytes = this->range_bytes();
  ranges.resize(range_count);
  size_t at_bytes = 0;
  // The parser proved that every range, with all its PFNs, lies inside
  // `range_bytes`; the checks below pair with its checks.
  for (GpaRange& range : ranges) {
    VMBSIM_CHECK_LE(at_bytes + sizeof(GpaRangeHeader), range_bytes.size());
    range.byte_count =
        LoadLe32(range_bytes.data() + at_bytes + offsetof(GpaRangeHeader, byte_count));
    range.byte_offset =
        LoadLe32(range_bytes.data() + at_bytes + offsetof(GpaRangeHeader, byte_offset));
    at_bytes += sizeof(GpaRangeHeader);
    const uint64_t pfn_count = GpaRangePfnCount(range.byte_offset, range.byte_count);
    VMBSIM_CHECK_LE(at_bytes + pfn_count * kPfnSizeBytes, range_bytes.size());
    range.pfns.resize(pfn_count);
    for (uint64_t& pfn : range.pfns) {
      pfn = LoadLe64(range_bytes.data() + at_bytes);
      at_bytes += kPfnSizeBytes;
    }
  }
  return ranges;
}

namespace packet_format_internal {

absl::StatusOr<ParsedPacket> ParsePacketContentsSlow(const PacketDescriptor& descriptor,
                                                     absl::Span<const uint8_t> packet_bytes,
                                                     PacketTypeSet accepted_types) {
  VMBSIM_CHECK_GE(descriptor.offset8, kOffset8Min);
  VMBSIM_CHECK_GE(descriptor.len8, descriptor.offset8);
  const uint32_t packet_size_bytes = uint32_t{descriptor.len8} * 8;
  VMBSIM_CHECK_GE(packet_bytes.size(), packet_size_bytes);

  if (!accepted_types.Contains(descriptor.type)) {
    return absl::DataLossError(
        absl::StrCat("type=0x", absl::Hex(descriptor.type), " not in the accepted set"));
  }
  if ((descriptor.flags & ~kCompletionRequestedFlag) != 0) {
    return absl::DataLossError(absl::StrCat("flags=0x", absl::Hex(descriptor.flags),
                                            " has bits other than completion-requested 0x1"));
  }

  const uint32_t header_size_bytes = uint32_t{descriptor.offset8} * 8;
  ParsedPacket parsed;
  parsed.descriptor = descriptor;
  parsed.bytes = packet_bytes.data();

  const PacketType type = static_cast<PacketType>(descriptor.type);
  if (type != PacketType::kDataUsingXferPages && type != PacketType::kDataUsingGpaDirect) {
    return parsed;
  }

  // Both typed headers: offset8 >= 3 and ranges in [24, offset8 * 8).
  //
  //   |descriptor 16|typed header 8|ranges ........|payload ...|
  //   0             16             24               offset8*8
  if (descriptor.offset8 < kExtendedOffset8Min) {
    return absl::DataLossError(absl::StrCat("offset8=", descriptor.offset8, " below minimum ",
                                            kExtendedOffset8Min, " for type=0x",
                                            absl::Hex(descriptor.type)));
  }
  const uint8_t* bytes = packet_bytes.data();
  const uint32_t range_cnt = LoadLe32(bytes + kRangeCntAtBytes);
  const uint32_t ranges_room_bytes = header_size_bytes - kRangesStartBytes;
  parsed.range_count = range_cnt;

  if (type == PacketType::kDataUsingXferPages) {
    const uint8_t* header = bytes + kDescriptorSizeBytes;
    parsed.xfer_pageset_id = LoadLe16(header + offsetof(TransferPageHeader, xfer_pageset_id));
    parsed.sender_owns_set = header[offsetof(TransferPageHeader, sender_owns_set)];
    const uint64_t ranges_size_bytes = uint64_t{range_cnt} * sizeof(TransferPageRange);
    if (ranges_size_bytes > ranges_room_bytes) {
      return absl::DataLossError(
          absl::StrCat("range_cnt=", range_cnt, " needs ", ranges_size_bytes,
                       " bytes of ranges but offset8*8-24=", ranges_room_bytes));
    }
    return parsed;
  }

  // GPA direct.
  if (range_cnt == 0) {
    return absl::DataLossError("range_cnt=0 below minimum 1");
  }
  // Every range takes at least 16 bytes, which also bounds the loop below.
  const uint64_t ranges_size_bytes_min = uint64_t{range_cnt} * kGpaRangeSizeBytesMin;
  if (ranges_size_bytes_min > ranges_room_bytes) {
    return absl::DataLossError(
        absl::StrCat("range_cnt=", range_cnt, " needs at least ", ranges_size_bytes_min,
                     " bytes of ranges but offset8*8-24=", ranges_room_bytes));
  }
  uint64_t at_bytes = kRangesStartBytes;
  for (uint32_t range_index = 0; range_index < range_cnt; ++range_index) {
    if (at_bytes + sizeof(GpaRangeHeader) > header_size_bytes) {
      return absl::DataLossError(
          absl::StrCat("gpa_range[", range_index, "] at byte ", at_bytes,
                       " does not fit before offset8*8=", header_size_bytes));
    }
    const uint32_t byte_count = LoadLe32(bytes + at_bytes + offsetof(GpaRangeHeader, byte_count));
    const uint32_t byte_offset = LoadLe32(bytes + at_bytes + offsetof(GpaRangeHeader, byte_offset));
    at_bytes += sizeof(GpaRangeHeader);
    if (byte_count == 0) {
      return absl::DataLossError(
          absl::StrCat("gpa_range[", range_index, "].byte_count=0 below minimum 1"));
    }
    if (byte_offset >= kGpaRangeByteOffsetLimit) {
      return absl::DataLossError(absl::StrCat("gpa_range[", range_index,
                                              "].byte_offset=", byte_offset, " not below ",
                                              kGpaRangeByteOffsetLimit));
    }
    // OpenVMM and Linux round up in 32 bits; a sum that wraps there is
    // corruption, even though the 64-bit arithmetic here would not wrap.
    const uint64_t end_rounded_bytes = uint64_t{byte_offset} + byte_count + (kPageSizeBytes - 1);
    if (end_rounded_bytes > std::numeric_limits<uint32_t>::max()) {
      return absl::DataLossError(absl::StrCat("gpa_range[", range_index,
                                              "].byte_offset+byte_count+4095=", end_rounded_bytes,
                                              " overflows u32"));
    }
    const uint64_t pfn_count = GpaRangePfnCount(byte_offset, byte_count);
    if (at_bytes + pfn_count * kPfnSizeBytes > header_size_bytes) {
      return absl::DataLossError(absl::StrCat("gpa_range[", range_index, "] needs ", pfn_count,
                                              " pfns at byte ", at_bytes,
                                              " but offset8*8=", header_size_bytes));
    }
    at_bytes += pfn_count * kPfnSizeBytes;
  }
  VMBSIM_CHECK_LE(at_bytes, header_size_bytes);  // Paired with each fit check.
  return parsed;
}

}  // namespace packet_format_internal

absl::StatusOr<ParsedPacket> ParsePacket(absl::Span<const uint8_t> ring_bytes,
                                         PacketTypeSet accepted_types) {
  if (ring_bytes.size() < kDescriptorSizeBytes) {
    return absl::DataLossError(absl::StrCat("available=", ring_bytes.size(),
                                            " below descriptor size ", kDescriptorSizeBytes));
  }
  const PacketDescriptor descriptor = DecodeDescriptor(ring_bytes.data());
  VMBSIM_RETURN_IF_ERROR(CheckDescriptorLengths(descriptor, ring_bytes.size()));
  return ParsePacketContents(descriptor, ring_bytes.first(uint32_t{descriptor.len8} * 8),
                             accepted_types);
}

}  // namespace vmbsim::fabric
