// Goal: the load/store helpers are little-endian and touch exactly the bytes
// of their field, the control words sit at their spec offsets, and the
// descriptor codec is bit-exact. Method: hand-written byte vectors.
#include "sim/fabric/ring_layout.h"

#include <array>
#include <cstdint>

#include "gtest/gtest.h"

namespace vmbsim::fabric {
namespace {

TEST(RingLayoutTest, LittleEndianHelpers) {
  uint8_t bytes[10] = {};
  StoreLe16(bytes, 0x1234);
  StoreLe32(bytes + 2, 0xA1B2C3D4);
  EXPECT_EQ(bytes[0], 0x34);
  EXPECT_EQ(bytes[1], 0x12);
  EXPECT_EQ(bytes[2], 0xD4);
  EXPECT_EQ(bytes[5], 0xA1);
  EXPECT_EQ(bytes[6], 0);
  EXPECT_EQ(LoadLe16(bytes), 0x1234);
  EXPECT_EQ(LoadLe32(bytes + 2), 0xA1B2C3D4u);
  StoreLe64(bytes + 1, 0x0102030405060708);  // Unaligned on purpose.
  EXPECT_EQ(bytes[1], 0x08);
  EXPECT_EQ(bytes[8], 0x01);
  EXPECT_EQ(LoadLe64(bytes + 1), 0x0102030405060708u);
}

TEST(RingLayoutTest, ControlWordsAtSpecOffsets) {
  std::array<uint8_t, kPageSizeBytes> page = {};
  StoreControlWord(page.data(), ControlWord::kWriteIndex, 0x11111111);
  StoreControlWord(page.data(), ControlWord::kReadIndex, 0x22222222);
  StoreControlWord(page.data(), ControlWord::kInterruptMask, 0x33333333);
  StoreControlWord(page.data(), ControlWord::kPendingSendSz, 0x44444444);
  StoreControlWord(page.data(), ControlWord::kFeatureBits, kFeatPendingSendSz);
  EXPECT_EQ(page[0x0], 0x11);
  EXPECT_EQ(page[0x4], 0x22);
  EXPECT_EQ(page[0x8], 0x33);
  EXPECT_EQ(page[0xC], 0x44);
  EXPECT_EQ(page[0xF], 0x44);
  EXPECT_EQ(page[0x10], 0);  // reserved1 untouched.
  EXPECT_EQ(page[0x3F], 0);
  EXPECT_EQ(page[0x40], 1);
  EXPECT_EQ(page[0x41], 0);
  EXPECT_EQ(LoadControlWord(page.data(), ControlWord::kPendingSendSz), 0x44444444u);
}

TEST(RingLayoutTest, DescriptorCodecIsBitExact) {
  const PacketDescriptor d{/*type=*/0x9, /*offset8=*/5, /*len8=*/0x0102,
                           /*flags=*/kCompletionRequestedFlag,
                           /*trans_id=*/0x1122334455667788};
  uint8_t bytes[kDescriptorSizeBytes];
  EncodeDescriptor(d, bytes);
  // clang-format off
  const uint8_t expected[kDescriptorSizeBytes] = {
      0x09, 0x00, 0x05, 0x00, 0x02, 0x01, 0x01, 0x00,
      0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
  };
  // clang-format on
  for (uint32_t i = 0; i < kDescriptorSizeBytes; ++i) EXPECT_EQ(bytes[i], expected[i]) << i;
  const PacketDescriptor back = DecodeDescriptor(bytes);
  EXPECT_EQ(back.type, d.type);
  EXPECT_EQ(back.offset8, d.offset8);
  EXPECT_EQ(back.len8, d.len8);
  EXPECT_EQ(back.flags, d.flags);
  EXPECT_EQ(back.trans_id, d.trans_id);
}

TEST(RingLayoutTest, PacketTypeValues) {
  EXPECT_EQ(static_cast<uint16_t>(PacketType::kDataInband), 0x6);
  EXPECT_EQ(static_cast<uint16_t>(PacketType::kDataUsingXferPages), 0x7);
  EXPECT_EQ(static_cast<uint16_t>(PacketType::kDataUsingGpadl), 0x8);
  EXPECT_EQ(static_cast<uint16_t>(PacketType::kDataUsingGpaDirect), 0x9);
  EXPECT_EQ(static_cast<uint16_t>(PacketType::kComp), 0xB);
  EXPECT_EQ(static_cast<uint16_t>(PacketType::kAdditionalData), 0xD);
  EXPECT_EQ(kExtendedHeaderSizeBytes, 24u);
}

}  // namespace
}  // namespace vmbsim::fabric
