// gpadl_fuzz.cc
//
// Goal: GPADL reassembly takes any sequence of GPADL_HEADER and GPADL_BODY
// messages (ids colliding or unknown, lengths and range counts that lie,
// partial u64s, trimmed full-size messages, too many GPADLs at once) and
// answers each with a result or a status, never an abort; and whatever it
// accepts splits and reassembles back to the same ranges. Method: the input
// is a list of operations on one assembler: a raw control payload (decoded,
// then fed to the assembler if it is a GPADL message), a discard, a finish,
// or ranges made up by the input, which are split with SplitGpadl and, when
// that succeeds, reassembled in a fresh assembler through the wire encoding.
//
// Input: repeated [op u8][operands...]; see the switch below.

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_input.h"
#include "sim/check.h"
#include "sim/fabric/channel_messages.h"
#include "sim/fabric/gpadl_messages.h"
#include "sim/fabric/packet_format.h"

namespace vmbsim::fabric {
namespace {

constexpr size_t kGpadlsMax = 4;
constexpr int kOpsMax = 64;

// Feeds `message`, if it is a GPADL message, to `assembler`.
absl::StatusOr<bool> Feed(GpadlAssembler& assembler, const ChannelMessage& message) {
  if (const auto* header = std::get_if<GpadlHeader>(&message)) return assembler.AddHeader(*header);
  if (const auto* body = std::get_if<GpadlBody>(&message)) return assembler.AddBody(*body);
  return false;
}

// Splits `ranges` and, if SplitGpadl accepts them, checks that they come
// back unchanged through encode, decode and reassembly. `reassembled`: the
// ranges came out of an assembler, so the splitter must accept them.
void CheckSplitRoundTrip(uint32_t child_relid, uint32_t gpadl, const std::vector<GpaRange>& ranges,
                         bool reassembled) {
  absl::StatusOr<std::vector<ChannelMessage>> messages = SplitGpadl(child_relid, gpadl, ranges);
  VMBSIM_CHECK_MSG(messages.ok() || !reassembled, messages.status().ToString());
  if (!messages.ok()) return;
  VMBSIM_CHECK(!messages->empty());
  GpadlAssembler assembler(1);
  for (size_t i = 0; i < messages->size(); ++i) {
    const std::vector<uint8_t> wire = Encode((*messages)[i]);
    VMBSIM_CHECK_LE(wire.size(), kMaxMessagePayloadBytes);
    absl::StatusOr<ChannelMessage> decoded = Decode(wire, kVersionCopper, kFeatureAll);
    VMBSIM_CHECK_MSG(decoded.ok(), decoded.status().ToString());
    absl::StatusOr<bool> complete = Feed(assembler, *decoded);
    VMBSIM_CHECK_MSG(complete.ok(), absl::StrCat("message ", i, ": ", complete.status().ToString()));
    VMBSIM_CHECK_EQ(*complete, i + 1 == messages->size());
  }
  VMBSIM_CHECK(assembler.ChildRelidOf(gpadl) == child_relid);
  absl::StatusOr<std::vector<GpaRange>> again = assembler.Finish(gpadl);
  VMBSIM_CHECK_MSG(again.ok(), again.status().ToString());
  VMBSIM_CHECK(*again == ranges);
  VMBSIM_CHECK_EQ(assembler.gpadl_count(), 0u);
}

// Ranges made up by the input: 1..3 ranges, each with a PFN count that is
// usually right and sometimes off by one.
std::vector<GpaRange> RangesFrom(fuzz::FuzzInput& in) {
  std::vector<GpaRange> ranges(1 + in.Below(3));
  for (GpaRange& range : ranges) {
    range.byte_offset = in.Below(4097);
    range.byte_count = in.U16() * (1u + in.Below(4));  // Up to ~256 KiB: past range_buflen.
    const uint8_t skew = in.U8();
    uint64_t pfn_count = GpaRangePfnCount(range.byte_offset, range.byte_count);
    if (skew == 0xFF) ++pfn_count;
    if (skew == 0xFE && pfn_count > 0) --pfn_count;
    const uint64_t first_pfn = in.U32();
    for (uint64_t i = 0; i < pfn_count && i < 70000; ++i) range.pfns.push_back(first_pfn + i);
  }
  return ranges;
}

void FuzzGpadl(fuzz::FuzzInput& in) {
  GpadlAssembler assembler(kGpadlsMax);
  for (int step = 0; step < kOpsMax && !in.empty(); ++step) {
    switch (in.U8() % 4) {
      case 0: {  // A raw control payload.
        const absl::Span<const uint8_t> payload = in.Bytes(in.Below(kMaxMessagePayloadBytes + 1));
        absl::StatusOr<ChannelMessage> message = Decode(payload, kVersionCopper, kFeatureAll);
        if (!message.ok()) break;
        absl::StatusOr<bool> complete = Feed(assembler, *message);
        VMBSIM_CHECK_LE(assembler.gpadl_count(), kGpadlsMax);
        if (!complete.ok() || !*complete) break;
        const uint32_t gpadl = std::holds_alternative<GpadlHeader>(*message)
                                   ? std::get<GpadlHeader>(*message).gpadl
                                   : std::get<GpadlBody>(*message).gpadl;
        VMBSIM_CHECK(assembler.IsComplete(gpadl));
        const std::optional<uint32_t> child_relid = assembler.ChildRelidOf(gpadl);
        VMBSIM_CHECK(child_relid.has_value());
        absl::StatusOr<std::vector<GpaRange>> ranges = assembler.Finish(gpadl);
        VMBSIM_CHECK(!assembler.ChildRelidOf(gpadl).has_value());
        if (ranges.ok()) CheckSplitRoundTrip(*child_relid, gpadl, *ranges, /*reassembled=*/true);
        break;
      }
      case 1:
        assembler.Discard(in.U8());
        break;
      case 2: {
        const uint32_t gpadl = in.U8();
        if (assembler.IsComplete(gpadl)) (void)assembler.Finish(gpadl);
        break;
      }
      case 3: {
        const uint32_t child_relid = in.U16();
        const uint32_t gpadl = in.U16();
        CheckSplitRoundTrip(child_relid, gpadl, RangesFrom(in), /*reassembled=*/false);
        break;
      }
    }
  }
}

}  // namespace
}  // namespace vmbsim::fabric

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vmbsim::fuzz::FuzzInput in(data, size);
  vmbsim::fabric::FuzzGpadl(in);
  return 0;
}
