// ring_reader_fuzz.cc
//
// Goal: a ring reader given any control page and data area (indices,
// descriptors, offsets, lengths, transfer-page and GPA-direct headers,
// trailers) returns packets or a status, never reads outside the ring or
// aborts. Method: the input configures the reader (data pages, contiguous
// or scattered PFNs, validation policy, pending-send rule, accepted types,
// buffer size) and supplies the control words and the data area; the reader
// then drains the ring with reads, peeks, commits, reverts and mask changes
// chosen by the input, decoding the typed headers of every packet it
// returns. A writer attached to the same (possibly corrupt) ring must refuse
// or write, never abort.
//
// Input: [config u8][buffer u8][write_index u32][read_index u32]
//        [interrupt_mask u32][pending_send_sz u32][feature_bits u32]
//        [ops: 16 bytes][data area bytes...]

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "fuzz/fuzz_input.h"
#include "sim/fabric/guest_memory.h"
#include "sim/fabric/packet_format.h"
#include "sim/fabric/ring_buffer.h"
#include "sim/fabric/ring_layout.h"

namespace vmbsim::fabric {
namespace {

constexpr uint64_t kMemoryPageCount = 64;
constexpr uint32_t kDataPagesMax = 4;
constexpr int kOpsMax = 16;

int FuzzRingReader(fuzz::FuzzInput& in) {
  const uint8_t config = in.U8();
  const uint8_t buffer_class = in.U8();
  const uint32_t data_page_count = 1 + (config & 3);
  static_assert(kDataPagesMax == 4);

  GuestMemory memory(kMemoryPageCount);
  // Scattered PFNs (in reverse order, with a gap) exercise the piecewise
  // copies; contiguous ones the single-run fast path.
  std::vector<uint64_t> pfns;
  for (uint32_t i = 0; i <= data_page_count; ++i) {
    pfns.push_back((config & 4) != 0 ? 40 - 2 * i : 8 + i);
  }
  absl::StatusOr<RingMemory> view = RingMemory::Create(&memory, pfns);
  VMBSIM_CHECK(view.ok());

  uint8_t* control = view->control_page();
  StoreControlWord(control, ControlWord::kWriteIndex, in.U32());
  StoreControlWord(control, ControlWord::kReadIndex, in.U32());
  StoreControlWord(control, ControlWord::kInterruptMask, in.U32());
  StoreControlWord(control, ControlWord::kPendingSendSz, in.U32());
  StoreControlWord(control, ControlWord::kFeatureBits, in.U32());
  const absl::Span<const uint8_t> ops = in.Bytes(kOpsMax);
  const absl::Span<const uint8_t> data = in.Bytes(view->data_size_bytes());
  if (!data.empty()) view->WriteData(0, data);

  RingReaderOptions options;
  options.name = "fuzz ring";
  options.validation_policy = (config & 8) != 0 ? ValidationPolicy::kClamp : ValidationPolicy::kReject;
  options.pending_send_rule =
      (config & 16) != 0 ? PendingSendRule::kLinuxGuest : PendingSendRule::kWindowsHost;
  if ((config & 32) != 0) {
    options.accepted_types = PacketTypeSet::Default().With(PacketType::kDataUsingGpadl).Without(
        PacketType::kComp);
  }
  absl::StatusOr<RingReader> reader = RingReader::Create(*view, options);
  if (!reader.ok()) return 0;

  // kDescriptorSizeBytes is the smallest buffer a reader may be given.
  const uint32_t buffer_size_bytes =
      kDescriptorSizeBytes + (buffer_class & 0x80 ? view->data_size_bytes() : buffer_class * 8u);
  std::vector<uint8_t> buffer(buffer_size_bytes);

  uint64_t checksum = 0;
  for (int step = 0; step < kOpsMax * 4; ++step) {
    const uint8_t op = ops.empty() ? 0 : ops[step % ops.size()];
    switch (op % 8) {
      case 0:
      case 1:
      case 2:
      case 3: {
        absl::StatusOr<ReadResult> result =
            op % 8 == 3 ? reader->PeekPacket(absl::MakeSpan(buffer)) : reader->ReadPacket(absl::MakeSpan(buffer));
        if (!result.ok()) {
          if (reader->failed()) return 0;  // Sticky: every later call fails alike.
          break;
        }
        if (result->outcome != ReadOutcome::kPacket) break;
        const ParsedPacket& packet = result->packet;
        for (uint8_t byte : packet.payload()) checksum += byte;
        for (const TransferPageRange& range : packet.TransferPageRanges()) {
          checksum += range.byte_count + range.byte_offset;
        }
        for (const GpaRange& range : packet.GpaRanges()) {
          checksum += range.byte_count + range.pfns.size();
        }
        break;
      }
      case 4:
        reader->CommitRead();
        break;
      case 5:
        reader->RevertRead();
        break;
      case 6:
        reader->SetInterruptMask((op & 8) != 0);
        (void)reader->HasData();
        break;
      case 7:
        (void)reader->BytesAvailable();
        break;
    }
  }

  // The writer's half of the same ring, as it was left.
  absl::StatusOr<RingWriter> writer = RingWriter::Create(*view, "fuzz ring writer");
  if (writer.ok()) {
    OutgoingPacket packet;
    packet.payload = absl::MakeConstSpan(buffer).subspan(0, ops.size());
    if (absl::StatusOr<WriteOutcome> outcome = writer->Write(packet); outcome.ok()) {
      writer->CommitWrite();
    }
  }
  return checksum == 1 ? 1 : 0;  // Keeps the decoding from being optimised away.
}

}  // namespace
}  // namespace vmbsim::fabric

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vmbsim::fuzz::FuzzInput in(data, size);
  // Also the stateless parser, on the raw bytes as a ring slice.
  (void)vmbsim::fabric::ParsePacket(absl::MakeConstSpan(data, size));
  vmbsim::fabric::FuzzRingReader(in);
  return 0;
}
