// ring_buffer.h
//
// One VMBus ring buffer (spec section 1): a 4096-byte control page (write
// index, read index, interrupt mask, pending send size, feature bits)
// followed by a data area of D bytes that packets wrap around. Packets are
// not padded at the end of the data area; a descriptor, payload or trailer
// that reaches the end continues at offset 0.
//
// The ring has two halves, each owned by one endpoint:
//   - `RingWriter` (producer) owns write_index and pending_send_sz. It writes
//     packets at a private cursor and publishes write_index once per batch
//     (`CommitWrite`), which reports whether the reader must be signalled
//     (empty -> non-empty and interrupt_mask clear, spec 1.7).
//   - `RingReader` (consumer) owns read_index and interrupt_mask. It reads
//     packets at a private cursor and publishes read_index once per batch
//     (`CommitRead`), which reports whether a blocked writer must be
//     signalled (pending_send_sz rule, spec 1.8, in the Windows-host or the
//     Linux-guest form).
//
// Index arithmetic, with r = read_index, w = write_index:
//
//   |____r.......w_____|   used = w - r            raw_free = D - used
//   |....w_______r.....|   used = D - (r - w)      raw_free = r - w
//
// r == w means empty, so the writer never lets w catch up with r: a packet
// with ring footprint T (len8 * 8 + 8) may be written only if raw_free > T,
// and at most D - 8 bytes are ever in flight (spec 1.4).
//
// Which packets a writer accepts at all is a property of the writing
// endpoint, its `WriterSizeRule`: Linux and Microsoft's EMCL library (the
// lineage of KMCL) take any packet that fits an empty ring (T < D); OpenVMM
// refuses T >= D - 8 outright. Both agree on when a packet fits now.
//
// Both halves live in guest memory that the other side (or a fault plan) can
// scribble over at any time. Every index loaded from the control page is
// validated on every load (< D, multiple of 8); a bad index, or a bad packet
// under the kReject policy, puts the endpoint into a failed state: the
// operation and every later one return the same absl::DataLoss naming the
// field, its value and the limit. Nothing here reads or writes outside the
// ring's pages or aborts because of what the peer wrote. interrupt_mask,
// pending_send_sz and feature_bits only steer signalling decisions and are
// used as found (spec 7.1).
//
// Shared-memory accesses are plain loads and stores executed in program order
// inside one simulator event, which is sequentially consistent; the multi-step
// protocols (blocked writer, unmask-and-recheck) expose their steps as
// separate calls so the fabric can interleave them as separate events.
//
// Speed: Write, CommitWrite, ReadPacket and CommitRead are inline. Each
// handles the common case (an untyped packet, kReject, descriptor inside one
// page) in straight-line code and hands anything else, errors included, to
// an out-of-line slow path that starts over. RingMemory resolves page
// pointers once and copies at most one piece per run of host-contiguous pages
// (ring_buffer_benchmark measures it against memcpy).
//
// Not modelled: rescind (the channel layer refuses writes first), the
// per-channel locks of Linux (single owner per half here), pipe mode,
// signalling itself (callers act on the returned booleans) and counters.

#ifndef VMBSIM_SIM_FABRIC_RING_BUFFER_H_
#define VMBSIM_SIM_FABRIC_RING_BUFFER_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "sim/check.h"
#include "sim/fabric/guest_memory.h"
#include "sim/fabric/packet_format.h"
#include "sim/fabric/ring_layout.h"

namespace vmbsim::fabric {

// Largest data area a ring may have: indices are u32 byte offsets.
inline constexpr uint32_t kRingDataPageCountMax = (uint64_t{1} << 32) / kPageSizeBytes - 1;

namespace ring_internal {

// memcpy kept out of line on purpose: at a call site where the compiler can
// bound the size (a piece of one page, <= 4096) GCC expands memcpy inline
// into a `rep movs` sequence that runs at a fraction of libc's vector copy.
void CopyBytes(uint8_t* to, const uint8_t* from, size_t size_bytes);

// Copies `size_bytes` bytes; up to 64 inline with fixed-size moves that may
// overlap (no loop), larger ones through CopyBytes. Small packets dominate
// ring traffic and a call costs more than their copy.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void CopyBytesInline(uint8_t* to, const uint8_t* from,
                                                         size_t size_bytes) {
  const size_t n = size_bytes;
  if (n > 64) {
    CopyBytes(to, from, n);
  } else if (n >= 32) {  // [0, 32) and [n - 32, n).
    std::memcpy(to, from, 16);
    std::memcpy(to + 16, from + 16, 16);
    std::memcpy(to + n - 32, from + n - 32, 16);
    std::memcpy(to + n - 16, from + n - 16, 16);
  } else if (n >= 16) {
    std::memcpy(to, from, 16);
    std::memcpy(to + n - 16, from + n - 16, 16);
  } else if (n >= 8) {
    std::memcpy(to, from, 8);
    std::memcpy(to + n - 8, from + n - 8, 8);
  } else {
    for (size_t i = 0; i < n; ++i) to[i] = from[i];  // At most 7 bytes.
  }
}

}  // namespace ring_internal

// ---------------------------------------------------------------------------
// The pages of one ring, resolved once to host pointers.

class RingMemory {
 public:
  // Returns the view of the ring whose control page is `pfns[0]` and whose
  // data area is `pfns[1]`, `pfns[2]`, ... in that order, so the data area
  // has D = (pfns.size() - 1) * 4096 bytes. The pages need not be contiguous,
  // and are allocated in `*memory` if untouched. Runs of consecutive PFNs
  // that GuestMemory keeps adjacent in host memory are recorded once, so that
  // copies cross their page boundaries in one piece. InvalidArgument if there are
  // fewer than 2 pages or more than 1 + kRingDataPageCountMax; OutOfRange if a
  // PFN lies outside `*memory`. `*memory` must outlive the view and every
  // copy of it.
  static absl::StatusOr<RingMemory> Create(GuestMemory* memory, absl::Span<const uint64_t> pfns);

  uint8_t* control_page() const { return control_page_; }
  uint32_t data_size_bytes() const { return data_size_bytes_; }

  // Copies `out.size()` bytes of the data area, starting at `offset_bytes`
  // and wrapping to offset 0 at the end, into `out`: one memcpy per run of
  // host-contiguous pages touched (see Create), at most two when the whole
  // data area is one run.
  // REQUIRES: offset_bytes < data_size_bytes(); out.size() <= data_size_bytes().
  ABSL_ATTRIBUTE_ALWAYS_INLINE void ReadData(uint32_t offset_bytes, absl::Span<uint8_t> out) const {
    if (const uint8_t* from = ContiguousBytes(offset_bytes, out.size());
        ABSL_PREDICT_TRUE(from != nullptr)) {
      ring_internal::CopyBytes(out.data(), from, out.size());
      return;
    }
    ReadDataInPieces(offset_bytes, out);
  }

  // Copies `data` into the data area starting at `offset_bytes`, wrapping.
  // REQUIRES: offset_bytes < data_size_bytes(); data.size() <= data_size_bytes().
  ABSL_ATTRIBUTE_ALWAYS_INLINE void WriteData(uint32_t offset_bytes,
                                              absl::Span<const uint8_t> data) const {
    if (uint8_t* to = ContiguousBytes(offset_bytes, data.size());
        ABSL_PREDICT_TRUE(to != nullptr)) {
      ring_internal::CopyBytes(to, data.data(), data.size());
      return;
    }
    WriteDataInPieces(offset_bytes, data);
  }

  // Returns a pointer to data bytes [offset_bytes, offset_bytes + size_bytes)
  // if they are contiguous in host memory (inside one page, or one run of
  // host-contiguous pages, and not wrapping), else nullptr (use ReadData /
  // WriteData).
  // REQUIRES: offset_bytes < data_size_bytes().
  ABSL_ATTRIBUTE_ALWAYS_INLINE uint8_t* ContiguousBytes(uint32_t offset_bytes,
                                                        uint64_t size_bytes) const {
    VMBSIM_CHECK(offset_bytes < data_size_bytes_);
    const DataPage& page = data_pages_[offset_bytes >> kPageShift];
    const uint32_t in_page_bytes = offset_bytes % kPageSizeBytes;
    // A run ends on a page boundary no later than the end of the data area,
    // so a copy inside it cannot run past D.
    if (in_page_bytes + size_bytes > page.run_size_bytes) return nullptr;
    return page.bytes + in_page_bytes;
  }

  // Returns `index + size_bytes` wrapped into [0, D).
  // REQUIRES: index < D; size_bytes <= D.
  ABSL_ATTRIBUTE_ALWAYS_INLINE uint32_t Advance(uint32_t index, uint32_t size_bytes) const {
    VMBSIM_CHECK(index < data_size_bytes_);
    VMBSIM_CHECK(size_bytes <= data_size_bytes_);
    // index + size_bytes < 2 * D <= 2^33: compute in 64 bits.
    const uint64_t next = uint64_t{index} + size_bytes;
    return static_cast<uint32_t>(next >= data_size_bytes_ ? next - data_size_bytes_ : next);
  }

  // Bytes from `from_index` forward to `to_index` (0 when equal).
  // REQUIRES: both < D.
  ABSL_ATTRIBUTE_ALWAYS_INLINE uint32_t Distance(uint32_t from_index, uint32_t to_index) const {
    VMBSIM_CHECK(from_index < data_size_bytes_);
    VMBSIM_CHECK(to_index < data_size_bytes_);
    return to_index >= from_index ? to_index - from_index
                                  : data_size_bytes_ - (from_index - to_index);
  }

  // spec 1.4 `raw_free` for the given indices: D - Distance(read, write).
  // Never 0 when both indices are multiples of 8: the result is in [8, D].
  ABSL_ATTRIBUTE_ALWAYS_INLINE uint32_t RawFreeBytes(uint32_t write_index,
                                                     uint32_t read_index) const {
    return data_size_bytes_ - Distance(read_index, write_index);
  }

  // Whether `index` is a valid index of this ring: < D and a multiple of 8.
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool IsValidIndex(uint32_t index) const {
    return index < data_size_bytes_ && index % kPacketAlignmentBytes == 0;
  }

  // Returns OK if IsValidIndex(index), else DataLoss
  // "<ring_name>: <field>=<index> not below data size D" or
  // "... not a multiple of 8".
  absl::Status CheckIndex(absl::string_view ring_name, absl::string_view field,
                          uint32_t index) const;

 private:
  struct DataPage {
    uint8_t* bytes;           // Data bytes [i * 4096, (i + 1) * 4096).
    uint32_t run_size_bytes;  // Host-contiguous bytes from `bytes` on, <= D - i * 4096.
  };

  RingMemory(uint8_t* control_page, std::vector<DataPage> data_pages);

  void ReadDataInPieces(uint32_t offset_bytes, absl::Span<uint8_t> out) const;
  void WriteDataInPieces(uint32_t offset_bytes, absl::Span<const uint8_t> data) const;

  uint8_t* control_page_;
  std::vector<DataPage> data_pages_;
  uint32_t data_size_bytes_;
};

// ---------------------------------------------------------------------------
// Producer half.

// The largest packet a writer accepts at all. Every rule agrees on when a
// packet of footprint T (descriptor, payload, padding to 8, trailer) fits
// now: raw_free > T, which is OpenVMM's `ring_free() >= T` (ring_free =
// raw_free - 8) and EMCL's `PkpFreeBytes() >= T` (raw_free - 1) because
// every quantity is a multiple of 8. They differ in the packet that can
// never be written, refused as InvalidArgument rather than kRingFull:
enum class WriterSizeRule : uint8_t {
  // T < D: a packet fits an empty ring. Linux drivers/hv/ring_buffer.c
  // `hv_ringbuffer_write` fails a write only when
  // `bytes_avail_towrite <= totalbytes_towrite` (no separate limit), and
  // Microsoft's EMCL ring library, the Windows lineage of KMCL (public as
  // microsoft/mu_msvm MsvmPkg/EmclDxe/RingBuffer.c,
  // `PkpCheckSendBufferFreeBytes`), refuses exactly
  // `TotalPacketSize >= DataBytesInRing` as EFI_INVALID_PARAMETER. KMCL's
  // endpoints use this rule. Largest footprint: D - 8.
  kLinuxEmcl,
  // T < D - 8: OpenVMM vm/devices/vmbus/vmbus_ring `OutgoingRing::write`
  // returns InvalidMessageLength for `total_msg_len >= self.inner.len() - 8`.
  // The default, and the fabric's writers'. Largest footprint: D - 16.
  kOpenVmm,
};

// Largest ring footprint a writer following `rule` accepts into a data area
// of `data_size_bytes` (a multiple of 4096).
inline constexpr uint32_t PacketFootprintBytesMax(WriterSizeRule rule, uint32_t data_size_bytes) {
  return rule == WriterSizeRule::kLinuxEmcl ? data_size_bytes - 8 : data_size_bytes - 16;
}

// The fewest data pages (ring pages minus the control page) whose writer,
// following `rule`, accepts a packet of footprint `ring_footprint_bytes`:
// the smallest n >= 1 with PacketFootprintBytesMax(rule, n * 4096) >= T.
// Ring sizing uses it so that sizing and writing apply one rule.
inline constexpr uint64_t RingDataPageCountFor(WriterSizeRule rule, uint64_t ring_footprint_bytes) {
  // PacketFootprintBytesMax is D minus a fixed reserve: n * 4096 - reserve >= T.
  const uint64_t reserve_bytes = kPageSizeBytes - PacketFootprintBytesMax(rule, kPageSizeBytes);
  const uint64_t pages = (ring_footprint_bytes + reserve_bytes + kPageSizeBytes - 1) / kPageSizeBytes;
  return pages == 0 ? 1 : pages;
}

static_assert(PacketFootprintBytesMax(WriterSizeRule::kLinuxEmcl, kPageSizeBytes) == 4088);
static_assert(PacketFootprintBytesMax(WriterSizeRule::kOpenVmm, kPageSizeBytes) == 4080);
static_assert(RingDataPageCountFor(WriterSizeRule::kLinuxEmcl, 4088) == 1);
static_assert(RingDataPageCountFor(WriterSizeRule::kOpenVmm, 4088) == 2);

struct RingWriterOptions {
  std::string name = "ring";  // Prefixes every error message.
  WriterSizeRule size_rule = WriterSizeRule::kOpenVmm;
};

enum class WriteOutcome {
  kWritten,   // Copied into the ring; visible to the reader after CommitWrite.
  kRingFull,  // raw_free <= T. Nothing written. Expected; retry later.
};

class RingWriter {
 public:
  // Takes the producer side of the ring in `memory`. Resumes at the
  // write_index found in the control page (0 in a fresh ring), sets
  // feature_bits bit 0 (kFeatPendingSendSz: "I publish pending_send_sz and
  // honour it", as OpenVMM's OutgoingRing::new and Linux do) and zeroes
  // pending_send_sz. DataLoss if the stored write_index is invalid.
  // `options.name` prefixes every error message ("channel 3 host->guest");
  // `options.size_rule` sets the largest packet accepted.
  static absl::StatusOr<RingWriter> Create(RingMemory memory, RingWriterOptions options);
  // As above with the default size rule (kOpenVmm).
  static absl::StatusOr<RingWriter> Create(RingMemory memory, std::string name = "ring");

  // Copies `packet` into the ring at the private cursor without publishing it:
  // descriptor and type header, payload, zero padding to 8, and the trailer
  // `(uint64_t)cursor << 32`. Returns kRingFull (and writes nothing) if the
  // ring lacks room. InvalidArgument if the packet is malformed
  // (MeasurePacket) or so large that it can never fit (footprint above
  // packet_footprint_bytes_max(), per the size rule); DataLoss (endpoint
  // failed) if read_index is invalid.
  ABSL_ATTRIBUTE_ALWAYS_INLINE absl::StatusOr<WriteOutcome> Write(const OutgoingPacket& packet);

  // Publishes write_index for every packet written since the last commit and
  // returns whether the reader must be signalled: interrupt_mask == 0 and
  // read_index equals the write_index published before this batch (empty ->
  // non-empty, spec 1.7). Returns false without touching memory if nothing
  // was written, or if the endpoint has failed. Returns false right after
  // the store if interrupt_mask is set; otherwise loads read_index, and if
  // that is invalid the endpoint fails (see status()) and this returns false.
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool CommitWrite() { return CommitWriteTo(next_write_index_); }

  // As CommitWrite, but publishes write_index = `index` only: the end of a
  // packet written since the last commit, so that a writer can make its
  // packets visible one by one, each at the time its VP reaches it. An index
  // already published (or behind it) changes nothing and returns false.
  // REQUIRES: `index` is the end of a packet this writer wrote.
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool CommitWriteTo(uint32_t index);

  // --- Blocked-writer protocol (spec 1.8), one step per call so that the
  // fabric can interleave the peer between the steps:
  //   1. Write() -> kRingFull
  //   2. SetPendingSendSize(PendingSendSizeFor(T))
  //   3. CanWrite(T): re-reads read_index. If true: ClearPendingSendSize(),
  //      Write(). Otherwise wait for the reader's signal, then repeat 3.

  // OpenVMM's heuristic for the value to publish when blocked on a packet of
  // footprint `ring_footprint_bytes`: max(T, (D - 8) / 4) rounded up to 8, so
  // the writer is woken only after a quarter of the ring is free.
  uint32_t PendingSendSizeFor(uint32_t ring_footprint_bytes) const;

  // Stores pending_send_sz = `size_bytes` rounded up to a multiple of 8 (0
  // clears it). InvalidArgument if it exceeds in_flight_bytes_max(), a value
  // that could never be met (OpenVMM `set_pending_send_size`).
  absl::Status SetPendingSendSize(uint32_t size_bytes);

  // Stores pending_send_sz = `size_bytes` exactly, not rounded: the Windows
  // lineage publishes "uncommitted bytes + T" clamped to D - 1, a value
  // with low bits set that readers mask (EMCL `PkpCheckSendBufferFreeBytes`).
  // InvalidArgument unless 0 < size_bytes < data size.
  absl::Status SetPendingSendSizeExact(uint32_t size_bytes);

  // Stores pending_send_sz = 0.
  void ClearPendingSendSize();
  // The pending_send_sz this writer last stored (0: none published).
  uint32_t pending_send_size() const;

  // Re-reads read_index and returns whether a packet of footprint
  // `ring_footprint_bytes` fits now (raw_free > T). InvalidArgument if
  // T > packet_footprint_bytes_max(); DataLoss (endpoint failed) if
  // read_index is invalid.
  absl::StatusOr<bool> CanWrite(uint32_t ring_footprint_bytes);

  // Loads read_index and returns the largest packet footprint T that Write
  // would accept now (raw_free - 8, at most packet_footprint_bytes_max()),
  // measured from the private cursor. DataLoss (endpoint failed) if
  // read_index is invalid.
  absl::StatusOr<uint32_t> FreeBytes();

  uint32_t data_size_bytes() const { return memory_.data_size_bytes(); }
  // Most bytes ever in flight: D - 8.
  uint32_t in_flight_bytes_max() const { return data_size_bytes() - 8; }
  // Largest footprint T a single Write accepts, per the size rule:
  // PacketFootprintBytesMax(size_rule(), D).
  uint32_t packet_footprint_bytes_max() const { return packet_footprint_bytes_max_; }
  WriterSizeRule size_rule() const { return size_rule_; }
  // Changes the size rule. The fabric creates every endpoint; the layer
  // that writes through it declares its own rule (KMCL does when the fabric
  // attaches its channel, before anything is written). Takes effect from
  // the next Write / CanWrite; packets already written stay.
  void SetSizeRule(WriterSizeRule rule);
  // Private cursor: where the next packet goes.
  // The shared memory this writer works on (the peer can write it too).
  const RingMemory& memory() const { return memory_; }
  uint32_t next_write_index() const { return next_write_index_; }
  // Last write_index this writer published.
  uint32_t committed_write_index() const { return committed_write_index_; }
  bool failed() const { return !status_.ok(); }
  // OK, or the DataLoss that failed this endpoint.
  const absl::Status& status() const { return status_; }

 private:
  RingWriter(RingMemory memory, RingWriterOptions options, uint32_t write_index);

  // Loads and validates read_index; fails the endpoint if it is invalid.
  ABSL_ATTRIBUTE_ALWAYS_INLINE absl::StatusOr<uint32_t> LoadReadIndex() {
    const uint32_t read_index = LoadControlWord(memory_.control_page(), ControlWord::kReadIndex);
    if (ABSL_PREDICT_TRUE(memory_.IsValidIndex(read_index))) return read_index;
    return FailIndex("read_index", read_index);
  }
  absl::Status FailIndex(absl::string_view field, uint32_t index);
  absl::Status Fail(absl::Status status);
  // InvalidArgument for a packet of footprint `ring_footprint_bytes` above
  // packet_footprint_bytes_max(), naming the rule's limit.
  absl::Status NeverFitsError(uint32_t ring_footprint_bytes) const;
  // Every case, with full validation and error messages. Write's fast path
  // hands over to it, having changed nothing.
  absl::StatusOr<WriteOutcome> WriteSlow(const OutgoingPacket& packet);
  // Copies a packet piece by piece (typed headers, or across runs / the end).
  void WritePieces(const OutgoingPacket& packet, const PacketGeometry& geometry,
                   uint32_t start_index);

  RingMemory memory_;
  std::string name_;
  WriterSizeRule size_rule_;
  uint32_t packet_footprint_bytes_max_;  // PacketFootprintBytesMax(size_rule_, D).
  uint32_t next_write_index_;
  uint32_t committed_write_index_;
  absl::Status status_;
  std::vector<uint8_t> header_scratch_;  // Typed headers above 16 bytes; reused.
};

// ---------------------------------------------------------------------------
// Consumer half.

// How a reader decides, at commit, whether to wake a writer blocked on
// pending_send_sz (spec 1.8).
enum class PendingSendRule {
  // OpenVMM `commit_read`, the host form: ignore feature_bits; p =
  // pending_send_sz with the low 3 bits masked (some writers publish the ring
  // size minus one); free = raw_free - 8; signal iff
  // free_before < p && free_after >= p.
  kWindowsHost,
  // Linux `hv_pkt_iter_close`: only if feature_bits has kFeatPendingSendSz;
  // p = pending_send_sz as found; now_free = raw_free after the commit; no
  // signal if now_free - bytes_read > p (u32 arithmetic) or now_free <= p;
  // otherwise signal.
  kLinuxGuest,
};
// Because every index and raw_free is a multiple of 8, both rules signal
// exactly when raw_free_before <= p' and raw_free_after >= p' + 8, with
// p' = p rounded down to 8; they differ only in the Linux rule's feature-bit
// gate. The "8-byte difference" spec 1.8 derives does not occur on a valid
// ring (ring_buffer_test pins both boundaries and their agreement).

// What a reader does with a malformed packet (spec 7.2). Invalid indices
// always fail the endpoint: no index can be repaired.
enum class ValidationPolicy {
  // OpenVMM: any violation fails the endpoint (DataLoss, sticky). A channel
  // is never resynchronised.
  kReject,
  // Linux guest: the packet is copied into the caller's buffer (the bounce
  // buffer); a len8 * 8 below 16 or above min(available, buffer) becomes that
  // minimum rounded down to 8, an offset8 * 8 below 16 or above the length
  // becomes 16, and the rewritten values are used, including to advance the
  // cursor (len8 * 8 + 8, which can step 8 bytes past write_index: memory
  // safe but desynchronising, as in Linux). Fewer than 16 bytes available
  // reads as empty. Type, flag and typed-header violations (driver-level
  // checks in Linux) consume and drop that one packet with DataLoss; the
  // endpoint stays usable.
  kClamp,
};

struct RingReaderOptions {
  std::string name = "ring";  // Prefixes every error message.
  PendingSendRule pending_send_rule = PendingSendRule::kWindowsHost;
  ValidationPolicy validation_policy = ValidationPolicy::kReject;
  PacketTypeSet accepted_types = PacketTypeSet::Default();
};

enum class ReadOutcome : uint8_t {
  kPacket,          // A packet was copied into the buffer and validated.
  kEmpty,           // Nothing to read (write_index == cursor).
  kBufferTooSmall,  // kReject only: the packet needs `packet_size_bytes`.
};

struct ReadResult {
  ReadOutcome outcome = ReadOutcome::kEmpty;
  // kClamp: whether len8 or offset8 was rewritten.
  bool clamped = false;
  // kPacket: bytes copied (len8 * 8). kBufferTooSmall: bytes needed.
  uint32_t packet_size_bytes = 0;
  // kPacket: the validated packet, a view of the caller's buffer.
  // `packet.payload()` runs to len8 * 8, so it includes tail padding: the
  // wire does not carry the unpadded payload length.
  ParsedPacket packet;
};

class RingReader {
 public:
  // Takes the consumer side of the ring in `memory`. Resumes at the
  // read_index found in the control page. Leaves interrupt_mask as found
  // (a fresh ring is unmasked). DataLoss if the stored read_index is invalid.
  static absl::StatusOr<RingReader> Create(RingMemory memory, RingReaderOptions options = {});

  // Copies the next packet into `buffer`, validates it, and moves the private
  // cursor past it (packet and trailer). read_index is not published until
  // CommitRead. Returns kEmpty if there is nothing to read; kBufferTooSmall
  // (kReject) without consuming anything. DataLoss if write_index or the
  // packet is invalid (see ValidationPolicy for which failures are sticky).
  // REQUIRES: buffer.size() >= kDescriptorSizeBytes.
  ABSL_ATTRIBUTE_ALWAYS_INLINE absl::StatusOr<ReadResult> ReadPacket(absl::Span<uint8_t> buffer);

  // As ReadPacket, but leaves the cursor where it is; a packet dropped under
  // kClamp stays in place too.
  absl::StatusOr<ReadResult> PeekPacket(absl::Span<uint8_t> buffer);

  // Publishes read_index = cursor and returns whether the writer must be
  // signalled under the configured PendingSendRule. Returns false without
  // touching memory if nothing was read since the last commit, or if the
  // endpoint has failed. Returns false right after the store if
  // pending_send_sz is 0 (no rule can signal then); otherwise loads
  // write_index, and if that is invalid the endpoint fails (see status())
  // and this returns false.
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool CommitRead();

  // Moves the cursor back to the last published read_index, un-reading the
  // packets of the current batch (OpenVMM `IncomingOffset::revert`).
  void RevertRead();

  // Stores interrupt_mask = 1 (masked) or 0. The drain loop that avoids a
  // lost wake-up: SetInterruptMask(true); read until kEmpty; CommitRead();
  // SetInterruptMask(false); if HasData(), mask again and keep reading.
  void SetInterruptMask(bool masked);

  // Loads write_index and returns whether any bytes lie between the cursor
  // and it. DataLoss (endpoint failed) if write_index is invalid.
  absl::StatusOr<bool> HasData();

  // Loads write_index and returns the bytes between the cursor and it.
  // DataLoss (endpoint failed) if write_index is invalid.
  absl::StatusOr<uint32_t> BytesAvailable();

  uint32_t data_size_bytes() const { return memory_.data_size_bytes(); }
  // Private cursor: where the next packet starts.
  // The shared memory this reader works on (the peer can write it too).
  const RingMemory& memory() const { return memory_; }
  uint32_t read_cursor_index() const { return read_cursor_index_; }
  // Last read_index this reader published.
  uint32_t committed_read_index() const { return committed_read_index_; }
  const RingReaderOptions& options() const { return options_; }
  bool failed() const { return !status_.ok(); }
  // OK, or the DataLoss that failed this endpoint.
  const absl::Status& status() const { return status_; }

 private:
  RingReader(RingMemory memory, RingReaderOptions options, uint32_t read_index);

  // Every case, with full validation and error messages. ReadPacket's fast
  // path hands over to it, having changed nothing; PeekPacket is just this.
  absl::StatusOr<ReadResult> ReadOrPeek(absl::Span<uint8_t> buffer, bool advance);
  // Loads and validates write_index; fails the endpoint if it is invalid.
  ABSL_ATTRIBUTE_ALWAYS_INLINE absl::StatusOr<uint32_t> LoadWriteIndex() {
    const uint32_t write_index = LoadControlWord(memory_.control_page(), ControlWord::kWriteIndex);
    if (ABSL_PREDICT_TRUE(memory_.IsValidIndex(write_index))) return write_index;
    return FailIndex("write_index", write_index);
  }
  absl::Status FailIndex(absl::string_view field, uint32_t index);
  absl::Status Fail(absl::Status status);
  // The packet errors of ReadOrPeek, per ValidationPolicy.
  absl::Status FailPacket(uint32_t start_index, const absl::Status& error);
  // CommitRead's second half, for pending_send_sz != 0: loads and validates
  // write_index (failing the endpoint if it is invalid) and applies the
  // PendingSendRule.
  bool WriterNeedsSignal(uint32_t old_read_index, uint32_t pending_send_sz);

  RingMemory memory_;
  RingReaderOptions options_;
  uint32_t read_cursor_index_;
  uint32_t committed_read_index_;
  absl::Status status_;
  // status_.ok() && kReject: ReadPacket may try its fast path. Cleared by Fail.
  bool fast_read_allowed_;
};

// ---------------------------------------------------------------------------
// The hot paths, inline so that a caller's loop compiles into straight-line
// code (no call frames, no StatusOr round trip through memory). Each handles
// the common case completely and hands anything else to an out-of-line
// function that starts over; none changes state before deciding (ReadPacket
// may have used `buffer` as scratch).

inline absl::StatusOr<WriteOutcome> RingWriter::Write(const OutgoingPacket& packet) {
  // Fast path: an untyped packet that fits. Anything else, including every
  // error and kRingFull, goes to WriteSlow, which starts over (nothing here
  // has changed any state).
  const uint64_t payload_size_bytes = packet.payload.size();
  if (ABSL_PREDICT_TRUE(
          status_.ok() && packet_format_internal::IsUntyped(static_cast<uint16_t>(packet.type)) &&
          (packet.flags & ~kCompletionRequestedFlag) == 0 && packet.transfer_page_ranges.empty() &&
          packet.gpa_ranges.empty() && payload_size_bytes <= data_size_bytes() &&
          payload_size_bytes <= uint64_t{kLen8Max} * 8 - kDescriptorSizeBytes)) {
    const uint32_t footprint_bytes =
        static_cast<uint32_t>(InBandRingFootprintBytes(payload_size_bytes));
    const uint32_t read_index = LoadControlWord(memory_.control_page(), ControlWord::kReadIndex);
    const uint32_t start_index = next_write_index_;
    if (ABSL_PREDICT_TRUE(memory_.IsValidIndex(read_index) &&
                          footprint_bytes <= packet_footprint_bytes_max() &&
                          memory_.RawFreeBytes(start_index, read_index) > footprint_bytes)) {
      //   |descriptor 16|payload|pad 0-7|trailer 8|
      const uint32_t packet_size_bytes = footprint_bytes - kTrailerSizeBytes;
      const PacketDescriptor descriptor{static_cast<uint16_t>(packet.type), kOffset8Min,
                                        static_cast<uint16_t>(packet_size_bytes / 8), packet.flags,
                                        packet.trans_id};
      const uint32_t padding_bytes =
          packet_size_bytes - kDescriptorSizeBytes - static_cast<uint32_t>(payload_size_bytes);
      if (uint8_t* direct = memory_.ContiguousBytes(start_index, footprint_bytes);
          direct != nullptr) {
        // Inside one page: written in place.
        EncodeDescriptor(descriptor, direct);
        ring_internal::CopyBytesInline(direct + kDescriptorSizeBytes, packet.payload.data(),
                                       payload_size_bytes);
        // Eight zero bytes cover the 0-7 bytes of padding; the trailer then
        // overwrites the rest. Both stay inside the footprint.
        StoreLe64(direct + kDescriptorSizeBytes + payload_size_bytes, 0);
        StoreLe64(direct + packet_size_bytes, uint64_t{start_index} << 32);
      } else {
        // Across pages or the end: three pieces, each split as it must be.
        uint8_t head[kDescriptorSizeBytes];
        EncodeDescriptor(descriptor, head);
        memory_.WriteData(start_index, absl::MakeConstSpan(head));
        const uint32_t payload_index = memory_.Advance(start_index, kDescriptorSizeBytes);
        memory_.WriteData(payload_index, packet.payload);
        uint8_t tail[kPacketAlignmentBytes + kTrailerSizeBytes] = {};
        StoreLe64(tail + padding_bytes, uint64_t{start_index} << 32);
        memory_.WriteData(memory_.Advance(payload_index, static_cast<uint32_t>(payload_size_bytes)),
                          absl::MakeConstSpan(tail, padding_bytes + kTrailerSizeBytes));
      }
      next_write_index_ = memory_.Advance(start_index, footprint_bytes);
      return WriteOutcome::kWritten;
    }
  }
  return WriteSlow(packet);
}

inline bool RingWriter::CommitWriteTo(uint32_t index) {
  if (failed() || index == committed_write_index_) return false;
  // Unpublished packets run from the committed index to the cursor; an
  // `index` outside that stretch was published already (by a later packet's
  // commit).
  if (memory_.Distance(committed_write_index_, index) > memory_.Distance(committed_write_index_, next_write_index_)) {
    return false;
  }
  const uint32_t batch_start_index = committed_write_index_;
  uint8_t* control = memory_.control_page();
  StoreControlWord(control, ControlWord::kWriteIndex, index);
  committed_write_index_ = index;
  // After the store (spec 1.7 ordering): the reader's mask, then its index.
  if (LoadControlWord(control, ControlWord::kInterruptMask) != 0) return false;
  const absl::StatusOr<uint32_t> read_index = LoadReadIndex();
  if (!read_index.ok()) return false;
  return *read_index == batch_start_index;
}

inline absl::StatusOr<ReadResult> RingReader::ReadPacket(absl::Span<uint8_t> buffer) {
  VMBSIM_CHECK(buffer.size() >= kDescriptorSizeBytes);
  // Fast path: kReject, an untyped packet that passes every check, with its
  // descriptor inside one page. Anything else goes to ReadOrPeek, which
  // starts over (nothing here has changed any state) and fetches and checks
  // everything itself, so the descriptor fetched here never feeds a
  // decision there.
  if (ABSL_PREDICT_TRUE(fast_read_allowed_)) {
    const uint32_t write_index = LoadControlWord(memory_.control_page(), ControlWord::kWriteIndex);
    if (ABSL_PREDICT_TRUE(memory_.IsValidIndex(write_index))) {
      const uint32_t start_index = read_cursor_index_;
      const uint32_t available_bytes = memory_.Distance(start_index, write_index);
      if (available_bytes == 0) return ReadResult();  // kEmpty.
      const uint8_t* in_page = memory_.ContiguousBytes(start_index, kDescriptorSizeBytes);
      if (available_bytes >= kDescriptorSizeBytes && in_page != nullptr) {
        // Fetch the descriptor once, into the private copy, and parse that.
        StoreLe64(buffer.data(), LoadLe64(in_page));
        StoreLe64(buffer.data() + 8, LoadLe64(in_page + 8));
        const PacketDescriptor descriptor = DecodeDescriptor(buffer.data());
        const uint32_t packet_size_bytes = uint32_t{descriptor.len8} * 8;
        if (descriptor.offset8 >= kOffset8Min && descriptor.len8 >= descriptor.offset8 &&
            packet_size_bytes + kTrailerSizeBytes <= available_bytes &&
            packet_size_bytes <= buffer.size() &&
            packet_format_internal::IsUntyped(descriptor.type) &&
            options_.accepted_types.Contains(descriptor.type) &&
            (descriptor.flags & ~kCompletionRequestedFlag) == 0) {
          // The rest of the private copy.
          const uint32_t rest_size_bytes = packet_size_bytes - kDescriptorSizeBytes;
          if (memory_.ContiguousBytes(start_index, packet_size_bytes) != nullptr) {
            ring_internal::CopyBytesInline(buffer.data() + kDescriptorSizeBytes,
                                           in_page + kDescriptorSizeBytes, rest_size_bytes);
          } else {
            memory_.ReadData(memory_.Advance(start_index, kDescriptorSizeBytes),
                             buffer.subspan(kDescriptorSizeBytes, rest_size_bytes));
          }
          read_cursor_index_ = memory_.Advance(start_index, packet_size_bytes + kTrailerSizeBytes);
          ReadResult result;
          result.outcome = ReadOutcome::kPacket;
          result.packet_size_bytes = packet_size_bytes;
          result.packet.descriptor = descriptor;
          result.packet.bytes = buffer.data();
          return result;
        }
      }
    }
  }
  return ReadOrPeek(buffer, /*advance=*/true);
}

inline bool RingReader::CommitRead() {
  if (failed() || read_cursor_index_ == committed_read_index_) return false;
  const uint32_t batch_start_index = committed_read_index_;
  StoreControlWord(memory_.control_page(), ControlWord::kReadIndex, read_cursor_index_);
  committed_read_index_ = read_cursor_index_;
  // Both rules return "no signal" for pending_send_sz == 0 (the Windows-host
  // rule also for 1-7, which it masks to 0; the Linux rule never signals for
  // those either, since raw_free >= 8 > p). The common case ends here.
  const uint32_t pending_send_sz =
      LoadControlWord(memory_.control_page(), ControlWord::kPendingSendSz);
  if (ABSL_PREDICT_TRUE(pending_send_sz == 0)) return false;
  return WriterNeedsSignal(batch_start_index, pending_send_sz);
}

}  // namespace vmbsim::fabric

#endif  // VMBSIM_SIM_FABRIC_RING_BUFFER_H_
