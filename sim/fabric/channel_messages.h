// channel_messages.h
//
// The VMBus channel-management control messages (spec/vmbus-fabric.md 4.1,
// 4.2) as plain structs, with a byte-exact encoder and a strict decoder. A
// control message is what travels in the 240-byte payload of a SynIC message
// (host to guest) or of HvPostMessage (guest to host): an 8-byte header
// {u32 msgtype; u32 padding} and then the message's fields, little-endian and
// packed. Every offset named below counts from the start of that header.
//
// One struct per wire form. Four message types have longer forms that a
// newer protocol appends fields to, and each form is its own struct (and its
// own `ChannelMessage` alternative) so that a value always says which bytes
// it encodes to:
//
//   OPENCHANNEL        OpenChannel (148)      OpenChannel2 (156, Copper)
//   INITIATE_CONTACT   InitiateContact (40)   InitiateContact2 (56, client id)
//   VERSION_RESPONSE   VersionResponse (16)   VersionResponse2 (20)
//                                             VersionResponse3 (40)
//   TL_CONNECT_REQUEST TlConnectRequest (40)  TlConnectRequest2 (56, Win10Rs5)
//
// The decoder (`Decode`) works on a private copy of the payload, so each field
// is fetched once. It applies the control-message rules of spec 7.1:
// payload length <= 240, a known msgtype, the version (and, if known, the
// Copper feature) gating of the table in 4.1, and length >= the form's fixed
// size. Trailing bytes after the fixed size are accepted and ignored for
// every type (spec 7.1 bounds the length only from below; the longer forms
// above are told apart by length, which only works if an old-form parser
// ignores what follows; some clients pad every message to 240 bytes, 5.2).
// The exceptions are the two GPADL messages, whose tail *is* data:
// GPADL_HEADER keeps its tail as raw range bytes, and GPADL_BODY's tail must
// be whole u64s. Header and struct padding are written as zero and ignored
// when read.
//
// Status codes: DataLoss when the bytes cannot be a message (too long, too
// short for the type, a partial u64); InvalidArgument when they are a
// well-formed message that this connection must not accept (msgtype unknown
// or 0, or not valid at the negotiated version or features). Messages name
// the message type, the field, the value and the limit.
//
// Not here on purpose: GPADL splitting and reassembly (gpadl_messages.h),
// the SynIC / HvPostMessage envelope (connection id, message type 1, payload
// size byte), and every protocol-state rule (relid known, state allows the
// message): the channel state machines own those.

#ifndef VMBSIM_SIM_FABRIC_CHANNEL_MESSAGES_H_
#define VMBSIM_SIM_FABRIC_CHANNEL_MESSAGES_H_

#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace vmbsim::fabric {

// ---------------------------------------------------------------------------
// Envelope constants (spec 3.1, 3.2, 4.1).

inline constexpr uint32_t kVmbusMessageSint = 2;            // `VMBUS_MESSAGE_SINT`.
inline constexpr uint32_t kVmbusHvMessageType = 1;          // SynIC message_type of VMBus messages.
inline constexpr uint32_t kMaxMessagePayloadBytes = 240;    // `HV_MESSAGE_PAYLOAD_SIZE`.
inline constexpr uint32_t kChannelMessageHeaderBytes = 8;   // {u32 msgtype; u32 padding}.

// Message connection ids for HvPostMessage (spec 3.2).
inline constexpr uint32_t kVmbusMessageConnectionId = 1;          // Control messages, < 5.0.
inline constexpr uint32_t kVmbusEventConnectionId = 2;            // Legacy shared event.
inline constexpr uint32_t kVmbusMonitorConnectionId = 3;          // Legacy monitor.
inline constexpr uint32_t kVmbusMessageConnectionId4 = 4;         // INITIATE_CONTACT, >= 5.0.
inline constexpr uint32_t kVmbusMessageRedirectConnectionId = 0x800074;  // OpenHCL.

// Hypercall results a HvPostMessage sender must handle (spec 3.2; TLFS
// HV_STATUS is 16 bits).
enum class HvStatus : uint16_t {
  kSuccess = 0x0000,
  kInsufficientMemory = 0x000B,
  kInvalidConnectionId = 0x0012,  // Unknown port; on id 4: host older than 5.0.
  kInsufficientBuffers = 0x0013,  // Port queue full; transient.
};

// NTSTATUS-style u32 results carried in OPENCHANNEL_RESULT.status and
// GPADL_CREATED.creation_status.
inline constexpr uint32_t kStatusSuccess = 0;
inline constexpr uint32_t kStatusUnsuccessful = 0x8000FFFF;  // OpenVMM `STATUS_UNSUCCESSFUL`.

// OFFERCHANNEL.monitor_id when the channel has no monitor id.
inline constexpr uint8_t kMonitorIdNone = 0xFF;

// OPENCHANNEL.target_vp meaning "no host-to-guest interrupts" (OpenVMM
// `VP_INDEX_DISABLE_INTERRUPT`).
inline constexpr uint32_t kVpIndexDisableInterrupt = 0xFFFFFFFF;

// OPENCHANNEL2.flags bit 0.
inline constexpr uint16_t kOpenChannelFlagRedirectInterrupt = 0x1;

// VERSION_RESPONSE.connection_state and MODIFY_CONNECTION_RESPONSE values.
inline constexpr uint8_t kConnectionStateSuccessful = 0;
inline constexpr uint8_t kConnectionStateFailedLowResources = 1;
inline constexpr uint8_t kConnectionStateFailedUnknownFailure = 2;

// ---------------------------------------------------------------------------
// Protocol versions, `(major << 16) | minor` (spec 4.3).

inline constexpr uint32_t kVersionNotNegotiated = 0;  // Before VERSION_RESPONSE.
inline constexpr uint32_t kVersionWs2008 = 0x0000000D;     // 0.13, OpenVMM `V1`.
inline constexpr uint32_t kVersionWin7 = 0x00010001;       // 1.1
inline constexpr uint32_t kVersionWin8 = 0x00020004;       // 2.4
inline constexpr uint32_t kVersionWin8_1 = 0x00030000;     // 3.0
inline constexpr uint32_t kVersionWin10 = 0x00040000;      // 4.0
inline constexpr uint32_t kVersionWin10Rs3_0 = 0x00040001; // 4.1
inline constexpr uint32_t kVersionWin10Rs3_1 = 0x00050000; // 5.0
inline constexpr uint32_t kVersionWin10Rs4 = 0x00050001;   // 5.1
inline constexpr uint32_t kVersionWin10Rs5 = 0x00050002;   // 5.2
inline constexpr uint32_t kVersionIron = 0x00050003;       // 5.3
inline constexpr uint32_t kVersionCopper = 0x00060000;     // 6.0

// Every version a server may accept, newest first: the order in which a
// guest tries them (spec 4.3 "Negotiation").
inline constexpr std::array<uint32_t, 11> kKnownVersions = {
    kVersionCopper,     kVersionIron,  kVersionWin10Rs5, kVersionWin10Rs4,
    kVersionWin10Rs3_1, kVersionWin10Rs3_0, kVersionWin10, kVersionWin8_1,
    kVersionWin8,       kVersionWin7,  kVersionWs2008,
};

// OpenVMM's name for a known version ("Win10Rs3_0"), "not negotiated" for 0,
// "unknown" otherwise.
const char* ProtocolVersionName(uint32_t version);

// Copper feature flags (spec 4.4), negotiated in INITIATE_CONTACT's target
// info and VersionResponse2.supported_features. Pre-Copper: none.
inline constexpr uint32_t kFeatureGuestSpecifiedSignalParameters = 0x01;
inline constexpr uint32_t kFeatureChannelInterruptRedirection = 0x02;
inline constexpr uint32_t kFeatureModifyConnection = 0x04;
inline constexpr uint32_t kFeatureClientId = 0x08;
inline constexpr uint32_t kFeatureConfidentialChannels = 0x10;
inline constexpr uint32_t kFeaturePauseResume = 0x20;
inline constexpr uint32_t kFeatureServerSpecifiedMonitorPages = 0x40;
inline constexpr uint32_t kFeatureGpaPinning = 0x80;
inline constexpr uint32_t kFeatureAll = 0xFF;

// Offer flags, OFFERCHANNEL.chn_flags (spec 4.5). Bits 0x2, 0x4 and 0x8 mean
// the OpenVMM confidential names only when kFeatureConfidentialChannels was
// negotiated.
inline constexpr uint16_t kOfferFlagEnumerateDeviceInterface = 0x0001;
inline constexpr uint16_t kOfferFlagServerSupportsTransferPages = 0x0002;
inline constexpr uint16_t kOfferFlagConfidentialRingBuffer = 0x0002;
inline constexpr uint16_t kOfferFlagServerSupportsGpadls = 0x0004;
inline constexpr uint16_t kOfferFlagConfidentialExternalMemory = 0x0004;
inline constexpr uint16_t kOfferFlagRequirePinnedExternalMemory = 0x0008;
inline constexpr uint16_t kOfferFlagNamedPipeMode = 0x0010;
inline constexpr uint16_t kOfferFlagLoopbackOffer = 0x0100;
inline constexpr uint16_t kOfferFlagParentOffer = 0x0200;
inline constexpr uint16_t kOfferFlagRequestMonitoredNotification = 0x0400;
inline constexpr uint16_t kOfferFlagForceNewChannel = 0x1000;     // Host-internal.
inline constexpr uint16_t kOfferFlagTlnpiProviderOffer = 0x2000;  // hvsock.

// ---------------------------------------------------------------------------
// Message types (spec 4.1). Linux stops at 24 (`CHANNELMSG_COUNT`); 25-29
// exist only in OpenVMM.

enum class ChannelMessageType : uint32_t {
  kInvalid = 0,
  kOfferChannel = 1,
  kRescindChannelOffer = 2,
  kRequestOffers = 3,
  kAllOffersDelivered = 4,
  kOpenChannel = 5,
  kOpenChannelResult = 6,
  kCloseChannel = 7,
  kGpadlHeader = 8,
  kGpadlBody = 9,
  kGpadlCreated = 10,
  kGpadlTeardown = 11,
  kGpadlTorndown = 12,
  kRelidReleased = 13,
  kInitiateContact = 14,
  kVersionResponse = 15,
  kUnload = 16,
  kUnloadResponse = 17,
  kOpenReservedChannel = 18,
  kCloseReservedChannel = 19,
  kCloseReservedResponse = 20,
  kTlConnectRequest = 21,
  kModifyChannel = 22,
  kTlConnectResult = 23,
  kModifyChannelResponse = 24,
  kModifyConnection = 25,
  kModifyConnectionResponse = 26,
  kPause = 27,
  kPauseResponse = 28,
  kResume = 29,
};
inline constexpr uint32_t kChannelMessageTypeCount = 30;  // Values 0..29.

// The Linux name ("CHANNELMSG_CLOSECHANNEL"); for types Linux names only by
// number (18-20) or does not have (25-29), OpenVMM's ("OPEN_RESERVED_CHANNEL").
// "unknown" for values outside 0..29.
const char* ChannelMessageTypeName(ChannelMessageType type);

// The lowest negotiated version at which `type` may be received (the last
// column of the table in spec 4.1). kVersionNotNegotiated (0) means any
// version, including before negotiation: INITIATE_CONTACT, VERSION_RESPONSE
// and CLOSE_RESERVED_CHANNEL (reserved channels outlive a connection, so
// OpenVMM accepts their close while disconnected).
// REQUIRES: type is 1..29.
uint32_t MinimumProtocolVersion(ChannelMessageType type);

// The Copper feature flags of which at least one must have been negotiated
// for `type` to be valid (25-26: kFeatureModifyConnection; 27-29:
// kFeaturePauseResume); 0 when no feature is needed.
// REQUIRES: type is 1..29.
uint32_t RequiredFeatureFlags(ChannelMessageType type);

// ---------------------------------------------------------------------------
// GUIDs.

// A GUID as its 16 wire bytes, in the Windows mixed-endian layout: the first
// three fields (u32, u16, u16) little-endian, the last 8 bytes in order.
struct Guid {
  std::array<uint8_t, 16> bytes = {};

  // The GUID written "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (Data1, Data2,
  // Data3, Data4). Returns InvalidArgument, naming the position, for any other
  // text (braces are not accepted); either letter case is.
  static absl::StatusOr<Guid> Parse(absl::string_view text);

  // The GUID with fields {data1, data2, data3, data4}, as in a C initializer.
  static constexpr Guid FromFields(uint32_t data1, uint16_t data2, uint16_t data3,
                                   std::array<uint8_t, 8> data4) {
    Guid g;
    for (int i = 0; i < 4; ++i) g.bytes[i] = static_cast<uint8_t>(data1 >> (8 * i));
    for (int i = 0; i < 2; ++i) g.bytes[4 + i] = static_cast<uint8_t>(data2 >> (8 * i));
    for (int i = 0; i < 2; ++i) g.bytes[6 + i] = static_cast<uint8_t>(data3 >> (8 * i));
    for (int i = 0; i < 8; ++i) g.bytes[8 + i] = data4[i];
    return g;
  }

  // Lower-case "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"; Parse(ToString()) == *this.
  std::string ToString() const;

  friend bool operator==(const Guid&, const Guid&) = default;
};

// ---------------------------------------------------------------------------
// Messages. `kSizeBytes` is the total size of the form, header included (for
// the two GPADL messages: of the fixed part before the range data). Field
// comments give the byte offset. Fields keep the Linux names (OpenVMM's where
// Linux has none).

// 1, host to guest.
struct OfferChannel {
  static constexpr ChannelMessageType kType = ChannelMessageType::kOfferChannel;
  static constexpr uint32_t kSizeBytes = 196;
  Guid interface_id;                 // 8: `if_type`, the device class.
  Guid instance_id;                  // 24: `if_instance`; sub-channels repeat the primary's.
  // 40: Linux `reserved1`; FreeBSD/DPDK name it `chm_chlat` (a monitor
  // latency in 100 ns units). Windows 8 and later hosts send 0 here, and so
  // does OpenVMM (vm/devices/vmbus: its offer's reserved words are zero);
  // the latency reaches a guest only through the monitor page.
  uint64_t reserved1 = 0;
  uint64_t reserved2 = 0;            // 48: FreeBSD/DPDK `chm_chrev` u32 + `chm_svrctx_sz` u32.
  uint16_t chn_flags = 0;            // 56: kOfferFlag*.
  uint16_t mmio_megabytes = 0;       // 58
  std::array<uint8_t, 120> user_defined = {};  // 60: `user_def`, or pipe_mode + 116 bytes.
  uint16_t sub_channel_index = 0;    // 180: 0 = primary.
  uint16_t mmio_megabytes_optional = 0;  // 182: Linux `reserved3`.
  uint32_t child_relid = 0;          // 184
  uint8_t monitor_id = kMonitorIdNone;   // 188
  uint8_t monitor_allocated = 0;     // 189: bit 0; other bits round-trip as sent.
  uint16_t is_dedicated_interrupt = 0;   // 190: bit 0 (Win7+); other bits round-trip.
  uint32_t connection_id = 0;        // 192: guest-to-host event connection (Win7+).

  friend bool operator==(const OfferChannel&, const OfferChannel&) = default;
};

// 2, host to guest.
struct RescindChannelOffer {
  static constexpr ChannelMessageType kType = ChannelMessageType::kRescindChannelOffer;
  static constexpr uint32_t kSizeBytes = 12;
  uint32_t child_relid = 0;  // 8

  friend bool operator==(const RescindChannelOffer&, const RescindChannelOffer&) = default;
};

// 3, guest to host.
struct RequestOffers {
  static constexpr ChannelMessageType kType = ChannelMessageType::kRequestOffers;
  static constexpr uint32_t kSizeBytes = 8;

  friend bool operator==(const RequestOffers&, const RequestOffers&) = default;
};

// 4, host to guest.
struct AllOffersDelivered {
  static constexpr ChannelMessageType kType = ChannelMessageType::kAllOffersDelivered;
  static constexpr uint32_t kSizeBytes = 8;

  friend bool operator==(const AllOffersDelivered&, const AllOffersDelivered&) = default;
};

// 5, guest to host.
struct OpenChannel {
  static constexpr ChannelMessageType kType = ChannelMessageType::kOpenChannel;
  static constexpr uint32_t kSizeBytes = 148;
  uint32_t child_relid = 0;             // 8
  uint32_t openid = 0;                  // 12: echoed in OPENCHANNEL_RESULT.
  uint32_t ringbuffer_gpadlhandle = 0;  // 16
  uint32_t target_vp = 0;               // 20: or kVpIndexDisableInterrupt.
  uint32_t downstream_ringbuffer_pageoffset = 0;  // 24: pages of the guest-to-host ring.
  std::array<uint8_t, 120> userdata = {};         // 28

  friend bool operator==(const OpenChannel&, const OpenChannel&) = default;
};

// 5 in the Copper form, sent when kFeatureGuestSpecifiedSignalParameters or
// kFeatureChannelInterruptRedirection was negotiated.
struct OpenChannel2 {
  static constexpr ChannelMessageType kType = ChannelMessageType::kOpenChannel;
  static constexpr uint32_t kSizeBytes = 156;
  OpenChannel open_channel;    // 8..147
  uint32_t connection_id = 0;  // 148: with kFeatureGuestSpecifiedSignalParameters.
  uint16_t event_flag = 0;     // 152: with kFeatureGuestSpecifiedSignalParameters.
  uint16_t flags = 0;          // 154: kOpenChannelFlagRedirectInterrupt.

  friend bool operator==(const OpenChannel2&, const OpenChannel2&) = default;
};

// 6, host to guest.
struct OpenResult {
  static constexpr ChannelMessageType kType = ChannelMessageType::kOpenChannelResult;
  static constexpr uint32_t kSizeBytes = 20;
  uint32_t child_relid = 0;  // 8
  uint32_t openid = 0;       // 12
  uint32_t status = 0;       // 16: kStatusSuccess or a failure such as kStatusUnsuccessful.

  friend bool operator==(const OpenResult&, const OpenResult&) = default;
};

// 7, guest to host. No reply exists.
struct CloseChannel {
  static constexpr ChannelMessageType kType = ChannelMessageType::kCloseChannel;
  static constexpr uint32_t kSizeBytes = 12;
  uint32_t child_relid = 0;  // 8

  friend bool operator==(const CloseChannel&, const CloseChannel&) = default;
};

// 8, guest to host: the first chunk of a GPADL's range data (spec 5.2).
struct GpadlHeader {
  static constexpr ChannelMessageType kType = ChannelMessageType::kGpadlHeader;
  static constexpr uint32_t kSizeBytes = 20;  // Before the range data.
  static constexpr uint32_t kRangeDataBytesMax = kMaxMessagePayloadBytes - kSizeBytes;  // 220
  uint32_t child_relid = 0;   // 8
  uint32_t gpadl = 0;         // 12
  uint16_t range_buflen = 0;  // 16: bytes of range data in the whole GPADL.
  uint16_t rangecount = 0;    // 18
  // 20: every byte after the fixed part, as received (a 240-byte message
  // carries 220, of which only 216 can be whole u64s).
  std::vector<uint8_t> range_data;

  friend bool operator==(const GpadlHeader&, const GpadlHeader&) = default;
};

// 9, guest to host: more of the GPADL's range data.
struct GpadlBody {
  static constexpr ChannelMessageType kType = ChannelMessageType::kGpadlBody;
  static constexpr uint32_t kSizeBytes = 16;  // Before the PFNs.
  static constexpr uint32_t kPfnsMax = (kMaxMessagePayloadBytes - kSizeBytes) / 8;  // 28
  uint32_t msgnumber = 0;  // 8: Linux leaves 0; OpenVMM `rsvd`.
  uint32_t gpadl = 0;      // 12
  // 16: the u64 granules of the range stream (Linux `pfn[]`; in a multi-range
  // GPADL some are gpa_range heads).
  std::vector<uint64_t> pfns;

  friend bool operator==(const GpadlBody&, const GpadlBody&) = default;
};

// 10, host to guest.
struct GpadlCreated {
  static constexpr ChannelMessageType kType = ChannelMessageType::kGpadlCreated;
  static constexpr uint32_t kSizeBytes = 20;
  uint32_t child_relid = 0;      // 8
  uint32_t gpadl = 0;            // 12
  uint32_t creation_status = 0;  // 16: kStatusSuccess or e.g. kStatusUnsuccessful.

  friend bool operator==(const GpadlCreated&, const GpadlCreated&) = default;
};

// 11, guest to host.
struct GpadlTeardown {
  static constexpr ChannelMessageType kType = ChannelMessageType::kGpadlTeardown;
  static constexpr uint32_t kSizeBytes = 16;
  uint32_t child_relid = 0;  // 8
  uint32_t gpadl = 0;        // 12

  friend bool operator==(const GpadlTeardown&, const GpadlTeardown&) = default;
};

// 12, host to guest.
struct GpadlTorndown {
  static constexpr ChannelMessageType kType = ChannelMessageType::kGpadlTorndown;
  static constexpr uint32_t kSizeBytes = 12;
  uint32_t gpadl = 0;  // 8

  friend bool operator==(const GpadlTorndown&, const GpadlTorndown&) = default;
};

// 13, guest to host.
struct RelidReleased {
  static constexpr ChannelMessageType kType = ChannelMessageType::kRelidReleased;
  static constexpr uint32_t kSizeBytes = 12;
  uint32_t child_relid = 0;  // 8

  friend bool operator==(const RelidReleased&, const RelidReleased&) = default;
};

// The `interrupt_page_or_target_info` word of INITIATE_CONTACT for versions
// >= 5.0: u8 msg_sint, u8 msg_vtl, u16 padding, u32 feature flags (Copper).
struct TargetInfo {
  uint8_t msg_sint = 0;
  uint8_t msg_vtl = 0;
  uint32_t feature_flags = 0;

  static constexpr TargetInfo FromWord(uint64_t word) {
    return TargetInfo{static_cast<uint8_t>(word), static_cast<uint8_t>(word >> 8),
                      static_cast<uint32_t>(word >> 32)};
  }
  constexpr uint64_t ToWord() const {
    return uint64_t{msg_sint} | uint64_t{msg_vtl} << 8 | uint64_t{feature_flags} << 32;
  }
  friend bool operator==(const TargetInfo&, const TargetInfo&) = default;
};

// 14, guest to host.
struct InitiateContact {
  static constexpr ChannelMessageType kType = ChannelMessageType::kInitiateContact;
  static constexpr uint32_t kSizeBytes = 40;
  uint32_t vmbus_version_requested = 0;  // 8
  uint32_t target_vcpu = 0;              // 12: VP for control messages (Win8.1+).
  // 16: the interrupt page GPA below 5.0; TargetInfo::ToWord() from 5.0.
  uint64_t interrupt_page_or_target_info = 0;
  uint64_t monitor_page1 = 0;  // 24: parent to child.
  uint64_t monitor_page2 = 0;  // 32: child to parent.

  friend bool operator==(const InitiateContact&, const InitiateContact&) = default;
};

// 14 with kFeatureClientId (Copper).
struct InitiateContact2 {
  static constexpr ChannelMessageType kType = ChannelMessageType::kInitiateContact;
  static constexpr uint32_t kSizeBytes = 56;
  InitiateContact initiate_contact;  // 8..39
  Guid client_id;                    // 40

  friend bool operator==(const InitiateContact2&, const InitiateContact2&) = default;
};

// 15, host to guest.
struct VersionResponse {
  static constexpr ChannelMessageType kType = ChannelMessageType::kVersionResponse;
  static constexpr uint32_t kSizeBytes = 16;
  uint8_t version_supported = 0;  // 8: 1 or 0.
  uint8_t connection_state = 0;   // 9: kConnectionState*. (10: u16 padding.)
  // 12: the message connection id from 5.0 (OpenVMM: the selected version
  // below 5.0, `selected_version_or_connection_id`).
  uint32_t msg_conn_id = 0;

  friend bool operator==(const VersionResponse&, const VersionResponse&) = default;
};

// 15 in the Copper form.
struct VersionResponse2 {
  static constexpr ChannelMessageType kType = ChannelMessageType::kVersionResponse;
  static constexpr uint32_t kSizeBytes = 20;
  VersionResponse version_response;  // 8..15
  uint32_t supported_features = 0;   // 16: kFeature* the server accepted.

  friend bool operator==(const VersionResponse2&, const VersionResponse2&) = default;
};

// 15 with server-provided monitor pages (kFeatureServerSpecifiedMonitorPages).
struct VersionResponse3 {
  static constexpr ChannelMessageType kType = ChannelMessageType::kVersionResponse;
  static constexpr uint32_t kSizeBytes = 40;
  VersionResponse2 version_response2;             // 8..19 (20: u32 padding.)
  uint64_t parent_to_child_monitor_page_gpa = 0;  // 24
  uint64_t child_to_parent_monitor_page_gpa = 0;  // 32

  friend bool operator==(const VersionResponse3&, const VersionResponse3&) = default;
};

// 16, guest to host.
struct Unload {
  static constexpr ChannelMessageType kType = ChannelMessageType::kUnload;
  static constexpr uint32_t kSizeBytes = 8;

  friend bool operator==(const Unload&, const Unload&) = default;
};

// 17, host to guest (OpenVMM `UNLOAD_COMPLETE`).
struct UnloadResponse {
  static constexpr ChannelMessageType kType = ChannelMessageType::kUnloadResponse;
  static constexpr uint32_t kSizeBytes = 8;

  friend bool operator==(const UnloadResponse&, const UnloadResponse&) = default;
};

// 18, guest to host (Linux `CHANNELMSG_18`).
struct OpenReservedChannel {
  static constexpr ChannelMessageType kType = ChannelMessageType::kOpenReservedChannel;
  static constexpr uint32_t kSizeBytes = 28;
  uint32_t child_relid = 0;                       // 8
  uint32_t target_vp = 0;                         // 12
  uint32_t target_sint = 0;                       // 16
  uint32_t ringbuffer_gpadlhandle = 0;            // 20
  uint32_t downstream_ringbuffer_pageoffset = 0;  // 24

  friend bool operator==(const OpenReservedChannel&, const OpenReservedChannel&) = default;
};

// 19, guest to host (Linux `CHANNELMSG_19`).
struct CloseReservedChannel {
  static constexpr ChannelMessageType kType = ChannelMessageType::kCloseReservedChannel;
  static constexpr uint32_t kSizeBytes = 20;
  uint32_t child_relid = 0;  // 8
  uint32_t target_vp = 0;    // 12
  uint32_t target_sint = 0;  // 16

  friend bool operator==(const CloseReservedChannel&, const CloseReservedChannel&) = default;
};

// 20, host to guest (Linux `CHANNELMSG_20`).
struct CloseReservedResponse {
  static constexpr ChannelMessageType kType = ChannelMessageType::kCloseReservedResponse;
  static constexpr uint32_t kSizeBytes = 12;
  uint32_t child_relid = 0;  // 8

  friend bool operator==(const CloseReservedResponse&, const CloseReservedResponse&) = default;
};

// 21, guest to host (hvsock).
struct TlConnectRequest {
  static constexpr ChannelMessageType kType = ChannelMessageType::kTlConnectRequest;
  static constexpr uint32_t kSizeBytes = 40;
  Guid guest_endpoint_id;  // 8
  Guid host_service_id;    // 24

  friend bool operator==(const TlConnectRequest&, const TlConnectRequest&) = default;
};

// 21 with a silo id (Win10Rs5+).
struct TlConnectRequest2 {
  static constexpr ChannelMessageType kType = ChannelMessageType::kTlConnectRequest;
  static constexpr uint32_t kSizeBytes = 56;
  TlConnectRequest tl_connect_request;  // 8..39
  Guid silo_id;                         // 40

  friend bool operator==(const TlConnectRequest2&, const TlConnectRequest2&) = default;
};

// 22, guest to host. Acknowledged only from Iron (MODIFYCHANNEL_RESPONSE).
struct ModifyChannel {
  static constexpr ChannelMessageType kType = ChannelMessageType::kModifyChannel;
  static constexpr uint32_t kSizeBytes = 16;
  uint32_t child_relid = 0;  // 8
  uint32_t target_vp = 0;    // 12

  friend bool operator==(const ModifyChannel&, const ModifyChannel&) = default;
};

// 23, host to guest.
struct TlConnectResult {
  static constexpr ChannelMessageType kType = ChannelMessageType::kTlConnectResult;
  static constexpr uint32_t kSizeBytes = 44;
  Guid guest_endpoint_id;  // 8: OpenVMM `endpoint_id`.
  Guid host_service_id;    // 24: OpenVMM `service_id`.
  int32_t status = 0;      // 40

  friend bool operator==(const TlConnectResult&, const TlConnectResult&) = default;
};

// 24, host to guest.
struct ModifyChannelResponse {
  static constexpr ChannelMessageType kType = ChannelMessageType::kModifyChannelResponse;
  static constexpr uint32_t kSizeBytes = 16;
  uint32_t child_relid = 0;  // 8
  int32_t status = 0;        // 12

  friend bool operator==(const ModifyChannelResponse&, const ModifyChannelResponse&) = default;
};

// 25, guest to host (OpenVMM only).
struct ModifyConnection {
  static constexpr ChannelMessageType kType = ChannelMessageType::kModifyConnection;
  static constexpr uint32_t kSizeBytes = 24;
  uint64_t parent_to_child_monitor_page_gpa = 0;  // 8
  uint64_t child_to_parent_monitor_page_gpa = 0;  // 16

  friend bool operator==(const ModifyConnection&, const ModifyConnection&) = default;
};

// 26, host to guest (OpenVMM only).
struct ModifyConnectionResponse {
  static constexpr ChannelMessageType kType = ChannelMessageType::kModifyConnectionResponse;
  static constexpr uint32_t kSizeBytes = 9;
  uint8_t connection_state = 0;  // 8: kConnectionState*.

  friend bool operator==(const ModifyConnectionResponse&,
                         const ModifyConnectionResponse&) = default;
};

// 27, guest to host (OpenVMM only).
struct Pause {
  static constexpr ChannelMessageType kType = ChannelMessageType::kPause;
  static constexpr uint32_t kSizeBytes = 8;

  friend bool operator==(const Pause&, const Pause&) = default;
};

// 28, host to guest (OpenVMM only).
struct PauseResponse {
  static constexpr ChannelMessageType kType = ChannelMessageType::kPauseResponse;
  static constexpr uint32_t kSizeBytes = 8;

  friend bool operator==(const PauseResponse&, const PauseResponse&) = default;
};

// 29, guest to host (OpenVMM only).
struct Resume {
  static constexpr ChannelMessageType kType = ChannelMessageType::kResume;
  static constexpr uint32_t kSizeBytes = 8;

  friend bool operator==(const Resume&, const Resume&) = default;
};

// Any control message, one alternative per wire form.
using ChannelMessage =
    std::variant<OfferChannel, RescindChannelOffer, RequestOffers, AllOffersDelivered,
                 OpenChannel, OpenChannel2, OpenResult, CloseChannel, GpadlHeader, GpadlBody,
                 GpadlCreated, GpadlTeardown, GpadlTorndown, RelidReleased, InitiateContact,
                 InitiateContact2, VersionResponse, VersionResponse2, VersionResponse3, Unload,
                 UnloadResponse, OpenReservedChannel, CloseReservedChannel,
                 CloseReservedResponse, TlConnectRequest, TlConnectRequest2, ModifyChannel,
                 TlConnectResult, ModifyChannelResponse, ModifyConnection,
                 ModifyConnectionResponse, Pause, PauseResponse, Resume>;

// The msgtype `message` encodes to.
ChannelMessageType MessageTypeOf(const ChannelMessage& message);

// The number of bytes Encode(message) returns: the form's kSizeBytes, plus
// the range data of a GpadlHeader or 8 per PFN of a GpadlBody.
uint32_t EncodedSizeBytes(const ChannelMessage& message);

// Returns the wire bytes of `message`: header {msgtype, 0}, then the fields
// at their offsets; padding is zero.
// REQUIRES: EncodedSizeBytes(message) <= kMaxMessagePayloadBytes (a longer
// GPADL message is a bug in whoever built it; SplitGpadl never does).
std::vector<uint8_t> Encode(const ChannelMessage& message);

// Decodes a control message from `bytes`, the payload of one SynIC message
// (already copied out of the shared slot), at `negotiated_version`
// (kVersionNotNegotiated before VERSION_RESPONSE). Copper feature gating is
// not applied: messages 25-29 are accepted from Copper on, and the OPENCHANNEL
// form follows the length (156 bytes or more: OpenChannel2).
//
// Form selection: OPENCHANNEL below Copper is always OpenChannel;
// INITIATE_CONTACT and VERSION_RESPONSE take the longest form that fits
// (56 / 40 bytes; 40 / 20 / 16 bytes); TL_CONNECT_REQUEST is
// TlConnectRequest2 from Win10Rs5 when it has 56 bytes, else TlConnectRequest
// (some clients send the old form at newer versions).
//
// Errors: DataLoss if bytes.size() > 240, < 8, or below the fixed size of the
// selected form, or if a GPADL_BODY's PFN bytes are not a multiple of 8.
// InvalidArgument if msgtype is 0 or above 29, or the type's
// MinimumProtocolVersion() is above `negotiated_version` (compared as
// numbers, so an unknown version between two known ones gates like the lower).
absl::StatusOr<ChannelMessage> Decode(absl::Span<const uint8_t> bytes,
                                      uint32_t negotiated_version);

// As above, and also applies the Copper feature gating of spec 4.1 with the
// negotiated `feature_flags` (kFeature*): 25-26 need kFeatureModifyConnection
// and 27-29 need kFeaturePauseResume (InvalidArgument otherwise); and at Copper
// an OPENCHANNEL is OpenChannel2 exactly when
// kFeatureGuestSpecifiedSignalParameters or kFeatureChannelInterruptRedirection
// was negotiated (so then a 148-byte one is DataLoss).
absl::StatusOr<ChannelMessage> Decode(absl::Span<const uint8_t> bytes,
                                      uint32_t negotiated_version, uint32_t feature_flags);

}  // namespace vmbsim::fabric

#endif  // VMBSIM_SIM_FABRIC_CHANNEL_MESSAGES_H_
