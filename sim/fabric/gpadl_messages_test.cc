// Goal: GPADLs split into the message counts and sizes of spec 5.2, survive
// split -> encode -> decode -> reassemble unchanged, and the assembler rejects
// malformed or misdirected range data with an error naming what is wrong.
// Method: single-range GPADLs at the page counts where the message count
// changes, multi-range GPADLs with unaligned ranges, and hand-built headers
// and bodies for each malformation.
#include "sim/fabric/gpadl_messages.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sim/fabric/channel_messages.h"
#include "sim/fabric/packet_format.h"

namespace vmbsim::fabric {
namespace {

constexpr uint32_t kRelid = 7;
constexpr uint32_t kGpadl = 0xE1E10;  // Linux's first handle.

// `page_count` whole pages from PFN `first_pfn` on, as Linux describes a
// ring or buffer: one range, byte_offset 0.
GpaRange Pages(uint32_t page_count, uint64_t first_pfn = 0x1000) {
  GpaRange range{page_count * 4096u, 0, {}};
  for (uint32_t i = 0; i < page_count; ++i) range.pfns.push_back(first_pfn + 3 * i);
  return range;
}

// The formula of spec 5.2 for one range of N pages.
uint32_t SpecMessageCount(uint32_t page_count) {
  return 1 + (page_count > 26 ? (page_count - 26 + 27) / 28 : 0);
}

// Puts `messages` through the wire at Win8 and the assembler. Returns the
// ranges, or the first error.
absl::StatusOr<std::vector<GpaRange>> ThroughTheWire(const std::vector<ChannelMessage>& messages,
                                                     GpadlAssembler& assembler) {
  bool complete = false;
  uint32_t gpadl = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    EXPECT_FALSE(complete) << "complete before message " << i;
    const std::vector<uint8_t> bytes = Encode(messages[i]);
    EXPECT_LE(bytes.size(), kMaxMessagePayloadBytes);
    absl::StatusOr<ChannelMessage> decoded = Decode(bytes, kVersionWin8);
    if (!decoded.ok()) return decoded.status();
    absl::StatusOr<bool> added;
    if (const auto* header = std::get_if<GpadlHeader>(&*decoded)) {
      EXPECT_EQ(i, 0u);
      gpadl = header->gpadl;
      added = assembler.AddHeader(*header);
    } else {
      added = assembler.AddBody(std::get<GpadlBody>(*decoded));
    }
    if (!added.ok()) return added.status();
    complete = *added;
  }
  EXPECT_TRUE(complete);
  EXPECT_TRUE(assembler.IsComplete(gpadl));
  return assembler.Finish(gpadl);
}

void ExpectError(const absl::Status& status, absl::StatusCode code, const std::string& message) {
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_NE(status.message().find(message), std::string::npos)
      << "got: " << status.message() << "\nwant: " << message;
}

GpadlHeader Header(uint16_t range_buflen, uint16_t rangecount, std::vector<uint64_t> data) {
  GpadlHeader header{kRelid, kGpadl, range_buflen, rangecount, {}};
  header.range_data.resize(8 * data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    for (int b = 0; b < 8; ++b) header.range_data[8 * i + b] = static_cast<uint8_t>(data[i] >> 8 * b);
  }
  return header;
}

uint64_t Head(uint32_t byte_count, uint32_t byte_offset) {
  return uint64_t{byte_count} | uint64_t{byte_offset} << 32;
}

TEST(GpadlMessagesTest, SingleRangeMessageCountsFollowTheSpecFormula) {
  for (uint32_t page_count : {1u, 26u, 27u, 54u, 55u, 64u, 8190u}) {
    SCOPED_TRACE(absl::StrCat(page_count, " pages"));
    const std::vector<GpaRange> ranges = {Pages(page_count)};
    absl::StatusOr<std::vector<ChannelMessage>> messages = SplitGpadl(kRelid, kGpadl, ranges);
    ASSERT_TRUE(messages.ok()) << messages.status();
    EXPECT_EQ(messages->size(), SpecMessageCount(page_count));
    EXPECT_EQ(messages->size(), GpadlMessageCount(8 + 8 * page_count));
    const GpadlHeader& header = std::get<GpadlHeader>(messages->front());
    EXPECT_EQ(header.child_relid, kRelid);
    EXPECT_EQ(header.gpadl, kGpadl);
    EXPECT_EQ(header.range_buflen, 8 + 8 * page_count);
    EXPECT_EQ(header.rangecount, 1);
    // The header holds the range head and up to 26 PFNs.
    EXPECT_EQ(header.range_data.size(), 8 * (1 + std::min(page_count, 26u)));
    for (size_t i = 1; i < messages->size(); ++i) {
      const GpadlBody& body = std::get<GpadlBody>((*messages)[i]);
      EXPECT_EQ(body.gpadl, kGpadl);
      EXPECT_EQ(body.msgnumber, 0u);
      if (i + 1 < messages->size()) {
        EXPECT_EQ(body.pfns.size(), 28u);
      }
    }
    GpadlAssembler assembler;
    absl::StatusOr<std::vector<GpaRange>> assembled = ThroughTheWire(*messages, assembler);
    ASSERT_TRUE(assembled.ok()) << assembled.status();
    EXPECT_EQ(*assembled, ranges);
    EXPECT_EQ(assembler.gpadl_count(), 0u);
  }
  // Spec example: a 64-page ring pair is header (26) + 28 + 10.
  absl::StatusOr<std::vector<ChannelMessage>> ring = SplitGpadl(kRelid, kGpadl, {Pages(64)});
  ASSERT_TRUE(ring.ok());
  ASSERT_EQ(ring->size(), 3u);
  EXPECT_EQ(Encode((*ring)[0]).size(), 20u + 8 * 27);
  EXPECT_EQ(std::get<GpadlBody>((*ring)[1]).pfns.size(), 28u);
  EXPECT_EQ(Encode((*ring)[1]).size(), 240u);
  EXPECT_EQ(std::get<GpadlBody>((*ring)[2]).pfns.size(), 10u);
  EXPECT_EQ(std::get<GpadlBody>((*ring)[2]).pfns.back(), Pages(64).pfns.back());
}

TEST(GpadlMessagesTest, SplitRejectsWhatCannotBeDescribed) {
  absl::StatusOr<std::vector<ChannelMessage>> too_big = SplitGpadl(kRelid, kGpadl, {Pages(8191)});
  ASSERT_FALSE(too_big.ok());
  ExpectError(too_big.status(), absl::StatusCode::kInvalidArgument,
              "range_buflen=65536 (after range[0]) above maximum 65535 (u16; one range holds at "
              "most 8190 pages)");
  ExpectError(SplitGpadl(kRelid, kGpadl, {}).status(), absl::StatusCode::kInvalidArgument,
              "no ranges");
  ExpectError(SplitGpadl(kRelid, kGpadl, {GpaRange{0, 0, {1}}}).status(),
              absl::StatusCode::kInvalidArgument, "range[0].byte_count=0 below minimum 1");
  ExpectError(SplitGpadl(kRelid, kGpadl, {Pages(1), GpaRange{10, 4096, {1, 2}}}).status(),
              absl::StatusCode::kInvalidArgument, "range[1].byte_offset=4096 not below 4096");
  ExpectError(SplitGpadl(kRelid, kGpadl, {GpaRange{4096, 1, {1}}}).status(),
              absl::StatusCode::kInvalidArgument,
              "range[0] has 1 pfns but byte_offset=1 byte_count=4096 needs 2");
}

TEST(GpadlMessagesTest, MultiRangeGpadlsRoundTrip) {
  // Unaligned ranges whose heads land in the header and in a body.
  std::vector<GpaRange> gpadl = {
      GpaRange{100, 4000, {0x10, 0x11}},  // Crosses a page: 2 PFNs.
      Pages(30, 0x2000),                  // Runs past the header.
      GpaRange{1, 4095, {0x30}},
      GpaRange{5 * 4096 + 17, 12, {0x40, 0x41, 0x42, 0x43, 0x44, 0x45}},
  };
  ASSERT_EQ(gpadl.back().pfns.size(), GpaRangePfnCount(12, 5 * 4096 + 17));

  absl::StatusOr<std::vector<ChannelMessage>> messages = SplitGpadl(kRelid, kGpadl, gpadl);
  ASSERT_TRUE(messages.ok()) << messages.status();
  const uint32_t range_buflen = 8 * (4 + 2 + 30 + 1 + 6);
  EXPECT_EQ(std::get<GpadlHeader>(messages->front()).range_buflen, range_buflen);
  EXPECT_EQ(std::get<GpadlHeader>(messages->front()).rangecount, 4);
  EXPECT_EQ(messages->size(), GpadlMessageCount(range_buflen));
  GpadlAssembler assembler;
  absl::StatusOr<std::vector<GpaRange>> assembled = ThroughTheWire(*messages, assembler);
  ASSERT_TRUE(assembled.ok()) << assembled.status();
  EXPECT_EQ(*assembled, gpadl);

  // Several GPADLs in progress at once, bodies interleaved, matched by id.
  absl::StatusOr<std::vector<ChannelMessage>> a = SplitGpadl(1, 100, {Pages(60)});
  absl::StatusOr<std::vector<ChannelMessage>> b = SplitGpadl(2, 200, gpadl);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(assembler.AddHeader(std::get<GpadlHeader>((*a)[0])).ok());
  ASSERT_TRUE(assembler.AddHeader(std::get<GpadlHeader>((*b)[0])).ok());
  EXPECT_EQ(assembler.ChildRelidOf(200), 2u);
  for (size_t i = 1; i < std::max(a->size(), b->size()); ++i) {
    if (i < a->size()) {
      ASSERT_TRUE(assembler.AddBody(std::get<GpadlBody>((*a)[i])).ok());
    }
    if (i < b->size()) {
      ASSERT_TRUE(assembler.AddBody(std::get<GpadlBody>((*b)[i])).ok());
    }
  }
  ASSERT_TRUE(assembler.IsComplete(100) && assembler.IsComplete(200));
  EXPECT_EQ(*assembler.Finish(200), gpadl);
  EXPECT_EQ(*assembler.Finish(100), std::vector<GpaRange>{Pages(60)});
  EXPECT_EQ(assembler.gpadl_count(), 0u);
}

TEST(GpadlMessagesTest, FullSizeMessagesAreTrimmed) {
  // A UEFI-style client pads its last body to 240 bytes with garbage.
  absl::StatusOr<std::vector<ChannelMessage>> messages = SplitGpadl(kRelid, kGpadl, {Pages(64)});
  ASSERT_TRUE(messages.ok());
  GpadlBody& last = std::get<GpadlBody>(messages->back());
  ASSERT_EQ(last.pfns.size(), 10u);
  last.pfns.resize(GpadlBody::kPfnsMax, 0xDEADDEADDEADDEAD);
  GpadlAssembler assembler;
  absl::StatusOr<std::vector<GpaRange>> assembled = ThroughTheWire(*messages, assembler);
  ASSERT_TRUE(assembled.ok()) << assembled.status();
  EXPECT_EQ(*assembled, std::vector<GpaRange>{Pages(64)});

  // The same for a header that holds the whole GPADL, sent as 240 bytes.
  absl::StatusOr<std::vector<ChannelMessage>> small = SplitGpadl(kRelid, kGpadl, {Pages(3)});
  ASSERT_TRUE(small.ok());
  GpadlHeader header = std::get<GpadlHeader>(small->front());
  header.range_data.resize(GpadlHeader::kRangeDataBytesMax, 0xEE);
  const absl::StatusOr<ChannelMessage> decoded = Decode(Encode(header), kVersionWin8);
  ASSERT_TRUE(decoded.ok());
  absl::StatusOr<bool> complete = assembler.AddHeader(std::get<GpadlHeader>(*decoded));
  ASSERT_TRUE(complete.ok()) << complete.status();
  EXPECT_TRUE(*complete);
  EXPECT_EQ(*assembler.Finish(kGpadl), std::vector<GpaRange>{Pages(3)});
}

TEST(GpadlMessagesTest, MisdirectedAndExcessMessagesAreRejected) {
  GpadlAssembler assembler;
  // A body whose id has no header.
  ExpectError(assembler.AddBody(GpadlBody{0, 42, {1}}).status(),
              absl::StatusCode::kInvalidArgument, "GPADL_BODY: gpadl 42 unknown");

  absl::StatusOr<std::vector<ChannelMessage>> messages = SplitGpadl(kRelid, kGpadl, {Pages(30)});
  ASSERT_TRUE(messages.ok());
  ASSERT_EQ(messages->size(), 2u);
  const GpadlHeader& header = std::get<GpadlHeader>((*messages)[0]);
  const GpadlBody& body = std::get<GpadlBody>((*messages)[1]);  // 4 PFNs.

  // The same id twice while in progress.
  ASSERT_TRUE(assembler.AddHeader(header).ok());
  ExpectError(assembler.AddHeader(header).status(), absl::StatusCode::kInvalidArgument,
              "GPADL_HEADER: gpadl 925200 already held (channel 7)");

  // A short body with more than the missing bytes: beyond the trimming rule.
  GpadlBody longer = body;
  longer.pfns.push_back(0x99);
  ExpectError(assembler.AddBody(longer).status(), absl::StatusCode::kDataLoss,
              "gpadl 925200: GPADL_BODY carries 40 bytes of range data but only 32 of "
              "range_buflen=248 are missing");
  EXPECT_FALSE(assembler.ChildRelidOf(kGpadl).has_value()) << "discarded";

  // A body after the GPADL is complete.
  ASSERT_TRUE(assembler.AddHeader(header).ok());
  absl::StatusOr<bool> complete = assembler.AddBody(body);
  ASSERT_TRUE(complete.ok() && *complete);
  ExpectError(assembler.AddBody(GpadlBody{0, kGpadl, {5}}).status(), absl::StatusCode::kDataLoss,
              "all range_buflen=248 bytes already arrived; body carries 8 more");
  EXPECT_FALSE(assembler.IsComplete(kGpadl));

  // A header that is not full-size yet carries more than range_buflen, or a
  // partial u64.
  GpadlHeader over = Header(16, 1, {Head(4096, 0), 0x1, 0x2});
  ExpectError(assembler.AddHeader(over).status(), absl::StatusCode::kDataLoss,
              "GPADL_HEADER carries 24 bytes of range data but only 16 of range_buflen=16");
  GpadlHeader partial = Header(24, 1, {Head(8192, 0), 0x1});
  partial.range_data.push_back(0);
  ExpectError(assembler.AddHeader(partial).status(), absl::StatusCode::kDataLoss,
              "carries 17 bytes of range data, not a multiple of 8");
  EXPECT_EQ(assembler.gpadl_count(), 0u);

  // The bound on GPADLs held.
  GpadlAssembler small(2);
  ASSERT_TRUE(small.AddHeader(Header(16 + 8, 1, {})).ok());
  GpadlHeader second = Header(16 + 8, 1, {});
  second.gpadl = kGpadl + 1;
  ASSERT_TRUE(small.AddHeader(second).ok());
  second.gpadl = kGpadl + 2;
  ExpectError(small.AddHeader(second).status(), absl::StatusCode::kResourceExhausted,
              "2 GPADLs already held, maximum 2");
  EXPECT_TRUE(small.Discard(kGpadl));
  EXPECT_FALSE(small.Discard(kGpadl));
  EXPECT_TRUE(small.AddHeader(second).ok());
}

TEST(GpadlMessagesTest, HeaderFieldsAreCheckedOnArrival) {
  GpadlAssembler assembler;
  ExpectError(assembler.AddHeader(Header(16, 0, {Head(1, 0), 1})).status(),
              absl::StatusCode::kDataLoss, "rangecount=0 below minimum 1");
  ExpectError(assembler.AddHeader(Header(20, 1, {})).status(), absl::StatusCode::kDataLoss,
              "range_buflen=20 not a multiple of 8");
  ExpectError(assembler.AddHeader(Header(8, 1, {Head(1, 0)})).status(),
              absl::StatusCode::kDataLoss, "range_buflen=8 below minimum 16");
  EXPECT_EQ(assembler.gpadl_count(), 0u);
}

// Each malformed range stream is assembled completely (the header carries
// all of it), then Finish must name the fault.
struct BadRanges {
  const char* name;
  uint16_t rangecount;
  std::vector<uint64_t> data;
  const char* error;
};

class GpadlBadRangesTest : public testing::TestWithParam<BadRanges> {};

TEST_P(GpadlBadRangesTest, FinishNamesTheFault) {
  const BadRanges& bad = GetParam();
  GpadlAssembler assembler;
  absl::StatusOr<bool> complete = assembler.AddHeader(
      Header(static_cast<uint16_t>(8 * bad.data.size()), bad.rangecount, bad.data));
  ASSERT_TRUE(complete.ok()) << complete.status();
  ASSERT_TRUE(*complete);
  absl::StatusOr<std::vector<GpaRange>> ranges = assembler.Finish(kGpadl);
  ASSERT_FALSE(ranges.ok());
  ExpectError(ranges.status(), absl::StatusCode::kDataLoss, bad.error);
  EXPECT_EQ(assembler.gpadl_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Malformations, GpadlBadRangesTest,
    testing::Values(
        BadRanges{"ZeroByteCount", 1, {Head(0, 0), 1}, "range[0].byte_count=0 below minimum 1"},
        BadRanges{"OffsetTooLarge", 1, {Head(1, 4096), 1},
                  "range[0].byte_offset=4096 not below 4096"},
        BadRanges{"TooFewPfns", 1, {Head(4097, 0), 1},
                  "range[0] (byte_offset=0 byte_count=4097) needs 2 pfns but only 1 remain in "
                  "range_buflen=16"},
        BadRanges{"OffsetPushesIntoNextPage", 1, {Head(4096, 1), 1},
                  "range[0] (byte_offset=1 byte_count=4096) needs 2 pfns"},
        BadRanges{"HugeCountDoesNotOverflow", 1, {Head(0xFFFFFFFF, 4095), 1},
                  "needs 1048577 pfns but only 1 remain"},
        BadRanges{"TooManyU64s", 1, {Head(4096, 0), 1, 2},
                  "rangecount=1 ranges use 16 of range_buflen=24 bytes"},
        BadRanges{"RangecountTooHigh", 2, {Head(4096, 0), 1},
                  "range[1] head missing: range_buflen=16 ends after 1 of rangecount=2 ranges"},
        BadRanges{"RangecountTooLow", 1, {Head(4096, 0), 1, Head(4096, 0), 2},
                  "rangecount=1 ranges use 16 of range_buflen=32 bytes"},
        BadRanges{"SecondRangeBad", 2, {Head(4096, 0), 1, Head(1, 5000), 2},
                  "range[1].byte_offset=5000 not below 4096"}),
    [](const testing::TestParamInfo<BadRanges>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace vmbsim::fabric
