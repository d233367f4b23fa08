// synic.h
//
// The synthetic interrupt controller (SynIC) of one partition, as VMBus uses
// it (spec/vmbus-fabric.md 3.1-3.3, timing from 6.2 and 6.3). Only SINT 2,
// the VMBus SINT, has behaviour; the other 15 SINTs exist in the hardware but
// nothing in the fabric uses them. Per VP the Synic holds:
//
//   * the SINT-2 event-flag bitmap (2048 bits, spec 3.3). A signal sets one
//     bit; only a 0->1 transition raises the SINT, so doorbells that arrive
//     before the guest clears the bit coalesce into one interrupt;
//   * the SINT-2 message slot (256 bytes, spec 3.1) and the host's queue of
//     messages waiting for it. The slot holds one message at a time; the next
//     one is written only after the guest's end-of-message (EOM), so control
//     messages to a VP are strictly serialized and never reordered;
//   * the SINT mask bit.
//
// and per partition the receive side of the two hypercalls that target it
// from another partition: message ports (HvPostMessage, spec 3.2; 16 buffers
// per port by default) and event connections (HvSignalEvent, spec 3.3).
//
// An interrupt is one INTERRUPT-level work item on the target VP with cost
// `isr_dispatch`; it runs the partition's interrupt handler, which scans and
// clears event flags and then reads the message slot (the ISR order of spec
// 3.1). Timing, all from the CostModel, with "idle" meaning
// VirtualProcessor::idle() at the moment the SINT is raised:
//
//   event flag  set at t   -> SINT raised at t; ISR item queued at
//                             t + signal_delivery_to_running_vp
//                             (+ vp_wakeup_from_halt if idle)
//   message     sent at t  -> written into the free slot and SINT raised at
//                             t + simp_delivery; ISR item queued then
//                             (+ vp_wakeup_from_halt if idle)
//   after EOM   at t       -> next queued message written and SINT raised at
//                             t + eom_redelivery, then as above
//
// The handler runs isr_dispatch after its item starts; the item starts when
// queued unless the VP is busy with an interrupt (it preempts DPCs and
// PASSIVE work; with Preemption::kNone it waits in the DPC queue,
// virtual_processor.h).
// A VP whose last item has ended counts as idle, so a message redelivered
// to a VP with nothing else to do pays the wake-up again.
// simp_delivery and eom_redelivery include the SINT injection (spec 6.2), so
// a message pays no signal_delivery_to_running_vp on top.
//
// Modelling choices where the spec is silent:
//   * A SINT raised while an earlier interrupt on the same VP has not yet
//     reached its handler merges into it (one pending bit per vector, as an
//     APIC's IRR): the ISR that runs scans everything anyway. The pending bit
//     clears when the handler starts, so a raise during the handler causes a
//     new interrupt and no wake-up is lost.
//   * Masking stops new signals (dropped and counted, spec 3.3) and holds
//     messages in the queue (written after simp_delivery once unmasked, as
//     the hypervisor's "SINT ready" check does). An interrupt raised before
//     the mask is still delivered.
//   * Effects a VP causes from inside running work happen at its local clock
//     (`LocalNow()`): an EOM in a handler that has charged 5 us redelivers
//     5 us + eom_redelivery after the handler started. The hypercalls take
//     effect at the sender's clock after their cost is charged.
//   * The host's per-VP message queue has no bound (the host's own limits
//     live in the VMBus server); its depth is measured.
//   * Bits of the event bitmap are not reserved here: bit 0 is the legacy
//     shared-interrupt bit (spec 3.6), which the channel layer avoids.
//
// Not modelled: the SIMP/SIEFP pages as guest memory (the slot and bitmap
// are kept here, byte-exact in layout but not mapped at a guest address),
// the SCONTROL/SVERSION/SINTx MSRs other than the mask bit, auto-EOI, SINTs
// other than 2, timers, and guest->host messages to SIMP slots of the host
// (the host receives through ports). Counters are per Synic (all VPs).
//
// Everything runs inside the simulator's single thread. Objects passed to
// the constructor must outlive the Synic, and the Synic must outlive every
// event and VP work item it scheduled (destroy it only after the run).

#ifndef VMBSIM_SIM_FABRIC_SYNIC_H_
#define VMBSIM_SIM_FABRIC_SYNIC_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "sim/core/sim_time.h"
#include "sim/core/simulator.h"
#include "sim/fabric/channel_messages.h"
#include "sim/fabric/cost_model.h"
#include "sim/fabric/fault_hook.h"
#include "sim/fabric/virtual_processor.h"

namespace vmbsim::fabric {

inline constexpr uint32_t kSintCount = 16;                        // `NUM_SINTS`.
inline constexpr uint32_t kVmbusSint = kVmbusMessageSint;         // SINT 2.
inline constexpr uint32_t kEventFlagCount = 2048;                 // `HV_EVENT_FLAGS_COUNT`.
inline constexpr uint32_t kHvMessageSizeBytes = 256;              // `HV_MESSAGE_SIZE`.
inline constexpr uint32_t kHvMessageTypeNone = 0;                 // `HVMSG_NONE`: slot free.
inline constexpr uint8_t kHvMessageFlagPending = 0x01;            // message_flags bit 0.
inline constexpr uint32_t kConnectionIdMask = 0x00FFFFFF;         // Low 24 bits name the connection.
inline constexpr size_t kPortBufferCountDefault = 16;             // Spec 3.2 simulator default.

// TLFS HV_STATUS_INVALID_PARAMETER: an HvPostMessage payload longer than 240
// bytes. `HvStatus` (channel_messages.h) has no enumerator for it yet.
inline constexpr HvStatus kHvStatusInvalidParameter = static_cast<HvStatus>(0x0005);

static_assert(kVmbusSint < kSintCount);
static_assert(kEventFlagCount % 64 == 0, "bitmap is whole u64 words");

// `struct hv_message` header (spec 3.1), 16 bytes, little-endian.
struct HvMessageHeader {
  uint32_t message_type = kHvMessageTypeNone;  // 0 = slot free; VMBus uses 1.
  uint8_t payload_size = 0;                    // <= 240.
  uint8_t message_flags = 0;                   // Bit 0: msg_pending.
  uint16_t reserved = 0;
  uint64_t port_id = 0;                        // Sender / port id; 0 from the fabric's host.
};

// One SIMP slot: the header and the 240-byte payload.
struct HvMessage {
  HvMessageHeader header;
  std::array<uint8_t, kMaxMessagePayloadBytes> payload = {};
};

static_assert(sizeof(HvMessageHeader) == 16, "wire layout");
static_assert(sizeof(HvMessage) == kHvMessageSizeBytes, "wire layout");

// Totals over every VP of the partition. All only go up.
struct SynicCounters {
  uint64_t signals = 0;                 // Signals that reached the SINT (masked ones included).
  uint64_t signals_coalesced = 0;       // ...of which found their bit already set.
  uint64_t signals_dropped_masked = 0;  // ...of which hit a masked SINT.
  uint64_t sint_raises = 0;             // 0->1 flags plus message writes.
  uint64_t sint_raises_merged = 0;      // ...of which joined an interrupt not yet handled.
  uint64_t interrupts = 0;              // ISRs run (handler invocations).
  uint64_t messages_sent = 0;           // Accepted by DeliverMessage(At).
  uint64_t messages_delivered = 0;      // Written into a slot (redeliveries included).
  uint64_t message_redeliveries = 0;    // ...of which were written because of an EOM.
  uint64_t message_queue_depth_max = 0; // Most queued for one VP (one being written included).
  uint64_t eoms = 0;
  uint64_t posts = 0;                   // HvPostMessage calls to this partition.
  uint64_t posts_rejected_invalid_connection = 0;
  uint64_t posts_rejected_insufficient_buffers = 0;
  uint64_t posts_rejected_invalid_parameter = 0;
  uint64_t port_messages_handled = 0;   // Port handlers run.
  uint64_t signal_hypercalls = 0;       // HvSignalEvent calls to this partition, accepted.
  uint64_t signal_hypercalls_rejected = 0;  // ...and refused (unknown connection id).
};

class Synic;

// HvPostMessage (hypercall 0x005C) from `sender_vp` to the message port
// `connection_id` (low 24 bits) of `receiver`. Charges
// `hypercall_post_message` to the sender if it is running work (otherwise
// the call is free: a test or setup step). On kSuccess the message occupies
// one of the port's buffers until its handler has run, and is queued as
// PASSIVE work on the port's target VP at the sender's `LocalNow()` (after
// the charge). Results, each counted and traced:
//   kInvalidConnectionId        no port with that id;
//   kInsufficientBuffers        the port already holds `capacity` messages
//                               (transient: the sender retries, spec 3.2);
//   kHvStatusInvalidParameter   message longer than 240 bytes.
HvStatus PostMessage(Synic& receiver, VirtualProcessor& sender_vp, uint32_t connection_id,
                     absl::Span<const uint8_t> message);

// HvSignalEvent (hypercall 0x005D) from `sender_vp` to the event connection
// `connection_id` (low 24 bits) of `receiver`. Charges
// `hypercall_signal_event` as PostMessage does, then sets the bound flag on
// the bound VP at the sender's `LocalNow()` (see Synic::SignalEvent).
// kInvalidConnectionId if nothing is bound to the id; a masked target SINT
// still returns kSuccess (the signal is dropped and counted).
HvStatus SignalEventHypercall(Synic& receiver, VirtualProcessor& sender_vp,
                              uint32_t connection_id);

class Synic {
 public:
  // Runs inside the ISR work item of `vp_index`, at DISPATCH.
  using InterruptHandler = std::function<void(uint32_t vp_index)>;
  // Runs as PASSIVE work on the port's target VP, once per posted message.
  using PortHandler = std::function<void(std::vector<uint8_t> message)>;

  // `vps[i]` is VP i of partition `partition_id`. `*sim`, `*costs` and every
  // VP must outlive this object.
  // REQUIRES: vps is not empty; vps[i] non-null, with vp_index() == i and
  // partition_id() == partition_id.
  Synic(sim::Simulator* sim, const CostModel* costs, uint16_t partition_id,
        absl::Span<VirtualProcessor* const> vps);
  Synic(const Synic&) = delete;
  Synic& operator=(const Synic&) = delete;

  uint16_t partition_id() const { return partition_id_; }
  uint32_t vp_count() const { return static_cast<uint32_t>(vps_.size()); }
  const SynicCounters& counters() const { return counters_; }
  // Interrupts run on one VP (SynicCounters::interrupts is their sum).
  // REQUIRES: vp_index < vp_count().
  uint64_t interrupts_on(uint32_t vp_index) const { return vp_states_.at(vp_index).interrupts; }

  // Installs the partition's ISR (replacing any earlier one). Without a
  // handler an interrupt is still counted and traced, and clears nothing.
  void SetInterruptHandler(InterruptHandler handler) { interrupt_handler_ = std::move(handler); }

  // Masks or unmasks SINT 2 of `vp_index` at the VP's LocalNow() (a guest
  // MSR write). Unmasking with messages held in the queue starts writing the
  // first after simp_delivery.
  // InvalidArgument for a bad VP index.
  absl::Status SetSintMasked(uint32_t vp_index, bool masked);
  absl::StatusOr<bool> SintMasked(uint32_t vp_index) const;

  // ---- Event flags (spec 3.3).

  // Sets bit `flag` of the SINT-2 event bitmap of `vp_index` now. If the bit
  // was clear the SINT is raised; if it was set the signal coalesces; if the
  // SINT is masked the signal is dropped. All three are counted and are
  // expected outcomes, so they return OkStatus.
  // InvalidArgument for vp_index >= vp_count() or flag >= 2048.
  absl::Status SignalEvent(uint32_t vp_index, uint32_t flag);
  // The same, taking effect at `at` (a sender's LocalNow()). Arguments are
  // validated now. REQUIRES: at >= the simulator's Now().
  absl::Status SignalEventAt(sim::SimTime at, uint32_t vp_index, uint32_t flag);

  // Guest side, normally from the ISR: atomically clears every set bit of
  // `vp_index`'s bitmap and returns their numbers in ascending order (empty
  // if none). InvalidArgument for a bad VP index. Inline storage for a few,
  // since an ISR usually takes one or two and runs once per interrupt.
  using EventFlagList = absl::InlinedVector<uint32_t, 8>;
  absl::StatusOr<EventFlagList> TakeEventFlags(uint32_t vp_index);
  // Guest side: clears bit `flag` and returns whether it was set.
  // InvalidArgument for a bad VP index or flag.
  absl::StatusOr<bool> TestAndClearFlag(uint32_t vp_index, uint32_t flag);

  // ---- Message slot and EOM (spec 3.1).

  // Host side: sends a VMBus control message (message_type 1) to `vp_index`
  // now. Messages to one VP are written in the order sent, each only after
  // the previous one's EOM; a message that must wait sets msg_pending in the
  // header of the message occupying the slot.
  // InvalidArgument for a bad VP index or a payload longer than 240 bytes.
  absl::Status DeliverMessage(uint32_t vp_index, absl::Span<const uint8_t> payload);
  // The same, sent at `at` (the host worker's LocalNow()). Arguments are
  // validated now. REQUIRES: at >= the simulator's Now().
  absl::Status DeliverMessageAt(sim::SimTime at, uint32_t vp_index,
                                absl::Span<const uint8_t> payload);

  // Guest side: the header of `vp_index`'s slot; message_type 0 means free.
  // InvalidArgument for a bad VP index.
  absl::StatusOr<HvMessageHeader> ReadMessageHeader(uint32_t vp_index) const;
  // Guest side: copies out the payload of the message in the slot, or
  // nullopt if the slot is free. The slot stays occupied until EndOfMessage.
  // InvalidArgument for a bad VP index.
  absl::StatusOr<std::optional<std::vector<uint8_t>>> ReadMessageSlot(uint32_t vp_index) const;
  // Guest side: frees the slot (message_type = HVMSG_NONE) at the VP's
  // LocalNow() and, if msg_pending was set, writes the EOM MSR so that the
  // next queued message is written after eom_redelivery.
  // InvalidArgument for a bad VP index; FailedPrecondition if the slot is
  // free (an EOM without a message is a guest bug: a double EOM).
  absl::Status EndOfMessage(uint32_t vp_index);
  // Messages queued for `vp_index` and not yet written into its slot (one
  // being written included). InvalidArgument for a bad VP index.
  absl::StatusOr<size_t> QueuedMessageCount(uint32_t vp_index) const;

  // ---- Receive side of hypercalls from other partitions (spec 3.2, 3.3).

  // Creates the message port `connection_id`, whose messages run `handler`
  // on `target_vp` (see PortHandler) with at most `capacity` messages
  // between post and the end of their handler. Ports live as long as the
  // Synic. InvalidArgument for an id wider than 24 bits, a bad VP index,
  // capacity 0 or an empty handler; AlreadyExists if the id names a port or
  // an event connection already.
  absl::Status CreatePort(uint32_t connection_id, uint32_t target_vp, PortHandler handler,
                          size_t capacity = kPortBufferCountDefault);
  // Buffers of port `connection_id` in use (posted, handler not finished).
  // NotFound for an unknown port.
  absl::StatusOr<size_t> PortBuffersInUse(uint32_t connection_id) const;

  // Binds event connection `connection_id` to bit `flag` of `vp_index`'s
  // bitmap (the host side of an offer's connection id, spec 3.6).
  // InvalidArgument for an id wider than 24 bits, a bad VP index or flag;
  // AlreadyExists if the id names a port or an event connection already.
  absl::Status BindEventConnection(uint32_t connection_id, uint32_t vp_index, uint32_t flag);
  // Removes a binding (close, rescind). NotFound if nothing is bound.
  absl::Status UnbindEventConnection(uint32_t connection_id);
  // The hypervisor's own signal to a bound connection (a monitor-page fire,
  // spec 3.5): like SignalEventHypercall without a sender or a cost, now.
  // kInvalidConnectionId if nothing is bound.
  HvStatus SignalConnection(uint32_t connection_id);

  // Whole-state validation (O(VPs + ports)); aborts on a broken invariant.
  // Tests call it after every event.
  void CheckInvariants() const;

  // Asks `hook` (fault_hook.h) about every message for this partition's
  // slots (kMessageDeliver: kDelay holds it and every later one, so order
  // is kept) and every HvPostMessage to its ports (kMessagePost: kFail
  // refuses it with HV_STATUS_INSUFFICIENT_BUFFERS). Null removes it.
  void SetFaultHook(FaultHook* hook) { fault_hook_ = hook; }

 private:
  friend HvStatus PostMessage(Synic&, VirtualProcessor&, uint32_t, absl::Span<const uint8_t>);
  friend HvStatus SignalEventHypercall(Synic&, VirtualProcessor&, uint32_t);

  static constexpr uint32_t kFlagWordCount = kEventFlagCount / 64;

  struct VpState {
    std::array<uint64_t, kFlagWordCount> flags = {};
    // Bit w: flags[w] may be non-zero (set with the flag; cleared when the
    // word is taken), so taking the flags reads only those words.
    uint32_t words_set = 0;
    static_assert(kFlagWordCount <= 32);
    bool masked = false;
    // An interrupt was raised and its handler has not started yet.
    bool interrupt_pending = false;
    HvMessage slot;
    // Host messages not yet written into the slot, oldest first. While
    // `write_in_flight`, the front is being written.
    std::deque<std::vector<uint8_t>> queue;
    bool write_in_flight = false;
    uint64_t interrupts = 0;  // ISRs run on this VP.
  };

  struct Port {
    uint32_t target_vp = 0;
    size_t capacity = 0;
    PortHandler handler;
    size_t buffers_in_use = 0;                 // Posted, handler not finished.
    std::deque<std::vector<uint8_t>> visible;  // Visible to the VP, handler not started.
  };

  struct EventBinding {
    uint32_t vp_index = 0;
    uint32_t flag = 0;
  };

  FaultHook* fault_hook_ = nullptr;
  // No message is written before this time (a delay fault holds the queue).
  sim::SimTime fault_floor_;

  // A message accepted now that takes effect later (at a sender's clock).
  // Kept here because event callables hold only 24 bytes.
  struct Staged {
    bool to_port = false;
    uint32_t target = 0;  // VP index (host message) or connection id (post).
    std::vector<uint8_t> bytes;
  };

  absl::Status ValidateVp(const char* operation, uint32_t vp_index) const;
  absl::Status ValidateFlag(const char* operation, uint32_t flag) const;
  absl::Status ValidateNewConnection(const char* operation, uint32_t connection_id) const;

  void ApplySignal(uint32_t vp_index, uint32_t flag);
  void ScheduleSignal(sim::SimTime at, uint32_t vp_index, uint32_t flag);
  void RaiseSint(uint32_t vp_index, sim::SimDuration delivery);
  void DispatchInterrupt(uint32_t vp_index);
  void RunInterrupt(uint32_t vp_index);

  void EnqueueMessage(uint32_t vp_index, std::vector<uint8_t> payload);
  void ScheduleWrite(uint32_t vp_index, sim::SimTime at, bool redelivery);
  void WriteSlot(uint32_t vp_index, bool redelivery);

  void Stage(sim::SimTime at, Staged staged);
  void Unstage(uint64_t stage_id);
  void MakePortMessageVisible(uint32_t connection_id, std::vector<uint8_t> message);
  void RunPortHandler(uint32_t connection_id);

  void Trace(sim::SimTime time, uint16_t kind, uint32_t vp_index, uint64_t id0 = 0, uint64_t id1 = 0,
             uint64_t size0 = 0, uint64_t size1 = 0);

  sim::Simulator* const sim_;
  const CostModel* const costs_;
  const uint16_t partition_id_;
  const std::vector<VirtualProcessor*> vps_;
  std::vector<VpState> vp_states_;
  InterruptHandler interrupt_handler_;
  // Ordered maps: lookups only today, but iteration order must never depend
  // on hashing (DESIGN.md, determinism contract).
  std::map<uint32_t, Port> ports_;
  std::map<uint32_t, EventBinding> event_connections_;
  std::map<uint64_t, Staged> staged_;
  uint64_t next_stage_id_ = 0;
  SynicCounters counters_;
};

}  // namespace vmbsim::fabric

#endif  // VMBSIM_SIM_FABRIC_SYNIC_H_
