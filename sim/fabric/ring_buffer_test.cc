// Goal: the ring halves follow spec section 1 byte for byte and signal for
// signal, and survive anything a peer can write into the shared pages.
// Method: the OpenVMM ring vectors (16 KiB data area, 4000-byte packets),
// hand-placed indices for wrap cases checked byte by byte, raw malformed
// packets and indices injected into the data area / control page, and a
// long seeded interleaving of writes, reads, commits and reverts checked
// against a std::deque reference queue.
#include "sim/fabric/ring_buffer.h"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sim/core/prng.h"
#include "sim/fabric/guest_memory.h"
#include "sim/fabric/packet_format.h"
#include "sim/fabric/ring_layout.h"

namespace vmbsim::fabric {
namespace {

constexpr uint64_t kMemoryPageCount = 256;
constexpr uint32_t k16KiBDataPages = 4;  // The OpenVMM test ring: D = 16384.

std::vector<uint64_t> ContiguousPfns(uint64_t first_pfn, uint32_t data_page_count) {
  std::vector<uint64_t> pfns;
  for (uint64_t i = 0; i <= data_page_count; ++i) pfns.push_back(first_pfn + i);
  return pfns;
}

// One ring in a fresh partition, with both halves attached. `start_index`
// is stored as both indices before the halves attach, which places the first
// packet anywhere in the data area.
struct TestRing {
  explicit TestRing(std::vector<uint64_t> ring_pfns, RingReaderOptions options = {},
                    uint32_t start_index = 0)
      : memory(kMemoryPageCount), pfns(std::move(ring_pfns)) {
    view.emplace(RingMemory::Create(&memory, pfns).value());
    SetWord(ControlWord::kWriteIndex, start_index);
    SetWord(ControlWord::kReadIndex, start_index);
    writer.emplace(RingWriter::Create(*view, "test ring").value());
    options.name = "test ring";
    reader.emplace(RingReader::Create(*view, options).value());
  }
  explicit TestRing(uint32_t data_page_count = k16KiBDataPages, RingReaderOptions options = {},
                    uint32_t start_index = 0)
      : TestRing(ContiguousPfns(10, data_page_count), std::move(options), start_index) {}

  uint32_t data_size_bytes() const { return view->data_size_bytes(); }
  uint32_t Word(ControlWord word) const { return LoadControlWord(view->control_page(), word); }
  void SetWord(ControlWord word, uint32_t value) {
    StoreControlWord(view->control_page(), word, value);
  }
  std::vector<uint8_t> DataBytes(uint32_t offset_bytes, uint32_t size_bytes) const {
    std::vector<uint8_t> bytes(size_bytes);
    view->ReadData(offset_bytes, absl::MakeSpan(bytes));
    return bytes;
  }
  // Plays a peer writer that puts `bytes` (a packet and its trailer, or
  // garbage) at the published write_index and publishes it.
  void InjectAndPublish(const std::vector<uint8_t>& bytes) {
    const uint32_t at = Word(ControlWord::kWriteIndex);
    view->WriteData(at, bytes);
    SetWord(ControlWord::kWriteIndex, view->Advance(at, static_cast<uint32_t>(bytes.size())));
  }

  absl::StatusOr<WriteOutcome> WriteInBand(size_t payload_size_bytes, uint8_t fill = 0xA5,
                                           uint64_t trans_id = 0) {
    const std::vector<uint8_t> payload(payload_size_bytes, fill);
    return writer->Write(InBandPacket(payload, trans_id, /*completion_requested=*/false));
  }
  absl::StatusOr<ReadResult> Read() { return reader->ReadPacket(absl::MakeSpan(buffer)); }

  GuestMemory memory;
  std::vector<uint64_t> pfns;
  std::optional<RingMemory> view;
  std::optional<RingWriter> writer;
  std::optional<RingReader> reader;
  std::vector<uint8_t> buffer = std::vector<uint8_t>(64 * 1024);
};

void ExpectStatus(const absl::Status& status, absl::StatusCode code, const std::string& message) {
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_NE(status.message().find(message), std::string::npos)
      << "got: " << status.message() << "\nwant: " << message;
}

// Little-endian encoding of a u64, for byte-exact expectations.
std::vector<uint8_t> Le64(uint64_t value) {
  std::vector<uint8_t> bytes(8);
  StoreLe64(bytes.data(), value);
  return bytes;
}

// ---------------------------------------------------------------------------
// RingMemory

TEST(RingMemoryTest, CreateValidatesThePageList) {
  GuestMemory memory(8);
  const std::vector<uint64_t> one = {1};
  ExpectStatus(RingMemory::Create(&memory, one).status(), absl::StatusCode::kInvalidArgument,
               "page count 1 below minimum 2");
  const std::vector<uint64_t> outside = {1, 2, 8};
  ExpectStatus(RingMemory::Create(&memory, outside).status(), absl::StatusCode::kOutOfRange,
               "pfn=0x8");
  const std::vector<uint64_t> two = {7, 3};
  absl::StatusOr<RingMemory> ring = RingMemory::Create(&memory, two);
  ASSERT_TRUE(ring.ok());
  EXPECT_EQ(ring->data_size_bytes(), kPageSizeBytes);
  EXPECT_EQ(ring->control_page(), memory.PageIfPresent(7));
}

// Data pages scattered (and out of order) in guest memory: copies split at
// every page boundary and wrap at the end of the data area, landing at the
// right guest-physical addresses.
TEST(RingMemoryTest, NonContiguousDataPagesAndWrap) {
  GuestMemory memory(64);
  const std::vector<uint64_t> pfns = {40, 9, 33, 2};  // Control, then data 0..2.
  RingMemory ring = RingMemory::Create(&memory, pfns).value();
  ASSERT_EQ(ring.data_size_bytes(), 3 * kPageSizeBytes);
  std::vector<uint8_t> data(kPageSizeBytes + 100);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + 1);

  // Starts 50 bytes before the end of data page 1, crosses into page 2,
  // reaches the end of the data area and wraps into page 0.
  const uint32_t start = 2 * kPageSizeBytes - 50;
  ring.WriteData(start, data);
  auto gpa_of = [&](uint32_t data_offset) {
    return pfns[1 + data_offset / kPageSizeBytes] * kPageSizeBytes + data_offset % kPageSizeBytes;
  };
  uint8_t byte = 0;
  ASSERT_TRUE(memory.Read(gpa_of(start), absl::MakeSpan(&byte, 1)).ok());
  EXPECT_EQ(byte, data[0]);
  ASSERT_TRUE(memory.Read(gpa_of(2 * kPageSizeBytes), absl::MakeSpan(&byte, 1)).ok());
  EXPECT_EQ(byte, data[50]);
  ASSERT_TRUE(memory.Read(gpa_of(0), absl::MakeSpan(&byte, 1)).ok());
  EXPECT_EQ(byte, data[50 + kPageSizeBytes]);
  ASSERT_TRUE(memory.Read(gpa_of(49), absl::MakeSpan(&byte, 1)).ok());
  EXPECT_EQ(byte, data.back());
  EXPECT_EQ(memory.touched_page_count(), 4u);

  std::vector<uint8_t> back(data.size());
  ring.ReadData(start, absl::MakeSpan(back));
  EXPECT_EQ(back, data);
  EXPECT_EQ(ring.Advance(start, static_cast<uint32_t>(data.size())), 50u);
  EXPECT_EQ(ring.Distance(2 * kPageSizeBytes, 8), kPageSizeBytes + 8);
  EXPECT_EQ(ring.RawFreeBytes(/*write_index=*/8, /*read_index=*/8), 3 * kPageSizeBytes);
  EXPECT_EQ(ring.RawFreeBytes(/*write_index=*/0, /*read_index=*/8), 8u);
}

// Consecutive PFNs form one run of host memory (outside ASan builds), so a
// range across their page boundary is one piece; scattered PFNs never are.
TEST(RingMemoryTest, ConsecutivePfnsFormOneRun) {
  GuestMemory memory(64);
  const std::vector<uint64_t> consecutive = {20, 21, 22, 23};
  const std::vector<uint64_t> scattered = {30, 33, 32, 31};
  RingMemory run = RingMemory::Create(&memory, consecutive).value();
  RingMemory pieces = RingMemory::Create(&memory, scattered).value();
  EXPECT_EQ(run.ContiguousBytes(kPageSizeBytes - 8, 16) != nullptr, kGuestPagesPerExtent > 1);
  EXPECT_EQ(pieces.ContiguousBytes(kPageSizeBytes - 8, 16), nullptr);
  EXPECT_NE(run.ContiguousBytes(kPageSizeBytes - 16, 16), nullptr);
  // Never across the end of the data area, where the copy must wrap.
  EXPECT_EQ(run.ContiguousBytes(3 * kPageSizeBytes - 8, 16), nullptr);
  // Both copy the same bytes to the same places.
  std::vector<uint8_t> data(2 * kPageSizeBytes + 300);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 13 + 5);
  for (RingMemory* ring : {&run, &pieces}) {
    ring->WriteData(kPageSizeBytes + 100, data);
    std::vector<uint8_t> back(data.size());
    ring->ReadData(kPageSizeBytes + 100, absl::MakeSpan(back));
    EXPECT_EQ(back, data);
  }
  uint8_t byte = 0;
  ASSERT_TRUE(memory.Read(23 * kPageSizeBytes, absl::MakeSpan(&byte, 1)).ok());
  EXPECT_EQ(byte, data[kPageSizeBytes - 100]);
  ASSERT_TRUE(memory.Read(31 * kPageSizeBytes, absl::MakeSpan(&byte, 1)).ok());
  EXPECT_EQ(byte, data[kPageSizeBytes - 100]);
}

// ---------------------------------------------------------------------------
// Writer and reader basics, the OpenVMM vectors.

TEST(RingBufferTest, WriterAdvertisesPendingSendSizeSupport) {
  TestRing ring;
  EXPECT_EQ(ring.Word(ControlWord::kFeatureBits) & kFeatPendingSendSz, kFeatPendingSendSz);
  EXPECT_EQ(ring.Word(ControlWord::kPendingSendSz), 0u);
}

// OpenVMM `test_ring`: one write to an empty unmasked ring requests a
// signal; reading it back requests none.
TEST(RingBufferTest, WriteThenReadOnePacket) {
  TestRing ring;
  const uint8_t payload[3] = {7, 8, 9};
  ASSERT_EQ(ring.writer->Write(InBandPacket(payload, 0x1234, true)).value(),
            WriteOutcome::kWritten);
  EXPECT_EQ(ring.Word(ControlWord::kWriteIndex), 0u);  // Not yet published.
  EXPECT_EQ(ring.Read().value().outcome, ReadOutcome::kEmpty);
  EXPECT_TRUE(ring.writer->CommitWrite());
  EXPECT_EQ(ring.Word(ControlWord::kWriteIndex), 32u);  // 16 + 8 + trailer 8.

  absl::StatusOr<ReadResult> read = ring.Read();
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->outcome, ReadOutcome::kPacket);
  EXPECT_EQ(read->packet_size_bytes, 24u);
  EXPECT_EQ(read->packet.type(), PacketType::kDataInband);
  EXPECT_TRUE(read->packet.completion_requested());
  EXPECT_EQ(read->packet.descriptor.trans_id, 0x1234u);
  ASSERT_EQ(read->packet.payload().size(), 8u);
  EXPECT_EQ(read->packet.payload()[2], 9);
  EXPECT_EQ(ring.reader->read_cursor_index(), 32u);
  EXPECT_EQ(ring.Word(ControlWord::kReadIndex), 0u);  // Not yet published.
  EXPECT_FALSE(ring.reader->CommitRead());
  EXPECT_EQ(ring.Word(ControlWord::kReadIndex), 32u);
  EXPECT_EQ(ring.Read().value().outcome, ReadOutcome::kEmpty);
  EXPECT_FALSE(ring.reader->CommitRead());  // Nothing read: no store, no signal.
}

// Spec 1.4 worked example: D = 16384 holds four 4000-byte in-band packets
// (4024 bytes each, 16096 in all); the fifth is refused: raw_free = 288,
// free = 280 < 4024.
TEST(RingBufferTest, SixteenKiBHoldsFourPacketsOfFourThousandBytes) {
  TestRing ring;
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(ring.WriteInBand(4000).value(), WriteOutcome::kWritten) << i;
  }
  EXPECT_EQ(ring.writer->FreeBytes().value(), 280u);
  EXPECT_EQ(ring.WriteInBand(4000).value(), WriteOutcome::kRingFull);
  EXPECT_EQ(ring.writer->next_write_index(), 16096u);  // The refusal wrote nothing.
  EXPECT_TRUE(ring.writer->CommitWrite());
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<ReadResult> read = ring.Read();
    ASSERT_TRUE(read.ok());
    EXPECT_EQ(read->outcome, ReadOutcome::kPacket);
    EXPECT_EQ(read->packet_size_bytes, 4016u);
  }
  EXPECT_EQ(ring.Read().value().outcome, ReadOutcome::kEmpty);
}

// Spec 8.3 item 2: fill to D - 8 and refuse at raw_free == T exactly.
TEST(RingBufferTest, FillsToDataSizeMinusEightAndRefusesAtRawFreeEqualToT) {
  TestRing ring;
  const uint32_t d = ring.data_size_bytes();
  // First packet leaves raw_free = 32.
  ASSERT_EQ(ring.WriteInBand(d - 32 - 24).value(), WriteOutcome::kWritten);
  EXPECT_EQ(ring.writer->FreeBytes().value(), 24u);
  // T = 32 == raw_free: refused (the ring would look empty).
  EXPECT_EQ(ring.WriteInBand(8).value(), WriteOutcome::kRingFull);
  EXPECT_FALSE(ring.writer->CanWrite(32).value());
  // T = 24 < raw_free: accepted; D - 8 bytes are now in flight.
  EXPECT_TRUE(ring.writer->CanWrite(24).value());
  ASSERT_EQ(ring.WriteInBand(0).value(), WriteOutcome::kWritten);
  EXPECT_EQ(ring.writer->FreeBytes().value(), 0u);
  EXPECT_EQ(ring.WriteInBand(0).value(), WriteOutcome::kRingFull);
  ASSERT_TRUE(ring.writer->CommitWrite());
  EXPECT_EQ(ring.reader->BytesAvailable().value(), d - 8);
  EXPECT_EQ(ring.Word(ControlWord::kWriteIndex), d - 8);
  EXPECT_EQ(ring.Read().value().packet_size_bytes, d - 40);
  EXPECT_EQ(ring.Read().value().packet_size_bytes, 16u);
}

// A packet with T >= D - 8 can never be written: InvalidArgument, not
// kRingFull, and the writer stays usable.
TEST(RingBufferTest, PacketThatCanNeverFitIsInvalidArgument) {
  TestRing ring;
  const uint32_t d = ring.data_size_bytes();
  ExpectStatus(ring.WriteInBand(d - 8 - 24).status(), absl::StatusCode::kInvalidArgument,
               "packet ring footprint 16376 bytes not below data size - 8 = 16376");
  EXPECT_EQ(ring.writer->CanWrite(d - 8).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ring.writer->failed());
  EXPECT_EQ(ring.WriteInBand(d - 16 - 24).value(), WriteOutcome::kWritten);  // T = D - 16.
  EXPECT_EQ(ring.writer->packet_footprint_bytes_max(), d - 16);
}

// The size rule is the writer's (WriterSizeRule). Under kLinuxEmcl a packet
// fits an empty ring when T < D (Linux hv_ringbuffer_write, EMCL
// PkpCheckSendBufferFreeBytes): T = D - 8 is written and fills the ring to
// its D - 8 in-flight maximum; T = D is refused for good. kOpenVmm (the
// default) stops at T = D - 16.
TEST(RingBufferTest, LinuxEmclRuleTakesAnyPacketThatFitsAnEmptyRing) {
  TestRing ring;
  const uint32_t d = ring.data_size_bytes();
  ring.writer.emplace(
      RingWriter::Create(*ring.view, RingWriterOptions{.name = "emcl", .size_rule = WriterSizeRule::kLinuxEmcl})
          .value());
  EXPECT_EQ(ring.writer->size_rule(), WriterSizeRule::kLinuxEmcl);
  EXPECT_EQ(ring.writer->packet_footprint_bytes_max(), d - 8);
  EXPECT_EQ(ring.writer->FreeBytes().value(), d - 8);
  ExpectStatus(ring.WriteInBand(d - 24 + 8).status(), absl::StatusCode::kInvalidArgument,
               "emcl: packet ring footprint 16392 bytes not below data size 16384");
  EXPECT_EQ(ring.writer->CanWrite(d).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ring.writer->CanWrite(d - 8).value());
  ASSERT_EQ(ring.WriteInBand(d - 8 - 24, 0x5E).value(), WriteOutcome::kWritten);  // T = D - 8.
  EXPECT_EQ(ring.writer->FreeBytes().value(), 0u);
  EXPECT_EQ(ring.WriteInBand(0).value(), WriteOutcome::kRingFull);
  ASSERT_TRUE(ring.writer->CommitWrite());
  EXPECT_EQ(ring.reader->BytesAvailable().value(), d - 8);
  absl::StatusOr<ReadResult> read = ring.Read();
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->packet_size_bytes, d - 16);
  EXPECT_EQ(read->packet.payload()[0], 0x5E);
  ring.reader->CommitRead();

  // The same packet under the OpenVMM rule can never be written.
  ring.writer->SetSizeRule(WriterSizeRule::kOpenVmm);
  EXPECT_EQ(ring.writer->packet_footprint_bytes_max(), d - 16);
  EXPECT_EQ(ring.writer->FreeBytes().value(), d - 16);
  ExpectStatus(ring.WriteInBand(d - 8 - 24).status(), absl::StatusCode::kInvalidArgument,
               "emcl: packet ring footprint 16376 bytes not below data size - 8 = 16376");
  EXPECT_FALSE(ring.writer->failed());
}

// Both rules decide "fits now" alike (raw_free > T): after every fill level
// of a one-page ring, every footprint both rules take at all fits under
// both or under neither, and the writer's CanWrite matches its Write.
TEST(RingBufferTest, SizeRulesAgreeOnWhetherAPacketFitsNow) {
  for (uint32_t fill_bytes = 0; fill_bytes <= kPageSizeBytes - 16; fill_bytes += 8) {
    if (fill_bytes > 0 && fill_bytes < 24) continue;  // No packet is that small.
    TestRing linux_emcl(/*data_page_count=*/1);
    TestRing openvmm(/*data_page_count=*/1);
    linux_emcl.writer->SetSizeRule(WriterSizeRule::kLinuxEmcl);
    if (fill_bytes > 0) {
      ASSERT_EQ(linux_emcl.WriteInBand(fill_bytes - 24).value(), WriteOutcome::kWritten);
      ASSERT_EQ(openvmm.WriteInBand(fill_bytes - 24).value(), WriteOutcome::kWritten);
    }
    for (uint32_t footprint_bytes = 24; footprint_bytes <= kPageSizeBytes - 16; footprint_bytes += 8) {
      const bool fits = kPageSizeBytes - fill_bytes > footprint_bytes;
      ASSERT_EQ(linux_emcl.writer->CanWrite(footprint_bytes).value(), fits)
          << "fill " << fill_bytes << " footprint " << footprint_bytes;
      ASSERT_EQ(openvmm.writer->CanWrite(footprint_bytes).value(), fits)
          << "fill " << fill_bytes << " footprint " << footprint_bytes;
    }
    // Write agrees with CanWrite at the boundary.
    const uint32_t largest = kPageSizeBytes - fill_bytes - 8;
    if (largest >= 24 && largest <= kPageSizeBytes - 16) {
      EXPECT_EQ(openvmm.WriteInBand(largest + 8 - 24).value(), WriteOutcome::kRingFull);
      EXPECT_EQ(openvmm.WriteInBand(largest - 24).value(), WriteOutcome::kWritten);
      EXPECT_EQ(linux_emcl.WriteInBand(largest + 8 - 24).value(), WriteOutcome::kRingFull);
      EXPECT_EQ(linux_emcl.WriteInBand(largest - 24).value(), WriteOutcome::kWritten);
    }
  }
}

// RingDataPageCountFor gives the fewest data pages whose writer accepts a
// packet: PacketFootprintBytesMax holds for n pages and fails for n - 1.
TEST(RingBufferTest, RingDataPageCountForIsTheFewestPagesTheWriterAccepts) {
  for (WriterSizeRule rule : {WriterSizeRule::kLinuxEmcl, WriterSizeRule::kOpenVmm}) {
    for (uint64_t footprint_bytes = 24; footprint_bytes <= 5 * kPageSizeBytes; footprint_bytes += 8) {
      const uint64_t pages = RingDataPageCountFor(rule, footprint_bytes);
      ASSERT_GE(pages, 1u);
      EXPECT_GE(PacketFootprintBytesMax(rule, static_cast<uint32_t>(pages * kPageSizeBytes)), footprint_bytes);
      if (pages > 1) {
        EXPECT_LT(PacketFootprintBytesMax(rule, static_cast<uint32_t>((pages - 1) * kPageSizeBytes)),
                  footprint_bytes);
      }
    }
  }
  // The cases: a 4064-byte payload (T = 4088) fits one data page
  // under kLinuxEmcl and needs two under kOpenVmm; 8160 bytes (T = 8184)
  // fits two data pages only under kLinuxEmcl.
  EXPECT_EQ(RingDataPageCountFor(WriterSizeRule::kLinuxEmcl, InBandRingFootprintBytes(4064)), 1u);
  EXPECT_EQ(RingDataPageCountFor(WriterSizeRule::kOpenVmm, InBandRingFootprintBytes(4064)), 2u);
  EXPECT_EQ(RingDataPageCountFor(WriterSizeRule::kLinuxEmcl, InBandRingFootprintBytes(8160)), 2u);
  EXPECT_EQ(RingDataPageCountFor(WriterSizeRule::kOpenVmm, InBandRingFootprintBytes(8160)), 3u);
}

// len8 is 16 bits: in a ring larger than 512 KiB the largest packet is set
// by len8 = 65535, not by the ring.
TEST(RingBufferTest, PacketLengthIsBoundedByLen8InLargeRings) {
  TestRing ring(/*data_page_count=*/160);  // D = 640 KiB.
  const size_t payload_max = 65535 * 8 - 16;
  ExpectStatus(ring.WriteInBand(payload_max + 1).status(), absl::StatusCode::kInvalidArgument,
               "len8=65536 above maximum 65535");
  ASSERT_EQ(ring.WriteInBand(payload_max, 0x3C).value(), WriteOutcome::kWritten);
  ring.writer->CommitWrite();
  absl::StatusOr<ReadResult> read = ring.Read();  // The test buffer is 64 KiB.
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->outcome, ReadOutcome::kBufferTooSmall);
  EXPECT_EQ(read->packet_size_bytes, 65535u * 8);
  std::vector<uint8_t> big(65535 * 8);
  read = ring.reader->ReadPacket(absl::MakeSpan(big));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->packet.descriptor.len8, 65535);
  EXPECT_EQ(read->packet.payload().back(), 0x3C);
}

TEST(RingBufferTest, WriteBatchCommitsOnce) {
  TestRing ring;
  ASSERT_EQ(ring.WriteInBand(10).value(), WriteOutcome::kWritten);
  ASSERT_EQ(ring.WriteInBand(20).value(), WriteOutcome::kWritten);
  EXPECT_EQ(ring.writer->committed_write_index(), 0u);
  EXPECT_TRUE(ring.writer->CommitWrite());  // One signal for the batch.
  EXPECT_EQ(ring.Word(ControlWord::kWriteIndex), 40u + 48u);
  EXPECT_FALSE(ring.writer->CommitWrite());  // Nothing new.
}

TEST(RingBufferTest, PeekDoesNotConsumeAndRevertUnreads) {
  TestRing ring;
  ASSERT_EQ(ring.WriteInBand(8, 1, /*trans_id=*/1).value(), WriteOutcome::kWritten);
  ASSERT_EQ(ring.WriteInBand(8, 2, /*trans_id=*/2).value(), WriteOutcome::kWritten);
  ring.writer->CommitWrite();
  EXPECT_EQ(ring.reader->PeekPacket(absl::MakeSpan(ring.buffer)).value().packet.descriptor.trans_id,
            1u);
  EXPECT_EQ(ring.reader->read_cursor_index(), 0u);
  EXPECT_EQ(ring.Read().value().packet.descriptor.trans_id, 1u);
  EXPECT_EQ(ring.Read().value().packet.descriptor.trans_id, 2u);
  ring.reader->RevertRead();
  EXPECT_EQ(ring.Read().value().packet.descriptor.trans_id, 1u);
  ring.reader->CommitRead();
  ring.reader->RevertRead();  // Back to the commit point only.
  EXPECT_EQ(ring.Read().value().packet.descriptor.trans_id, 2u);
}

TEST(RingBufferTest, BufferTooSmallLeavesThePacketInPlace) {
  TestRing ring;
  ASSERT_EQ(ring.WriteInBand(100).value(), WriteOutcome::kWritten);
  ring.writer->CommitWrite();
  std::vector<uint8_t> small(64);
  absl::StatusOr<ReadResult> read = ring.reader->ReadPacket(absl::MakeSpan(small));
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->outcome, ReadOutcome::kBufferTooSmall);
  EXPECT_EQ(read->packet_size_bytes, 120u);
  EXPECT_EQ(ring.reader->read_cursor_index(), 0u);
  EXPECT_EQ(ring.Read().value().outcome, ReadOutcome::kPacket);
}

// ---------------------------------------------------------------------------
// Trailer and wrap, byte for byte.

TEST(RingBufferTest, TrailerHoldsTheStartIndexInItsUpperHalf) {
  TestRing ring;
  ASSERT_EQ(ring.WriteInBand(100, 0x11).value(), WriteOutcome::kWritten);  // [0, 128)
  ASSERT_EQ(ring.WriteInBand(3, 0x22).value(), WriteOutcome::kWritten);    // [128, 160)
  EXPECT_EQ(ring.DataBytes(120, 8), Le64(0));
  EXPECT_EQ(ring.DataBytes(152, 8), Le64(uint64_t{128} << 32));
  EXPECT_EQ(ring.DataBytes(152, 8),
            (std::vector<uint8_t>{0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00}));
  // The second packet's padding is zero, not a copy of anything.
  EXPECT_EQ(ring.DataBytes(128 + 16, 8), (std::vector<uint8_t>{0x22, 0x22, 0x22, 0, 0, 0, 0, 0}));
}

// Writes one in-band packet of `payload_size_bytes` (bytes 1, 2, 3, ...)
// starting at `start_index` and checks every byte of it in the data area,
// including across the wrap, then reads it back.
void CheckWrappedPacket(uint32_t start_index, uint32_t payload_size_bytes) {
  SCOPED_TRACE(absl::StrCat("start_index=", start_index, " payload=", payload_size_bytes));
  TestRing ring(/*data_page_count=*/2, {}, start_index);
  const uint32_t d = ring.data_size_bytes();
  std::vector<uint8_t> payload(payload_size_bytes);
  for (uint32_t i = 0; i < payload_size_bytes; ++i) payload[i] = static_cast<uint8_t>(i + 1);
  ASSERT_EQ(ring.writer->Write(InBandPacket(payload, 0xFEEDFACECAFEBEEF, false)).value(),
            WriteOutcome::kWritten);
  ASSERT_TRUE(ring.writer->CommitWrite());

  const uint32_t len8 = static_cast<uint32_t>((16 + payload_size_bytes + 7) / 8);
  // clang-format off
  std::vector<uint8_t> expected = {0x06, 0x00, 0x02, 0x00,
                                   static_cast<uint8_t>(len8), static_cast<uint8_t>(len8 >> 8),
                                   0x00, 0x00, 0xEF, 0xBE, 0xFE, 0xCA, 0xCE, 0xFA, 0xED, 0xFE};
  // clang-format on
  expected.insert(expected.end(), payload.begin(), payload.end());
  expected.resize(len8 * 8, 0);
  const std::vector<uint8_t> trailer = Le64(uint64_t{start_index} << 32);
  expected.insert(expected.end(), trailer.begin(), trailer.end());
  // Read the data area raw, the way the bytes lie in guest memory.
  for (uint32_t i = 0; i < expected.size(); ++i) {
    const uint32_t at = (start_index + i) % d;
    const uint64_t gpa = ring.pfns[1 + at / kPageSizeBytes] * kPageSizeBytes + at % kPageSizeBytes;
    uint8_t byte = 0;
    ASSERT_TRUE(ring.memory.Read(gpa, absl::MakeSpan(&byte, 1)).ok());
    ASSERT_EQ(byte, expected[i]) << "byte " << i << " at data offset " << at;
  }
  const uint32_t end_index = (start_index + static_cast<uint32_t>(expected.size())) % d;
  EXPECT_EQ(ring.writer->next_write_index(), end_index);
  EXPECT_EQ(ring.Word(ControlWord::kWriteIndex), end_index);

  absl::StatusOr<ReadResult> read = ring.Read();
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->outcome, ReadOutcome::kPacket);
  EXPECT_EQ(read->packet.descriptor.trans_id, 0xFEEDFACECAFEBEEFu);
  for (uint32_t i = 0; i < payload_size_bytes; ++i)
    ASSERT_EQ(read->packet.payload()[i], payload[i]);
  EXPECT_EQ(ring.reader->read_cursor_index(), end_index);
  ring.reader->CommitRead();
  EXPECT_EQ(ring.Word(ControlWord::kReadIndex), end_index);
}

TEST(RingBufferTest, DescriptorWrapsAcrossTheEnd) {
  CheckWrappedPacket(2 * kPageSizeBytes - 8, 40);  // Descriptor split 8 + 8.
}

TEST(RingBufferTest, PayloadWrapsAcrossTheEnd) {
  CheckWrappedPacket(2 * kPageSizeBytes - 24, 40);    // Descriptor fits; payload split.
  CheckWrappedPacket(2 * kPageSizeBytes - 16, 4000);  // Payload starts at 0.
}

TEST(RingBufferTest, TrailerWrapsToOffsetZero) {
  // 16 + 37 = 53 -> padded 56: the padding ends exactly at D, the trailer is
  // at 0..8 (the padding-and-trailer piece is split).
  CheckWrappedPacket(2 * kPageSizeBytes - 56, 37);
  // No padding: the body ends exactly at D and the trailer alone is at 0..8.
  CheckWrappedPacket(2 * kPageSizeBytes - 48, 32);
}

TEST(RingBufferTest, PacketSpanningEveryPageBoundary) {
  CheckWrappedPacket(kPageSizeBytes - 8, 2 * kPageSizeBytes - 200);
}

// ---------------------------------------------------------------------------
// Signalling: empty -> non-empty and interrupt_mask (spec 1.7).

TEST(RingBufferTest, FirstWriteToEmptyRingSignalsSecondDoesNot) {
  TestRing ring;
  ASSERT_EQ(ring.WriteInBand(8).value(), WriteOutcome::kWritten);
  EXPECT_TRUE(ring.writer->CommitWrite());
  ASSERT_EQ(ring.WriteInBand(8).value(), WriteOutcome::kWritten);
  EXPECT_FALSE(ring.writer->CommitWrite());  // Reader has not caught up.
  // Once the reader publishes that it drained everything, the next write is
  // empty -> non-empty again.
  ring.Read().value();
  ring.Read().value();
  ring.reader->CommitRead();
  ASSERT_EQ(ring.WriteInBand(8).value(), WriteOutcome::kWritten);
  EXPECT_TRUE(ring.writer->CommitWrite());
}

// OpenVMM `test_interrupt_mask`: a masked reader is not signalled; after it
// unmasks, the next empty -> non-empty write signals.
TEST(RingBufferTest, MaskedReaderIsNotSignalled) {
  TestRing ring;
  ring.reader->SetInterruptMask(true);
  EXPECT_EQ(ring.Word(ControlWord::kInterruptMask), 1u);
  ASSERT_EQ(ring.WriteInBand(8).value(), WriteOutcome::kWritten);
  EXPECT_FALSE(ring.writer->CommitWrite());
  ring.Read().value();
  ring.reader->CommitRead();
  ring.reader->SetInterruptMask(false);
  EXPECT_EQ(ring.Word(ControlWord::kInterruptMask), 0u);
  ASSERT_EQ(ring.WriteInBand(8).value(), WriteOutcome::kWritten);
  EXPECT_TRUE(ring.writer->CommitWrite());
}

// The drain loop's re-check after unmasking (spec 1.7): a packet published
// while the reader was masked is not signalled and the ring is then
// non-empty, so no later write will signal either; only HasData() after
// unmasking finds it. A reader that skips the re-check stalls.
TEST(RingBufferTest, UnmaskThenRecheckFindsPacketsThatArrivedWhileMasked) {
  TestRing ring;
  ring.reader->SetInterruptMask(true);
  ASSERT_EQ(ring.WriteInBand(8).value(), WriteOutcome::kWritten);
  EXPECT_FALSE(ring.writer->CommitWrite());  // Masked: no signal.
  // The reader drains the first packet and is about to unmask ...
  ring.Read().value();
  ring.reader->CommitRead();
  // ... and a second packet lands while it is still masked.
  ASSERT_EQ(ring.WriteInBand(8).value(), WriteOutcome::kWritten);
  EXPECT_FALSE(ring.writer->CommitWrite());
  ring.reader->SetInterruptMask(false);
  // Without the re-check: the next write sees a non-empty ring and does not
  // signal, so the reader would wait forever.
  EXPECT_TRUE(ring.reader->HasData().value());
  ASSERT_EQ(ring.WriteInBand(8).value(), WriteOutcome::kWritten);
  EXPECT_FALSE(ring.writer->CommitWrite());
  EXPECT_EQ(ring.Read().value().outcome, ReadOutcome::kPacket);
  EXPECT_EQ(ring.Read().value().outcome, ReadOutcome::kPacket);
  EXPECT_FALSE(ring.reader->HasData().value());
}

// ---------------------------------------------------------------------------
// Blocked writer: pending_send_sz (spec 1.8).

class PendingSendRuleTest : public testing::TestWithParam<PendingSendRule> {
 protected:
  RingReaderOptions Options() const {
    RingReaderOptions options;
    options.pending_send_rule = GetParam();
    return options;
  }
};

// OpenVMM `test_pending_send_size`: four 4000-byte packets fill the ring;
// with pending = 2 * 4024, committing after each read signals on the second
// read only.
TEST_P(PendingSendRuleTest, SignalsExactlyOnceOnTheSecondRead) {
  TestRing ring(k16KiBDataPages, Options());
  for (int i = 0; i < 4; ++i) ASSERT_EQ(ring.WriteInBand(4000).value(), WriteOutcome::kWritten);
  ring.writer->CommitWrite();
  ASSERT_EQ(ring.WriteInBand(4000).value(), WriteOutcome::kRingFull);
  ASSERT_TRUE(ring.writer->SetPendingSendSize(2 * 4024).ok());
  EXPECT_EQ(ring.Word(ControlWord::kPendingSendSz), 8048u);
  std::vector<bool> signals;
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(ring.Read().value().outcome, ReadOutcome::kPacket);
    signals.push_back(ring.reader->CommitRead());
  }
  EXPECT_EQ(signals, (std::vector<bool>{false, true, false, false}));
}

TEST_P(PendingSendRuleTest, NoPendingSizeNoSignal) {
  TestRing ring(k16KiBDataPages, Options());
  for (int i = 0; i < 4; ++i) ASSERT_EQ(ring.WriteInBand(4000).value(), WriteOutcome::kWritten);
  ring.writer->CommitWrite();
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(ring.Read().value().outcome, ReadOutcome::kPacket);
    EXPECT_FALSE(ring.reader->CommitRead()) << i;
  }
}

// One batch commit that crosses the threshold signals once.
TEST_P(PendingSendRuleTest, BatchCommitSignalsOnce) {
  TestRing ring(k16KiBDataPages, Options());
  for (int i = 0; i < 4; ++i) ASSERT_EQ(ring.WriteInBand(4000).value(), WriteOutcome::kWritten);
  ring.writer->CommitWrite();
  ASSERT_TRUE(ring.writer->SetPendingSendSize(2 * 4024).ok());
  for (int i = 0; i < 4; ++i) ASSERT_EQ(ring.Read().value().outcome, ReadOutcome::kPacket);
  EXPECT_TRUE(ring.reader->CommitRead());
}

// The exact boundaries of each rule. The ring holds four 4024-byte packets
// (raw_free 288); one read frees 4024, leaving raw_free_after = 4312. Both
// rules signal iff raw_free_before <= p' and raw_free_after >= p' + 8, where
// p' is p rounded down to 8: the Windows-host rule says it as
// free = raw_free - 8, free_before < p' && free_after >= p', the Linux rule
// as !(raw_free_before > p) && !(raw_free_after <= p). Because every index
// is a multiple of 8 these are the same inequalities; the "8-byte
// difference" suggested by spec 1.8 and open question 4 does not exist on
// 8-aligned rings (ExhaustiveAgreement below proves it for a small ring).
TEST_P(PendingSendRuleTest, ExactThresholds) {
  struct Case {
    uint32_t pending_send_sz;
    bool signal;
  };
  const Case cases[] = {
      {280, false},                   // raw_free_before 288 > p: writer was not blocked.
      {287, false},                   // Rounds down to 280 (Windows) / 288 > 287 (Linux).
      {288, true},                    // raw_free_before == p: blocked; after 4312 >= 296.
      {4304, true},                   // raw_free_after == p + 8: the last p that wakes.
      {4305, true},                   // Low bits: masked to 4304 (Windows); 4312 > 4305 (Linux).
      {4311, true},   {4312, false},  // raw_free_after == p: not enough yet.
      {16383, false},                 // "ring size - 1": unreachable with one read.
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("pending_send_sz=", c.pending_send_sz));
    TestRing ring(k16KiBDataPages, Options());
    for (int i = 0; i < 4; ++i) ASSERT_EQ(ring.WriteInBand(4000).value(), WriteOutcome::kWritten);
    ring.writer->CommitWrite();
    ring.SetWord(ControlWord::kPendingSendSz, c.pending_send_sz);  // As a peer might.
    ASSERT_EQ(ring.Read().value().outcome, ReadOutcome::kPacket);
    EXPECT_EQ(ring.reader->CommitRead(), c.signal);
  }
}

// "Ring size minus one" (spec 1.8, OpenVMM's reason for masking) wakes the
// writer when the ring drains completely, under both rules.
TEST_P(PendingSendRuleTest, RingSizeMinusOneWakesWhenEmpty) {
  TestRing ring(k16KiBDataPages, Options());
  for (int i = 0; i < 4; ++i) ASSERT_EQ(ring.WriteInBand(4000).value(), WriteOutcome::kWritten);
  ring.writer->CommitWrite();
  ring.SetWord(ControlWord::kPendingSendSz, ring.data_size_bytes() - 1);
  std::vector<bool> signals;
  for (int i = 0; i < 4; ++i) {
    ring.Read().value();
    signals.push_back(ring.reader->CommitRead());
  }
  EXPECT_EQ(signals, (std::vector<bool>{false, false, false, true}));
}

// The blocked-writer steps interleaved with the reader, including the race
// that the writer's re-check exists for: the reader drains everything after
// the writer saw "full" but before it published pending_send_sz, so no
// signal will ever come; only CanWrite() after publishing finds the room.
TEST_P(PendingSendRuleTest, BlockedWriterRecheckAfterPublishing) {
  TestRing ring(k16KiBDataPages, Options());
  for (int i = 0; i < 4; ++i) ASSERT_EQ(ring.WriteInBand(4000).value(), WriteOutcome::kWritten);
  ring.writer->CommitWrite();
  ASSERT_EQ(ring.WriteInBand(4000).value(), WriteOutcome::kRingFull);  // Step 1.
  // The reader drains and commits before the writer publishes anything.
  for (int i = 0; i < 4; ++i) ring.Read().value();
  EXPECT_FALSE(ring.reader->CommitRead());  // pending_send_sz still 0.
  const uint32_t t = static_cast<uint32_t>(InBandRingFootprintBytes(4000));
  ASSERT_TRUE(ring.writer->SetPendingSendSize(ring.writer->PendingSendSizeFor(t)).ok());  // 2.
  EXPECT_FALSE(ring.reader->CommitRead());        // Nothing new read: still no signal.
  EXPECT_TRUE(ring.writer->CanWrite(t).value());  // Step 3 saves the writer.
  ring.writer->ClearPendingSendSize();
  EXPECT_EQ(ring.Word(ControlWord::kPendingSendSz), 0u);
  EXPECT_EQ(ring.WriteInBand(4000).value(), WriteOutcome::kWritten);
}

// The Linux rule honours pending_send_sz only when the writer advertised
// feat_pending_send_sz; the Windows-host rule ignores the feature bit.
TEST_P(PendingSendRuleTest, FeatureBit) {
  TestRing ring(k16KiBDataPages, Options());
  for (int i = 0; i < 4; ++i) ASSERT_EQ(ring.WriteInBand(4000).value(), WriteOutcome::kWritten);
  ring.writer->CommitWrite();
  ring.SetWord(ControlWord::kFeatureBits, 0);
  ASSERT_TRUE(ring.writer->SetPendingSendSize(2 * 4024).ok());
  std::vector<bool> signals;
  for (int i = 0; i < 4; ++i) {
    ring.Read().value();
    signals.push_back(ring.reader->CommitRead());
  }
  const bool windows = GetParam() == PendingSendRule::kWindowsHost;
  EXPECT_EQ(signals, (std::vector<bool>{false, windows, false, false}));
}

INSTANTIATE_TEST_SUITE_P(BothRules, PendingSendRuleTest,
                         testing::Values(PendingSendRule::kWindowsHost,
                                         PendingSendRule::kLinuxGuest),
                         [](const testing::TestParamInfo<PendingSendRule>& info) {
                           return info.param == PendingSendRule::kWindowsHost
                                      ? std::string("WindowsHost")
                                      : std::string("LinuxGuest");
                         });

// Every (write_index, old read_index, bytes read, pending_send_sz) of a
// one-page ring, through real rings: the two rules always agree while the
// feature bit is set. Pins the finding in ExactThresholds.
TEST(PendingSendRuleAgreementTest, ExhaustiveAgreement) {
  RingReaderOptions linux_options;
  linux_options.pending_send_rule = PendingSendRule::kLinuxGuest;
  TestRing windows(1);
  TestRing linux_ring(1, linux_options);
  const uint32_t d = windows.data_size_bytes();
  int signal_count = 0;
  for (uint32_t used = 24; used <= d - 16; used += 8 * 37) {
    for (uint32_t rest : {0u, 24u, 1024u}) {  // Unread bytes behind the batch.
      if (used + rest > d - 8) continue;
      for (uint32_t start = 0; start < d; start += 8 * 61) {
        for (uint32_t pending = 1; pending <= d + 8; pending += 7) {
          bool decisions[2];
          TestRing* rings[2] = {&windows, &linux_ring};
          for (int k = 0; k < 2; ++k) {
            TestRing& ring = *rings[k];
            // Re-attach the reader at `start` with `used` bytes published:
            // one packet of footprint `used`, read in one batch.
            ring.SetWord(ControlWord::kReadIndex, start);
            ring.SetWord(ControlWord::kWriteIndex, start);
            ring.writer.emplace(RingWriter::Create(*ring.view, "w").value());
            ring.reader.emplace(RingReader::Create(*ring.view, ring.reader->options()).value());
            ASSERT_EQ(ring.WriteInBand(used - 24).value(), WriteOutcome::kWritten);
            if (rest > 0) {
              ASSERT_EQ(ring.WriteInBand(rest - 24).value(), WriteOutcome::kWritten);
            }
            ring.writer->CommitWrite();
            ring.SetWord(ControlWord::kPendingSendSz, pending);
            ASSERT_EQ(ring.Read().value().outcome, ReadOutcome::kPacket);
            decisions[k] = ring.reader->CommitRead();
          }
          ASSERT_EQ(decisions[0], decisions[1]) << "used=" << used << " rest=" << rest
                                                << " start=" << start << " pending=" << pending;
          signal_count += decisions[0];
        }
      }
    }
  }
  EXPECT_GT(signal_count, 0);
}

TEST(RingBufferTest, PendingSendSizeValues) {
  TestRing ring;
  EXPECT_EQ(ring.writer->PendingSendSizeFor(100), 4096u);  // (16384 - 8) / 4, to 8.
  EXPECT_EQ(ring.writer->PendingSendSizeFor(8000), 8000u);
  ASSERT_TRUE(ring.writer->SetPendingSendSize(4025).ok());
  EXPECT_EQ(ring.Word(ControlWord::kPendingSendSz), 4032u);  // Rounded up to 8.
  ASSERT_TRUE(ring.writer->SetPendingSendSize(ring.data_size_bytes() - 8).ok());
  ExpectStatus(ring.writer->SetPendingSendSize(ring.data_size_bytes() - 7),
               absl::StatusCode::kInvalidArgument, "pending_send_sz=16384 above maximum 16376");
}

// ---------------------------------------------------------------------------
// Untrusted indices and packets.

TEST(RingBufferTest, CorruptWriteIndexFailsTheReader) {
  for (uint32_t bad : {12u, 16384u, 0xFFFFFFF8u}) {
    TestRing ring;
    ring.SetWord(ControlWord::kWriteIndex, bad);
    const std::string want = bad % 8 != 0
                                 ? absl::StrCat("write_index=", bad, " not a multiple of 8")
                                 : absl::StrCat("write_index=", bad, " not below data size 16384");
    ExpectStatus(ring.Read().status(), absl::StatusCode::kDataLoss, "test ring: " + want);
    EXPECT_TRUE(ring.reader->failed());
    // Sticky: even after the index is repaired.
    ring.SetWord(ControlWord::kWriteIndex, 0);
    ExpectStatus(ring.Read().status(), absl::StatusCode::kDataLoss, want);
    ExpectStatus(ring.reader->HasData().status(), absl::StatusCode::kDataLoss, want);
    EXPECT_FALSE(ring.reader->CommitRead());
  }
}

// CommitRead loads write_index only when a writer is waiting for space.
TEST(RingBufferTest, CorruptWriteIndexSeenAtCommitFailsTheReader) {
  TestRing ring;
  ASSERT_EQ(ring.WriteInBand(8).value(), WriteOutcome::kWritten);
  ring.writer->CommitWrite();
  ring.Read().value();
  ring.SetWord(ControlWord::kWriteIndex, 4);
  ASSERT_TRUE(ring.writer->SetPendingSendSize(64).ok());
  EXPECT_FALSE(ring.reader->CommitRead());
  EXPECT_EQ(ring.Word(ControlWord::kReadIndex), 32u);  // Published before the load.
  ExpectStatus(ring.reader->status(), absl::StatusCode::kDataLoss,
               "write_index=4 not a multiple of 8");
}

TEST(RingBufferTest, CorruptReadIndexFailsTheWriter) {
  TestRing ring;
  ring.SetWord(ControlWord::kReadIndex, 20);
  ExpectStatus(ring.WriteInBand(8).status(), absl::StatusCode::kDataLoss,
               "test ring: read_index=20 not a multiple of 8");
  EXPECT_TRUE(ring.writer->failed());
  ring.SetWord(ControlWord::kReadIndex, 0);
  EXPECT_EQ(ring.WriteInBand(8).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ring.writer->FreeBytes().status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(ring.writer->CommitWrite());

  // Seen first at commit time: the batch is published, no signal, failed.
  TestRing other;
  ASSERT_EQ(other.WriteInBand(8).value(), WriteOutcome::kWritten);
  other.SetWord(ControlWord::kReadIndex, 1u << 20);
  EXPECT_FALSE(other.writer->CommitWrite());
  ExpectStatus(other.writer->status(), absl::StatusCode::kDataLoss,
               "read_index=1048576 not below data size 16384");
}

TEST(RingBufferTest, CorruptStoredIndicesRefuseToAttach) {
  TestRing ring;
  ring.SetWord(ControlWord::kWriteIndex, 7);
  ring.SetWord(ControlWord::kReadIndex, 16384);
  ExpectStatus(RingWriter::Create(*ring.view, "w").status(), absl::StatusCode::kDataLoss,
               "w: write_index=7 not a multiple of 8");
  ExpectStatus(RingReader::Create(*ring.view).status(), absl::StatusCode::kDataLoss,
               "ring: read_index=16384 not below data size 16384");
}

TEST(RingBufferTest, FewerThanSixteenBytesAvailableIsCorruption) {
  TestRing ring;
  ring.SetWord(ControlWord::kWriteIndex, 8);
  ExpectStatus(ring.Read().status(), absl::StatusCode::kDataLoss,
               "available=8 bytes at read_index=0 below descriptor size 16");
}

// Raw descriptor + header bytes as a peer would write them, with a trailer.
std::vector<uint8_t> RawPacket(PacketDescriptor descriptor, std::vector<uint8_t> body = {}) {
  std::vector<uint8_t> bytes(kDescriptorSizeBytes);
  EncodeDescriptor(descriptor, bytes.data());
  bytes.insert(bytes.end(), body.begin(), body.end());
  bytes.resize(RoundUpTo8(bytes.size()) + kTrailerSizeBytes, 0);
  return bytes;
}

TEST(RingBufferTest, MalformedPacketsFailTheRejectingReader) {
  struct Case {
    std::string name;
    std::vector<uint8_t> bytes;
    std::string message;
  };
  std::vector<uint8_t> range_cnt_5(16, 0);
  StoreLe32(range_cnt_5.data() + 4, 5);
  std::vector<uint8_t> gpa_zero_count(24, 0);
  StoreLe32(gpa_zero_count.data() + 4, 1);  // range_cnt 1, byte_count 0.
  const std::vector<Case> cases = {
      {"gpa direct offset8=2 len8=3", RawPacket({0x9, 2, 3, 1, 0}, std::vector<uint8_t>(8)),
       "offset8=2 below minimum 3 for type=0x9"},
      {"transfer pages offset8=2 len8=3", RawPacket({0x7, 2, 3, 1, 0}, std::vector<uint8_t>(8)),
       "offset8=2 below minimum 3 for type=0x7"},
      {"offset8 below 2", RawPacket({0x6, 1, 2, 0, 0}), "offset8=1 below minimum 2"},
      {"len8 below offset8", RawPacket({0x6, 4, 3, 0, 0}, std::vector<uint8_t>(8)),
       "len8=3 below offset8=4"},
      {"len8 beyond available", RawPacket({0x6, 2, 4, 0, 0}, std::vector<uint8_t>(8)),
       "len8=4 needs 40 bytes with trailer but only 32 available"},
      {"bad type", RawPacket({0x8, 2, 2, 0, 0}), "type=0x8 not in the accepted set"},
      {"bad flags", RawPacket({0x6, 2, 2, 4, 0}), "flags=0x4 has bits other"},
      {"transfer range count", RawPacket({0x7, 4, 4, 0, 0}, range_cnt_5),
       "range_cnt=5 needs 40 bytes of ranges but offset8*8-24=8"},
      {"gpa range count", RawPacket({0x9, 4, 4, 0, 0}, range_cnt_5),
       "range_cnt=5 needs at least 80 bytes of ranges but offset8*8-24=8"},
      {"gpa byte_count 0", RawPacket({0x9, 5, 5, 0, 0}, gpa_zero_count),
       "gpa_range[0].byte_count=0 below minimum 1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TestRing ring;
    ring.InjectAndPublish(c.bytes);
    ExpectStatus(ring.Read().status(), absl::StatusCode::kDataLoss,
                 "test ring: packet at data offset 0: " + c.message);
    EXPECT_TRUE(ring.reader->failed());
    EXPECT_EQ(ring.reader->read_cursor_index(), 0u);
    ExpectStatus(ring.reader->PeekPacket(absl::MakeSpan(ring.buffer)).status(),
                 absl::StatusCode::kDataLoss, c.message);
  }
}

// A corrupt packet after good ones: the good ones are delivered first, and
// the error names where the bad one starts.
TEST(RingBufferTest, MalformedPacketAfterGoodOnes) {
  TestRing ring;
  ASSERT_EQ(ring.WriteInBand(100).value(), WriteOutcome::kWritten);
  ring.writer->CommitWrite();
  ring.InjectAndPublish(RawPacket({0x6, 0, 2, 0, 0}));
  EXPECT_EQ(ring.Read().value().outcome, ReadOutcome::kPacket);
  ExpectStatus(ring.Read().status(), absl::StatusCode::kDataLoss,
               "packet at data offset 128: offset8=0 below minimum 2");
}

// ---------------------------------------------------------------------------
// kClamp: Linux-guest bounce-buffer clamping (spec 7.2).

RingReaderOptions ClampOptions() {
  RingReaderOptions options;
  options.validation_policy = ValidationPolicy::kClamp;
  return options;
}

TEST(RingBufferClampTest, LengthBeyondAvailableIsClampedAndDesynchronises) {
  TestRing ring(k16KiBDataPages, ClampOptions());
  // 40 bytes published; descriptor claims len8 = 100.
  std::vector<uint8_t> bytes = RawPacket({0x6, 2, 100, 0, 77}, std::vector<uint8_t>(16, 0xCC));
  ASSERT_EQ(bytes.size(), 40u);
  ring.InjectAndPublish(bytes);
  absl::StatusOr<ReadResult> read = ring.Read();
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->outcome, ReadOutcome::kPacket);
  EXPECT_TRUE(read->clamped);
  EXPECT_EQ(read->packet.descriptor.len8, 5);  // Clamped to the 40 available.
  EXPECT_EQ(read->packet.descriptor.trans_id, 77u);
  EXPECT_EQ(read->packet_size_bytes, 40u);
  EXPECT_EQ(read->packet.payload().size(), 24u);  // Includes what was the trailer.
  // The private copy holds the rewritten descriptor, as Linux's does.
  EXPECT_EQ(LoadLe16(ring.buffer.data() + 4), 5);
  // The cursor steps len8 * 8 + 8 = 48: past write_index (40) by 8.
  EXPECT_EQ(ring.reader->read_cursor_index(), 48u);
  EXPECT_FALSE(ring.reader->failed());
  EXPECT_EQ(ring.reader->BytesAvailable().value(), ring.data_size_bytes() - 8);
  ring.reader->CommitRead();
  // A writer attaching now (at write_index 40, read_index 48) sees a full ring.
  ring.writer.emplace(RingWriter::Create(*ring.view, "w").value());
  EXPECT_EQ(ring.writer->FreeBytes().value(), 0u);
}

TEST(RingBufferClampTest, ShortLengthAndBadOffsetAreClamped) {
  TestRing ring(k16KiBDataPages, ClampOptions());
  ring.InjectAndPublish(RawPacket({0x6, 2, 1, 0, 1}, std::vector<uint8_t>(8, 0x11)));  // len8 1.
  ring.InjectAndPublish(RawPacket({0x6, 0, 3, 0, 2}, std::vector<uint8_t>(8, 0x22)));  // offset8 0.
  absl::StatusOr<ReadResult> first = ring.Read();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->clamped);
  // len8 * 8 = 8 < 16 -> everything available (64 bytes).
  EXPECT_EQ(first->packet.descriptor.len8, 8);
  EXPECT_EQ(ring.reader->read_cursor_index(), 72u);  // Desynchronised past both.

  TestRing other(k16KiBDataPages, ClampOptions());
  other.InjectAndPublish(RawPacket({0x6, 0, 3, 0, 2}, std::vector<uint8_t>(8, 0x22)));
  other.InjectAndPublish(RawPacket({0x6, 7, 3, 0, 3}, std::vector<uint8_t>(8, 0x33)));
  absl::StatusOr<ReadResult> zero_offset = other.Read();
  ASSERT_TRUE(zero_offset.ok()) << zero_offset.status();
  EXPECT_TRUE(zero_offset->clamped);
  EXPECT_EQ(zero_offset->packet.descriptor.offset8, 2);
  EXPECT_EQ(zero_offset->packet.payload()[0], 0x22);
  absl::StatusOr<ReadResult> big_offset = other.Read();  // offset8 7 > len8 3.
  ASSERT_TRUE(big_offset.ok()) << big_offset.status();
  EXPECT_TRUE(big_offset->clamped);
  EXPECT_EQ(big_offset->packet.descriptor.offset8, 2);
  EXPECT_EQ(big_offset->packet.descriptor.trans_id, 3u);
  EXPECT_EQ(other.reader->read_cursor_index(), 64u);  // In step again.
}

TEST(RingBufferClampTest, PacketLargerThanTheBounceBufferIsTruncated) {
  TestRing ring(k16KiBDataPages, ClampOptions());
  ASSERT_EQ(ring.WriteInBand(1000).value(), WriteOutcome::kWritten);
  ring.writer->CommitWrite();
  std::vector<uint8_t> bounce(4 * 64 + 5);  // Rounded down to 256.
  absl::StatusOr<ReadResult> read = ring.reader->ReadPacket(absl::MakeSpan(bounce));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->clamped);
  EXPECT_EQ(read->packet_size_bytes, 256u);
  EXPECT_EQ(ring.reader->read_cursor_index(), 264u);
}

TEST(RingBufferClampTest, FewerThanSixteenBytesReadsAsEmpty) {
  TestRing ring(k16KiBDataPages, ClampOptions());
  ring.SetWord(ControlWord::kWriteIndex, 8);
  EXPECT_EQ(ring.Read().value().outcome, ReadOutcome::kEmpty);
  EXPECT_FALSE(ring.reader->failed());
}

// Type, flag and typed-header violations drop just that packet.
TEST(RingBufferClampTest, DriverLevelViolationsDropOnePacket) {
  TestRing ring(k16KiBDataPages, ClampOptions());
  ring.InjectAndPublish(RawPacket({0x8, 2, 2, 0, 1}));                           // Bad type.
  ring.InjectAndPublish(RawPacket({0x9, 2, 3, 1, 2}, std::vector<uint8_t>(8)));  // offset8 2.
  ring.InjectAndPublish(RawPacket({0x6, 2, 2, 0, 3}));                           // Fine.
  ExpectStatus(ring.reader->PeekPacket(absl::MakeSpan(ring.buffer)).status(),
               absl::StatusCode::kDataLoss, "type=0x8 not in the accepted set");
  EXPECT_EQ(ring.reader->read_cursor_index(), 0u);  // Peek leaves it.
  ExpectStatus(ring.Read().status(), absl::StatusCode::kDataLoss, "type=0x8");
  ExpectStatus(ring.Read().status(), absl::StatusCode::kDataLoss,
               "offset8=2 below minimum 3 for type=0x9");
  EXPECT_FALSE(ring.reader->failed());
  absl::StatusOr<ReadResult> good = ring.Read();
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(good->packet.descriptor.trans_id, 3u);
  EXPECT_FALSE(good->clamped);
}

TEST(RingBufferClampTest, BadIndicesStillFailTheEndpoint) {
  TestRing other(k16KiBDataPages, ClampOptions());
  other.SetWord(ControlWord::kWriteIndex, 3);
  EXPECT_EQ(other.Read().status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(other.reader->failed());
}

// ---------------------------------------------------------------------------
// Property: a long seeded interleaving against a reference queue.

struct SentPacket {
  uint64_t trans_id;
  std::vector<uint8_t> payload;
};

// Three data pages (D = 12288), so that payloads of up to ~3000 bytes wrap
// every few packets; scattered PFNs copy page by page, consecutive ones as
// one run.
class RingBufferPropertyTest : public testing::TestWithParam<std::vector<uint64_t>> {};

INSTANTIATE_TEST_SUITE_P(Layouts, RingBufferPropertyTest,
                         testing::Values(std::vector<uint64_t>{50, 7, 91, 30},
                                         std::vector<uint64_t>{60, 61, 62, 63}));

TEST_P(RingBufferPropertyTest, InterleavingsMatchAReferenceQueue) {
  constexpr uint64_t kSeed = 0x5EED0F0FA6B1C;
  constexpr int kOperationCount = 200000;
  SCOPED_TRACE(absl::StrCat("seed=", kSeed));
  sim::Prng prng = sim::Prng::FromSeed(kSeed);
  TestRing ring(GetParam());
  const uint32_t d = ring.data_size_bytes();

  std::deque<SentPacket> uncommitted;  // Written, not yet published.
  std::deque<SentPacket> readable;     // Published, not yet read.
  std::deque<SentPacket> read_batch;   // Read, not yet committed (revertable).
  uint64_t next_trans_id = 1;
  uint64_t bytes_written = 0;
  uint64_t bytes_read = 0;
  uint64_t wraps = 0;
  uint64_t full_count = 0;

  for (int op = 0; op < kOperationCount; ++op) {
    const uint64_t choice = prng.Below(100);
    if (choice < 40) {
      // Payload sizes favour small packets but reach a quarter of the ring.
      const uint64_t size = prng.Below(4) == 0 ? prng.Below(3000) : prng.Below(200);
      SentPacket sent{next_trans_id, std::vector<uint8_t>(size)};
      for (uint8_t& b : sent.payload) b = static_cast<uint8_t>(prng.Next64());
      const uint32_t t = static_cast<uint32_t>(InBandRingFootprintBytes(size));
      const uint32_t in_flight =
          ring.view->Distance(ring.reader->committed_read_index(), ring.writer->next_write_index());
      const uint32_t before = ring.writer->next_write_index();
      const WriteOutcome outcome =
          ring.writer->Write(InBandPacket(sent.payload, sent.trans_id, false)).value();
      ASSERT_EQ(outcome == WriteOutcome::kRingFull, d - in_flight <= t) << "op " << op;
      if (outcome == WriteOutcome::kWritten) {
        ++next_trans_id;
        bytes_written += size;
        wraps += ring.writer->next_write_index() < before;
        uncommitted.push_back(std::move(sent));
      } else {
        ++full_count;
      }
    } else if (choice < 55) {
      const bool was_empty =
          ring.reader->committed_read_index() == ring.writer->committed_write_index();
      const bool signal = ring.writer->CommitWrite();
      ASSERT_EQ(signal, was_empty && !uncommitted.empty()) << "op " << op;
      for (SentPacket& p : uncommitted) readable.push_back(std::move(p));
      uncommitted.clear();
    } else if (choice < 90) {
      const ReadResult result = ring.Read().value();
      if (readable.empty()) {
        ASSERT_EQ(result.outcome, ReadOutcome::kEmpty) << "op " << op;
      } else {
        ASSERT_EQ(result.outcome, ReadOutcome::kPacket) << "op " << op;
        const SentPacket& want = readable.front();
        ASSERT_EQ(result.packet.descriptor.trans_id, want.trans_id) << "op " << op;
        ASSERT_EQ(result.packet.payload().size(), RoundUpTo8(want.payload.size()));
        ASSERT_TRUE(
            std::equal(want.payload.begin(), want.payload.end(), result.packet.payload().begin()))
            << "op " << op;
        bytes_read += want.payload.size();
        read_batch.push_back(std::move(readable.front()));
        readable.pop_front();
      }
    } else if (choice < 98) {
      ring.reader->CommitRead();
      read_batch.clear();
    } else {
      ring.reader->RevertRead();
      for (auto it = read_batch.rbegin(); it != read_batch.rend(); ++it) {
        bytes_read -= it->payload.size();
        readable.push_front(std::move(*it));
      }
      read_batch.clear();
    }
    for (uint32_t index :
         {ring.writer->next_write_index(), ring.writer->committed_write_index(),
          ring.reader->read_cursor_index(), ring.reader->committed_read_index(),
          ring.Word(ControlWord::kWriteIndex), ring.Word(ControlWord::kReadIndex)}) {
      ASSERT_EQ(index % 8, 0u) << "op " << op;
      ASSERT_LT(index, d) << "op " << op;
    }
  }
  // Drain everything.
  ring.writer->CommitWrite();
  for (SentPacket& p : uncommitted) readable.push_back(std::move(p));
  while (!readable.empty()) {
    const ReadResult result = ring.Read().value();
    ASSERT_EQ(result.outcome, ReadOutcome::kPacket);
    ASSERT_EQ(result.packet.descriptor.trans_id, readable.front().trans_id);
    bytes_read += readable.front().payload.size();
    readable.pop_front();
  }
  EXPECT_EQ(ring.Read().value().outcome, ReadOutcome::kEmpty);
  EXPECT_EQ(bytes_read, bytes_written);
  EXPECT_FALSE(ring.reader->failed());
  EXPECT_FALSE(ring.writer->failed());
  // The run exercised what it claims to.
  EXPECT_GT(wraps, 1000u);
  EXPECT_GT(full_count, 1000u);
  EXPECT_GT(bytes_written, 10u * 1000 * 1000);
}

}  // namespace
}  // namespace vmbsim::fabric
