// ring_layout.h
//
// The wire layout of a VMBus ring buffer and of the packets inside it, as
// constants and plain structs whose sizes and field offsets are pinned with
// static_assert (spec/vmbus-fabric.md sections 1.2, 2.1-2.6). All multi-byte
// integers on the wire are little-endian.
//
// The structs document the layout and give `offsetof` something to measure;
// they are never overlaid on guest memory. Guest memory is only ever accessed
// through the Load/Store helpers below, which `memcpy` single fields out of or
// into byte arrays. That keeps the code free of alignment and strict-aliasing
// problems, makes every read of peer-written memory an explicit, single fetch,
// and makes the byte order explicit.
//
// Every struct here is naturally aligned with no padding, so its C++ layout
// equals the packed wire layout; the static_asserts prove it.
//
// Not here on purpose: the control-message (SynIC) formats of section 4 and
// the pipe-mode header of section 2.9.

#ifndef VMBSIM_SIM_FABRIC_RING_LAYOUT_H_
#define VMBSIM_SIM_FABRIC_RING_LAYOUT_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "sim/fabric/guest_memory.h"  // kPageSizeBytes

namespace vmbsim::fabric {

// ---------------------------------------------------------------------------
// Little-endian field access on byte arrays.

inline uint16_t LoadLe16(const uint8_t* bytes) {
  uint16_t value;
  std::memcpy(&value, bytes, sizeof(value));
  if constexpr (std::endian::native == std::endian::big) {
    value = __builtin_bswap16(value);
  }
  return value;
}

inline uint32_t LoadLe32(const uint8_t* bytes) {
  uint32_t value;
  std::memcpy(&value, bytes, sizeof(value));
  if constexpr (std::endian::native == std::endian::big) {
    value = __builtin_bswap32(value);
  }
  return value;
}

inline uint64_t LoadLe64(const uint8_t* bytes) {
  uint64_t value;
  std::memcpy(&value, bytes, sizeof(value));
  if constexpr (std::endian::native == std::endian::big) {
    value = __builtin_bswap64(value);
  }
  return value;
}

inline void StoreLe16(uint8_t* bytes, uint16_t value) {
  if constexpr (std::endian::native == std::endian::big) {
    value = __builtin_bswap16(value);
  }
  std::memcpy(bytes, &value, sizeof(value));
}

inline void StoreLe32(uint8_t* bytes, uint32_t value) {
  if constexpr (std::endian::native == std::endian::big) {
    value = __builtin_bswap32(value);
  }
  std::memcpy(bytes, &value, sizeof(value));
}

inline void StoreLe64(uint8_t* bytes, uint64_t value) {
  if constexpr (std::endian::native == std::endian::big) {
    value = __builtin_bswap64(value);
  }
  std::memcpy(bytes, &value, sizeof(value));
}

// ---------------------------------------------------------------------------
// Ring control page (`struct hv_ring_buffer`), spec 1.2. The data area starts
// on the page after it; both indices are byte offsets into the data area.

struct RingControlPage {
  uint32_t write_index;      // Producer only: end of committed data.
  uint32_t read_index;       // Consumer only: first unconsumed byte.
  uint32_t interrupt_mask;   // Consumer only: non-zero = do not signal me.
  uint32_t pending_send_sz;  // Producer only: non-zero = wake me at this free.
  uint32_t reserved1[12];
  uint32_t feature_bits;  // Producer: bit 0 = kFeatPendingSendSz.
  uint8_t reserved2[4028];
};
static_assert(sizeof(RingControlPage) == kPageSizeBytes, "wire layout");
static_assert(offsetof(RingControlPage, write_index) == 0x0, "wire layout");
static_assert(offsetof(RingControlPage, read_index) == 0x4, "wire layout");
static_assert(offsetof(RingControlPage, interrupt_mask) == 0x8, "wire layout");
static_assert(offsetof(RingControlPage, pending_send_sz) == 0xC, "wire layout");
static_assert(offsetof(RingControlPage, feature_bits) == 0x40, "wire layout");

// OpenVMM's view of the same page: the first 32 u32 words are the control
// block, and `feature_bits` is word 16.
inline constexpr uint32_t kRingControlWordsCount = 32;
static_assert(offsetof(RingControlPage, feature_bits) / 4 == 16);
static_assert(kRingControlWordsCount * 4 <= kPageSizeBytes);

// `feature_bits` bit 0, `feat_pending_send_sz` (OpenVMM
// `FEATURE_SUPPORTS_PENDING_SEND_SIZE = 1`).
inline constexpr uint32_t kFeatPendingSendSz = 1;

// The control words that the ring code touches, named by their byte offset in
// the control page.
enum class ControlWord : uint32_t {
  kWriteIndex = offsetof(RingControlPage, write_index),
  kReadIndex = offsetof(RingControlPage, read_index),
  kInterruptMask = offsetof(RingControlPage, interrupt_mask),
  kPendingSendSz = offsetof(RingControlPage, pending_send_sz),
  kFeatureBits = offsetof(RingControlPage, feature_bits),
};

// Loads one control word from the 4096-byte control page at `control_page`.
// The value comes from shared memory: callers validate it before using it for
// anything other than a signalling decision.
inline uint32_t LoadControlWord(const uint8_t* control_page, ControlWord word) {
  return LoadLe32(control_page + static_cast<uint32_t>(word));
}

inline void StoreControlWord(uint8_t* control_page, ControlWord word, uint32_t value) {
  StoreLe32(control_page + static_cast<uint32_t>(word), value);
}

// ---------------------------------------------------------------------------
// Packets, spec 2.1-2.8. A packet in the ring is:
//
//   |descriptor(16)|type-specific header|payload|pad to 8|trailer(8)|
//   |<------------- offset8*8 -------->|
//   |<------------------ len8*8 ------------------------>|
//
// and the trailer holds `(uint64_t)start_write_index << 32`.

// `struct vmpacket_descriptor`.
struct PacketDescriptor {
  uint16_t type;      // `PacketType` value; anything may arrive from a peer.
  uint16_t offset8;   // Start of payload from the descriptor, 8-byte units.
  uint16_t len8;      // Packet length without the trailer, 8-byte units.
  uint16_t flags;     // Bit 0 = kCompletionRequestedFlag.
  uint64_t trans_id;  // Transaction id.
};
static_assert(sizeof(PacketDescriptor) == 16, "wire layout");
static_assert(offsetof(PacketDescriptor, type) == 0, "wire layout");
static_assert(offsetof(PacketDescriptor, offset8) == 2, "wire layout");
static_assert(offsetof(PacketDescriptor, len8) == 4, "wire layout");
static_assert(offsetof(PacketDescriptor, flags) == 6, "wire layout");
static_assert(offsetof(PacketDescriptor, trans_id) == 8, "wire layout");

inline constexpr uint32_t kDescriptorSizeBytes = sizeof(PacketDescriptor);
inline constexpr uint32_t kTrailerSizeBytes = 8;
inline constexpr uint32_t kPacketAlignmentBytes = 8;
inline constexpr uint16_t kOffset8Min = kDescriptorSizeBytes / 8;  // 2
inline constexpr uint16_t kLen8Max = 0xFFFF;
static_assert(kOffset8Min == 2);

// `enum vmbus_packet_type`.
enum class PacketType : uint16_t {
  kInvalid = 0x0,
  kSynch = 0x1,
  kAddXferPageset = 0x2,
  kRmXferPageset = 0x3,
  kEstablishGpadl = 0x4,
  kTeardownGpadl = 0x5,
  kDataInband = 0x6,
  kDataUsingXferPages = 0x7,
  kDataUsingGpadl = 0x8,
  kDataUsingGpaDirect = 0x9,
  kCancelRequest = 0xA,
  kComp = 0xB,
  kDataUsingAdditionalPkt = 0xC,
  kAdditionalData = 0xD,
};

// `VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED`; no other flag bit is valid.
inline constexpr uint16_t kCompletionRequestedFlag = 1;

// The codec moves the descriptor as two little-endian u64 words (type,
// offset8, len8 and flags packed into the first; trans_id the second), so a
// descriptor is written with two 8-byte stores and read with two 8-byte
// loads. Besides being short, that lets a load on the same CPU forward from
// the matching store instead of stalling on a partial overlap.
static_assert(offsetof(PacketDescriptor, trans_id) == 8 && sizeof(uint64_t) == 8);

inline PacketDescriptor DecodeDescriptor(const uint8_t* bytes) {
  const uint64_t word = LoadLe64(bytes);
  PacketDescriptor d;
  d.type = static_cast<uint16_t>(word >> (8 * offsetof(PacketDescriptor, type)));
  d.offset8 = static_cast<uint16_t>(word >> (8 * offsetof(PacketDescriptor, offset8)));
  d.len8 = static_cast<uint16_t>(word >> (8 * offsetof(PacketDescriptor, len8)));
  d.flags = static_cast<uint16_t>(word >> (8 * offsetof(PacketDescriptor, flags)));
  d.trans_id = LoadLe64(bytes + offsetof(PacketDescriptor, trans_id));
  return d;
}

inline void EncodeDescriptor(const PacketDescriptor& d, uint8_t* bytes) {
  const uint64_t word = uint64_t{d.type} << (8 * offsetof(PacketDescriptor, type)) |
                        uint64_t{d.offset8} << (8 * offsetof(PacketDescriptor, offset8)) |
                        uint64_t{d.len8} << (8 * offsetof(PacketDescriptor, len8)) |
                        uint64_t{d.flags} << (8 * offsetof(PacketDescriptor, flags));
  StoreLe64(bytes, word);
  StoreLe64(bytes + offsetof(PacketDescriptor, trans_id), d.trans_id);
}

// GPA direct (type 9) header after the descriptor (`struct vmdata_gpa_direct`
// without the descriptor). `reserved` may hold garbage and is ignored.
struct GpaDirectHeader {
  uint32_t reserved;
  uint32_t range_cnt;
};
static_assert(sizeof(GpaDirectHeader) == 8, "wire layout");
static_assert(offsetof(GpaDirectHeader, range_cnt) == 4, "wire layout");

// One `struct gpa_range` head; `ceil((byte_offset + byte_count) / 4096)` u64
// PFNs follow it.
struct GpaRangeHeader {
  uint32_t byte_count;
  uint32_t byte_offset;
};
static_assert(sizeof(GpaRangeHeader) == 8, "wire layout");
static_assert(offsetof(GpaRangeHeader, byte_offset) == 4, "wire layout");

inline constexpr uint32_t kPfnSizeBytes = sizeof(uint64_t);
// `byte_offset` is an offset into the first page (O-gpr `OffsetTooLarge`).
inline constexpr uint32_t kGpaRangeByteOffsetLimit = kPageSizeBytes;

// Transfer-page (type 7) header after the descriptor
// (`struct vmtransfer_page_packet_header` without the descriptor).
struct TransferPageHeader {
  uint16_t xfer_pageset_id;
  uint8_t sender_owns_set;
  uint8_t reserved;
  uint32_t range_cnt;
};
static_assert(sizeof(TransferPageHeader) == 8, "wire layout");
static_assert(offsetof(TransferPageHeader, sender_owns_set) == 2, "wire layout");
static_assert(offsetof(TransferPageHeader, range_cnt) == 4, "wire layout");

// One transfer-page range: a byte range in the buffer named by
// `xfer_pageset_id`. Also used as the in-memory value type.
struct TransferPageRange {
  uint32_t byte_count;
  uint32_t byte_offset;

  friend bool operator==(const TransferPageRange&, const TransferPageRange&) = default;
};
static_assert(sizeof(TransferPageRange) == 8, "wire layout");
static_assert(offsetof(TransferPageRange, byte_offset) == 4, "wire layout");

// Both typed headers sit right after the descriptor, and their ranges right
// after them, at byte 24 of the packet; so both need offset8 >= 3.
inline constexpr uint32_t kExtendedHeaderSizeBytes =
    kDescriptorSizeBytes + sizeof(GpaDirectHeader);  // 24
static_assert(sizeof(GpaDirectHeader) == sizeof(TransferPageHeader));
inline constexpr uint16_t kExtendedOffset8Min = kExtendedHeaderSizeBytes / 8;
static_assert(kExtendedOffset8Min == 3);

}  // namespace vmbsim::fabric

#endif  // VMBSIM_SIM_FABRIC_RING_LAYOUT_H_
