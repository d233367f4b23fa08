#include "sim/fabric/gpadl_messages.h"

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "sim/check.h"
#include "sim/fabric/ring_layout.h"  // GpaRangeHeader, kGpaRangeByteOffsetLimit, LoadLe64

namespace vmbsim::fabric {
namespace {

// A gpa_range head {u32 byte_count; u32 byte_offset} as the u64 granule it
// occupies in the stream (little-endian: byte_count is the low half).
static_assert(sizeof(GpaRangeHeader) == sizeof(uint64_t));
static_assert(offsetof(GpaRangeHeader, byte_count) == 0 && offsetof(GpaRangeHeader, byte_offset) == 4);

constexpr uint64_t RangeHeadWord(uint32_t byte_count, uint32_t byte_offset) {
  return uint64_t{byte_count} | uint64_t{byte_offset} << 32;
}

// The smallest range: its head and one PFN (byte_count > 0).
constexpr uint32_t kRangeBytesMin = 16;

std::string Name(uint32_t gpadl) { return absl::StrCat("gpadl ", gpadl); }

}  // namespace

// ---------------------------------------------------------------------------
// Guest side.

absl::StatusOr<std::vector<ChannelMessage>> SplitGpadl(uint32_t child_relid, uint32_t gpadl_id,
                                                       absl::Span<const GpaRange> ranges) {
  if (ranges.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Name(gpadl_id), ": no ranges (rangecount=0 below minimum 1)"));
  }
  uint64_t range_buflen = 0;  // Wide: the sum is checked against the u16 below.
  for (size_t i = 0; i < ranges.size(); ++i) {
    const GpaRange& range = ranges[i];
    if (range.byte_count == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(Name(gpadl_id), ": range[", i, "].byte_count=0 below minimum 1"));
    }
    if (range.byte_offset >= kGpaRangeByteOffsetLimit) {
      return absl::InvalidArgumentError(absl::StrCat(Name(gpadl_id), ": range[", i,
                                                     "].byte_offset=", range.byte_offset,
                                                     " not below ", kGpaRangeByteOffsetLimit));
    }
    const uint64_t pfn_count = GpaRangePfnCount(range.byte_offset, range.byte_count);
    if (range.pfns.size() != pfn_count) {
      return absl::InvalidArgumentError(absl::StrCat(
          Name(gpadl_id), ": range[", i, "] has ", range.pfns.size(), " pfns but byte_offset=",
          range.byte_offset, " byte_count=", range.byte_count, " needs ", pfn_count));
    }
    range_buflen += sizeof(uint64_t) * (1 + pfn_count);
    // Bail out early so that the sum cannot grow without bound.
    if (range_buflen > kGpadlRangeBuflenMax) {
      return absl::InvalidArgumentError(absl::StrCat(
          Name(gpadl_id), ": range_buflen=", range_buflen, " (after range[", i,
          "]) above maximum ", kGpadlRangeBuflenMax, " (u16; one range holds at most ",
          kGpadlSingleRangePagesMax, " pages)"));
    }
  }
  VMBSIM_CHECK_LE(ranges.size(), range_buflen / kRangeBytesMin);  // So rangecount fits too.

  // The stream of u64 granules: each range's head, then its PFNs.
  std::vector<uint64_t> stream;
  stream.reserve(range_buflen / 8);
  for (const GpaRange& range : ranges) {
    stream.push_back(RangeHeadWord(range.byte_count, range.byte_offset));
    stream.insert(stream.end(), range.pfns.begin(), range.pfns.end());
  }
  VMBSIM_CHECK_EQ(stream.size() * 8, range_buflen);

  std::vector<ChannelMessage> messages;
  messages.reserve(GpadlMessageCount(static_cast<uint32_t>(range_buflen)));
  GpadlHeader header;
  header.child_relid = child_relid;
  header.gpadl = gpadl_id;
  header.range_buflen = static_cast<uint16_t>(range_buflen);
  header.rangecount = static_cast<uint16_t>(ranges.size());
  const size_t header_u64_count = std::min<size_t>(stream.size(), kGpadlHeaderDataU64Max);
  header.range_data.resize(header_u64_count * 8);
  for (size_t i = 0; i < header_u64_count; ++i) {
    StoreLe64(header.range_data.data() + 8 * i, stream[i]);
  }
  messages.push_back(std::move(header));
  for (size_t next = header_u64_count; next < stream.size(); next += kGpadlBodyDataU64Max) {
    const size_t end = std::min<size_t>(stream.size(), next + kGpadlBodyDataU64Max);
    GpadlBody body;
    body.gpadl = gpadl_id;
    body.pfns.assign(stream.begin() + next, stream.begin() + end);
    messages.push_back(std::move(body));
  }
  VMBSIM_CHECK_EQ(messages.size(), GpadlMessageCount(static_cast<uint32_t>(range_buflen)));
  return messages;
}

// ---------------------------------------------------------------------------
// Host side.

GpadlAssembler::GpadlAssembler(size_t gpadls_max) : gpadls_max_(gpadls_max) {
  VMBSIM_CHECK_GT(gpadls_max_, 0u);
}

absl::Status GpadlAssembler::Append(uint32_t gpadl, const char* message_name,
                                    absl::Span<const uint64_t> values, size_t carried_bytes,
                                    bool full_size, Pending& pending) {
  VMBSIM_CHECK_EQ(values.size(), carried_bytes / 8);
  const size_t received_bytes = pending.data.size() * 8;
  VMBSIM_CHECK_LE(received_bytes, pending.range_buflen);  // Paired with the trim below.
  const size_t missing_bytes = pending.range_buflen - received_bytes;
  if (!full_size && carried_bytes % 8 != 0) {
    return absl::DataLossError(absl::StrCat(Name(gpadl), ": ", message_name, " carries ",
                                            carried_bytes,
                                            " bytes of range data, not a multiple of 8"));
  }
  size_t take_u64_count = values.size();
  if (take_u64_count * 8 > missing_bytes) {
    // Only a full-size message may overshoot: its sender pads every message
    // to 240 bytes (OpenVMM comment on UEFI), so its tail is not data.
    if (!full_size) {
      return absl::DataLossError(absl::StrCat(
          Name(gpadl), ": ", message_name, " carries ", take_u64_count * 8,
          " bytes of range data but only ", missing_bytes, " of range_buflen=",
          pending.range_buflen, " are missing (only a full 240-byte message may carry more)"));
    }
    take_u64_count = missing_bytes / 8;
  }
  pending.data.insert(pending.data.end(), values.begin(), values.begin() + take_u64_count);
  VMBSIM_CHECK_LE(pending.data.size() * 8, pending.range_buflen);
  return absl::OkStatus();
}

absl::StatusOr<bool> GpadlAssembler::AddHeader(const GpadlHeader& header) {
  const uint32_t gpadl = header.gpadl;
  if (const auto it = gpadls_.find(gpadl); it != gpadls_.end()) {
    return absl::InvalidArgumentError(absl::StrCat("GPADL_HEADER: ", Name(gpadl),
                                                   " already held (channel ",
                                                   it->second.child_relid, ")"));
  }
  if (gpadls_.size() >= gpadls_max_) {
    return absl::ResourceExhaustedError(absl::StrCat("GPADL_HEADER: ", Name(gpadl), ": ",
                                                     gpadls_.size(),
                                                     " GPADLs already held, maximum ",
                                                     gpadls_max_));
  }
  if (header.rangecount == 0) {
    return absl::DataLossError(
        absl::StrCat("GPADL_HEADER: ", Name(gpadl), ": rangecount=0 below minimum 1"));
  }
  if (header.range_buflen % 8 != 0) {
    return absl::DataLossError(absl::StrCat("GPADL_HEADER: ", Name(gpadl), ": range_buflen=",
                                            header.range_buflen, " not a multiple of 8"));
  }
  if (header.range_buflen < kRangeBytesMin) {
    return absl::DataLossError(absl::StrCat("GPADL_HEADER: ", Name(gpadl), ": range_buflen=",
                                            header.range_buflen, " below minimum ",
                                            kRangeBytesMin, " (one range head and one pfn)"));
  }
  VMBSIM_CHECK_LE(header.range_data.size(), GpadlHeader::kRangeDataBytesMax);  // Decode's bound.

  std::vector<uint64_t> values(header.range_data.size() / 8);
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = LoadLe64(header.range_data.data() + 8 * i);
  }
  Pending pending;
  pending.child_relid = header.child_relid;
  pending.range_buflen = header.range_buflen;
  pending.rangecount = header.rangecount;
  pending.data.reserve(header.range_buflen / 8);
  const bool full_size = header.range_data.size() == GpadlHeader::kRangeDataBytesMax;
  VMBSIM_RETURN_IF_ERROR(
      Append(gpadl, "GPADL_HEADER", values, header.range_data.size(), full_size, pending));
  const bool complete = pending.data.size() * 8 == pending.range_buflen;
  gpadls_.emplace(gpadl, std::move(pending));
  return complete;
}

absl::StatusOr<bool> GpadlAssembler::AddBody(const GpadlBody& body) {
  const auto it = gpadls_.find(body.gpadl);
  if (it == gpadls_.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("GPADL_BODY: ", Name(body.gpadl), " unknown (no GPADL_HEADER held)"));
  }
  Pending& pending = it->second;
  if (pending.data.size() * 8 == pending.range_buflen) {
    absl::Status excess = absl::DataLossError(
        absl::StrCat("GPADL_BODY: ", Name(body.gpadl), ": all range_buflen=",
                     pending.range_buflen, " bytes already arrived; body carries ",
                     body.pfns.size() * 8, " more"));
    gpadls_.erase(it);  // Invalidates `pending`.
    return excess;
  }
  VMBSIM_CHECK_LE(body.pfns.size(), GpadlBody::kPfnsMax);  // Decode's bound.
  const bool full_size = body.pfns.size() == GpadlBody::kPfnsMax;
  const absl::Status appended =
      Append(body.gpadl, "GPADL_BODY", body.pfns, body.pfns.size() * 8, full_size, pending);
  if (!appended.ok()) {
    gpadls_.erase(it);
    return appended;
  }
  return pending.data.size() * 8 == pending.range_buflen;
}

bool GpadlAssembler::IsComplete(uint32_t gpadl) const {
  const auto it = gpadls_.find(gpadl);
  return it != gpadls_.end() && it->second.data.size() * 8 == it->second.range_buflen;
}

std::optional<uint32_t> GpadlAssembler::ChildRelidOf(uint32_t gpadl) const {
  const auto it = gpadls_.find(gpadl);
  if (it == gpadls_.end()) return std::nullopt;
  return it->second.child_relid;
}

bool GpadlAssembler::Discard(uint32_t gpadl) { return gpadls_.erase(gpadl) > 0; }

absl::StatusOr<std::vector<GpaRange>> GpadlAssembler::Finish(uint32_t gpadl) {
  VMBSIM_CHECK_MSG(IsComplete(gpadl), Name(gpadl));
  const auto node = gpadls_.extract(gpadl);  // Not held after this, whatever the outcome.
  const Pending& pending = node.mapped();
  const std::vector<uint64_t>& data = pending.data;
  VMBSIM_CHECK_EQ(data.size() * 8, pending.range_buflen);

  // Walk the stream: |head|pfn...|head|pfn...|, one head per range. Every
  // count below is a u64 index into `data`, compared before it is advanced,
  // so no sum can overflow.
  std::vector<GpaRange> ranges;
  ranges.reserve(pending.rangecount);
  size_t next = 0;
  for (uint32_t i = 0; i < pending.rangecount; ++i) {
    if (next >= data.size()) {
      return absl::DataLossError(absl::StrCat(
          Name(gpadl), ": range[", i, "] head missing: range_buflen=", pending.range_buflen,
          " ends after ", i, " of rangecount=", pending.rangecount, " ranges"));
    }
    GpaRange range;
    range.byte_count = static_cast<uint32_t>(data[next]);
    range.byte_offset = static_cast<uint32_t>(data[next] >> 32);
    ++next;
    if (range.byte_count == 0) {
      return absl::DataLossError(
          absl::StrCat(Name(gpadl), ": range[", i, "].byte_count=0 below minimum 1"));
    }
    if (range.byte_offset >= kGpaRangeByteOffsetLimit) {
      return absl::DataLossError(absl::StrCat(Name(gpadl), ": range[", i,
                                              "].byte_offset=", range.byte_offset, " not below ",
                                              kGpaRangeByteOffsetLimit));
    }
    const uint64_t pfn_count = GpaRangePfnCount(range.byte_offset, range.byte_count);
    const size_t left_u64_count = data.size() - next;
    if (pfn_count > left_u64_count) {
      return absl::DataLossError(absl::StrCat(
          Name(gpadl), ": range[", i, "] (byte_offset=", range.byte_offset,
          " byte_count=", range.byte_count, ") needs ", pfn_count, " pfns but only ",
          left_u64_count, " remain in range_buflen=", pending.range_buflen));
    }
    range.pfns.assign(data.begin() + next, data.begin() + next + pfn_count);
    next += pfn_count;
    ranges.push_back(std::move(range));
  }
  if (next != data.size()) {
    return absl::DataLossError(absl::StrCat(Name(gpadl), ": rangecount=", pending.rangecount,
                                            " ranges use ", next * 8, " of range_buflen=",
                                            pending.range_buflen, " bytes"));
  }
  VMBSIM_CHECK_EQ(ranges.size(), pending.rangecount);
  return ranges;
}

}  // namespace vmbsim::fabric
