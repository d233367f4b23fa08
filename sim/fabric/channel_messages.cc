#include "sim/fabric/channel_messages.h"

#include <concepts>
#include <cstring>
#include <optional>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sim/check.h"
#include "sim/fabric/ring_layout.h"  // LoadLe*, StoreLe*

namespace vmbsim::fabric {
namespace {

static_assert(kChannelMessageHeaderBytes == 8, "wire layout");
static_assert(GpadlHeader::kRangeDataBytesMax == 220, "spec 5.2: 27 u64 and 4 spare bytes");
static_assert(GpadlHeader::kRangeDataBytesMax / 8 == 27, "spec 5.2");
static_assert(GpadlBody::kPfnsMax == 28, "spec 5.2");
static_assert(std::variant_size_v<ChannelMessage> == 34, "29 types, 5 extra forms");

// ---------------------------------------------------------------------------
// Per-type facts: the table of spec 4.1.

struct TypeInfo {
  const char* name;
  uint32_t min_version;    // kVersionNotNegotiated = any.
  uint32_t feature_flags;  // At least one needed; 0 = none.
};

constexpr TypeInfo kTypeInfo[kChannelMessageTypeCount] = {
    {"CHANNELMSG_INVALID", 0, 0},
    {"CHANNELMSG_OFFERCHANNEL", kVersionWs2008, 0},
    {"CHANNELMSG_RESCIND_CHANNELOFFER", kVersionWs2008, 0},
    {"CHANNELMSG_REQUESTOFFERS", kVersionWs2008, 0},
    {"CHANNELMSG_ALLOFFERS_DELIVERED", kVersionWs2008, 0},
    {"CHANNELMSG_OPENCHANNEL", kVersionWs2008, 0},
    {"CHANNELMSG_OPENCHANNEL_RESULT", kVersionWs2008, 0},
    {"CHANNELMSG_CLOSECHANNEL", kVersionWs2008, 0},
    {"CHANNELMSG_GPADL_HEADER", kVersionWs2008, 0},
    {"CHANNELMSG_GPADL_BODY", kVersionWs2008, 0},
    {"CHANNELMSG_GPADL_CREATED", kVersionWs2008, 0},
    {"CHANNELMSG_GPADL_TEARDOWN", kVersionWs2008, 0},
    {"CHANNELMSG_GPADL_TORNDOWN", kVersionWs2008, 0},
    {"CHANNELMSG_RELID_RELEASED", kVersionWs2008, 0},
    {"CHANNELMSG_INITIATE_CONTACT", kVersionNotNegotiated, 0},
    {"CHANNELMSG_VERSION_RESPONSE", kVersionNotNegotiated, 0},
    {"CHANNELMSG_UNLOAD", kVersionWs2008, 0},
    {"CHANNELMSG_UNLOAD_RESPONSE", kVersionWin7, 0},
    {"OPEN_RESERVED_CHANNEL", kVersionWin10, 0},
    {"CLOSE_RESERVED_CHANNEL", kVersionNotNegotiated, 0},
    {"CLOSE_RESERVED_RESPONSE", kVersionWin10, 0},
    {"CHANNELMSG_TL_CONNECT_REQUEST", kVersionWin10, 0},
    {"CHANNELMSG_MODIFYCHANNEL", kVersionWin10Rs3_0, 0},
    {"CHANNELMSG_TL_CONNECT_RESULT", kVersionWin10Rs3_0, 0},
    {"CHANNELMSG_MODIFYCHANNEL_RESPONSE", kVersionIron, 0},
    {"MODIFY_CONNECTION", kVersionCopper, kFeatureModifyConnection},
    {"MODIFY_CONNECTION_RESPONSE", kVersionCopper, kFeatureModifyConnection},
    {"PAUSE", kVersionCopper, kFeaturePauseResume},
    {"PAUSE_RESPONSE", kVersionCopper, kFeaturePauseResume},
    {"RESUME", kVersionCopper, kFeaturePauseResume},
};

bool IsMessageType(uint32_t raw_type) { return raw_type >= 1 && raw_type < kChannelMessageTypeCount; }

const TypeInfo& InfoFor(ChannelMessageType type) {
  const uint32_t raw_type = static_cast<uint32_t>(type);
  VMBSIM_CHECK_MSG(IsMessageType(raw_type), absl::StrCat("msgtype=", raw_type));
  return kTypeInfo[raw_type];
}

// "CHANNELMSG_CLOSECHANNEL (msgtype=7)": the prefix of type-specific errors.
std::string Describe(ChannelMessageType type) {
  return absl::StrCat(ChannelMessageTypeName(type), " (msgtype=", static_cast<uint32_t>(type),
                      ")");
}

std::string DescribeVersion(uint32_t version) {
  return absl::StrFormat("0x%08x (%s)", version, ProtocolVersionName(version));
}

// ---------------------------------------------------------------------------
// Field lists. Each Fields() overload names every wire field of one form, in
// wire order, with its byte offset. Encode and Decode both walk the same
// list, so a field cannot be written at one offset and read at another; the
// offsets are checked against the spec independently by the tests.

template <typename T, typename M>
concept Is = std::same_as<std::remove_const_t<T>, M>;

template <typename M>
concept EmptyMessage = std::is_empty_v<std::remove_const_t<M>>;

template <typename T>
constexpr uint32_t WireSizeBytes() {
  if constexpr (std::same_as<T, Guid>) {
    return 16;
  } else if constexpr (std::same_as<T, std::array<uint8_t, 120>>) {
    return 120;
  } else {
    static_assert(std::is_integral_v<T>);
    return sizeof(T);
  }
}

void Fields(EmptyMessage auto&, auto&&) {}

void Fields(Is<OfferChannel> auto& m, auto&& field) {
  field(8, m.interface_id);
  field(24, m.instance_id);
  field(40, m.reserved1);
  field(48, m.reserved2);
  field(56, m.chn_flags);
  field(58, m.mmio_megabytes);
  field(60, m.user_defined);
  field(180, m.sub_channel_index);
  field(182, m.mmio_megabytes_optional);
  field(184, m.child_relid);
  field(188, m.monitor_id);
  field(189, m.monitor_allocated);
  field(190, m.is_dedicated_interrupt);
  field(192, m.connection_id);
}

void Fields(Is<RescindChannelOffer> auto& m, auto&& field) { field(8, m.child_relid); }

void Fields(Is<OpenChannel> auto& m, auto&& field) {
  field(8, m.child_relid);
  field(12, m.openid);
  field(16, m.ringbuffer_gpadlhandle);
  field(20, m.target_vp);
  field(24, m.downstream_ringbuffer_pageoffset);
  field(28, m.userdata);
}

void Fields(Is<OpenChannel2> auto& m, auto&& field) {
  Fields(m.open_channel, field);
  field(148, m.connection_id);
  field(152, m.event_flag);
  field(154, m.flags);
}

void Fields(Is<OpenResult> auto& m, auto&& field) {
  field(8, m.child_relid);
  field(12, m.openid);
  field(16, m.status);
}

void Fields(Is<CloseChannel> auto& m, auto&& field) { field(8, m.child_relid); }

// The fixed part only; the range data follows at 20.
void Fields(Is<GpadlHeader> auto& m, auto&& field) {
  field(8, m.child_relid);
  field(12, m.gpadl);
  field(16, m.range_buflen);
  field(18, m.rangecount);
}

// The fixed part only; the PFNs follow at 16.
void Fields(Is<GpadlBody> auto& m, auto&& field) {
  field(8, m.msgnumber);
  field(12, m.gpadl);
}

void Fields(Is<GpadlCreated> auto& m, auto&& field) {
  field(8, m.child_relid);
  field(12, m.gpadl);
  field(16, m.creation_status);
}

void Fields(Is<GpadlTeardown> auto& m, auto&& field) {
  field(8, m.child_relid);
  field(12, m.gpadl);
}

void Fields(Is<GpadlTorndown> auto& m, auto&& field) { field(8, m.gpadl); }

void Fields(Is<RelidReleased> auto& m, auto&& field) { field(8, m.child_relid); }

void Fields(Is<InitiateContact> auto& m, auto&& field) {
  field(8, m.vmbus_version_requested);
  field(12, m.target_vcpu);
  field(16, m.interrupt_page_or_target_info);
  field(24, m.monitor_page1);
  field(32, m.monitor_page2);
}

void Fields(Is<InitiateContact2> auto& m, auto&& field) {
  Fields(m.initiate_contact, field);
  field(40, m.client_id);
}

void Fields(Is<VersionResponse> auto& m, auto&& field) {
  field(8, m.version_supported);
  field(9, m.connection_state);
  // 10: u16 padding.
  field(12, m.msg_conn_id);
}

void Fields(Is<VersionResponse2> auto& m, auto&& field) {
  Fields(m.version_response, field);
  field(16, m.supported_features);
}

void Fields(Is<VersionResponse3> auto& m, auto&& field) {
  Fields(m.version_response2, field);
  // 20: u32 padding.
  field(24, m.parent_to_child_monitor_page_gpa);
  field(32, m.child_to_parent_monitor_page_gpa);
}

void Fields(Is<OpenReservedChannel> auto& m, auto&& field) {
  field(8, m.child_relid);
  field(12, m.target_vp);
  field(16, m.target_sint);
  field(20, m.ringbuffer_gpadlhandle);
  field(24, m.downstream_ringbuffer_pageoffset);
}

void Fields(Is<CloseReservedChannel> auto& m, auto&& field) {
  field(8, m.child_relid);
  field(12, m.target_vp);
  field(16, m.target_sint);
}

void Fields(Is<CloseReservedResponse> auto& m, auto&& field) { field(8, m.child_relid); }

void Fields(Is<TlConnectRequest> auto& m, auto&& field) {
  field(8, m.guest_endpoint_id);
  field(24, m.host_service_id);
}

void Fields(Is<TlConnectRequest2> auto& m, auto&& field) {
  Fields(m.tl_connect_request, field);
  field(40, m.silo_id);
}

void Fields(Is<ModifyChannel> auto& m, auto&& field) {
  field(8, m.child_relid);
  field(12, m.target_vp);
}

void Fields(Is<TlConnectResult> auto& m, auto&& field) {
  field(8, m.guest_endpoint_id);
  field(24, m.host_service_id);
  field(40, m.status);
}

void Fields(Is<ModifyChannelResponse> auto& m, auto&& field) {
  field(8, m.child_relid);
  field(12, m.status);
}

void Fields(Is<ModifyConnection> auto& m, auto&& field) {
  field(8, m.parent_to_child_monitor_page_gpa);
  field(16, m.child_to_parent_monitor_page_gpa);
}

void Fields(Is<ModifyConnectionResponse> auto& m, auto&& field) { field(8, m.connection_state); }

// Writes fields into a zeroed buffer. Checks that the field list is in
// ascending, non-overlapping order and stays inside the form: a violation is
// a bug in the list above, not bad input.
class FieldWriter {
 public:
  explicit FieldWriter(absl::Span<uint8_t> out) : out_(out) {}

  template <typename T>
  void operator()(uint32_t offset_bytes, const T& value) {
    VMBSIM_CHECK_GE(offset_bytes, next_offset_bytes_);  // Wire order, no overlap.
    VMBSIM_CHECK_LE(offset_bytes + WireSizeBytes<T>(), out_.size());
    uint8_t* at = out_.data() + offset_bytes;
    if constexpr (std::same_as<T, Guid>) {
      std::memcpy(at, value.bytes.data(), value.bytes.size());
    } else if constexpr (std::same_as<T, std::array<uint8_t, 120>>) {
      std::memcpy(at, value.data(), value.size());
    } else if constexpr (sizeof(T) == 1) {
      *at = static_cast<uint8_t>(value);
    } else if constexpr (sizeof(T) == 2) {
      StoreLe16(at, static_cast<uint16_t>(value));
    } else if constexpr (sizeof(T) == 4) {
      StoreLe32(at, static_cast<uint32_t>(value));
    } else {
      static_assert(sizeof(T) == 8);
      StoreLe64(at, static_cast<uint64_t>(value));
    }
    next_offset_bytes_ = offset_bytes + WireSizeBytes<T>();
  }

  uint32_t next_offset_bytes() const { return next_offset_bytes_; }

 private:
  absl::Span<uint8_t> out_;
  uint32_t next_offset_bytes_ = kChannelMessageHeaderBytes;
};

// Reads fields from a private copy that the caller has checked is at least
// the form's kSizeBytes long.
class FieldReader {
 public:
  explicit FieldReader(absl::Span<const uint8_t> in) : in_(in) {}

  template <typename T>
  void operator()(uint32_t offset_bytes, T& value) {
    VMBSIM_CHECK_LE(offset_bytes + WireSizeBytes<T>(), in_.size());  // Caller checked the length.
    const uint8_t* at = in_.data() + offset_bytes;
    if constexpr (std::same_as<T, Guid>) {
      std::memcpy(value.bytes.data(), at, value.bytes.size());
    } else if constexpr (std::same_as<T, std::array<uint8_t, 120>>) {
      std::memcpy(value.data(), at, value.size());
    } else if constexpr (sizeof(T) == 1) {
      value = static_cast<T>(*at);
    } else if constexpr (sizeof(T) == 2) {
      value = static_cast<T>(LoadLe16(at));
    } else if constexpr (sizeof(T) == 4) {
      value = static_cast<T>(LoadLe32(at));
    } else {
      static_assert(sizeof(T) == 8);
      value = static_cast<T>(LoadLe64(at));
    }
  }

 private:
  absl::Span<const uint8_t> in_;
};

// ---------------------------------------------------------------------------
// Decoding.

// Decodes the fixed part of form M. DataLoss if `bytes` is shorter.
template <typename M>
absl::StatusOr<M> DecodeFixed(absl::Span<const uint8_t> bytes) {
  if (bytes.size() < M::kSizeBytes) {
    return absl::DataLossError(absl::StrCat(Describe(M::kType), ": length=", bytes.size(),
                                            " below minimum ", M::kSizeBytes));
  }
  M message;
  FieldReader reader(bytes);
  Fields(message, reader);
  return message;
}

// Converts the StatusOr of one form into the StatusOr of the variant.
template <typename M>
absl::StatusOr<ChannelMessage> Widen(absl::StatusOr<M> message) {
  if (!message.ok()) return message.status();
  return ChannelMessage(std::move(message).value());
}

absl::StatusOr<ChannelMessage> DecodeGpadlHeader(absl::Span<const uint8_t> bytes) {
  VMBSIM_ASSIGN_OR_RETURN(GpadlHeader header, DecodeFixed<GpadlHeader>(bytes));
  // The tail is range data of any length; the assembler decides how much of
  // it counts (spec 5.2, trimming).
  header.range_data.assign(bytes.begin() + GpadlHeader::kSizeBytes, bytes.end());
  VMBSIM_CHECK_LE(header.range_data.size(), GpadlHeader::kRangeDataBytesMax);
  return header;
}

absl::StatusOr<ChannelMessage> DecodeGpadlBody(absl::Span<const uint8_t> bytes) {
  VMBSIM_ASSIGN_OR_RETURN(GpadlBody body, DecodeFixed<GpadlBody>(bytes));
  const size_t pfn_bytes = bytes.size() - GpadlBody::kSizeBytes;
  if (pfn_bytes % 8 != 0) {
    return absl::DataLossError(absl::StrCat(Describe(GpadlBody::kType), ": pfn bytes=", pfn_bytes,
                                            " (length=", bytes.size(),
                                            ") not a multiple of 8"));
  }
  body.pfns.resize(pfn_bytes / 8);
  for (size_t i = 0; i < body.pfns.size(); ++i) {
    body.pfns[i] = LoadLe64(bytes.data() + GpadlBody::kSizeBytes + 8 * i);
  }
  VMBSIM_CHECK_LE(body.pfns.size(), GpadlBody::kPfnsMax);
  return body;
}

// `feature_flags` is nullopt when the caller did not say what was negotiated.
absl::StatusOr<ChannelMessage> DecodeImpl(absl::Span<const uint8_t> bytes,
                                          uint32_t negotiated_version,
                                          std::optional<uint32_t> feature_flags) {
  if (bytes.size() > kMaxMessagePayloadBytes) {
    return absl::DataLossError(absl::StrCat("channel message: length=", bytes.size(),
                                            " above maximum ", kMaxMessagePayloadBytes));
  }
  if (bytes.size() < kChannelMessageHeaderBytes) {
    return absl::DataLossError(absl::StrCat("channel message: length=", bytes.size(),
                                            " below header size ", kChannelMessageHeaderBytes));
  }
  // The header's padding word is ignored, as every known receiver does.
  const uint32_t raw_type = LoadLe32(bytes.data());
  if (!IsMessageType(raw_type)) {
    return absl::InvalidArgumentError(
        raw_type == 0 ? std::string("channel message: msgtype=0 (CHANNELMSG_INVALID) is not a "
                                    "message")
                      : absl::StrCat("channel message: msgtype=", raw_type,
                                     " unknown (maximum ", kChannelMessageTypeCount - 1, ")"));
  }
  const auto type = static_cast<ChannelMessageType>(raw_type);
  const TypeInfo& info = InfoFor(type);
  if (negotiated_version < info.min_version) {
    return absl::InvalidArgumentError(
        absl::StrCat(Describe(type), ": not valid at negotiated version ",
                     DescribeVersion(negotiated_version), "; minimum ",
                     DescribeVersion(info.min_version)));
  }
  if (feature_flags.has_value() && info.feature_flags != 0 &&
      (*feature_flags & info.feature_flags) == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: needs feature flag 0x%x, not in negotiated feature_flags=0x%x", Describe(type),
        info.feature_flags, *feature_flags));
  }

  switch (type) {
    case ChannelMessageType::kOfferChannel:
      return Widen(DecodeFixed<OfferChannel>(bytes));
    case ChannelMessageType::kRescindChannelOffer:
      return Widen(DecodeFixed<RescindChannelOffer>(bytes));
    case ChannelMessageType::kRequestOffers:
      return Widen(DecodeFixed<RequestOffers>(bytes));
    case ChannelMessageType::kAllOffersDelivered:
      return Widen(DecodeFixed<AllOffersDelivered>(bytes));
    case ChannelMessageType::kOpenChannel: {
      bool copper_form = false;
      if (negotiated_version >= kVersionCopper) {
        copper_form = feature_flags.has_value()
                          ? (*feature_flags & (kFeatureGuestSpecifiedSignalParameters |
                                               kFeatureChannelInterruptRedirection)) != 0
                          : bytes.size() >= OpenChannel2::kSizeBytes;
      }
      return copper_form ? Widen(DecodeFixed<OpenChannel2>(bytes))
                         : Widen(DecodeFixed<OpenChannel>(bytes));
    }
    case ChannelMessageType::kOpenChannelResult:
      return Widen(DecodeFixed<OpenResult>(bytes));
    case ChannelMessageType::kCloseChannel:
      return Widen(DecodeFixed<CloseChannel>(bytes));
    case ChannelMessageType::kGpadlHeader:
      return DecodeGpadlHeader(bytes);
    case ChannelMessageType::kGpadlBody:
      return DecodeGpadlBody(bytes);
    case ChannelMessageType::kGpadlCreated:
      return Widen(DecodeFixed<GpadlCreated>(bytes));
    case ChannelMessageType::kGpadlTeardown:
      return Widen(DecodeFixed<GpadlTeardown>(bytes));
    case ChannelMessageType::kGpadlTorndown:
      return Widen(DecodeFixed<GpadlTorndown>(bytes));
    case ChannelMessageType::kRelidReleased:
      return Widen(DecodeFixed<RelidReleased>(bytes));
    case ChannelMessageType::kInitiateContact:
      // Received before any version is agreed, so only the length can tell
      // the forms apart (as in OpenVMM).
      if (bytes.size() >= InitiateContact2::kSizeBytes) {
        return Widen(DecodeFixed<InitiateContact2>(bytes));
      }
      return Widen(DecodeFixed<InitiateContact>(bytes));
    case ChannelMessageType::kVersionResponse:
      if (bytes.size() >= VersionResponse3::kSizeBytes) {
        return Widen(DecodeFixed<VersionResponse3>(bytes));
      }
      if (bytes.size() >= VersionResponse2::kSizeBytes) {
        return Widen(DecodeFixed<VersionResponse2>(bytes));
      }
      return Widen(DecodeFixed<VersionResponse>(bytes));
    case ChannelMessageType::kUnload:
      return Widen(DecodeFixed<Unload>(bytes));
    case ChannelMessageType::kUnloadResponse:
      return Widen(DecodeFixed<UnloadResponse>(bytes));
    case ChannelMessageType::kOpenReservedChannel:
      return Widen(DecodeFixed<OpenReservedChannel>(bytes));
    case ChannelMessageType::kCloseReservedChannel:
      return Widen(DecodeFixed<CloseReservedChannel>(bytes));
    case ChannelMessageType::kCloseReservedResponse:
      return Widen(DecodeFixed<CloseReservedResponse>(bytes));
    case ChannelMessageType::kTlConnectRequest:
      // OpenVMM: some clients send the old form at newer versions.
      if (negotiated_version >= kVersionWin10Rs5 &&
          bytes.size() >= TlConnectRequest2::kSizeBytes) {
        return Widen(DecodeFixed<TlConnectRequest2>(bytes));
      }
      return Widen(DecodeFixed<TlConnectRequest>(bytes));
    case ChannelMessageType::kModifyChannel:
      return Widen(DecodeFixed<ModifyChannel>(bytes));
    case ChannelMessageType::kTlConnectResult:
      return Widen(DecodeFixed<TlConnectResult>(bytes));
    case ChannelMessageType::kModifyChannelResponse:
      return Widen(DecodeFixed<ModifyChannelResponse>(bytes));
    case ChannelMessageType::kModifyConnection:
      return Widen(DecodeFixed<ModifyConnection>(bytes));
    case ChannelMessageType::kModifyConnectionResponse:
      return Widen(DecodeFixed<ModifyConnectionResponse>(bytes));
    case ChannelMessageType::kPause:
      return Widen(DecodeFixed<Pause>(bytes));
    case ChannelMessageType::kPauseResponse:
      return Widen(DecodeFixed<PauseResponse>(bytes));
    case ChannelMessageType::kResume:
      return Widen(DecodeFixed<Resume>(bytes));
    case ChannelMessageType::kInvalid:
      break;
  }
  VMBSIM_CHECK_MSG(false, absl::StrCat("msgtype=", raw_type, " passed IsMessageType"));
  return absl::InternalError("unreachable");
}

int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// ---------------------------------------------------------------------------
// Names and tables.

const char* ProtocolVersionName(uint32_t version) {
  switch (version) {
    case kVersionNotNegotiated: return "not negotiated";
    case kVersionWs2008: return "V1";
    case kVersionWin7: return "Win7";
    case kVersionWin8: return "Win8";
    case kVersionWin8_1: return "Win8_1";
    case kVersionWin10: return "Win10";
    case kVersionWin10Rs3_0: return "Win10Rs3_0";
    case kVersionWin10Rs3_1: return "Win10Rs3_1";
    case kVersionWin10Rs4: return "Win10Rs4";
    case kVersionWin10Rs5: return "Win10Rs5";
    case kVersionIron: return "Iron";
    case kVersionCopper: return "Copper";
    default: return "unknown";
  }
}

const char* ChannelMessageTypeName(ChannelMessageType type) {
  const uint32_t raw_type = static_cast<uint32_t>(type);
  return raw_type < kChannelMessageTypeCount ? kTypeInfo[raw_type].name : "unknown";
}

uint32_t MinimumProtocolVersion(ChannelMessageType type) { return InfoFor(type).min_version; }

uint32_t RequiredFeatureFlags(ChannelMessageType type) { return InfoFor(type).feature_flags; }

// ---------------------------------------------------------------------------
// Guid.

absl::StatusOr<Guid> Guid::Parse(absl::string_view text) {
  constexpr size_t kTextSize = 36;
  if (text.size() != kTextSize) {
    return absl::InvalidArgumentError(absl::StrCat("guid \"", text, "\": length=", text.size(),
                                                   ", want ", kTextSize));
  }
  // Bytes in text order: Data1 (4), Data2 (2), Data3 (2), Data4 (2 + 6).
  std::array<uint8_t, 16> text_order = {};
  size_t byte_index = 0;
  for (size_t pos = 0; pos < kTextSize;) {
    if (pos == 8 || pos == 13 || pos == 18 || pos == 23) {
      if (text[pos] != '-') {
        return absl::InvalidArgumentError(
            absl::StrCat("guid \"", text, "\": position ", pos, " is not '-'"));
      }
      ++pos;
      continue;
    }
    const int high = HexDigitValue(text[pos]);
    const int low = HexDigitValue(text[pos + 1]);
    if (high < 0 || low < 0) {
      return absl::InvalidArgumentError(absl::StrCat("guid \"", text, "\": position ",
                                                     high < 0 ? pos : pos + 1,
                                                     " is not a hex digit"));
    }
    VMBSIM_CHECK_LT(byte_index, text_order.size());
    text_order[byte_index++] = static_cast<uint8_t>(high << 4 | low);
    pos += 2;
  }
  VMBSIM_CHECK_EQ(byte_index, text_order.size());
  // Data1..Data3 are little-endian on the wire; Data4 is a byte array.
  return FromFields(uint32_t{text_order[0]} << 24 | uint32_t{text_order[1]} << 16 |
                        uint32_t{text_order[2]} << 8 | text_order[3],
                    static_cast<uint16_t>(text_order[4] << 8 | text_order[5]),
                    static_cast<uint16_t>(text_order[6] << 8 | text_order[7]),
                    {text_order[8], text_order[9], text_order[10], text_order[11],
                     text_order[12], text_order[13], text_order[14], text_order[15]});
}

std::string Guid::ToString() const {
  const auto& b = bytes;
  return absl::StrFormat(
      "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[3], b[2], b[1],
      b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

// ---------------------------------------------------------------------------
// Encode / Decode.

ChannelMessageType MessageTypeOf(const ChannelMessage& message) {
  return std::visit([](const auto& m) { return std::decay_t<decltype(m)>::kType; }, message);
}

uint32_t EncodedSizeBytes(const ChannelMessage& message) {
  return std::visit(
      [](const auto& m) -> uint32_t {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::same_as<M, GpadlHeader>) {
          return M::kSizeBytes + static_cast<uint32_t>(m.range_data.size());
        } else if constexpr (std::same_as<M, GpadlBody>) {
          return M::kSizeBytes + 8 * static_cast<uint32_t>(m.pfns.size());
        } else {
          return M::kSizeBytes;
        }
      },
      message);
}

std::vector<uint8_t> Encode(const ChannelMessage& message) {
  const uint32_t size_bytes = EncodedSizeBytes(message);
  VMBSIM_CHECK_LE(size_bytes, kMaxMessagePayloadBytes);
  std::vector<uint8_t> out(size_bytes, 0);
  StoreLe32(out.data(), static_cast<uint32_t>(MessageTypeOf(message)));
  std::visit(
      [&out](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        FieldWriter writer(absl::MakeSpan(out));
        Fields(m, writer);
        // Every byte of the fixed part is a field or known padding, so the
        // last field ends exactly at the form's size.
        VMBSIM_CHECK_EQ(writer.next_offset_bytes(), M::kSizeBytes);
        if constexpr (std::same_as<M, GpadlHeader>) {
          // An empty vector's data() may be null, and memcpy from null is
          // undefined even for zero bytes (a 20-byte GPADL_HEADER has none).
          if (!m.range_data.empty()) {
            std::memcpy(out.data() + M::kSizeBytes, m.range_data.data(), m.range_data.size());
          }
        } else if constexpr (std::same_as<M, GpadlBody>) {
          for (size_t i = 0; i < m.pfns.size(); ++i) {
            StoreLe64(out.data() + M::kSizeBytes + 8 * i, m.pfns[i]);
          }
        }
      },
      message);
  return out;
}

absl::StatusOr<ChannelMessage> Decode(absl::Span<const uint8_t> bytes,
                                      uint32_t negotiated_version) {
  return DecodeImpl(bytes, negotiated_version, std::nullopt);
}

absl::StatusOr<ChannelMessage> Decode(absl::Span<const uint8_t> bytes,
                                      uint32_t negotiated_version, uint32_t feature_flags) {
  return DecodeImpl(bytes, negotiated_version, feature_flags);
}

}  // namespace vmbsim::fabric
