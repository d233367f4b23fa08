// Goal: size formulas match spec 2.8, outgoing packets encode bit-exactly,
// encode -> parse round-trips every supported type, and every malformed
// header listed in spec 7.1 is DataLoss naming field, value and limit.
// Method: golden byte vectors written by hand from the spec tables, then
// single-field corruptions of valid encodings.
#include "sim/fabric/packet_format.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sim/fabric/ring_layout.h"

namespace vmbsim::fabric {
namespace {

// Adds an 8-byte trailer so that `packet` is what a ring reader would see
// available (the trailer value does not matter to the parser).
std::vector<uint8_t> WithTrailer(std::vector<uint8_t> packet) {
  packet.resize(packet.size() + kTrailerSizeBytes, 0);
  return packet;
}

void ExpectDataLoss(const absl::StatusOr<ParsedPacket>& parsed, const std::string& message) {
  ASSERT_FALSE(parsed.ok()) << "expected: " << message;
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(parsed.status().message().find(message), std::string::npos)
      << "got: " << parsed.status().message() << "\nwant: " << message;
}

TEST(PacketFormatTest, SizeFormulasMatchTheSpec) {
  // Spec 2.8 example: 100-byte in-band payload.
  absl::StatusOr<PacketGeometry> g = GeometryFor(16, 100);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->offset8, 2);
  EXPECT_EQ(g->len8, 15);
  EXPECT_EQ(g->packet_size_bytes, 120u);
  EXPECT_EQ(g->ring_footprint_bytes, 128u);
  EXPECT_EQ(InBandRingFootprintBytes(100), 128u);
  // Spec 1.4 example: 4000-byte payload is 4024 bytes of ring.
  EXPECT_EQ(InBandRingFootprintBytes(4000), 4024u);
  EXPECT_EQ(InBandRingFootprintBytes(0), 24u);
  // Transfer pages: in_band(n) + 8 + 8 * count.
  EXPECT_EQ(TransferPagesRingFootprintBytes(3, 10), 16u + 16 + 8 + 8 + 24);
  const TransferPageRange ranges[3] = {{1, 2}, {3, 4}, {5, 6}};
  const uint8_t payload[10] = {};
  absl::StatusOr<PacketGeometry> t = MeasurePacket(TransferPagesPacket(1, ranges, payload, 7));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->ring_footprint_bytes, TransferPagesRingFootprintBytes(3, 10));
  EXPECT_EQ(t->offset8, (24 + 24) / 8);
  // GPA direct: 16 + 8 + sum(8 + 8 * pfns).
  EXPECT_EQ(GpaRangePfnCount(0, 4096), 1u);
  EXPECT_EQ(GpaRangePfnCount(1, 4096), 2u);
  EXPECT_EQ(GpaRangePfnCount(4095, 0xFFFFFFFF), 0x100001u);  // No overflow.
  const std::vector<GpaRange> gpa = {{100, 4000, {7, 8}}, {8192, 0, {9, 10}}};
  absl::StatusOr<PacketGeometry> d = MeasurePacket(GpaDirectPacket(gpa, {}, 1));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->header_size_bytes, 16u + 8 + (8 + 16) + (8 + 16));
  EXPECT_EQ(d->len8, d->offset8);
}

TEST(PacketFormatTest, GeometryLimits) {
  EXPECT_EQ(GeometryFor(12, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GeometryFor(20, 0).status().code(), absl::StatusCode::kInvalidArgument);
  // len8 = 65535 is the largest packet.
  EXPECT_TRUE(GeometryFor(16, 65535 * 8 - 16).ok());
  EXPECT_EQ(GeometryFor(16, 65535 * 8 - 15).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GeometryFor(16, uint64_t{1} << 63).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PacketFormatTest, InBandEncodingIsBitExact) {
  const uint8_t payload[5] = {0xA, 0xB, 0xC, 0xD, 0xE};
  absl::StatusOr<std::vector<uint8_t>> bytes =
      EncodePacket(InBandPacket(payload, 0x0102030405060708, /*completion_requested=*/true));
  ASSERT_TRUE(bytes.ok());
  // clang-format off
  const std::vector<uint8_t> expected = {
      0x06, 0x00, 0x02, 0x00, 0x03, 0x00, 0x01, 0x00,  // type, offset8, len8, flags
      0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,  // trans_id
      0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0x00, 0x00,  // payload + zero padding
  };
  // clang-format on
  EXPECT_EQ(*bytes, expected);
}

TEST(PacketFormatTest, CompletionEncodingIsBitExact) {
  absl::StatusOr<std::vector<uint8_t>> bytes = EncodePacket(CompletionPacket(42, {}));
  ASSERT_TRUE(bytes.ok());
  // clang-format off
  const std::vector<uint8_t> expected = {
      0x0B, 0x00, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00,
      42,   0,    0,    0,    0,    0,    0,    0,
  };
  // clang-format on
  EXPECT_EQ(*bytes, expected);
}

TEST(PacketFormatTest, TransferPageEncodingIsBitExact) {
  const TransferPageRange ranges[2] = {{0x100, 0x2000}, {0x30, 0x40}};
  const uint8_t payload[3] = {1, 2, 3};
  OutgoingPacket packet = TransferPagesPacket(0xCAFE, ranges, payload, 9);
  packet.sender_owns_set = 1;
  absl::StatusOr<std::vector<uint8_t>> bytes = EncodePacket(packet);
  ASSERT_TRUE(bytes.ok());
  // clang-format off
  const std::vector<uint8_t> expected = {
      0x07, 0x00, 0x05, 0x00, 0x06, 0x00, 0x01, 0x00,  // offset8 5, len8 6
      0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0xFE, 0xCA, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00,  // id, owns, reserved, range_cnt
      0x00, 0x01, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00,  // {0x100, 0x2000}
      0x30, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00,  // {0x30, 0x40}
      0x01, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
  };
  // clang-format on
  EXPECT_EQ(*bytes, expected);
}

TEST(PacketFormatTest, GpaDirectEncodingIsBitExact) {
  const std::vector<GpaRange> ranges = {{0x8, 0xFF8, {0x1234}}, {0x1000, 0x800, {0xA, 0xB}}};
  absl::StatusOr<std::vector<uint8_t>> bytes = EncodePacket(GpaDirectPacket(ranges, {}, 0x77));
  ASSERT_TRUE(bytes.ok());
  // clang-format off
  const std::vector<uint8_t> expected = {
      0x09, 0x00, 0x08, 0x00, 0x08, 0x00, 0x01, 0x00,  // offset8 = len8 = 8
      0x77, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,  // reserved, range_cnt 2
      0x08, 0x00, 0x00, 0x00, 0xF8, 0x0F, 0x00, 0x00,  // byte_count, byte_offset
      0x34, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // pfn
      0x00, 0x10, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00,
      0x0A, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x0B, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  };
  // clang-format on
  EXPECT_EQ(*bytes, expected);
}

TEST(PacketFormatTest, MalformedOutgoingPacketsAreInvalidArgument) {
  const uint8_t payload[4] = {};
  OutgoingPacket bad_type = InBandPacket(payload, 1, false);
  bad_type.type = PacketType::kDataUsingGpadl;
  EXPECT_EQ(MeasurePacket(bad_type).status().code(), absl::StatusCode::kInvalidArgument);

  OutgoingPacket bad_flags = InBandPacket(payload, 1, false);
  bad_flags.flags = 2;
  EXPECT_EQ(MeasurePacket(bad_flags).status().code(), absl::StatusCode::kInvalidArgument);

  const std::vector<GpaRange> wrong_pfns = {{4097, 0, {1}}};  // Needs 2.
  const absl::Status pfns = MeasurePacket(GpaDirectPacket(wrong_pfns, {}, 1)).status();
  EXPECT_EQ(pfns.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(pfns.message().find("needs 2"), std::string::npos) << pfns.message();

  const std::vector<GpaRange> empty_range = {{0, 0, {}}};
  EXPECT_EQ(MeasurePacket(GpaDirectPacket(empty_range, {}, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::vector<GpaRange> big_offset = {{1, 4096, {1, 2}}};
  EXPECT_EQ(MeasurePacket(GpaDirectPacket(big_offset, {}, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MeasurePacket(GpaDirectPacket({}, {}, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);

  OutgoingPacket mixed = InBandPacket(payload, 1, false);
  mixed.gpa_ranges = empty_range;
  EXPECT_EQ(MeasurePacket(mixed).status().code(), absl::StatusCode::kInvalidArgument);
}

// Each supported type survives encode -> parse with every field intact.
TEST(PacketFormatTest, RoundTripEveryType) {
  const uint8_t payload[11] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

  absl::StatusOr<std::vector<uint8_t>> in_band =
      EncodePacket(InBandPacket(payload, 5, /*completion_requested=*/false));
  ASSERT_TRUE(in_band.ok());
  std::vector<uint8_t> ring = WithTrailer(*in_band);
  absl::StatusOr<ParsedPacket> p = ParsePacket(ring);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->type(), PacketType::kDataInband);
  EXPECT_FALSE(p->completion_requested());
  EXPECT_EQ(p->descriptor.trans_id, 5u);
  ASSERT_EQ(p->payload().size(), 16u);  // 11 bytes + 5 padding.
  for (int i = 0; i < 11; ++i) EXPECT_EQ(p->payload()[i], payload[i]);
  for (int i = 11; i < 16; ++i) EXPECT_EQ(p->payload()[i], 0);
  EXPECT_EQ(p->ring_footprint_bytes(), InBandRingFootprintBytes(11));

  const TransferPageRange ranges[2] = {{10, 20}, {30, 40}};
  OutgoingPacket xfer = TransferPagesPacket(0xCAFE, ranges, payload, 6);
  xfer.sender_owns_set = 1;
  ring = WithTrailer(*EncodePacket(xfer));
  p = ParsePacket(ring);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->type(), PacketType::kDataUsingXferPages);
  EXPECT_TRUE(p->completion_requested());
  EXPECT_EQ(p->xfer_pageset_id, 0xCAFE);
  EXPECT_EQ(p->sender_owns_set, 1);
  EXPECT_EQ(p->TransferPageRanges(), std::vector<TransferPageRange>(ranges, ranges + 2));
  EXPECT_EQ(p->payload()[10], 11);

  const std::vector<GpaRange> gpa = {{5000, 100, {1, 2}}, {1, 4095, {3}}};
  ring = WithTrailer(*EncodePacket(GpaDirectPacket(gpa, payload, 7)));
  p = ParsePacket(ring);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->type(), PacketType::kDataUsingGpaDirect);
  EXPECT_EQ(p->GpaRanges(), gpa);
  EXPECT_TRUE(p->TransferPageRanges().empty());
  EXPECT_EQ(p->payload()[0], 1);

  ring = WithTrailer(*EncodePacket(CompletionPacket(8, payload)));
  p = ParsePacket(ring);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->type(), PacketType::kComp);
  EXPECT_EQ(p->descriptor.trans_id, 8u);
}

// Returns an encoded in-band packet (with trailer) of `payload_size_bytes`.
std::vector<uint8_t> InBandRing(size_t payload_size_bytes) {
  std::vector<uint8_t> payload(payload_size_bytes, 0x5A);
  return WithTrailer(*EncodePacket(InBandPacket(payload, 1, false)));
}

TEST(PacketFormatTest, DescriptorLengthViolations) {
  std::vector<uint8_t> ring = InBandRing(24);  // len8 = 5, 48 bytes with trailer.

  StoreLe16(ring.data() + 2, 1);
  ExpectDataLoss(ParsePacket(ring), "offset8=1 below minimum 2");
  StoreLe16(ring.data() + 2, 0);
  ExpectDataLoss(ParsePacket(ring), "offset8=0 below minimum 2");

  StoreLe16(ring.data() + 2, 6);  // offset8 > len8 = 5.
  ExpectDataLoss(ParsePacket(ring), "len8=5 below offset8=6");

  StoreLe16(ring.data() + 2, 2);
  StoreLe16(ring.data() + 4, 6);  // 6 * 8 + 8 = 56 > 48.
  ExpectDataLoss(ParsePacket(ring), "len8=6 needs 56 bytes with trailer but only 48 available");
  StoreLe16(ring.data() + 4, 0xFFFF);
  ExpectDataLoss(ParsePacket(ring), "len8=65535 needs 524288 bytes");

  // Exactly enough is fine; the trailer must be there though.
  StoreLe16(ring.data() + 4, 5);
  EXPECT_TRUE(ParsePacket(ring).ok());
  ExpectDataLoss(ParsePacket(absl::MakeConstSpan(ring).first(47)),
                 "len8=5 needs 48 bytes with trailer but only 47 available");
  ExpectDataLoss(ParsePacket(absl::MakeConstSpan(ring).first(15)),
                 "available=15 below descriptor size 16");
}

TEST(PacketFormatTest, TypeAndFlagViolations) {
  std::vector<uint8_t> ring = InBandRing(8);
  for (uint16_t type : {0x0, 0x1, 0x5, 0x8, 0xA, 0xC, 0xD, 0xE, 0x20, 0xFFFF}) {
    StoreLe16(ring.data(), type);
    ExpectDataLoss(ParsePacket(ring), "type=0x" + std::string(absl::StrCat(absl::Hex(type))) +
                                          " not in the accepted set");
  }
  // The accepted set is configurable both ways.
  StoreLe16(ring.data(), 0x8);
  EXPECT_TRUE(ParsePacket(ring, PacketTypeSet::Default().With(PacketType::kDataUsingGpadl)).ok());
  StoreLe16(ring.data(), 0x6);
  ExpectDataLoss(ParsePacket(ring, PacketTypeSet::Default().Without(PacketType::kDataInband)),
                 "type=0x6 not in the accepted set");
  EXPECT_TRUE(ParsePacket(ring).ok());

  for (uint16_t flags : {0x2, 0x3, 0x8000}) {
    StoreLe16(ring.data() + 6, flags);
    ExpectDataLoss(ParsePacket(ring), "flags=0x" + std::string(absl::StrCat(absl::Hex(flags))) +
                                          " has bits other than completion-requested 0x1");
  }
  StoreLe16(ring.data() + 6, 1);
  EXPECT_TRUE(ParsePacket(ring).ok());
}

// OpenVMM `test_malformed_gpa_direct_packet` / `_transfer_page_packet`:
// offset8 = 2 with len8 = 3 leaves no room for the typed header.
TEST(PacketFormatTest, TypedPacketWithOffset8TwoIsRejected) {
  for (uint16_t type : {0x7, 0x9}) {
    std::vector<uint8_t> ring(3 * 8 + 8, 0);
    EncodeDescriptor(PacketDescriptor{type, 2, 3, kCompletionRequestedFlag, 1}, ring.data());
    ExpectDataLoss(ParsePacket(ring), "offset8=2 below minimum 3 for type=0x" +
                                          std::string(absl::StrCat(absl::Hex(type))));
  }
}

TEST(PacketFormatTest, GpaDirectViolations) {
  const std::vector<GpaRange> gpa = {{4000, 200, {1, 2}}, {1, 0, {3}}};
  const std::vector<uint8_t> good = WithTrailer(*EncodePacket(GpaDirectPacket(gpa, {}, 1)));
  ASSERT_TRUE(ParsePacket(good).ok());
  // Layout: range_cnt at 20; range 0 head at 24, pfns at 32, 40; range 1 head
  // at 48, pfn at 56; offset8 = 8 (64 bytes).
  std::vector<uint8_t> ring = good;
  StoreLe32(ring.data() + 20, 0);
  ExpectDataLoss(ParsePacket(ring), "range_cnt=0 below minimum 1");
  StoreLe32(ring.data() + 20, 3);  // 3 * 16 = 48 > 40 bytes of room.
  ExpectDataLoss(ParsePacket(ring),
                 "range_cnt=3 needs at least 48 bytes of ranges but offset8*8-24=40");
  StoreLe32(ring.data() + 20, 0xFFFFFFFF);
  ExpectDataLoss(ParsePacket(ring), "range_cnt=4294967295 needs at least");

  ring = good;
  StoreLe32(ring.data() + 48, 0);
  ExpectDataLoss(ParsePacket(ring), "gpa_range[1].byte_count=0 below minimum 1");
  ring = good;
  StoreLe32(ring.data() + 52, 4096);
  ExpectDataLoss(ParsePacket(ring), "gpa_range[1].byte_offset=4096 not below 4096");
  ring = good;
  StoreLe32(ring.data() + 24, 16384);  // Now needs 5 pfns: 32 + 40 > 64.
  ExpectDataLoss(ParsePacket(ring), "gpa_range[0] needs 5 pfns at byte 32 but offset8*8=64");
  ring = good;
  StoreLe32(ring.data() + 48, 0xFFFFF001);  // + 4095 + offset overflows u32.
  StoreLe32(ring.data() + 52, 1);
  ExpectDataLoss(ParsePacket(ring),
                 "gpa_range[1].byte_offset+byte_count+4095=4294967297 overflows u32");

  // Ranges fit the minimum-size test but the second range's head runs past
  // offset8*8: two ranges, the first of which takes 3 pfns.
  const std::vector<GpaRange> wide = {{1, 0, {1}}, {1, 0, {2}}};
  ring = WithTrailer(*EncodePacket(GpaDirectPacket(wide, {}, 1)));  // offset8 = 7.
  StoreLe32(ring.data() + 24, 8192);  // Range 0 now needs 2 pfns: 24+8+16=48 <= 56.
  ExpectDataLoss(ParsePacket(ring), "gpa_range[1] needs 1 pfns at byte 56 but offset8*8=56");
  StoreLe32(ring.data() + 24, 3 * 4096);  // Needs 3: 32 + 24 = 56, then head at 56.
  ExpectDataLoss(ParsePacket(ring), "gpa_range[1] at byte 56 does not fit before offset8*8=56");
}

TEST(PacketFormatTest, TransferPageViolations) {
  const TransferPageRange ranges[2] = {{1, 2}, {3, 4}};
  const std::vector<uint8_t> good =
      WithTrailer(*EncodePacket(TransferPagesPacket(1, ranges, {}, 1)));
  ASSERT_TRUE(ParsePacket(good).ok());
  std::vector<uint8_t> ring = good;
  StoreLe32(ring.data() + 20, 3);  // 24 bytes of ranges in 16 bytes of room.
  ExpectDataLoss(ParsePacket(ring), "range_cnt=3 needs 24 bytes of ranges but offset8*8-24=16");
  StoreLe32(ring.data() + 20, 0x20000000);  // 2^32 bytes: must not wrap.
  ExpectDataLoss(ParsePacket(ring), "range_cnt=536870912 needs 4294967296 bytes");
  // Fewer ranges than room is fine, as is zero.
  StoreLe32(ring.data() + 20, 0);
  absl::StatusOr<ParsedPacket> p = ParsePacket(ring);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->TransferPageRanges().empty());
  EXPECT_TRUE(p->GpaRanges().empty());
}

TEST(PacketFormatTest, PacketTypeSet) {
  const PacketTypeSet set = PacketTypeSet::Default();
  EXPECT_TRUE(set.Contains(0x6));
  EXPECT_TRUE(set.Contains(0x7));
  EXPECT_TRUE(set.Contains(0x9));
  EXPECT_TRUE(set.Contains(0xB));
  for (uint16_t t : {0, 1, 2, 3, 4, 5, 8, 10, 12, 13, 14, 31, 32, 0xFFFF}) {
    EXPECT_FALSE(set.Contains(t)) << t;
  }
  EXPECT_FALSE(PacketTypeSet::None().Contains(6));
  EXPECT_EQ(PacketTypeSet::None().With(PacketType::kComp).Without(PacketType::kComp),
            PacketTypeSet::None());
}

}  // namespace
}  // namespace vmbsim::fabric
