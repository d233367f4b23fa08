// channel_data_path.h
//
// One endpoint of an open channel's data path: the ring it writes, the ring
// it reads, the VP its interrupt work runs on, and the doorbell to its peer.
// It implements the signalling protocol of spec §1.7 and §1.8 as separate
// steps, each a DISPATCH work item on the endpoint's VP, so that the steps of
// the two endpoints interleave in virtual time (and, under the kernel's
// tie-break exploration, in every order at equal times):
//
//   Send:     write + publish write_index; signal the peer iff the ring was
//             empty and the peer's interrupt_mask is clear (one step).
//             On ring full: [publish pending_send_sz] -> [re-check space];
//             then wait for the peer's signal -> [re-check space].
//   Doorbell: [mask] -> [read a batch, each packet's cost charged] ->
//             [commit read_index, signalling the writer per the pending-send
//             rule] -> (batch full? read on : [unmask] -> [re-check: data?
//             back to mask : done]).
//
// Timing: the VP that sends pays the ring copy (the running VP of the
// endpoint's partition, VirtualProcessor::Current(); the endpoint's own VP
// when none runs) and its packet becomes visible (write_index published, the
// rule 1.7 signal decision, the doorbell) when that VP reaches the send on
// its local clock, through VirtualProcessor::AtLocalNow: a completion sent
// after 3 us of processing is published 3 us into the work item, never at
// its start. A reader commits after its batch's processing cost, as the
// space becomes visible only then.
//
// Several VPs may send on one endpoint (a multi-queue driver, several
// threads): they serialise on the outbound ring's lock, held for the copy
// (Linux hv_ringbuffer_write takes the ring's spinlock around the copy and
// the index update). A sender whose local clock is earlier than the moment
// the last copy by another VP ended spins until then; the wait is charged to
// it as busy time (a spinning CPU is busy) and counted (lock_waits,
// lock_wait_ns). Each sender makes its own rule 1.7 signal decision when it
// publishes. The lock is taken in the order the sends are simulated, which
// is the order of the senders' work items' starts; a VP never waits on its
// own earlier copy (it held the lock at a raised level and released it).
//
// Lifetime rule: an endpoint owns the work it queues. Every step it queues
// on its VP and every publish it defers on a sender's VP carries the
// endpoint as owner, and the destructor cancels them all
// (VirtualProcessor::CancelOwned), so after a close or rescind detaches the
// channel no queued item, effect or timer can reach the freed endpoint. Work
// that outlives it by design (a monitor-page set, a SynIC flag) names the
// channel by (guest, relid) and finds nothing. Destroying an endpoint from
// inside one of its own steps or handlers is a simulator bug (checked).
// Chosen over generation-checked handles because the fabric already owns
// every endpoint in one place and cancellation costs nothing per packet.
//
// Two switches remove a re-check on purpose (a deliberately buggy driver for
// the lost-wake-up scenarios): `recheck_after_unmask` and
// `recheck_after_pending_send`. With either off, some interleavings strand
// data or a blocked writer, which is what the tests and scenarios show. A
// third, `signal_blocked_writer`, makes a reader that ignores its peer's
// pending_send_sz (pending_send_buggy).
//
// The layer above can hold packets in the ring: an accept gate is asked
// before each packet is taken; when it says no, the batch ends, the read
// index is committed, and the endpoint stays stalled with its interrupt mask
// set (the writer needs no doorbell for a ring that is not empty) until
// `Kick()` restarts the drain. A batch-end handler hears how each batch with
// packets ended (ring empty, batch cap, or gate), inside the drain's work
// item, after the batch's last packet handler.
//
// The doorbell transport (direct event through the SynIC, or the monitor
// page) and its latency belong to the fabric: the endpoint calls its
// `SignalPeer` and receives `OnDoorbell()` when the peer's signal arrives.
// Ring bytes written by the peer are untrusted: a violation fails the
// endpoint (status() says why) and it stops reading and writing; nothing
// aborts.

#ifndef VMBSIM_SIM_FABRIC_CHANNEL_DATA_PATH_H_
#define VMBSIM_SIM_FABRIC_CHANNEL_DATA_PATH_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sim/core/histogram.h"
#include "sim/core/ring_deque.h"
#include "sim/core/simulator.h"
#include "sim/fabric/cost_model.h"
#include "sim/fabric/fault_hook.h"
#include "sim/fabric/packet_format.h"
#include "sim/fabric/ring_buffer.h"
#include "sim/fabric/virtual_processor.h"

namespace vmbsim::fabric {

// What a writer blocked on a full ring publishes in pending_send_sz (spec
// 1.8): the writing endpoint's own policy, not a protocol rule. T is the
// blocked packet's ring footprint, D the ring's data size.
enum class WriterPolicy : uint8_t {
  // max(T, (D - 8) / 4) rounded up to 8, cleared when the re-check finds
  // room: OpenVMM vm/devices/vmbus/vmbus_ring (`set_pending_send_size`) and
  // its async writer. The fabric's default.
  kOpenVmm = 0,
  // The bytes written but not yet published plus T, clamped to D - 1, and
  // left published until the writer's next reservation clears it: the
  // Windows lineage, microsoft/mu_msvm MsvmPkg/EmclDxe/RingBuffer.c
  // (`PkpCheckSendBufferFreeBytes`, `PkGetSendBuffer`). KMCL's default.
  kWindows = 1,
  // Nothing: the writer re-checks for room after each batch of incoming
  // packets it reads (completions), as Linux netvsc and storvsc restart a
  // stopped queue from their completion paths. A writer whose peer sends it
  // nothing stays blocked.
  kNone = 2,
  // A fixed size (`pending_send_fixed_bytes`, rounded up to 8), raised to T
  // for a larger packet so that one wake-up always means room: Linux hv_sock
  // (net/vmw_vsock/hyperv_transport.c) publishes HVS_PKT_LEN(HVS_SEND_BUF_SIZE).
  kFixed = 3,
};

// How an endpoint reads its ring (when it masks, how much one pass takes,
// what restarts it). ProcessingComplete-style batch ends come wherever a
// pass pauses delivery.
enum class ReaderDiscipline : uint8_t {
  // The doorbell's DPC masks the interrupt, reads up to batch_packets_max
  // packets (and, with a dpc_budget, until the DPC has used it), commits,
  // and goes on in a new DPC while packets remain; then unmasks and
  // re-checks. KMCL's and the default.
  kDpcDrain = 0,
  // Linux NAPI (drivers/net/hyperv/netvsc.c `netvsc_channel_cb`,
  // `netvsc_poll`): the DPC masks, each poll reads at most
  // batch_packets_max (the budget, 64) and commits; a full poll is followed
  // by another, a short one unmasks and re-checks.
  kNapi = 1,
  // Linux's batched callback mode (drivers/hv/connection.c
  // `vmbus_on_event`, HV_CALL_BATCHED): the mask is set in the interrupt
  // handler itself, before the DPC runs; the DPC then drains as kDpcDrain.
  kBatched = 2,
  // Interrupts left masked for good and the ring polled every poll_period
  // on a fixed grid from time 0 (a poll-mode driver, as DPDK's netvsc PMD
  // drivers/net/netvsc `hn_process_events`); each poll is a DPC that reads
  // up to batch_packets_max packets and commits. Only polls that find data
  // are simulated: an empty poll would read nothing and is not charged.
  kPolled = 3,
};

struct DataPathOptions {
  std::string name = "endpoint";
  uint16_t partition_id = 0;
  uint32_t channel_id = 0;  // Child relid, for traces.
  RingReaderOptions reader;
  // Packets read per batch before the drain yields the VP (and re-queues
  // itself); Linux bounds its loop by time, this bounds it by count.
  uint32_t batch_packets_max = 4096;
  // The correct protocol re-checks after unmasking and after publishing a
  // pending send size; turning either off models a buggy driver.
  bool recheck_after_unmask = true;
  bool recheck_after_pending_send = true;
  // The correct reader rings the writer's doorbell when a read frees the
  // space its published pending_send_sz asks for; false models a buggy
  // reader that ignores pending_send_sz (its blocked writer waits forever).
  bool signal_blocked_writer = true;
  // What this endpoint publishes when its writes block (WriterPolicy).
  WriterPolicy writer_policy = WriterPolicy::kOpenVmm;
  uint32_t pending_send_fixed_bytes = 0;  // kFixed's size; > 0 then.
  // How this endpoint reads (ReaderDiscipline).
  ReaderDiscipline reader_discipline = ReaderDiscipline::kDpcDrain;
  // kDpcDrain, kBatched: a batch also ends once its DPC has run this long
  // on the VP's clock (KMCL's "DPC cycle limit is exceeded"), and the drain
  // goes on in a new DPC. Zero: no time budget.
  sim::SimDuration dpc_budget = sim::SimDuration::Zero();
  // kPolled: the poll period (> 0).
  sim::SimDuration poll_period = sim::SimDuration::Zero();
  // Sample the occupancy of the ring this endpoint writes at every write
  // (ring_occupancy(); needs the peer link). A histogram record per packet.
  bool sample_ring_occupancy = false;
};

struct DataPathCounters {
  uint64_t packets_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t packets_received = 0;
  uint64_t bytes_received = 0;
  uint64_t signals_sent = 0;        // Doorbells rung (data or space).
  uint64_t signals_suppressed = 0;  // Writes that needed no doorbell (rule 1.7).
  uint64_t doorbells = 0;           // Doorbells received.
  uint64_t doorbells_coalesced = 0;  // Received while a drain was under way.
  uint64_t batches = 0;             // Drain batches that read at least one packet.
  uint64_t empty_drains = 0;        // Drains that found nothing.
  uint64_t ring_full = 0;           // Sends refused for space.
  uint64_t writer_wakeups = 0;      // Blocked writer found space again.
  uint64_t lock_waits = 0;          // Sends that waited for the outbound ring lock.
  uint64_t lock_wait_ns = 0;        // Their total wait (spinning, charged to the sender).
  uint64_t doorbells_dropped = 0;   // Refused by the doorbell filter (an early signal dropped).

  // Adds `other` field by field (totals over several endpoints or opens).
  DataPathCounters& operator+=(const DataPathCounters& other) {
    packets_sent += other.packets_sent;
    bytes_sent += other.bytes_sent;
    packets_received += other.packets_received;
    bytes_received += other.bytes_received;
    signals_sent += other.signals_sent;
    signals_suppressed += other.signals_suppressed;
    doorbells += other.doorbells;
    doorbells_coalesced += other.doorbells_coalesced;
    batches += other.batches;
    empty_drains += other.empty_drains;
    ring_full += other.ring_full;
    writer_wakeups += other.writer_wakeups;
    lock_waits += other.lock_waits;
    lock_wait_ns += other.lock_wait_ns;
    doorbells_dropped += other.doorbells_dropped;
    return *this;
  }
  // Subtracts `earlier` (the same counters read before) field by field.
  DataPathCounters& operator-=(const DataPathCounters& earlier) {
    packets_sent -= earlier.packets_sent;
    bytes_sent -= earlier.bytes_sent;
    packets_received -= earlier.packets_received;
    bytes_received -= earlier.bytes_received;
    signals_sent -= earlier.signals_sent;
    signals_suppressed -= earlier.signals_suppressed;
    doorbells -= earlier.doorbells;
    doorbells_coalesced -= earlier.doorbells_coalesced;
    batches -= earlier.batches;
    empty_drains -= earlier.empty_drains;
    ring_full -= earlier.ring_full;
    writer_wakeups -= earlier.writer_wakeups;
    lock_waits -= earlier.lock_waits;
    lock_wait_ns -= earlier.lock_wait_ns;
    doorbells_dropped -= earlier.doorbells_dropped;
    return *this;
  }
};

// Every counter is in += and -= above: a new one must be added to both.
static_assert(sizeof(DataPathCounters) == 15 * sizeof(uint64_t));

// Why a drain batch ended.
enum class BatchEnd : uint8_t {
  kRingEmpty = 0,
  kBatchCap = 1,  // batch_packets_max packets read; the drain continues.
  kGated = 2,     // The accept gate said no; the drain stalls until Kick().
  kBudget = 3,    // The DPC used its time budget; the drain continues in a new DPC.
};

class ChannelDataPath {
 public:
  // Called once per packet, inside the drain's work item on the endpoint's VP
  // (DISPATCH). The packet view is valid only during the call.
  using PacketHandler = std::function<void(const ParsedPacket& packet)>;
  // Rings the peer's doorbell.
  using SignalPeer = std::function<void()>;
  // The writer was blocked and space is available again.
  using WritableHandler = std::function<void()>;
  // Asked before each packet is taken from the ring; false holds it there.
  using AcceptGate = std::function<bool()>;
  // A batch that read at least one packet ended.
  using BatchEndHandler = std::function<void(uint32_t packets, BatchEnd reason)>;
  // Asked when a doorbell arrives; false drops it: nothing runs, no drain
  // starts, the interrupt mask stays clear, and the packets stay in the ring
  // until something else starts a drain (Kick). A guest whose driver has no
  // channel callback yet does this (Linux vmbus_chan_sched skips a channel
  // whose onchannel_callback is NULL).
  using DoorbellFilter = std::function<bool()>;

  // `*sim`, `*costs` and `*vp` must outlive this object.
  ChannelDataPath(sim::Simulator* sim, const CostModel* costs, VirtualProcessor* vp, RingWriter writer,
                  RingReader reader, DataPathOptions options);
  ChannelDataPath(const ChannelDataPath&) = delete;
  ChannelDataPath& operator=(const ChannelDataPath&) = delete;
  // Cancels every step and deferred publish this endpoint queued.
  // REQUIRES: not called from inside one of them (or a handler they call).
  ~ChannelDataPath();

  void SetPacketHandler(PacketHandler handler) { on_packet_ = std::move(handler); }
  void SetSignalPeer(SignalPeer signal) { signal_peer_ = std::move(signal); }
  void SetWritableHandler(WritableHandler handler) { on_writable_ = std::move(handler); }
  void SetAcceptGate(AcceptGate gate) { accept_gate_ = std::move(gate); }
  void SetBatchEndHandler(BatchEndHandler handler) { on_batch_end_ = std::move(handler); }
  // Null (the default): every doorbell is taken.
  void SetDoorbellFilter(DoorbellFilter filter) { doorbell_filter_ = std::move(filter); }
  // The endpoint that reads the ring this one writes: the channel's other
  // end (the fabric links the two). Through it packets' tags reach the
  // reader and ring occupancy is measured; without it packets carry no tag.
  // `*peer` must outlive this object or be unlinked first.
  void SetPeer(ChannelDataPath* peer) { peer_ = peer; }
  // Asks `hook` at every write (FaultSite::kRingWrite) and before every
  // read batch (kRingRead), naming the channel as (guest, this endpoint's
  // relid) and the side. Null removes it. `*hook` must outlive this object.
  void SetFaultHook(FaultHook* hook, uint16_t guest, bool host_side) {
    fault_hook_ = hook;
    fault_guest_ = guest;
    fault_host_side_ = host_side;
  }

  // Writes one packet and publishes it when the sending VP reaches the send
  // (at once when nothing runs or no cost is pending), ringing the doorbell
  // when rule 1.7 says so. kRingFull starts the blocked-writer protocol: the
  // writable handler runs once space is back. FailedPrecondition while
  // blocked or after the endpoint failed; InvalidArgument for a packet that
  // can never fit; DataLoss if the peer's index is corrupt (the endpoint
  // fails; a corruption found at the deferred publish fails it then). The
  // ring copy cost is charged to the sending VP.
  absl::StatusOr<WriteOutcome> Send(const OutgoingPacket& packet);

  // Sends the completion of request `trans_id` (spec §2.7: type 0xB, no
  // flags, the request's transaction id, `payload` device-defined), with
  // `tag` travelling beside it (OutgoingPacket::tag).
  // Outcomes as Send.
  absl::StatusOr<WriteOutcome> SendCompletion(uint64_t trans_id, absl::Span<const uint8_t> payload = {},
                                              uint64_t tag = 0);

  // The peer's doorbell arrived: starts a drain unless one is under way, and
  // re-checks space if the writer is blocked. Call from the interrupt path.
  void OnDoorbell();

  // The endpoint's work moves to `vp` (its interrupt was retargeted,
  // MODIFYCHANNEL): steps queued from now on run there; steps already
  // queued finish where they are. `*vp` must outlive this object.
  void MoveTo(VirtualProcessor* vp);

  // Restarts a drain stalled by the accept gate (or starts one when data may
  // be waiting); a no-op while a drain is under way. Queues the first step on
  // the endpoint's VP; never reads inside the call.
  void Kick();

  bool polled() const { return options_.reader_discipline == ReaderDiscipline::kPolled; }
  const DataPathOptions& options() const { return options_; }
  bool stalled() const { return stalled_; }
  const VirtualProcessor& vp() const { return *vp_; }  // Where its steps run.
  bool writer_blocked() const { return blocked_footprint_bytes_ != 0; }
  bool draining() const { return draining_; }
  bool failed() const { return !status_.ok(); }
  const absl::Status& status() const { return status_; }
  const DataPathCounters& counters() const { return counters_; }
  const sim::Histogram& batch_sizes() const { return batch_sizes_; }
  // Empties batch_sizes() and ring_occupancy() (a measured window starts);
  // the counters keep counting.
  void ClearHistograms() {
    batch_sizes_.Clear();
    ring_occupancy_.Clear();
  }
  // Bytes in the ring this endpoint writes that its peer has not yet read
  // (packets with their trailers, from the writer's index to the peer's read
  // cursor, so a packet leaves as soon as it is parsed, before the batch
  // commits its read index), sampled just after each successful write when
  // options.sample_ring_occupancy and the peer is linked.
  const sim::Histogram& ring_occupancy() const { return ring_occupancy_; }
  // Tags of written packets the peer has not read yet.
  size_t pending_tag_count() const { return sent_tags_.size(); }
  RingWriter& writer() { return writer_; }
  RingReader& reader() { return reader_; }
  const RingWriter& writer() const { return writer_; }
  const RingReader& reader() const { return reader_; }
  // Packets a fault holds back (delayed or reordered) that are not written yet.
  size_t fault_held_count() const { return deferred_.size(); }

 private:
  void Queue(void (ChannelDataPath::*step)());
  // Send without asking the fault hook.
  absl::StatusOr<WriteOutcome> SendNow(const OutgoingPacket& packet);
  // A fault's action on a write: keep a copy of `packet` and write it
  // `delay` from now (or, when `until_next`, right after this endpoint's
  // next write, `delay` at the latest). False when the packet cannot be
  // copied (transfer-page or GPA-direct packets), which is then sent now.
  bool Defer(const OutgoingPacket& packet, sim::SimDuration delay, bool until_next);
  void ReleaseDeferred(uint64_t serial);
  void ReleaseHeld();
  // The VP whose code is acting on this endpoint: the running VP of its
  // partition, else the endpoint's own.
  VirtualProcessor& Actor() const;
  // Publishes the ring up to `index` (a packet's end) and signals per 1.7,
  // as `actor` (the sending VP).
  void Publish(const VirtualProcessor& actor, uint32_t index);
  void StepMask();
  void StepReadBatch();
  void StepCommitRead();
  void StepUnmask();
  void StepRecheck();
  void StepPublishPendingSend();
  // kPolled: schedules the next poll on the grid unless one is due or a
  // drain is under way. Called when the peer publishes, after a poll that
  // left data, and by Kick().
  void ArmPoll();
  void StartPoll();
  void StepWriterRecheck();
  void Ring();
  void Fail(const absl::Status& status);
  // A trace record at `actor`'s clock. Trace(): by the endpoint's own VP,
  // where its drain steps run.
  void TraceBy(const VirtualProcessor& actor, uint16_t kind, uint64_t id0, uint64_t id1, uint64_t size0 = 0,
               uint64_t size1 = 0);
  void Trace(uint16_t kind, uint64_t id0, uint64_t id1, uint64_t size0 = 0, uint64_t size1 = 0) {
    TraceBy(*vp_, kind, id0, id1, size0, size1);
  }
  // The tag of the packet this endpoint wrote at ring index `index`, for the
  // peer that has just read it; 0 when it had none. Drops tags of packets
  // the peer skipped (dropped as malformed).
  uint64_t TakeTag(uint32_t index);

  sim::Simulator* const sim_;
  const CostModel* const costs_;
  VirtualProcessor* vp_;
  RingWriter writer_;
  RingReader reader_;
  const DataPathOptions options_;
  PacketHandler on_packet_;
  SignalPeer signal_peer_;
  WritableHandler on_writable_;
  AcceptGate accept_gate_;
  BatchEndHandler on_batch_end_;
  DoorbellFilter doorbell_filter_;
  bool stalled_ = false;
  bool last_batch_gated_ = false;
  std::unique_ptr<uint8_t[]> read_buffer_;  // reader_.data_size_bytes().
  bool draining_ = false;
  uint32_t last_batch_count_ = 0;
  uint32_t blocked_footprint_bytes_ = 0;  // Non-zero while the writer waits.
  // kWindows: pending_send_sz stays published until the next reservation.
  bool pending_send_published_ = false;
  // How the last batch ended, when it ended early but the drain continues
  // (batch cap, DPC budget).
  bool last_batch_continues_ = false;
  // kPolled: the next poll's event, while one is due.
  sim::EventId poll_event_;
  bool poll_armed_ = false;
  absl::Status status_;
  DataPathCounters counters_;
  sim::Histogram batch_sizes_;
  ChannelDataPath* peer_ = nullptr;
  sim::Histogram ring_occupancy_;
  // Tags of written packets not yet read, oldest first, with the ring index
  // each packet starts at.
  struct SentTag {
    uint32_t index = 0;
    uint64_t tag = 0;
  };
  sim::RingDeque<SentTag> sent_tags_;
  // VPs other than vp_ holding publishes this endpoint deferred (few: the
  // senders of one channel).
  std::vector<VirtualProcessor*> deferring_vps_;
  uint32_t active_depth_ = 0;  // Steps and publishes of this endpoint on the stack.
  // The outbound ring lock: when the last copy ended, and which VP made it
  // (compared, never ordered).
  sim::SimTime lock_free_at_;
  const VirtualProcessor* lock_holder_ = nullptr;
  FaultHook* fault_hook_ = nullptr;
  uint16_t fault_guest_ = 0;
  bool fault_host_side_ = false;
  // Packets a fault keeps back, by serial: a copy of each and the event that
  // releases it (cancelled with the endpoint).
  struct Deferred {
    OutgoingPacket packet;  // `payload` points into `bytes`.
    std::vector<uint8_t> bytes;
    sim::EventId event;
    bool until_next = false;
    uint32_t retries = 0;  // Releases that found no room.
  };
  std::map<uint64_t, Deferred> deferred_;
  uint64_t deferred_serial_ = 0;
};

}  // namespace vmbsim::fabric

#endif  // VMBSIM_SIM_FABRIC_CHANNEL_DATA_PATH_H_
