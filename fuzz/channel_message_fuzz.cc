// channel_message_fuzz.cc
//
// Goal: the control-message decoder returns a message or a status for any
// payload at any negotiated version and feature set, and every message it
// returns survives encode -> decode unchanged (so the encoder writes what
// the decoder reads, for every message type and form). Method: the first
// two bytes pick the negotiated version (one of the known versions or a raw
// value) and the feature flags; the rest is the SynIC payload. Both Decode
// overloads run; a decoded message is re-encoded, checked for its size and
// type, and decoded again under the same terms.
//
// Input: [version selector u8][feature flags u8][payload bytes...]

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_input.h"
#include "sim/check.h"
#include "sim/fabric/channel_messages.h"

namespace vmbsim::fabric {
namespace {

uint32_t VersionFrom(uint8_t selector) {
  if (selector < kKnownVersions.size()) return kKnownVersions[selector];
  if (selector == 0xFF) return kVersionNotNegotiated;
  // Between and beyond the known versions: gates like the one below.
  return kKnownVersions[selector % kKnownVersions.size()] + (selector >> 4);
}

void CheckRoundTrip(const ChannelMessage& message, absl::Span<const uint8_t> payload,
                    uint32_t version, const uint32_t* feature_flags) {
  const std::vector<uint8_t> encoded = Encode(message);
  VMBSIM_CHECK_EQ(encoded.size(), EncodedSizeBytes(message));
  VMBSIM_CHECK_LE(encoded.size(), payload.size());  // Decode ignores a tail, never invents one.
  VMBSIM_CHECK_LE(encoded.size(), kMaxMessagePayloadBytes);
  absl::StatusOr<ChannelMessage> again =
      feature_flags == nullptr ? Decode(encoded, version) : Decode(encoded, version, *feature_flags);
  const char* type_name = ChannelMessageTypeName(MessageTypeOf(message));
  VMBSIM_CHECK_MSG(again.ok(), absl::StrCat(type_name, ": ", again.status().ToString()));
  VMBSIM_CHECK_MSG(*again == message, absl::StrCat("the round trip changed a ", type_name));
  VMBSIM_CHECK(Encode(*again) == encoded);
}

}  // namespace
}  // namespace vmbsim::fabric

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vmbsim::fabric;
  vmbsim::fuzz::FuzzInput in(data, size);
  const uint32_t version = VersionFrom(in.U8());
  const uint32_t feature_flags = in.U8();
  const absl::Span<const uint8_t> payload = in.Rest();

  if (absl::StatusOr<ChannelMessage> message = Decode(payload, version); message.ok()) {
    CheckRoundTrip(*message, payload, version, nullptr);
  }
  if (absl::StatusOr<ChannelMessage> message = Decode(payload, version, feature_flags); message.ok()) {
    CheckRoundTrip(*message, payload, version, &feature_flags);
  }
  return 0;
}
