// Goal: every control message of spec 4.1/4.2 encodes byte-exactly, decodes
// back to the same value, and the decoder rejects what spec 7.1 says a
// receiver must reject (length, msgtype, version and feature gating).
// Method: golden byte vectors and offsets written by hand from the spec
// tables (never derived from the code under test), one non-trivial sample
// per wire form, and a TEST_P over every known protocol version.
#include "sim/fabric/channel_messages.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"

namespace vmbsim::fabric {
namespace {

uint8_t At8(const std::vector<uint8_t>& b, size_t offset) { return b.at(offset); }
uint16_t At16(const std::vector<uint8_t>& b, size_t offset) {
  return static_cast<uint16_t>(b.at(offset) | b.at(offset + 1) << 8);
}
uint32_t At32(const std::vector<uint8_t>& b, size_t offset) {
  return uint32_t{At16(b, offset)} | uint32_t{At16(b, offset + 2)} << 16;
}
uint64_t At64(const std::vector<uint8_t>& b, size_t offset) {
  return uint64_t{At32(b, offset)} | uint64_t{At32(b, offset + 4)} << 32;
}

void ExpectError(const absl::StatusOr<ChannelMessage>& decoded, absl::StatusCode code,
                 const std::string& message) {
  ASSERT_FALSE(decoded.ok()) << "expected error: " << message;
  EXPECT_EQ(decoded.status().code(), code) << decoded.status();
  EXPECT_NE(decoded.status().message().find(message), std::string::npos)
      << "got: " << decoded.status().message() << "\nwant: " << message;
}

Guid G(const char* text) {
  absl::StatusOr<Guid> g = Guid::Parse(text);
  EXPECT_TRUE(g.ok()) << g.status();
  return g.value_or(Guid{});
}

std::array<uint8_t, 120> Pattern120(uint8_t seed) {
  std::array<uint8_t, 120> a;
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(seed + 7 * i);
  return a;
}

// One sample of every wire form, every field distinct and non-zero where the
// field allows it, so that a field written at the wrong offset or with the
// wrong width shows up as a mismatch.
std::vector<ChannelMessage> AllSamples() {
  OfferChannel offer;
  offer.interface_id = G("f8615163-df3e-46c5-913f-f2d2f965ed0e");
  offer.instance_id = G("00112233-4455-6677-8899-aabbccddeeff");
  offer.reserved1 = 0x1122334455667788;
  offer.reserved2 = 0x0102030405060708;
  offer.chn_flags = kOfferFlagEnumerateDeviceInterface | kOfferFlagRequestMonitoredNotification;
  offer.mmio_megabytes = 0x0A0B;
  offer.user_defined = Pattern120(3);
  offer.sub_channel_index = 0x0203;
  offer.mmio_megabytes_optional = 0x0405;
  offer.child_relid = 0x0C0D0E0F;
  offer.monitor_id = 0x21;
  offer.monitor_allocated = 1;
  offer.is_dedicated_interrupt = 1;
  offer.connection_id = 0x00F00D01;

  OpenChannel open;
  open.child_relid = 5;
  open.openid = 0x55;
  open.ringbuffer_gpadlhandle = 0xE1E10;
  open.target_vp = 3;
  open.downstream_ringbuffer_pageoffset = 17;
  open.userdata = Pattern120(9);

  InitiateContact contact{kVersionCopper, 2,
                          TargetInfo{kVmbusMessageSint, 0, kFeatureAll}.ToWord(),
                          0x0000000123456000, 0x0000000789ABC000};
  VersionResponse version{1, kConnectionStateSuccessful, 0x0000000B};
  VersionResponse2 version2{version, kFeatureModifyConnection | kFeaturePauseResume};
  TlConnectRequest tl{G("11111111-2222-3333-4444-555555555555"),
                      G("66666666-7777-8888-9999-aaaaaaaaaaaa")};

  return {
      offer,
      RescindChannelOffer{0x12345678},
      RequestOffers{},
      AllOffersDelivered{},
      open,
      OpenChannel2{open, 0x00ABCDEF, 0x0123, kOpenChannelFlagRedirectInterrupt},
      OpenResult{5, 0x55, kStatusUnsuccessful},
      CloseChannel{5},
      GpadlHeader{7, 0xE1E10, 8 + 3 * 8, 1,
                  {0x00, 0x30, 0, 0, 0x10, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                   15, 16, 17, 18, 19, 20, 21, 22, 23, 24}},
      GpadlBody{0, 0xE1E11, {0x1000, 0x2000, 0xFFFFFFFFFFFFFFFF}},
      GpadlCreated{7, 0xE1E10, kStatusUnsuccessful},
      GpadlTeardown{7, 0xE1E10},
      GpadlTorndown{0xE1E10},
      RelidReleased{9},
      contact,
      InitiateContact2{contact, G("0123abcd-0000-1111-2222-333344445555")},
      version,
      version2,
      VersionResponse3{version2, 0x0000000100000000, 0x0000000200001000},
      Unload{},
      UnloadResponse{},
      OpenReservedChannel{11, 1, 2, 0xAB, 6},
      CloseReservedChannel{11, 1, 2},
      CloseReservedResponse{11},
      tl,
      TlConnectRequest2{tl, G("deadbeef-0000-0000-0000-000000000001")},
      ModifyChannel{5, 7},
      TlConnectResult{tl.guest_endpoint_id, tl.host_service_id, -5},
      ModifyChannelResponse{5, -1},
      ModifyConnection{0x0000000100000000, 0x0000000100001000},
      ModifyConnectionResponse{kConnectionStateFailedLowResources},
      Pause{},
      PauseResponse{},
      Resume{},
  };
}

// The "total bytes" column of the table in spec 4.1, per wire form (GPADL
// messages: the fixed part).
uint32_t SpecTotalBytes(const ChannelMessage& message) {
  switch (message.index()) {
    case 0: return 196;   // OFFERCHANNEL
    case 1: return 12;    // RESCIND_CHANNELOFFER
    case 2: return 8;     // REQUESTOFFERS
    case 3: return 8;     // ALLOFFERS_DELIVERED
    case 4: return 148;   // OPENCHANNEL
    case 5: return 156;   // OPENCHANNEL2
    case 6: return 20;    // OPENCHANNEL_RESULT
    case 7: return 12;    // CLOSECHANNEL
    case 8: return 20;    // GPADL_HEADER + ranges
    case 9: return 16;    // GPADL_BODY + 8n
    case 10: return 20;   // GPADL_CREATED
    case 11: return 16;   // GPADL_TEARDOWN
    case 12: return 12;   // GPADL_TORNDOWN
    case 13: return 12;   // RELID_RELEASED
    case 14: return 40;   // INITIATE_CONTACT
    case 15: return 56;   // INITIATE_CONTACT (client id)
    case 16: return 16;   // VERSION_RESPONSE
    case 17: return 20;   // VERSION_RESPONSE /2
    case 18: return 40;   // VERSION_RESPONSE /3
    case 19: return 8;    // UNLOAD
    case 20: return 8;    // UNLOAD_RESPONSE
    case 21: return 28;   // OPEN_RESERVED_CHANNEL
    case 22: return 20;   // CLOSE_RESERVED_CHANNEL
    case 23: return 12;   // CLOSE_RESERVED_RESPONSE
    case 24: return 40;   // TL_CONNECT_REQUEST
    case 25: return 56;   // TL_CONNECT_REQUEST /2
    case 26: return 16;   // MODIFYCHANNEL
    case 27: return 44;   // TL_CONNECT_RESULT
    case 28: return 16;   // MODIFYCHANNEL_RESPONSE
    case 29: return 24;   // MODIFY_CONNECTION
    case 30: return 9;    // MODIFY_CONNECTION_RESPONSE
    case 31: return 8;    // PAUSE
    case 32: return 8;    // PAUSE_RESPONSE
    case 33: return 8;    // RESUME
  }
  ADD_FAILURE() << "no spec size for alternative " << message.index();
  return 0;
}

// The minimum protocol version column of spec 4.1, written out again here
// rather than read from the code under test.
uint32_t SpecMinimumVersion(uint32_t raw_type) {
  switch (raw_type) {
    case 14: case 15: case 19: return kVersionNotNegotiated;
    case 17: return kVersionWin7;
    case 18: case 20: case 21: return kVersionWin10;
    case 22: case 23: return kVersionWin10Rs3_0;
    case 24: return kVersionIron;
    case 25: case 26: case 27: case 28: case 29: return kVersionCopper;
    default: return kVersionWs2008;
  }
}

TEST(ChannelMessagesTest, GoldenBytesFromTheSpec) {
  // Spec 4.1 (from OpenVMM's vmbus_core tests).
  EXPECT_EQ(Encode(CloseChannel{5}),
            (std::vector<uint8_t>{0x07, 0, 0, 0, 0, 0, 0, 0, 0x05, 0, 0, 0}));
  EXPECT_EQ(Encode(Unload{}), (std::vector<uint8_t>{0x10, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(ChannelMessagesTest, EveryFormHasTheSpecSizeAndRoundTrips) {
  const std::vector<ChannelMessage> samples = AllSamples();
  ASSERT_EQ(samples.size(), std::variant_size_v<ChannelMessage>);
  std::map<uint32_t, int> forms_per_type;
  for (const ChannelMessage& sample : samples) {
    SCOPED_TRACE(ChannelMessageTypeName(MessageTypeOf(sample)));
    ++forms_per_type[static_cast<uint32_t>(MessageTypeOf(sample))];
    const std::vector<uint8_t> bytes = Encode(sample);
    uint32_t variable_bytes = 0;
    if (const auto* h = std::get_if<GpadlHeader>(&sample)) variable_bytes = h->range_data.size();
    if (const auto* b = std::get_if<GpadlBody>(&sample)) variable_bytes = 8 * b->pfns.size();
    EXPECT_EQ(bytes.size(), SpecTotalBytes(sample) + variable_bytes);
    EXPECT_EQ(EncodedSizeBytes(sample), bytes.size());
    EXPECT_EQ(At32(bytes, 0), static_cast<uint32_t>(MessageTypeOf(sample)));
    EXPECT_EQ(At32(bytes, 4), 0u) << "header padding";
    // Copper with every feature accepts every type and every form.
    absl::StatusOr<ChannelMessage> decoded = Decode(bytes, kVersionCopper);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(decoded->index(), sample.index());
    EXPECT_TRUE(*decoded == sample);
    // With every feature negotiated too, except that a 148-byte OPENCHANNEL
    // is then too short (OPENCHANNEL2 is required).
    if (!std::holds_alternative<OpenChannel>(sample)) {
      absl::StatusOr<ChannelMessage> with_features = Decode(bytes, kVersionCopper, kFeatureAll);
      ASSERT_TRUE(with_features.ok()) << with_features.status();
      EXPECT_TRUE(*with_features == sample);
    }
  }
  // Every type 1..29 is covered.
  EXPECT_EQ(forms_per_type.size(), kChannelMessageTypeCount - 1);
}

TEST(ChannelMessagesTest, OfferFieldsLandAtTheirSpecOffsets) {
  const OfferChannel offer = std::get<OfferChannel>(AllSamples()[0]);
  const std::vector<uint8_t> b = Encode(offer);
  ASSERT_EQ(b.size(), 196u);
  // if_type f8615163-df3e-46c5-913f-...: Data1..3 little-endian.
  EXPECT_EQ(At32(b, 8), 0xf8615163u);
  EXPECT_EQ(At16(b, 12), 0xdf3e);
  EXPECT_EQ(At16(b, 14), 0x46c5);
  EXPECT_EQ(At8(b, 16), 0x91);
  EXPECT_EQ(At8(b, 23), 0x0e);
  EXPECT_EQ(At32(b, 24), 0x00112233u);
  EXPECT_EQ(At64(b, 40), 0x1122334455667788u);  // chm_chlat, 100 ns units.
  EXPECT_EQ(At64(b, 48), 0x0102030405060708u);
  EXPECT_EQ(At16(b, 56), kOfferFlagEnumerateDeviceInterface | kOfferFlagRequestMonitoredNotification);
  EXPECT_EQ(At16(b, 58), 0x0A0B);
  EXPECT_EQ(At8(b, 60), offer.user_defined[0]);
  EXPECT_EQ(At8(b, 179), offer.user_defined[119]);
  EXPECT_EQ(At16(b, 180), 0x0203);  // sub_channel_index
  EXPECT_EQ(At16(b, 182), 0x0405);
  EXPECT_EQ(At32(b, 184), 0x0C0D0E0Fu);  // child_relid
  EXPECT_EQ(At8(b, 188), 0x21);          // monitorid
  EXPECT_EQ(At8(b, 189), 1);             // monitor_allocated
  EXPECT_EQ(At16(b, 190), 1);            // is_dedicated_interrupt
  EXPECT_EQ(At32(b, 192), 0x00F00D01u);  // connection_id
}

TEST(ChannelMessagesTest, OtherFieldsLandAtTheirSpecOffsets) {
  OpenChannel open;
  open.child_relid = 1;
  open.openid = 2;
  open.ringbuffer_gpadlhandle = 3;
  open.target_vp = 4;
  open.downstream_ringbuffer_pageoffset = 5;
  open.userdata[0] = 0xA5;
  open.userdata[119] = 0x5A;
  std::vector<uint8_t> b = Encode(open);
  ASSERT_EQ(b.size(), 148u);
  EXPECT_EQ(At32(b, 8), 1u);
  EXPECT_EQ(At32(b, 12), 2u);
  EXPECT_EQ(At32(b, 16), 3u);
  EXPECT_EQ(At32(b, 20), 4u);
  EXPECT_EQ(At32(b, 24), 5u);  // downstream_ringbuffer_pageoffset
  EXPECT_EQ(At8(b, 28), 0xA5);  // userdata
  EXPECT_EQ(At8(b, 147), 0x5A);

  b = Encode(OpenChannel2{open, 0x77, 0x88, kOpenChannelFlagRedirectInterrupt});
  ASSERT_EQ(b.size(), 156u);
  EXPECT_EQ(At32(b, 148), 0x77u);
  EXPECT_EQ(At16(b, 152), 0x88);
  EXPECT_EQ(At16(b, 154), 1);

  b = Encode(GpadlHeader{3, 4, 24, 1, {9, 8, 7, 6}});
  EXPECT_EQ(At32(b, 8), 3u);
  EXPECT_EQ(At32(b, 12), 4u);
  EXPECT_EQ(At16(b, 16), 24);
  EXPECT_EQ(At16(b, 18), 1);
  EXPECT_EQ(At8(b, 20), 9);

  b = Encode(GpadlBody{1, 2, {0x1122334455667788}});
  EXPECT_EQ(At32(b, 8), 1u);
  EXPECT_EQ(At32(b, 12), 2u);
  EXPECT_EQ(At64(b, 16), 0x1122334455667788u);

  b = Encode(InitiateContact{kVersionWin10Rs5, 1, 0x0302, 0x4000, 0x5000});
  EXPECT_EQ(At32(b, 8), kVersionWin10Rs5);
  EXPECT_EQ(At32(b, 12), 1u);
  EXPECT_EQ(At8(b, 16), 2);  // msg_sint
  EXPECT_EQ(At8(b, 17), 3);  // msg_vtl
  EXPECT_EQ(At64(b, 24), 0x4000u);
  EXPECT_EQ(At64(b, 32), 0x5000u);

  b = Encode(VersionResponse3{{{1, 2, 0x44}, 0x3F}, 0x6000, 0x7000});
  ASSERT_EQ(b.size(), 40u);
  EXPECT_EQ(At8(b, 8), 1);
  EXPECT_EQ(At8(b, 9), 2);
  EXPECT_EQ(At16(b, 10), 0);  // padding
  EXPECT_EQ(At32(b, 12), 0x44u);
  EXPECT_EQ(At32(b, 16), 0x3Fu);
  EXPECT_EQ(At32(b, 20), 0u);  // padding
  EXPECT_EQ(At64(b, 24), 0x6000u);
  EXPECT_EQ(At64(b, 32), 0x7000u);

  b = Encode(TlConnectResult{G("01020304-0506-0708-090a-0b0c0d0e0f10"), Guid{}, -2});
  EXPECT_EQ(At32(b, 8), 0x01020304u);
  EXPECT_EQ(At32(b, 40), 0xFFFFFFFEu);

  b = Encode(ModifyConnectionResponse{kConnectionStateFailedUnknownFailure});
  ASSERT_EQ(b.size(), 9u);
  EXPECT_EQ(At8(b, 8), 2);
}

TEST(ChannelMessagesTest, GuidTextUsesTheWindowsMixedEndianLayout) {
  const Guid g = G("00112233-4455-6677-8899-AABBCCDDEEFF");
  EXPECT_EQ(g.bytes, (std::array<uint8_t, 16>{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66,
                                              0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF}));
  EXPECT_EQ(g.ToString(), "00112233-4455-6677-8899-aabbccddeeff");
  EXPECT_EQ(Guid::FromFields(0x00112233, 0x4455, 0x6677,
                             {0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF}),
            g);
  EXPECT_FALSE(Guid::Parse("{00112233-4455-6677-8899-aabbccddeeff}").ok());
  EXPECT_FALSE(Guid::Parse("00112233-4455-6677-8899_aabbccddeeff").ok());
  absl::StatusOr<Guid> bad = Guid::Parse("0011223g-4455-6677-8899-aabbccddeeff");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("position 7"), std::string::npos) << bad.status();
}

TEST(ChannelMessagesTest, DecodeRejectsBadLengthsAndTypes) {
  std::vector<uint8_t> close = Encode(CloseChannel{5});
  close.pop_back();
  ExpectError(Decode(close, kVersionCopper), absl::StatusCode::kDataLoss,
              "CHANNELMSG_CLOSECHANNEL (msgtype=7): length=11 below minimum 12");

  std::vector<uint8_t> offer = Encode(AllSamples()[0]);
  offer.resize(150);
  ExpectError(Decode(offer, kVersionWin8), absl::StatusCode::kDataLoss,
              "CHANNELMSG_OFFERCHANNEL (msgtype=1): length=150 below minimum 196");

  std::vector<uint8_t> too_long(241, 0);
  too_long[0] = 7;
  ExpectError(Decode(too_long, kVersionCopper), absl::StatusCode::kDataLoss,
              "length=241 above maximum 240");
  ExpectError(Decode(std::vector<uint8_t>{7, 0, 0}, kVersionCopper), absl::StatusCode::kDataLoss,
              "length=3 below header size 8");

  std::vector<uint8_t> unknown = Encode(Unload{});
  unknown[0] = 30;
  ExpectError(Decode(unknown, kVersionCopper), absl::StatusCode::kInvalidArgument,
              "msgtype=30 unknown (maximum 29)");
  unknown[0] = 0;
  ExpectError(Decode(unknown, kVersionCopper), absl::StatusCode::kInvalidArgument,
              "msgtype=0 (CHANNELMSG_INVALID)");
  unknown[0] = 0x10;
  unknown[3] = 0x01;  // 0x01000010: the high bytes count too.
  ExpectError(Decode(unknown, kVersionCopper), absl::StatusCode::kInvalidArgument,
              "msgtype=16777232 unknown");

  std::vector<uint8_t> body = Encode(GpadlBody{0, 1, {1, 2}});
  body.push_back(0);
  ExpectError(Decode(body, kVersionCopper), absl::StatusCode::kDataLoss,
              "CHANNELMSG_GPADL_BODY (msgtype=9): pfn bytes=17 (length=33) not a multiple of 8");

  // OPENCHANNEL2 negotiated: a 148-byte open is too short.
  ExpectError(Decode(Encode(OpenChannel{}), kVersionCopper, kFeatureGuestSpecifiedSignalParameters),
              absl::StatusCode::kDataLoss, "CHANNELMSG_OPENCHANNEL (msgtype=5): length=148 below "
                                           "minimum 156");
}

TEST(ChannelMessagesTest, TrailingBytesAreIgnoredAndHeaderPaddingIsNotRead) {
  // A client that pads every message to 240 bytes (spec 5.2) is understood.
  std::vector<uint8_t> bytes = Encode(CloseChannel{5});
  bytes.resize(kMaxMessagePayloadBytes, 0xCC);
  bytes[4] = 0xEE;  // Header padding.
  absl::StatusOr<ChannelMessage> decoded = Decode(bytes, kVersionWin8);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(*decoded == ChannelMessage(CloseChannel{5}));

  // A GPADL_HEADER keeps its whole tail, including the 4 spare bytes of a
  // 240-byte message.
  GpadlHeader full{1, 2, 8 * 27, 1, std::vector<uint8_t>(GpadlHeader::kRangeDataBytesMax, 0x5A)};
  decoded = Decode(Encode(full), kVersionWin8);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(std::get<GpadlHeader>(*decoded).range_data.size(), 220u);
}

TEST(ChannelMessagesTest, LongerFormsAreChosenByLengthAndVersion) {
  const TlConnectRequest tl{G("11111111-2222-3333-4444-555555555555"), Guid{}};
  const std::vector<uint8_t> tl2 = Encode(TlConnectRequest2{tl, G("99999999-2222-3333-4444-555555555555")});
  // Below Win10Rs5 the silo id is trailing data.
  absl::StatusOr<ChannelMessage> decoded = Decode(tl2, kVersionWin10Rs4);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(std::holds_alternative<TlConnectRequest>(*decoded));
  decoded = Decode(tl2, kVersionWin10Rs5);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(std::holds_alternative<TlConnectRequest2>(*decoded));
  // The old form is still accepted at Win10Rs5 (OpenVMM: some clients send it).
  decoded = Decode(Encode(tl), kVersionWin10Rs5);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(std::holds_alternative<TlConnectRequest>(*decoded));

  // OPENCHANNEL2 bytes below Copper are an OPENCHANNEL with a tail.
  const std::vector<uint8_t> open2 = Encode(OpenChannel2{OpenChannel{.child_relid = 4}, 1, 2, 0});
  decoded = Decode(open2, kVersionIron);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(std::get<OpenChannel>(*decoded).child_relid, 4u);
  // At Copper without the signalling features, also an OPENCHANNEL.
  decoded = Decode(open2, kVersionCopper, kFeaturePauseResume);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(std::holds_alternative<OpenChannel>(*decoded));
  decoded = Decode(open2, kVersionCopper, kFeatureChannelInterruptRedirection);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(std::holds_alternative<OpenChannel2>(*decoded));

  // VERSION_RESPONSE before negotiation: the longest form that fits.
  std::vector<uint8_t> vr = Encode(VersionResponse{1, 0, 7});
  vr.resize(39, 0);  // One byte short of VersionResponse3.
  decoded = Decode(vr, kVersionNotNegotiated);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(std::holds_alternative<VersionResponse2>(*decoded));
}

TEST(ChannelMessagesTest, FeatureGatingWhenFeaturesAreKnown) {
  const std::vector<uint8_t> pause = Encode(Pause{});
  ExpectError(Decode(pause, kVersionCopper, kFeatureModifyConnection),
              absl::StatusCode::kInvalidArgument,
              "PAUSE (msgtype=27): needs feature flag 0x20, not in negotiated feature_flags=0x4");
  EXPECT_TRUE(Decode(pause, kVersionCopper, kFeaturePauseResume).ok());
  const std::vector<uint8_t> modify = Encode(ModifyConnection{1, 2});
  EXPECT_FALSE(Decode(modify, kVersionCopper, kFeaturePauseResume).ok());
  EXPECT_TRUE(Decode(modify, kVersionCopper, kFeatureModifyConnection).ok());
  // Without the feature argument only the version gates.
  EXPECT_TRUE(Decode(modify, kVersionCopper).ok());
  // Types without a feature requirement ignore the flags.
  EXPECT_TRUE(Decode(Encode(Unload{}), kVersionCopper, 0).ok());
}

TEST(ChannelMessagesTest, NamesAndVersionsFollowTheSpecTables) {
  EXPECT_STREQ(ChannelMessageTypeName(ChannelMessageType::kCloseChannel),
               "CHANNELMSG_CLOSECHANNEL");
  EXPECT_STREQ(ChannelMessageTypeName(ChannelMessageType::kModifyChannelResponse),
               "CHANNELMSG_MODIFYCHANNEL_RESPONSE");
  EXPECT_STREQ(ChannelMessageTypeName(ChannelMessageType::kResume), "RESUME");
  EXPECT_STREQ(ChannelMessageTypeName(static_cast<ChannelMessageType>(30)), "unknown");
  for (uint32_t t = 1; t < kChannelMessageTypeCount; ++t) {
    EXPECT_EQ(MinimumProtocolVersion(static_cast<ChannelMessageType>(t)), SpecMinimumVersion(t))
        << "msgtype " << t;
  }
  // Newest first, strictly decreasing.
  for (size_t i = 1; i < kKnownVersions.size(); ++i) {
    EXPECT_GT(kKnownVersions[i - 1], kKnownVersions[i]);
  }
  EXPECT_EQ(kKnownVersions.front(), 0x00060000u);
  EXPECT_EQ(kKnownVersions.back(), 0x0000000Du);
  EXPECT_EQ(TargetInfo::FromWord(TargetInfo{2, 1, 0x3F}.ToWord()), (TargetInfo{2, 1, 0x3F}));
  EXPECT_EQ(static_cast<uint16_t>(HvStatus::kInvalidConnectionId), 0x12);
  EXPECT_EQ(kStatusUnsuccessful, 0x8000FFFFu);
}

// Version gating: at each version, a message of each type decodes exactly
// when the spec table's minimum version allows it.
class ChannelMessageVersionTest : public testing::TestWithParam<uint32_t> {};

TEST_P(ChannelMessageVersionTest, EachTypeIsAcceptedExactlyFromItsMinimumVersion) {
  const uint32_t version = GetParam();
  for (const ChannelMessage& sample : AllSamples()) {
    const uint32_t raw_type = static_cast<uint32_t>(MessageTypeOf(sample));
    SCOPED_TRACE(absl::StrCat(ChannelMessageTypeName(MessageTypeOf(sample)), " form ",
                              sample.index()));
    const absl::StatusOr<ChannelMessage> decoded = Decode(Encode(sample), version);
    if (version >= SpecMinimumVersion(raw_type)) {
      ASSERT_TRUE(decoded.ok()) << decoded.status();
      EXPECT_EQ(MessageTypeOf(*decoded), MessageTypeOf(sample));
    } else {
      ExpectError(decoded, absl::StatusCode::kInvalidArgument,
                  absl::StrCat("(msgtype=", raw_type, "): not valid at negotiated version"));
    }
  }
}

TEST_P(ChannelMessageVersionTest, ModifyChannelNeedsWin10Rs3) {
  const absl::StatusOr<ChannelMessage> decoded = Decode(Encode(ModifyChannel{5, 1}), GetParam());
  if (GetParam() >= kVersionWin10Rs3_0) {
    EXPECT_TRUE(decoded.ok()) << decoded.status();
  } else {
    ExpectError(decoded, absl::StatusCode::kInvalidArgument,
                absl::StrFormat("CHANNELMSG_MODIFYCHANNEL (msgtype=22): not valid at negotiated "
                                "version 0x%08x (%s); minimum 0x00040001 (Win10Rs3_0)",
                                GetParam(), ProtocolVersionName(GetParam())));
  }
}

std::vector<uint32_t> VersionsAndNotNegotiated() {
  std::vector<uint32_t> versions(kKnownVersions.begin(), kKnownVersions.end());
  versions.push_back(kVersionNotNegotiated);
  return versions;
}

INSTANTIATE_TEST_SUITE_P(AllVersions, ChannelMessageVersionTest,
                         testing::ValuesIn(VersionsAndNotNegotiated()),
                         [](const testing::TestParamInfo<uint32_t>& info) {
                           return info.param == kVersionNotNegotiated
                                      ? std::string("NotNegotiated")
                                      : std::string(ProtocolVersionName(info.param));
                         });

}  // namespace
}  // namespace vmbsim::fabric
