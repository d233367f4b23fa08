#include "sim/fabric/ring_buffer.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "sim/check.h"

namespace vmbsim::fabric {
namespace ring_internal {

// Out of line and opaque to interprocedural analysis, so that no caller's
// size bound reaches the memcpy below (see the declaration). `noipa` is GCC's;
// other compilers get plain `noinline`.
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((noipa))
#else
ABSL_ATTRIBUTE_NOINLINE
#endif
void CopyBytes(uint8_t* to, const uint8_t* from, size_t size_bytes) {
  if (size_bytes > 0) std::memcpy(to, from, size_bytes);
}

}  // namespace ring_internal

namespace {

constexpr uint32_t kPageOffsetMask = kPageSizeBytes - 1;

uint32_t RoundDownTo8(uint32_t n) { return n & ~uint32_t{7}; }

}  // namespace

// ---------------------------------------------------------------------------
// RingMemory

RingMemory::RingMemory(uint8_t* control_page, std::vector<DataPage> data_pages)
    : control_page_(control_page),
      data_pages_(std::move(data_pages)),
      data_size_bytes_(static_cast<uint32_t>(data_pages_.size()) * kPageSizeBytes) {
  VMBSIM_CHECK(control_page_ != nullptr);
  VMBSIM_CHECK_GE(data_pages_.size(), 1u);
  VMBSIM_CHECK_LE(data_pages_.size(), kRingDataPageCountMax);
  // Every run stays inside the data area: the copy paths rely on it.
  for (size_t i = 0; i < data_pages_.size(); ++i) {
    VMBSIM_CHECK_GE(data_pages_[i].run_size_bytes, kPageSizeBytes);
    VMBSIM_CHECK_LE(data_pages_[i].run_size_bytes, data_size_bytes_ - i * kPageSizeBytes);
  }
}

absl::StatusOr<RingMemory> RingMemory::Create(GuestMemory* memory,
                                              absl::Span<const uint64_t> pfns) {
  VMBSIM_CHECK(memory != nullptr);
  if (pfns.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("ring: page count ", pfns.size(),
                     " below minimum 2 (one control page and at least one data page)"));
  }
  if (pfns.size() - 1 > kRingDataPageCountMax) {
    return absl::InvalidArgumentError(absl::StrCat("ring: data page count ", pfns.size() - 1,
                                                   " above maximum ", kRingDataPageCountMax));
  }
  for (uint64_t pfn : pfns) {
    VMBSIM_RETURN_IF_ERROR(memory->CheckPfn(pfn));
  }
  uint8_t* control_page = memory->PageForWrite(pfns[0]);
  std::vector<DataPage> data_pages(pfns.size() - 1);
  for (size_t i = 0; i < data_pages.size(); ++i) {
    data_pages[i].bytes = memory->PageForWrite(pfns[1 + i]);
  }
  // Runs, from the last page back: a page extends the run of the next one
  // when its PFN is the next one's minus one and GuestMemory keeps the two
  // adjacent in one host allocation.
  for (size_t i = data_pages.size(); i-- > 0;) {
    data_pages[i].run_size_bytes = kPageSizeBytes;
    if (i + 1 < data_pages.size() && pfns[2 + i] == pfns[1 + i] + 1 &&
        memory->NextPageIsHostAdjacent(pfns[1 + i])) {
      data_pages[i].run_size_bytes += data_pages[i + 1].run_size_bytes;
    }
  }
  return RingMemory(control_page, std::move(data_pages));
}

void RingMemory::ReadDataInPieces(uint32_t offset_bytes, absl::Span<uint8_t> out) const {
  VMBSIM_CHECK_LT(offset_bytes, data_size_bytes_);
  VMBSIM_CHECK_LE(out.size(), data_size_bytes_);
  uint8_t* to = out.data();
  size_t remaining_bytes = out.size();
  // Bounded: one iteration per run piece, at most D / 4096 + 1.
  while (remaining_bytes > 0) {
    const DataPage& page = data_pages_[offset_bytes >> kPageShift];
    const uint32_t in_page_bytes = offset_bytes & kPageOffsetMask;
    const size_t chunk_bytes =
        std::min<size_t>(remaining_bytes, page.run_size_bytes - in_page_bytes);
    ring_internal::CopyBytes(to, page.bytes + in_page_bytes, chunk_bytes);
    to += chunk_bytes;
    remaining_bytes -= chunk_bytes;
    offset_bytes += static_cast<uint32_t>(chunk_bytes);
    if (offset_bytes == data_size_bytes_) offset_bytes = 0;  // Wrap.
  }
  VMBSIM_CHECK(to == out.data() + out.size());
}

void RingMemory::WriteDataInPieces(uint32_t offset_bytes, absl::Span<const uint8_t> data) const {
  VMBSIM_CHECK_LT(offset_bytes, data_size_bytes_);
  VMBSIM_CHECK_LE(data.size(), data_size_bytes_);
  const uint8_t* from = data.data();
  size_t remaining_bytes = data.size();
  while (remaining_bytes > 0) {
    const DataPage& page = data_pages_[offset_bytes >> kPageShift];
    const uint32_t in_page_bytes = offset_bytes & kPageOffsetMask;
    const size_t chunk_bytes =
        std::min<size_t>(remaining_bytes, page.run_size_bytes - in_page_bytes);
    ring_internal::CopyBytes(page.bytes + in_page_bytes, from, chunk_bytes);
    from += chunk_bytes;
    remaining_bytes -= chunk_bytes;
    offset_bytes += static_cast<uint32_t>(chunk_bytes);
    if (offset_bytes == data_size_bytes_) offset_bytes = 0;
  }
  VMBSIM_CHECK(from == data.data() + data.size());
}

absl::Status RingMemory::CheckIndex(absl::string_view ring_name, absl::string_view field,
                                    uint32_t index) const {
  if (index >= data_size_bytes_) {
    return absl::DataLossError(absl::StrCat(ring_name, ": ", field, "=", index,
                                            " not below data size ", data_size_bytes_));
  }
  if (index % kPacketAlignmentBytes != 0) {
    return absl::DataLossError(absl::StrCat(ring_name, ": ", field, "=", index,
                                            " not a multiple of ", kPacketAlignmentBytes));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// RingWriter

RingWriter::RingWriter(RingMemory memory, RingWriterOptions options, uint32_t write_index)
    : memory_(std::move(memory)),
      name_(std::move(options.name)),
      size_rule_(options.size_rule),
      packet_footprint_bytes_max_(PacketFootprintBytesMax(options.size_rule, memory_.data_size_bytes())),
      next_write_index_(write_index),
      committed_write_index_(write_index) {
  // A data area is at least one page, so every rule accepts some packet.
  VMBSIM_CHECK_GE(packet_footprint_bytes_max_, kDescriptorSizeBytes + kTrailerSizeBytes);
  VMBSIM_CHECK_LE(packet_footprint_bytes_max_, in_flight_bytes_max());  // Never more than can be in flight.
}

absl::StatusOr<RingWriter> RingWriter::Create(RingMemory memory, RingWriterOptions options) {
  // Our own index, but it lives in guest memory (a fresh ring holds 0; a
  // restored one whatever was saved), so it is input.
  const uint32_t write_index = LoadControlWord(memory.control_page(), ControlWord::kWriteIndex);
  VMBSIM_RETURN_IF_ERROR(memory.CheckIndex(options.name, "write_index", write_index));
  uint8_t* control = memory.control_page();
  StoreControlWord(control, ControlWord::kFeatureBits,
                   LoadControlWord(control, ControlWord::kFeatureBits) | kFeatPendingSendSz);
  StoreControlWord(control, ControlWord::kPendingSendSz, 0);
  return RingWriter(std::move(memory), std::move(options), write_index);
}

absl::StatusOr<RingWriter> RingWriter::Create(RingMemory memory, std::string name) {
  return Create(std::move(memory), RingWriterOptions{.name = std::move(name)});
}

void RingWriter::SetSizeRule(WriterSizeRule rule) {
  size_rule_ = rule;
  packet_footprint_bytes_max_ = PacketFootprintBytesMax(rule, data_size_bytes());
  VMBSIM_CHECK_LE(packet_footprint_bytes_max_, in_flight_bytes_max());
}

absl::Status RingWriter::NeverFitsError(uint32_t ring_footprint_bytes) const {
  VMBSIM_CHECK_GT(ring_footprint_bytes, packet_footprint_bytes_max_);
  // The limit as each rule's source states it: T < D (Linux, EMCL), T < D - 8 (OpenVMM).
  const std::string limit = size_rule_ == WriterSizeRule::kLinuxEmcl
                                ? absl::StrCat("data size ", data_size_bytes())
                                : absl::StrCat("data size - 8 = ", in_flight_bytes_max());
  return absl::InvalidArgumentError(
      absl::StrCat(name_, ": packet ring footprint ", ring_footprint_bytes, " bytes not below ", limit));
}

absl::Status RingWriter::Fail(absl::Status status) {
  VMBSIM_CHECK(!status.ok());
  if (status_.ok()) status_ = status;
  return status_;
}

absl::Status RingWriter::FailIndex(absl::string_view field, uint32_t index) {
  absl::Status invalid = memory_.CheckIndex(name_, field, index);
  VMBSIM_CHECK(!invalid.ok());  // Paired with the IsValidIndex test that led here.
  return Fail(std::move(invalid));
}

absl::StatusOr<WriteOutcome> RingWriter::WriteSlow(const OutgoingPacket& packet) {
  if (ABSL_PREDICT_FALSE(failed())) return status_;
  VMBSIM_ASSIGN_OR_RETURN(const PacketGeometry geometry, MeasurePacket(packet));
  const uint32_t footprint_bytes = geometry.ring_footprint_bytes;
  if (ABSL_PREDICT_FALSE(footprint_bytes > packet_footprint_bytes_max())) {
    return NeverFitsError(footprint_bytes);
  }
  VMBSIM_ASSIGN_OR_RETURN(const uint32_t read_index, LoadReadIndex());
  if (memory_.RawFreeBytes(next_write_index_, read_index) <= footprint_bytes) {
    return WriteOutcome::kRingFull;
  }

  //   |desc+header|payload|pad 0-7|trailer 8|   from the private cursor
  const uint32_t start_index = next_write_index_;
  VMBSIM_CHECK(start_index % kPacketAlignmentBytes == 0);  // Paired with Advance.
  const uint32_t padding_bytes =
      geometry.packet_size_bytes - geometry.header_size_bytes - geometry.payload_size_bytes;
  VMBSIM_CHECK(padding_bytes < kPacketAlignmentBytes);
  uint8_t* direct = memory_.ContiguousBytes(start_index, footprint_bytes);
  if (direct != nullptr && geometry.header_size_bytes == kDescriptorSizeBytes) {
    // Hot path: an untyped packet inside one page, written in place.
    // MeasurePacket gives only untyped packets a 16-byte header.
    EncodeDescriptor(PacketDescriptor{static_cast<uint16_t>(packet.type), geometry.offset8,
                                      geometry.len8, packet.flags, packet.trans_id},
                     direct);
    ring_internal::CopyBytes(direct + kDescriptorSizeBytes, packet.payload.data(),
                             geometry.payload_size_bytes);
    // Eight zero bytes cover the 0-7 bytes of padding; the trailer then
    // overwrites the rest. Both stay inside [direct, direct + footprint).
    uint8_t* tail = direct + kDescriptorSizeBytes + geometry.payload_size_bytes;
    StoreLe64(tail, 0);
    StoreLe64(tail + padding_bytes, uint64_t{start_index} << 32);
  } else {
    WritePieces(packet, geometry, start_index);
  }
  next_write_index_ = memory_.Advance(start_index, footprint_bytes);
  return WriteOutcome::kWritten;
}

void RingWriter::WritePieces(const OutgoingPacket& packet, const PacketGeometry& geometry,
                             uint32_t start_index) {
  // Each piece wraps on its own. The header of a typed packet may be up to
  // 512 KiB, so it is built in a reused scratch buffer.
  uint8_t small_header[kDescriptorSizeBytes];
  absl::Span<uint8_t> header(small_header, sizeof(small_header));
  if (geometry.header_size_bytes > sizeof(small_header)) {
    if (header_scratch_.size() < geometry.header_size_bytes) {
      header_scratch_.resize(geometry.header_size_bytes);
    }
    header = absl::MakeSpan(header_scratch_.data(), geometry.header_size_bytes);
  }
  EncodePacketHeader(packet, geometry, header);
  memory_.WriteData(start_index, header);
  uint32_t at_index = memory_.Advance(start_index, geometry.header_size_bytes);
  memory_.WriteData(at_index, packet.payload);
  at_index = memory_.Advance(at_index, geometry.payload_size_bytes);

  // Padding (0-7 zero bytes) and the trailer go out as one piece.
  const uint32_t padding_bytes =
      geometry.packet_size_bytes - geometry.header_size_bytes - geometry.payload_size_bytes;
  uint8_t tail[kPacketAlignmentBytes + kTrailerSizeBytes] = {};
  StoreLe64(tail + padding_bytes, uint64_t{start_index} << 32);
  memory_.WriteData(at_index, absl::MakeConstSpan(tail, padding_bytes + kTrailerSizeBytes));
  VMBSIM_CHECK_EQ(memory_.Advance(at_index, padding_bytes + kTrailerSizeBytes),
                  memory_.Advance(start_index, geometry.ring_footprint_bytes));
}

uint32_t RingWriter::PendingSendSizeFor(uint32_t ring_footprint_bytes) const {
  const uint32_t quarter_bytes = in_flight_bytes_max() / 4;
  return static_cast<uint32_t>(RoundUpTo8(std::max(ring_footprint_bytes, quarter_bytes)));
}

absl::Status RingWriter::SetPendingSendSize(uint32_t size_bytes) {
  const uint64_t rounded_bytes = RoundUpTo8(size_bytes);
  if (rounded_bytes > in_flight_bytes_max()) {
    return absl::InvalidArgumentError(absl::StrCat(name_, ": pending_send_sz=", rounded_bytes,
                                                   " above maximum ", in_flight_bytes_max(),
                                                   " (data size - 8)"));
  }
  StoreControlWord(memory_.control_page(), ControlWord::kPendingSendSz,
                   static_cast<uint32_t>(rounded_bytes));
  return absl::OkStatus();
}

absl::Status RingWriter::SetPendingSendSizeExact(uint32_t size_bytes) {
  if (size_bytes == 0 || size_bytes >= data_size_bytes()) {
    return absl::InvalidArgumentError(absl::StrCat(name_, ": pending_send_sz=", size_bytes, " not in 1..",
                                                   data_size_bytes() - 1, " (data size - 1)"));
  }
  StoreControlWord(memory_.control_page(), ControlWord::kPendingSendSz, size_bytes);
  return absl::OkStatus();
}

void RingWriter::ClearPendingSendSize() {
  StoreControlWord(memory_.control_page(), ControlWord::kPendingSendSz, 0);
}

uint32_t RingWriter::pending_send_size() const {
  return LoadControlWord(memory_.control_page(), ControlWord::kPendingSendSz);
}

absl::StatusOr<bool> RingWriter::CanWrite(uint32_t ring_footprint_bytes) {
  if (failed()) return status_;
  if (ring_footprint_bytes > packet_footprint_bytes_max()) return NeverFitsError(ring_footprint_bytes);
  VMBSIM_ASSIGN_OR_RETURN(const uint32_t read_index, LoadReadIndex());
  return memory_.RawFreeBytes(next_write_index_, read_index) > ring_footprint_bytes;
}

absl::StatusOr<uint32_t> RingWriter::FreeBytes() {
  if (failed()) return status_;
  VMBSIM_ASSIGN_OR_RETURN(const uint32_t read_index, LoadReadIndex());
  const uint32_t raw_free_bytes = memory_.RawFreeBytes(next_write_index_, read_index);
  VMBSIM_CHECK_GE(raw_free_bytes, kTrailerSizeBytes);  // Both indices validated.
  // raw_free > T, and no more than the size rule takes in one packet.
  return std::min(raw_free_bytes - 8, packet_footprint_bytes_max());
}

// ---------------------------------------------------------------------------
// RingReader

RingReader::RingReader(RingMemory memory, RingReaderOptions options, uint32_t read_index)
    : memory_(std::move(memory)),
      options_(std::move(options)),
      read_cursor_index_(read_index),
      committed_read_index_(read_index),
      fast_read_allowed_(options_.validation_policy == ValidationPolicy::kReject) {}

absl::StatusOr<RingReader> RingReader::Create(RingMemory memory, RingReaderOptions options) {
  const uint32_t read_index = LoadControlWord(memory.control_page(), ControlWord::kReadIndex);
  VMBSIM_RETURN_IF_ERROR(memory.CheckIndex(options.name, "read_index", read_index));
  return RingReader(std::move(memory), std::move(options), read_index);
}

absl::Status RingReader::Fail(absl::Status status) {
  VMBSIM_CHECK(!status.ok());
  if (status_.ok()) status_ = status;
  fast_read_allowed_ = false;
  return status_;
}

absl::Status RingReader::FailIndex(absl::string_view field, uint32_t index) {
  absl::Status invalid = memory_.CheckIndex(options_.name, field, index);
  VMBSIM_CHECK(!invalid.ok());  // Paired with the IsValidIndex test that led here.
  return Fail(std::move(invalid));
}

absl::Status RingReader::FailPacket(uint32_t start_index, const absl::Status& error) {
  VMBSIM_CHECK(!error.ok());
  absl::Status located = absl::DataLossError(
      absl::StrCat(options_.name, ": packet at data offset ", start_index, ": ", error.message()));
  if (options_.validation_policy == ValidationPolicy::kClamp) return located;
  return Fail(std::move(located));
}

absl::StatusOr<ReadResult> RingReader::PeekPacket(absl::Span<uint8_t> buffer) {
  return ReadOrPeek(buffer, /*advance=*/false);
}

absl::StatusOr<ReadResult> RingReader::ReadOrPeek(absl::Span<uint8_t> buffer, bool advance) {
  if (ABSL_PREDICT_FALSE(failed())) return status_;
  VMBSIM_ASSIGN_OR_RETURN(const uint32_t write_index, LoadWriteIndex());
  const uint32_t start_index = read_cursor_index_;
  const uint32_t available_bytes = memory_.Distance(start_index, write_index);
  ReadResult result;
  if (available_bytes == 0) return result;  // kEmpty.
  const bool clamp = options_.validation_policy == ValidationPolicy::kClamp;
  if (ABSL_PREDICT_FALSE(available_bytes < kDescriptorSizeBytes)) {
    if (clamp) return result;  // Linux `hv_pkt_iter_first`: nothing to read.
    return Fail(absl::DataLossError(absl::StrCat(options_.name, ": available=", available_bytes,
                                                 " bytes at read_index=", start_index,
                                                 " below descriptor size ", kDescriptorSizeBytes)));
  }

  // Fetch the descriptor once, into private memory (the caller's buffer);
  // everything below uses this copy.
  uint8_t* private_copy = buffer.data();
  PacketDescriptor descriptor;
  if (const uint8_t* in_page = memory_.ContiguousBytes(start_index, kDescriptorSizeBytes);
      ABSL_PREDICT_TRUE(in_page != nullptr)) {
    descriptor = DecodeDescriptor(in_page);  // Each field fetched exactly once.
    EncodeDescriptor(descriptor, private_copy);
  } else {
    memory_.ReadData(start_index, buffer.first(kDescriptorSizeBytes));
    descriptor = DecodeDescriptor(private_copy);
  }
  uint32_t packet_size_bytes = uint32_t{descriptor.len8} * 8;

  if (!clamp) {
    // CheckDescriptorLengths, with its message built only on failure.
    if (ABSL_PREDICT_FALSE(descriptor.offset8 < kOffset8Min ||
                           descriptor.len8 < descriptor.offset8 ||
                           uint64_t{packet_size_bytes} + kTrailerSizeBytes > available_bytes)) {
      return FailPacket(start_index, CheckDescriptorLengths(descriptor, available_bytes));
    }
    if (ABSL_PREDICT_FALSE(buffer.size() < packet_size_bytes)) {
      result.outcome = ReadOutcome::kBufferTooSmall;
      result.packet_size_bytes = packet_size_bytes;
      return result;
    }
  } else {
    // Linux bounce-buffer clamping; the cap is also kept within what len8
    // can express so that the rewritten descriptor stays truthful.
    const uint32_t cap_bytes = RoundDownTo8(static_cast<uint32_t>(
        std::min<uint64_t>({available_bytes, buffer.size(), uint64_t{kLen8Max} * 8})));
    VMBSIM_CHECK_GE(cap_bytes, kDescriptorSizeBytes);
    uint32_t offset_bytes = uint32_t{descriptor.offset8} * 8;
    if (packet_size_bytes < kDescriptorSizeBytes || packet_size_bytes > cap_bytes) {
      packet_size_bytes = cap_bytes;
      result.clamped = true;
    }
    if (offset_bytes < kDescriptorSizeBytes || offset_bytes > packet_size_bytes) {
      offset_bytes = kDescriptorSizeBytes;
      result.clamped = true;
    }
    descriptor.len8 = static_cast<uint16_t>(packet_size_bytes / 8);
    descriptor.offset8 = static_cast<uint16_t>(offset_bytes / 8);
    EncodeDescriptor(descriptor, private_copy);  // The private copy, as Linux.
  }
  VMBSIM_CHECK(packet_size_bytes >= kDescriptorSizeBytes);
  VMBSIM_CHECK(packet_size_bytes <= buffer.size());
  VMBSIM_CHECK(packet_size_bytes <= available_bytes);  // Never past write_index.

  memory_.ReadData(memory_.Advance(start_index, kDescriptorSizeBytes),
                   buffer.subspan(kDescriptorSizeBytes, packet_size_bytes - kDescriptorSizeBytes));
  // The trailer is skipped, as every reader does (spec 1.3). Under kClamp
  // the step can pass write_index by 8 bytes; Advance keeps it in range.
  const uint32_t next_index = memory_.Advance(start_index, packet_size_bytes + kTrailerSizeBytes);

  absl::StatusOr<ParsedPacket> parsed =
      ParsePacketContents(descriptor, buffer.first(packet_size_bytes), options_.accepted_types);
  if (ABSL_PREDICT_FALSE(!parsed.ok())) {
    // kClamp drops just this packet; kReject fails the endpoint.
    if (clamp && advance) read_cursor_index_ = next_index;
    return FailPacket(start_index, parsed.status());
  }
  if (advance) read_cursor_index_ = next_index;
  result.outcome = ReadOutcome::kPacket;
  result.packet = *parsed;
  result.packet_size_bytes = packet_size_bytes;
  return result;
}

bool RingReader::WriterNeedsSignal(uint32_t old_read_index, uint32_t pending_send_sz) {
  const absl::StatusOr<uint32_t> loaded_write_index = LoadWriteIndex();
  if (!loaded_write_index.ok()) return false;
  const uint32_t write_index = *loaded_write_index;
  const uint8_t* control = memory_.control_page();
  const uint32_t new_read_index = committed_read_index_;
  switch (options_.pending_send_rule) {
    case PendingSendRule::kWindowsHost: {
      // OpenVMM: masking the low 3 bits turns "ring size - 1", which some
      // writers publish, into a value the 8-byte reserve lets the ring meet.
      const uint32_t pending_bytes = pending_send_sz & ~uint32_t{7};
      if (pending_bytes == 0) return false;
      // raw_free is in [8, D] for validated indices, so these cannot wrap.
      const uint32_t free_before_bytes = memory_.RawFreeBytes(write_index, old_read_index) - 8;
      const uint32_t free_after_bytes = memory_.RawFreeBytes(write_index, new_read_index) - 8;
      return free_before_bytes < pending_bytes && free_after_bytes >= pending_bytes;
    }
    case PendingSendRule::kLinuxGuest: {
      const uint32_t feature_bits = LoadControlWord(control, ControlWord::kFeatureBits);
      if ((feature_bits & kFeatPendingSendSz) == 0) return false;
      if (pending_send_sz == 0) return false;
      const uint32_t now_free_bytes = memory_.RawFreeBytes(write_index, new_read_index);
      const uint32_t bytes_read = memory_.Distance(old_read_index, new_read_index);
      // u32 arithmetic on purpose, as Linux: if the difference wraps (only
      // possible after kClamp stepped past write_index) it is huge and the
      // writer is not signalled.
      if (now_free_bytes - bytes_read > pending_send_sz) return false;
      if (now_free_bytes <= pending_send_sz) return false;
      return true;
    }
  }
  VMBSIM_CHECK_MSG(false, "unknown PendingSendRule");
  return false;
}

void RingReader::RevertRead() { read_cursor_index_ = committed_read_index_; }

void RingReader::SetInterruptMask(bool masked) {
  StoreControlWord(memory_.control_page(), ControlWord::kInterruptMask, masked ? 1 : 0);
}

absl::StatusOr<bool> RingReader::HasData() {
  VMBSIM_ASSIGN_OR_RETURN(const uint32_t available_bytes, BytesAvailable());
  return available_bytes != 0;
}

absl::StatusOr<uint32_t> RingReader::BytesAvailable() {
  if (failed()) return status_;
  VMBSIM_ASSIGN_OR_RETURN(const uint32_t write_index, LoadWriteIndex());
  return memory_.Distance(read_cursor_index_, write_index);
}

}  // namespace vmbsim::fabric
