// runtime.h
//
// The KMCL runtime: the implementation behind every function of
// vmbuskernelmodeclientlibapi.h, over one simulated fabric (sim/fabric). One
// Runtime serves every partition of one Fabric; the exported C functions
// (kmcl_c_api.cc, thin thunks) find it through the device object
// (VmbChannelAllocate) or as the runtime current on this thread (every other
// call: the runtime makes itself current while it runs driver code, and a
// `Runtime::Scope` makes it current for code outside the run loop).
//
// Objects and handles (spec §3.1). Channels, allocated packets and received
// packets (VMBPACKETCOMPLETION) live in generation-checked handle tables
// (handle_table.h); a VMBPACKET made by VmbPacketInitialize is the caller's
// buffer address, found in a side table keyed by that address (never
// dereferenced). A stale, foreign or made-up handle is STATUS_INVALID_HANDLE
// and a verifier finding.
//
// Execution (DESIGN.md "Driver execution"). Driver code runs in two
// contexts:
//   DISPATCH  inside a DPC work item on the channel's VP: ProcessPacket and
//             ProcessingComplete (unless the channel asked for PASSIVE), and
//             packet completion routines. Blocking calls here are findings.
//   PASSIVE   on a worker: a fiber whose slices run as PASSIVE work items on
//             a VP. Each channel has a state worker (Opened, Started,
//             PostStarted, Suspend, Closed run there, in order) and a packet
//             worker (PASSIVE processing, deferred packets); `RunPassive`
//             gives driver entry code its own worker. A blocking call on a
//             worker suspends the fiber; the VP is free meanwhile, and the
//             fiber continues in a new work item once its condition holds.
// Code outside the run loop (a test body, a tool) may make blocking calls
// too: they run the simulator event by event until the condition holds (or
// nothing is left to run).
//
// Where the spec is silent the choices are the spec's §11 recommendations,
// each named by its gap id (Gn) at the code that makes it; the README lists
// them. The main ones:
//   - Incoming packets are taken from the ring by the channel's DPC; a
//     PASSIVE channel hands them to its packet worker. A packet counts
//     against the transaction quota from the moment it is taken until it is
//     completed, failed or force-retired; when the quota is reached the
//     packets stay in the ring (the sender sees backpressure) until a
//     completion restarts the drain (changing the quota never does, §6.2).
//   - ProcessingComplete(count) after every batch that delivered packets:
//     ring empty, quota reached, or batch cap (G22).
//   - In-band bytes are copied at send time (G6). Packets sent while the
//     channel is not open, or while the ring is full, wait in the channel's
//     send queue, in order; Disable and rescind cancel them (G6, G9).
//   - The size limit is the writing endpoint's (fabric::WriterSizeRule):
//     KMCL's writers take any packet that fits an empty ring (T < D, the
//     Linux / EMCL rule), and client rings are sized by the same function so
//     that one MaximumPacketSize packet always fits (G10). A packet that can
//     never fit the channel's outgoing ring is refused at the send with
//     STATUS_INVALID_BUFFER_SIZE and an oversize_packet finding; one that
//     waited in the send queue while the ring was unknown (a server before
//     the open) fails its transaction with that status instead.
//   - BufferLength of a delivered packet is the in-band length the ring
//     carries: the sent length rounded up to 8 bytes (Hyper-V rings count in
//     8-byte units; the padding is zero).
//   - A driver that never completes an indicated packet: Pause / Disable /
//     peer close block until it does, as the WDK state model says (after
//     EvtChannelSuspend KMCL waits for every packet indicated to
//     ProcessPacket; spec §5.3 and §7.3 T-stop). A teardown still blocked
//     when a run ends is a packet_not_completed_at_close finding naming the
//     teardown and the packets' transaction ids (ReportHungTeardowns).
//     Opt-in, the behaviour before: `force_retire_after` (per runtime or per
//     channel) waits that long, reports, and retires the packets (their
//     handles go stale).

#ifndef VMBSIM_KMCL_RUNTIME_H_
#define VMBSIM_KMCL_RUNTIME_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmcl/handle_table.h"
#include "kmcl/verifier.h"
#include "kmcl/vmbuskernelmodeclientlibapi.h"
#include "sim/core/fiber.h"
#include "sim/core/simulator.h"
#include "sim/fabric/fabric.h"
#include "sim/fabric/ring_buffer.h"

namespace vmbsim::kmcl {
class Runtime;
}  // namespace vmbsim::kmcl

// The device object a partition hands to drivers. Drivers only pass it back.
struct _DEVICE_OBJECT {
  uint64_t magic;
  vmbsim::kmcl::Runtime* runtime;
  uint16_t partition;
};

namespace vmbsim::kmcl {

class Runtime;
struct GpadlRecord;
struct QueuedSend;
struct UnmappedGpadlMdl;
inline constexpr uint64_t kDeviceObjectMagic = 0x564d4253494d4456ull;  // "VMBSIMDV"

// How one endpoint of a channel writes when its ring is full and how it
// reads (fabric::WriterPolicy, fabric::ReaderDiscipline). Unset fields keep
// KMCL's defaults: RuntimeOptions::writer_policy, a DPC drain of up to 4096
// packets with no time budget.
struct EndpointPolicy {
  std::optional<fabric::WriterPolicy> writer;
  uint32_t pending_send_fixed_bytes = 0;  // WriterPolicy::kFixed.
  fabric::ReaderDiscipline reader = fabric::ReaderDiscipline::kDpcDrain;
  std::optional<uint32_t> batch_packets_max;     // Packets per batch or poll.
  sim::SimDuration dpc_budget = sim::SimDuration::Zero();
  sim::SimDuration poll_period = sim::SimDuration::Zero();  // kPolled: > 0.
};

// Channel settings a scenario gives that the KMCL API cannot express: how
// the host offers a channel and which guest VP a client's interrupts target.
struct ChannelPolicy {
  std::optional<bool> monitored;                    // Server: the offer asks for a monitor id.
  std::optional<uint16_t> interrupt_latency_100ns;  // Server: the offer's monitor latency.
  std::optional<bool> dedicated_interrupt;          // Server: the offer's choice (fabric.h, shared signals).
  std::optional<uint32_t> guest_target_vp;          // Client: unless the driver chose one.
  std::optional<uint32_t> host_target_vp;           // Server: the root VP of its host end.
  // Server: a deliberately buggy data path (scenarios reproducing the
  // lost-wake-up race): that endpoint's drain does not re-check the ring
  // after unmasking its interrupt.
  bool host_skips_recheck = false;
  bool guest_skips_recheck = false;
  // Server: a deliberately buggy reader (pending_send_buggy): that endpoint
  // never signals its blocked peer when a read frees the space the peer's
  // pending_send_sz asks for.
  bool host_ignores_pending_send = false;
  bool guest_ignores_pending_send = false;
  // Server: each endpoint's writer policy and reader discipline.
  EndpointPolicy host_end;
  EndpointPolicy guest_end;
  // Both ends: RuntimeOptions::force_retire_after for this channel.
  std::optional<sim::SimDuration> force_retire_after;
  // Client: a host->guest doorbell that arrives before the channel first
  // runs after its open (EvtChannelStarted) is dropped, as a Linux guest
  // drops an interrupt for a channel with no callback yet (vmbus_chan_sched);
  // nothing replays it. False (KMCL, the default): the drain holds the
  // packets in the ring and runs them once the channel starts.
  bool early_signal_drop = false;
  // Client: a periodic re-check of the host->guest ring, every this long:
  // when the ring holds data and no drain runs, one starts (OpenVMM's
  // "unstick" timer against lost early interrupts). It runs while the ring
  // holds data or the client waits for completions, and stops by itself
  // otherwise, so an idle run still ends. Unset: none.
  std::optional<sim::SimDuration> unstick_period;
};
// Asked at Enable with the channel's role and interface GUIDs.
using ChannelPolicyFn = std::function<ChannelPolicy(bool is_server, const GUID& type, const GUID& instance)>;

struct RuntimeOptions {
  // G10: defaults of a channel that never set them.
  uint32_t max_packet_size_default = 4096;
  uint32_t ring_page_count_default = 16;  // Data pages per ring.
  // G7: default transaction quota (observed field values, low confidence).
  uint32_t client_quota_default = 0xFFFFFFFF;
  uint32_t server_quota_default = 256;
  // How server offers are made (not visible through the KMCL API).
  bool offer_monitored = true;
  std::optional<uint16_t> offer_interrupt_latency_100ns;  // Unset: the fabric's default; 0 means 0.
  // G23: external data requires WAIT_FOR_COMPLETION.
  bool require_wait_with_external_data = true;
  // Unset (the default): Pause / Disable / a peer close wait as long as it
  // takes for the driver to complete every indicated packet; a teardown that
  // never ends is reported by ReportHungTeardowns. Set: they wait this long,
  // then report packet_not_completed_at_close and retire the packets (the
  // model before, with 100 ms).
  std::optional<sim::SimDuration> force_retire_after;
  // Findings of severity error stop the simulator (Verifier::SetFatal).
  bool fatal_findings = false;
  // The newest protocol version guests offer when the runtime connects them.
  uint32_t max_version = fabric::kVersionWin10Rs5;
  // Connect every guest's VMBus client at construction.
  bool connect_guests = true;
  // Guest pages KMCL hands out (rings, GPADL buffers) start at this PFN.
  uint64_t guest_page_base_pfn = 0x10000;
  // Test knob (§10.6): the first VmbChannelPacketGetExternalData of each
  // packet returns STATUS_PENDING and the packet is delivered again.
  bool external_data_pends_first = false;
  // Per-channel settings beyond the API (scenarios); null: the defaults above.
  ChannelPolicyFn channel_policy;
  // Measure every channel's transactions (Runtime::TransactionsFor): two
  // histogram records and a few counters per packet, so off unless asked for.
  bool transaction_metrics = false;
  // The measured window's start (a run's warm-up ends here): transaction
  // figures count only transactions sent at or after it, at the sending VP's
  // clock, so each transaction is measured whole or not at all. Zero: all.
  sim::SimTime measure_from;
  // The size rule of KMCL's ring writers (both endpoints of every KMCL
  // channel; set when the fabric attaches the channel) and of client ring
  // sizing, which uses the same function: a MaximumPacketSize packet always
  // fits. kLinuxEmcl is the EMCL library's rule (KMCL's lineage); kOpenVmm
  // is the fabric's default, for comparison.
  fabric::WriterSizeRule writer_size_rule = fabric::WriterSizeRule::kLinuxEmcl;
  // What KMCL's ring writers (both endpoints of every KMCL channel) publish
  // in pending_send_sz when blocked, unless a channel's policy says
  // otherwise: the Windows lineage's "uncommitted bytes + T, clamped to
  // D - 1" (EMCL RingBuffer.c), the nearest public evidence for KMCL.
  // kOpenVmm is the fabric's default, and was KMCL's before.
  fabric::WriterPolicy writer_policy = fabric::WriterPolicy::kWindows;
};

struct RuntimeCounters {
  uint64_t channels_allocated = 0;
  uint64_t packets_sent = 0;          // Entered the ring.
  uint64_t packets_queued = 0;        // Waited in a send queue first.
  uint64_t packets_delivered = 0;     // ProcessPacket calls (re-deliveries included).
  uint64_t packets_completed = 0;     // VmbChannelPacketComplete.
  uint64_t completions_received = 0;  // Completion packets matched to a transaction.
  uint64_t transactions_cancelled = 0;
  uint64_t processing_complete_calls = 0;
  uint64_t peer_violations = 0;       // Bad packets or completions from the peer.
  uint64_t quota_stalls = 0;
  uint64_t channels_moved = 0;  // Channels whose work followed their drain to another VP (MODIFYCHANNEL).
  // Packets a bounded teardown (force_retire_after) gave up on and retired
  // without their driver's completion.
  uint64_t packets_retired = 0;
};

// What went wrong with bytes the peer wrote (never a crash).
struct PeerViolation {
  sim::SimTime time;
  uint64_t channel = 0;
  std::string reason;
};

// A packet seen before the event that caused it: a request processed before
// it was sent, or a completion seen before its request was processed. The
// simulator guarantees neither happens (DESIGN.md, "Time on a VP"); one
// found is a simulator bug, reported with the packet, and a scenario run
// ends with an internal error. Checked whenever transaction metrics are on
// (every scenario run), since the cause's time travels as the packet's tag.
struct CausalityViolation {
  sim::SimTime time;           // When the effect was seen.
  sim::SimTime cause_time;     // When its cause happened.
  uint16_t guest = 0;
  uint32_t relid = 0;
  uint64_t trans_id = 0;
  std::string what;            // "request processed before it was sent", ...
};

// A channel's data-path counters over its whole life (every open), both
// endpoints: the fabric drops an endpoint at close; the runtime keeps its
// figures.
struct EndpointTotals {
  fabric::DataPathCounters guest;
  fabric::DataPathCounters host;
  sim::Histogram guest_batches;  // Packets read per drain batch.
  sim::Histogram host_batches;
  // Unread bytes in the ring each side writes, sampled at its writes
  // (ChannelDataPath::ring_occupancy).
  sim::Histogram guest_ring_occupancy;  // The guest->host ring.
  sim::Histogram host_ring_occupancy;   // The host->guest ring.

  EndpointTotals& operator+=(const EndpointTotals& other) {
    guest += other.guest;
    host += other.host;
    guest_batches.Merge(other.guest_batches);
    host_batches.Merge(other.host_batches);
    guest_ring_occupancy.Merge(other.guest_ring_occupancy);
    host_ring_occupancy.Merge(other.host_ring_occupancy);
    return *this;
  }
};

// One direction of one channel's transactions, measured by the runtime when
// RuntimeOptions::transaction_metrics is on. Times are the VPs' local clocks
// at the calls (in ns):
//   send_to_process     VmbPacketSend* -> the peer's first ProcessPacket of
//                       that packet (its send time travels beside it through
//                       the fabric, fabric::OutgoingPacket::tag);
//   send_to_completion  VmbPacketSend* -> the transaction finished (the
//                       completion routine's status; for a send without
//                       WAIT_FOR_COMPLETION, its entry into the ring).
//   process_to_complete the peer's first ProcessPacket of the packet -> the
//                       peer's VmbChannelPacketComplete of it: the service
//                       time, where send_to_process is the waiting time (in
//                       the send queue, behind a full ring or a quota, in the
//                       ring, for the signal and the DPC).
// A packet becomes visible when its sender's VP reaches the send (fabric
// causality), so neither interval can be negative; a negative one is a
// CausalityViolation, never recorded as a latency.
struct DirectionTransactions {
  uint64_t packets_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t packets_processed = 0;  // First deliveries of timed sends to the peer's ProcessPacket.
  uint64_t bytes_processed = 0;
  uint64_t transactions_finished = 0;
  uint64_t transactions_failed = 0;  // Finished with a failure status.
  uint64_t queued_sends = 0;         // Sends that waited in the send queue.
  // Sends refused at the call as oversize (each an oversize_packet finding):
  // in-band bytes above MaximumPacketSize, external data above
  // MaximumExternalData, or a packet the outgoing ring can never hold
  // (STATUS_INVALID_BUFFER_SIZE). Never counted as sent, finished or lost.
  uint64_t sends_failed = 0;
  sim::Histogram send_to_process_ns;
  sim::Histogram send_to_completion_ns;
  sim::Histogram process_to_complete_ns;

  DirectionTransactions& operator+=(const DirectionTransactions& other);
};

// Both directions of channel (guest, relid). A channel's figures go to the
// (guest, relid) it is bound to at the time; sends made before its first
// binding move there when it binds.
struct ChannelTransactions {
  DirectionTransactions guest_to_host;
  DirectionTransactions host_to_guest;

  ChannelTransactions& operator+=(const ChannelTransactions& other) {
    guest_to_host += other.guest_to_host;
    host_to_guest += other.host_to_guest;
    return *this;
  }
};

// One offer a server channel made (Enable), in order.
struct OfferRecord {
  uint16_t guest = 0;
  uint32_t relid = 0;
  GUID interface_type = {};
  GUID interface_instance = {};
  uint16_t sub_channel_index = 0;
};

class Runtime {
 public:
  // `*fabric` must outlive the runtime. Installs the runtime's hooks on the
  // fabric (attach, detach, open gate, client listeners) and, with
  // `connect_guests`, connects every guest.
  Runtime(fabric::Fabric* fabric, RuntimeOptions options = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // The runtime the exported functions use on this thread, or null. Inline:
  // every exported function asks, several times per packet.
  static Runtime* Current() { return current_runtime_; }

  // For a crash report: the driver entry point that runs now, by its WDK
  // callback name ("EvtVmbChannelProcessPacket", "EvtVmbChannelStarted", ...,
  // "a DPC run for the driver"; `callback` null when no driver code runs),
  // the channel it runs for (partition, relid; relid 0 when none) and the
  // simulated time. A fault inside a KMCL call the driver made counts as the
  // driver's. Async-signal-safe: reads plain fields, names a static string;
  // nothing is allocated.
  struct DriverCode {
    const char* callback = nullptr;
    uint16_t partition = 0;
    uint32_t relid = 0;
    int64_t time_ns = 0;
  };
  DriverCode DriverCodeRunning() const noexcept;
  // Makes `runtime` current for the scope's lifetime (restoring the previous).
  class Scope {
   public:
    explicit Scope(Runtime* runtime);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Runtime* previous_;
  };

  // The device object of partition `partition` (0 = root), for
  // VmbChannelAllocate. REQUIRES: the partition exists.
  PDEVICE_OBJECT device(uint16_t partition);
  // The VMBus handle of guest `guest` for VmbServerChannelInitSetVmbusHandle
  // (what VmbConvertVmbusHandleToKernelHandle returns for it too).
  HANDLE vmbus_handle(uint16_t guest) const;

  // Runs `body` as PASSIVE driver code on its own worker on `vp` of
  // `partition`, starting at the current time. It may block.
  void RunPassive(uint16_t partition, uint32_t vp, std::function<void()> body);

  // Blocks the calling PASSIVE context until `done()` holds: a worker fiber
  // suspends; code outside the run loop runs events. False (with a finding
  // against `function`) when the caller cannot block (DISPATCH, or an event
  // that is not a worker) or when nothing is left to run; false without a
  // finding once the runtime is ending (ReleaseWorkers).
  bool WaitUntil(const char* function, uint64_t channel, absl::FunctionRef<bool()> done,
                 const void* wait_key);
  // Wakes the workers waiting on `wait_key` so they re-check.
  void Notify(const void* wait_key);
  // Ends the run for driver code, once the simulator will not run again:
  // every wait fails from now on (WaitUntil
  // returns false at once), driver code suspended in a KMCL call resumes and
  // returns through its error paths, and PASSIVE jobs RunPassive was given
  // that the run never reached (a teardown's Destroy behind a VP busy past
  // the end) run on the same terms. So what driver code holds is freed
  // rather than left on a fiber stack that is never resumed. A channel's
  // queued transitions and deliveries are dropped; workers a guest reset
  // froze stay frozen. Driver code that posts passive work for ever would
  // keep this from returning. Called by the embedder while what that
  // driver code uses is still alive (not by the destructor: a fiber still
  // blocked then is freed without unwinding, and what its frames own is
  // lost).
  void ReleaseWorkers();

  fabric::Fabric& fabric() { return *fabric_; }
  sim::Simulator& sim() { return fabric_->sim(); }
  Verifier& verifier() { return verifier_; }
  const RuntimeOptions& options() const { return options_; }
  const RuntimeCounters& counters() const { return counters_; }
  const std::vector<PeerViolation>& peer_violations() const { return peer_violations_; }
  const std::vector<CausalityViolation>& causality_violations() const { return causality_violations_; }
  size_t channel_count() const { return channels_.size(); }
  size_t live_packet_count() const { return packets_.size() + caller_packets_.size(); }
  size_t live_completion_count() const { return completions_.size(); }
  size_t blocked_worker_count() const;

  // ---- The API, one method per exported function (kmcl_c_api.cc). Handles
  // are the driver's values; errors are absl::Status carrying the exact
  // NTSTATUS (ntstatus.h).
  absl::StatusOr<VMBCHANNEL> ChannelAllocate(PDEVICE_OBJECT parent, bool is_server);
  void ChannelCleanup(VMBCHANNEL channel);
  absl::Status ChannelEnable(VMBCHANNEL channel);
  void ChannelDisable(VMBCHANNEL channel);
  void ChannelStart(VMBCHANNEL channel);
  void ChannelPause(VMBCHANNEL channel);

  absl::Status InitSetMaximumPacketSize(VMBCHANNEL channel, uint32_t size);
  absl::Status InitSetMaximumExternalData(VMBCHANNEL channel, uint32_t size, uint32_t chain_length);
  absl::Status InitSetClientContextSize(VMBCHANNEL channel, uint32_t size);
  absl::Status InitSetProcessPacketCallbacks(VMBCHANNEL channel, PFN_VMB_CHANNEL_PROCESS_PACKET process,
                                             PFN_VMB_CHANNEL_PROCESSING_COMPLETE complete);
  absl::Status InitSetStateChangeCallbacks(VMBCHANNEL channel,
                                           const VMB_CHANNEL_STATE_CHANGE_CALLBACKS* callbacks);
  absl::Status InitSetFriendlyName(VMBCHANNEL channel, PCUNICODE_STRING name);
  absl::Status InitSetFlags(VMBCHANNEL channel, uint32_t flags);
  void SetIncomingProcessingAtPassive(VMBCHANNEL channel, bool passive);
  void SetTransactionQuota(VMBCHANNEL channel, uint32_t quota);
  void ChannelSetPointer(VMBCHANNEL channel, void* pointer);
  void* ChannelGetPointer(VMBCHANNEL channel);
  absl::StatusOr<uint16_t> SetInterruptLatency(VMBCHANNEL channel, uint16_t latency_100ns);
  absl::Status ClientInitSetRingBufferPageCount(VMBCHANNEL channel, uint32_t incoming, uint32_t outgoing);
  absl::Status ClientInitSetTargetPnp(VMBCHANNEL channel, const GUID* type, const GUID* instance,
                                      PFN_VMB_CHANNEL_PNP_FAILURE pnp_failure);
  absl::Status ServerInitSetTargetInterfaceId(VMBCHANNEL channel, const GUID& type, const GUID& instance);
  absl::Status ServerInitSetFlags(VMBCHANNEL channel, uint32_t flags);
  absl::Status ServerInitSetMmioMegabytes(VMBCHANNEL channel, uint16_t mmio, uint16_t optional_mmio);
  absl::Status ServerInitSetTargetVtl(VMBCHANNEL channel, uint8_t vtl);
  absl::Status ServerInitSetVmbusHandle(VMBCHANNEL channel, HANDLE handle);
  absl::StatusOr<HANDLE> ConvertVmbusHandleToKernelHandle(HANDLE handle);
  absl::Status ServerInitSetSaveRestorePacketCallbacks(VMBCHANNEL channel, PFN_VMB_CHANNEL_SAVE_PACKET save,
                                                       PFN_VMB_CHANNEL_RESTORE_PACKET restore);
  // V5 (undocumented; vmbsim's guess, §6.11): ties a sub-channel to its primary.
  absl::Status InitSetPrimaryChannel(VMBCHANNEL sub_channel, VMBCHANNEL primary);
  // V5: the guest VP that receives the channel's host->guest interrupts
  // (OPENCHANNEL target_vp). Default: relid % guest VP count.
  absl::Status ClientInitSetTargetProcessorIndex(VMBCHANNEL channel, uint32_t vp);
  // V2: ParentDeviceObject from VmbChannelAllocate.
  PDEVICE_OBJECT ParentDeviceOf(VMBCHANNEL channel);

  absl::StatusOr<GUID> GetInterfaceInstance(VMBCHANNEL channel);
  absl::Status GetMmioSpace(VMBCHANNEL channel, uint64_t* address, uint64_t* size);
  absl::StatusOr<uint32_t> SizeofPacket(VMBCHANNEL channel);

  void PacketComplete(VMBPACKETCOMPLETION packet, const void* buffer, uint32_t size);
  void PacketDeferToPassive(VMBPACKETCOMPLETION packet);
  void PacketFail(VMBPACKETCOMPLETION packet);
  absl::StatusOr<PMDL> PacketGetExternalData(VMBPACKETCOMPLETION packet, uint32_t flags);
  void* PacketGetClientContext(VMBPACKETCOMPLETION packet);

  absl::StatusOr<VMBPACKET> PacketAllocate(VMBCHANNEL channel);
  absl::Status PacketInitialize(VMBCHANNEL channel, VMBPACKET storage, uint32_t size);
  void PacketFree(VMBPACKET packet);
  void PacketSetCompletionRoutine(VMBPACKET packet, PFN_VMB_PACKET_COMPLETION_ROUTINE routine);
  void PacketSetPointer(VMBPACKET packet, void* pointer);
  void* PacketGetPointer(VMBPACKET packet);
  VMBCHANNEL PacketGetChannel(VMBPACKET packet);
  // The three sends. `mdl` may be null; `pfns` only for the PFN form.
  absl::Status PacketSend(VMBPACKET packet, const void* buffer, uint32_t length, PMDL mdl, uint32_t flags);
  absl::Status PacketSendWithExternalMdl(VMBPACKET packet, const void* buffer, uint32_t length, PMDL mdl,
                                         uint32_t mdl_offset, uint32_t mdl_length, uint32_t flags);
  absl::Status PacketSendWithExternalPfns(VMBPACKET packet, const void* buffer, uint32_t length,
                                          const PFN_NUMBER* pfns, uint32_t pfn_count, uint32_t flags);
  absl::Status SendSynchronousRequest(VMBCHANNEL channel, const void* buffer, uint32_t length, PMDL mdl,
                                      uint32_t flags, void* completion_buffer, uint32_t* completion_size,
                                      const LARGE_INTEGER* timeout);

  absl::StatusOr<uint32_t> CreateGpadlFromBuffer(VMBCHANNEL channel, uint32_t flags, void* buffer,
                                                 uint32_t size);
  absl::StatusOr<uint32_t> CreateGpadlFromMdl(VMBCHANNEL channel, uint32_t flags, PMDL mdl,
                                              uint32_t offset, uint32_t length);
  void DeleteGpadl(VMBCHANNEL channel, uint32_t gpadl);
  absl::StatusOr<PMDL> MapGpadl(VMBCHANNEL channel, uint32_t flags, uint32_t gpadl);
  void UnmapGpadl(VMBCHANNEL channel, uint32_t gpadl);
  // MmGetSystemAddressForMdlSafe (wdk_shim.h): the system address of the
  // buffer `mdl` describes. A mapping from VmbChannelMapGpadl that has been
  // unmapped since gives null and a kGpadlUseAfterUnmap finding naming the
  // GPADL, its channels and the unmap; any other MDL gives its
  // MappedSystemVa, or its virtual address when that is null (both
  // partitions live in this process). REQUIRES: mdl != nullptr.
  void* SystemAddressForMdl(PMDL mdl);
  // What any MDL outside the GPADL bookkeeping maps to: its MappedSystemVa,
  // or its virtual address when that is null. Also the answer outside a run.
  static void* MdlAddress(PMDL mdl) {
    return mdl->MappedSystemVa != nullptr ? mdl->MappedSystemVa : MmGetMdlVirtualAddress(mdl);
  }

  absl::Status SaveBegin(VMBCHANNEL channel);
  // On success *filled bytes were written and everything is saved; a
  // STATUS_BUFFER_OVERFLOW / STATUS_BUFFER_TOO_SMALL error still sets
  // *filled and *required.
  absl::Status SaveContinue(VMBCHANNEL channel, void* buffer, uint32_t size, uint32_t* filled,
                            uint32_t* required);
  void SaveEnd(VMBCHANNEL channel);
  absl::Status RestoreFromBuffer(VMBCHANNEL channel, const void* buffer, uint32_t size);
  absl::Status PacketRestore(VMBPACKET packet, const void* buffer, uint32_t size);

  // Interface query (vmbsim's stand-in for WdfFdoQueryForInterface).
  absl::Status QueryInterface(const GUID* type, INTERFACE* interface, uint16_t size, uint16_t version);
  int interface_references() const { return interface_references_; }
  void InterfaceReference() { ++interface_references_; }
  void InterfaceDereference() { --interface_references_; }

  // Test access: the fabric endpoint of a channel (null unless attached),
  // and its state name ("disabled", "enabled", "open", "peer_closed").
  fabric::ChannelDataPath* EndpointOf(VMBCHANNEL channel);
  std::string StateOf(VMBCHANNEL channel);
  // The relid a channel is bound to (0 if none).
  uint32_t RelidOf(VMBCHANNEL channel);
  // Data-path totals of channel (guest, relid): closed opens plus the live
  // one, since the last RestartTotals().
  EndpointTotals TotalsFor(uint16_t guest, uint32_t relid) const;
  // Data-path totals restart now (a run's warm-up ends): TotalsFor's counters
  // become differences from their values now and its histograms (batch
  // sizes, ring occupancy) hold only what is recorded from now on.
  void RestartTotals();
  // Transaction figures of channel (guest, relid); all zero unless
  // RuntimeOptions::transaction_metrics.
  ChannelTransactions TransactionsFor(uint16_t guest, uint32_t relid) const;
  // Sends (VmbPacketSend*, measured) whose transaction has not finished.
  uint64_t unfinished_sends() const { return unfinished_sends_; }
  // Every offer KMCL server channels made, in order.
  const std::vector<OfferRecord>& offers() const { return offers_; }
  // Every live channel's state, for a liveness dump: handle, side, binding,
  // state name, sends waiting in its queue, its own transactions in flight
  // (sent, not finished) and the peer's packets it holds (taken, not yet
  // completed). Ordered by (guest, relid, partition, handle).
  struct ChannelDebugState {
    uint64_t handle = 0;
    uint16_t partition = 0;
    uint16_t guest = 0;
    uint32_t relid = 0;
    bool is_server = false;
    std::string state;
    bool running = false;
    uint64_t queued_sends = 0;
    uint64_t open_transactions = 0;
    uint64_t packets_held = 0;
    uint32_t quota = 0;
  };
  std::vector<ChannelDebugState> DebugStates() const;
  // Reports every Pause / Disable / peer close still blocked on packets its
  // driver never completed: one packet_not_completed_at_close finding per
  // channel (once), naming the teardown, since when it waits and the
  // packets' transaction ids. Returns how many it reported. A run calls it
  // when it ends.
  size_t ReportHungTeardowns();
  // Every (guest, relid) that was ever attached, ascending.
  std::vector<std::pair<uint16_t, uint32_t>> AttachedChannels() const;

  // Simulated time in 100 ns units (the running VP's clock inside work).
  uint64_t Now100ns() const;
  // KeGetCurrentProcessorNumberEx: the index of the VP the caller runs on
  // (0 outside driver context).
  uint32_t CurrentVpIndex() const { return context_.vp != nullptr ? context_.vp->vp_index() : 0; }
  // The calling code's time: its VP's local clock (which runs ahead of the
  // simulator's while the VP executes a work item), or the simulator's when
  // no VP runs.
  sim::SimTime CallerNow() const { return context_.vp != nullptr ? context_.vp->LocalNow() : fabric_->sim().Now(); }
  // KeStallExecutionProcessor: charges `duration` to the caller's VP.
  void StallExecution(sim::SimDuration duration);

  // ---- Guest reset (the guest_reset fault; not a KMCL function, §7.4 of
  // the fabric spec). Guest `guest` resets: none of its driver code runs
  // again. Its client channels are frozen: no callback, completion routine,
  // DPC or PASSIVE job of the old instance runs, their sends stay where they
  // are (never completed), their handles stay valid so that the abandoned
  // driver can be torn down after the run to free its memory (Disable is
  // then immediate, and Cleanup frees). Every PASSIVE worker of the
  // partition is frozen (a fiber blocked in a KMCL call is never resumed;
  // its stack is kept, unfreed, until the process ends). Sends on a frozen
  // channel fail with STATUS_DEVICE_REMOVED. The guest's VMBus client then
  // unloads, as Linux does on a crash (UNLOAD; the host closes every open
  // channel, which its drivers see as the guest closing it, tears the
  // GPADLs down and answers UNLOAD_RESPONSE), and `unloaded` runs when it
  // has. False, with nothing done, when the guest's client is not connected.
  bool ResetGuest(uint16_t guest, std::function<void()> unloaded);
  // After a reset's unload: the rebooted guest's client connects again (the
  // host offers every channel anew; new client channels bind to them).
  absl::Status ReconnectGuest(uint16_t guest);

  // Queues `body` (a void() callable) as DISPATCH driver code (a DPC) on
  // `vp` of `partition`. One allocation holds `body` until it runs.
  template <typename F>
  void RunDispatch(uint16_t partition, uint32_t vp, F&& body) {
    QueueDispatch(partition, vp, std::make_unique<DispatchBodyOf<std::decay_t<F>>>(std::forward<F>(body)));
  }

  // Internal types, public only for the .cc files.
  struct Channel;
  struct Packet;
  struct Incoming;
  class Worker;

 private:
  // A DPC body of RunDispatch, type-erased in one allocation (a
  // std::function held by pointer took two when its captures passed 16 bytes).
  struct DispatchBody {
    virtual ~DispatchBody() = default;
    virtual void Run() = 0;
  };
  // Free blocks of one size, kept up to kKeptMax, freed with the thread.
  template <size_t kBytes>
  class DispatchBodyPool {
   public:
    static void* Take(size_t size) {
      std::vector<void*>& free = Free().blocks;
      if (free.empty()) return ::operator new(size);
      void* const block = free.back();
      free.pop_back();
      return block;
    }
    // Unsized deletes: clang without -fsized-deallocation has no sized one.
    static void Give(void* block) {
      std::vector<void*>& free = Free().blocks;
      if (free.size() >= kKeptMax) {
        ::operator delete(block);
        return;
      }
      free.push_back(block);
    }

   private:
    static constexpr size_t kKeptMax = 1024;
    struct Blocks {
      std::vector<void*> blocks;
      ~Blocks() {
        for (void* block : blocks) ::operator delete(block);
      }
    };
    static Blocks& Free() {
      static thread_local Blocks free;
      return free;
    }
  };
  template <typename F>
  struct DispatchBodyOf final : DispatchBody {
    explicit DispatchBodyOf(F f) : fn(std::move(f)) {}
    void Run() override { fn(); }
    F fn;
    // Recycled per type and thread (a back-end queues a DPC per request,
    // and malloc and free cost more than the DPC's own bookkeeping).
    static void* operator new(size_t size) { return DispatchBodyPool<sizeof(DispatchBodyOf)>::Take(size); }
    static void operator delete(void* block) { DispatchBodyPool<sizeof(DispatchBodyOf)>::Give(block); }
  };
  void QueueDispatch(uint16_t partition, uint32_t vp, std::unique_ptr<DispatchBody> body);

  const char* DriverCallbackName() const noexcept;  // DriverCodeRunning's callback.
  friend class Worker;
  // Current(): set by the first Runtime of a thread, by Scope, and by a
  // worker resuming (a fiber may resume under another runtime's scope).
  static inline thread_local Runtime* current_runtime_ = nullptr;
  struct Device {
    _DEVICE_OBJECT object;
  };
  enum class CallKind : uint8_t { kNone, kStateCallback, kProcessPacket, kCompletionRoutine, kOther };
  // What driver code is running now (for IRQL and context rules).
  struct Context {
    int irql = 0;  // PASSIVE_LEVEL or DISPATCH_LEVEL.
    Channel* channel = nullptr;
    CallKind kind = CallKind::kNone;
    Incoming* incoming = nullptr;  // The packet in ProcessPacket.
    Worker* worker = nullptr;
    fabric::VirtualProcessor* vp = nullptr;  // The VP the code runs on, if any.
    // The driver entry point running, where `kind` does not say it
    // (DriverCodeRunning).
    const char* callback = nullptr;
  };
  class ContextScope;
  // Sets the thread's current runtime; returns the previous one.
  static Runtime* ExchangeCurrent(Runtime* runtime);

  // Lookups; a failure is reported (rule kStaleOrForeignHandle) against
  // `function` and returns STATUS_INVALID_HANDLE.
  absl::StatusOr<Channel*> FindChannel(VMBCHANNEL handle, const char* function);
  absl::StatusOr<Packet*> FindPacket(VMBPACKET handle, const char* function);
  // The live object `handle` names, with the call's cost charged; null, with
  // nothing reported, otherwise. The per-packet getters (VmbChannelGetPointer,
  // VmbPacketGetPointer) use these directly, with no status on the live path.
  Channel* LiveChannel(VMBCHANNEL handle);
  Packet* LivePacket(VMBPACKET handle);
  // The misses: report the handle that is not live and return the error,
  // `status` (what the call returns: Init setters use
  // STATUS_INVALID_PARAMETER_N, G3).
  absl::Status ChannelHandleError(VMBCHANNEL handle, const char* function, NTSTATUS status = STATUS_INVALID_HANDLE);
  absl::Status PacketHandleError(VMBPACKET handle, const char* function);
  absl::StatusOr<Incoming*> FindIncoming(VMBPACKETCOMPLETION handle, const char* function);

  // Reports a finding and returns `status` (with `detail` as its message).
  absl::Status Report(Channel* channel, const char* function, Rule rule, NTSTATUS status, std::string detail);
  // The same for a channel named by its values, which may be gone by now
  // (a GPADL's server channel after the unmap).
  struct FindingPlace {
    uint64_t channel = 0;
    uint16_t partition = 0;
    uint32_t relid = 0;
  };
  absl::Status ReportAt(FindingPlace place, const char* function, Rule rule, NTSTATUS status, std::string detail);
  absl::Status InitSetterGuard(Channel* channel, const char* function);
  // An Init setter's channel: live, of the right role, and still disabled
  // (InitSetterGuard); else STATUS_INVALID_PARAMETER_1, a stale or made-up
  // handle included (G3: the header's rule for Init setters is "a bad
  // channel handle or a channel in the wrong state").
  enum class Role : uint8_t { kEither, kServer, kClient };
  absl::StatusOr<Channel*> FindForInit(VMBCHANNEL handle, const char* function, Role role);
  // The packet `handle` names if it is the one in ProcessPacket now; else
  // reports kPacketCallOutsideProcessPacket against `function` and returns null.
  Incoming* FindInlineIncoming(VMBPACKETCOMPLETION handle, const char* function);
  bool AtDispatch() const { return context_.irql >= DISPATCH_LEVEL; }
  void ChargeCall();

  // Lifecycle (runtime.cc).
  // Whether `offer` is one `channel` may bind to: its interface type, and its
  // instance (a primary that set one) or its primary's bound instance (a
  // sub-channel, `primary` not null).
  static bool OfferFits(const Channel& channel, const Channel* primary, const fabric::OfferChannel& offer);
  void TryBindClient(Channel& channel);
  void OnOffer(uint16_t guest, uint32_t relid);
  void OnRescind(uint16_t guest, uint32_t relid);
  void OnAttached(uint16_t guest, uint32_t relid);
  void OnDetaching(uint16_t guest, uint32_t relid);
  void OnOpenGate(uint16_t guest, uint32_t relid, fabric::Fabric::OpenDone done);
  void ClientOpenResult(Channel& channel, uint32_t status);
  void StartClientOpen(Channel& channel);
  // G10: a client's ring sizes in data pages (each ring also has its control
  // page, as EMCL allocates In + Out + 2 pages): the counts it asked for,
  // grown so that one packet of MaximumPacketSize
  // (with GPA ranges for its declared external data) passes the writer's
  // size rule (fabric::RingDataPageCountFor with options_.writer_size_rule).
  struct RingPages {
    uint64_t outgoing = 0;
    uint64_t incoming = 0;
  };
  RingPages ClientRingPages(const Channel& channel) const;
  void TRun(Channel& channel);
  // `teardown` names what stops it ("VmbChannelPause", "VmbChannelDisable",
  // "peer close", "rescind"; static storage) for a finding if it hangs.
  void TStop(Channel& channel, const char* teardown);
  // Transaction ids of `channel`'s indicated packets not yet completed, in
  // the order they were indicated.
  std::vector<uint64_t> UncompletedIds(const Channel& channel) const;
  // ChannelPolicy::unstick_period: arms the channel's re-check timer unless
  // it is armed; the timer re-checks the ring and re-arms while needed.
  void ArmUnstick(Channel& channel);
  void OnUnstickTimer(uint64_t channel_handle);
  void TClose(Channel& channel, bool peer_gone, const char* teardown);
  void InvokeStateCallback(Channel& channel, PFN_VMB_CHANNEL_SUSPEND fn);
  // Opens the channel's Opened..Closed window and calls EvtChannelOpened
  // (STATUS_SUCCESS when the driver set none). On the state worker.
  NTSTATUS InvokeOpened(Channel& channel);
  // A kmcl_state trace record for `channel` (fields as in runtime_internal.h).
  void EmitState(const Channel& channel, sim::SimTime time, uint32_t relid, uint64_t running = 0);
  // The channel of a Start / Pause / Disable; null (after reporting
  // kLifecycleCallInStateCallback with `callback_detail`) when the call comes
  // from one of its own state-change callbacks, or for a bad handle.
  Channel* FindForLifecycle(VMBCHANNEL handle, const char* function, const char* callback_detail);
  // Runs `job` on the channel's state worker and, if `wait`, blocks until it
  // has run.
  void RunTransition(Channel* channel, const char* function, std::function<void(Channel&)> job, bool wait);
  void DisableNow(Channel& channel);
  void ClientWireTeardown(Channel& channel, bool rescinded);
  void CancelOutgoing(Channel& channel, NTSTATUS status);
  void ReleaseRing(Channel& channel);
  void MaybeKick(Channel& channel);
  void WireEndpoint(Channel& channel);
  // Writes a scenario endpoint policy into the fabric endpoint's options.
  static void ApplyEndpointPolicy(const EndpointPolicy& policy, fabric::DataPathOptions* options);
  Channel* ServerChannelFor(uint16_t guest, uint32_t relid);
  Channel* ClientChannelFor(uint16_t guest, uint32_t relid);
  uint64_t AllocateGuestPages(uint16_t guest, uint64_t count);
  void FreeGuestPages(uint16_t guest, uint64_t first_pfn, uint64_t count);
  void DestroyChannel(Channel* channel);

  // Data path (runtime_io.cc).
  bool AcceptGate(Channel& channel);
  void OnPacket(Channel& channel, const fabric::ParsedPacket& packet);
  void OnBatchEnd(Channel& channel, uint32_t count);
  void Deliver(Channel& channel, Incoming& incoming);
  void RunPassiveBatch(Channel& channel);
  void RetireIncoming(Incoming& incoming);
  void OnCompletionPacket(Channel& channel, const fabric::ParsedPacket& packet);
  void FinishTransaction(Packet& packet, NTSTATUS status, const uint8_t* data, uint32_t size);
  // A PASSIVE thread's code runs in one event at its work item's start, and
  // its VP's clock runs ahead as it charges costs. A send it makes at local
  // time t would see the ring and the send queue as they were at the
  // event's time, and a send that has to queue would be visible in the
  // queue from then on, taken by whoever frees ring space before t: a
  // packet sent before the driver reached it. So before a send a thread
  // whose clock is ahead waits (its worker blocks) until simulated time
  // reaches its clock; the send is then decided on the ring as it is at t.
  // The wait ends the thread's work item, so PASSIVE work that became ready
  // on the VP meanwhile runs before the thread goes on: threads share a VP
  // at send granularity (a real scheduler slices coarser, by quantum; a
  // thread that sends in a long loop delays other threads less here).
  // Returns whether it waited. DISPATCH code cannot wait and is not held
  // back (its work items are short).
  bool CatchUpWithLocalClock();
  // Suspends `worker` (the calling fiber's) until something wakes it, and
  // restores this runtime's context when it resumes.
  void BlockWorker(Worker* worker);
  absl::Status SubmitSend(Packet& packet, Channel& channel, const void* buffer, uint32_t length,
                          std::vector<fabric::GpaRange> ranges, uint32_t flags, const char* function);
  void FlushSendQueue(Channel& channel);
  // Appends `send` to `channel`'s send queue, held (QueuedSend::held) when the
  // caller's VP clock is ahead of the simulator's, until that VP reaches it.
  void EnqueueSend(Channel& channel, QueuedSend send);
  // The held send `serial` of the channel `handle` is reached: it may leave.
  void ReleaseHeldSend(uint64_t handle, uint64_t serial);
  // The wire form of `packet` (its trans id and, when measured, its send
  // time as the tag).
  static fabric::OutgoingPacket WireFormOf(const Packet& packet);
  // The largest ring footprint the channel's outgoing ring takes (its
  // writer's packet_footprint_bytes_max), or 0 while that is unknown: a
  // server's ring before the open (the client sizes the rings).
  uint32_t OutgoingFootprintMax(const Channel& channel) const;
  // Empty when `packet`, of `geometry` (fabric::MeasurePacket of its wire
  // form), fits the outgoing ring, or the ring is unknown; otherwise why it
  // never can.
  std::string NeverFitsReason(const Channel& channel, const Packet& packet,
                              const absl::StatusOr<fabric::PacketGeometry>& geometry) const;
  // A send's admission: refuses a packet that can never fit (RefuseOversize
  // with STATUS_INVALID_BUFFER_SIZE), else says what its write will do,
  // asking the writer itself (CanWrite) so the Send record can say it first.
  enum class Admission : uint8_t {
    kQueue,     // Not tried: not open, sends wait before it, or the writer is blocked.
    kWriteNow,  // Open, nothing waiting, and the ring has room.
    kRingFull,  // Open, nothing waiting, but no room: the write is refused.
  };
  absl::StatusOr<Admission> AdmitSend(Channel& channel, const Packet& packet, const char* function);
  // A transaction starts: its Send trace record (queued or not) and, when
  // measured, its metering.
  void RecordSend(Channel& channel, Packet& packet, bool queued);
  // Writes `packet` into the ring: true if written, false if the ring is
  // full or the writer blocked, or an error (the endpoint failed).
  absl::StatusOr<bool> TryWrite(Channel& channel, Packet& packet);
  void AfterWritten(Channel& channel, Packet& packet);
  void PeerViolationFor(Channel& channel, std::string reason);
  // The channel's VP (callbacks, DPCs, completion routines, its workers)
  // becomes the VP its endpoint's drain runs on.
  void FollowDrain(Channel& channel);
  absl::StatusOr<std::vector<fabric::GpaRange>> RangesFromMdl(Channel& channel, PMDL mdl, uint32_t offset,
                                                              uint32_t length, bool force_length,
                                                              const char* function);
  void FreePacketObject(Packet* packet);
  // Transaction metrics: the figures `channel` counts into now (binding it
  // to its relid's figures first), or null while it has never been bound.
  ChannelTransactions* TransactionsOf(Channel& channel);
  // Points `channel` at its current relid's figures (a no-op while it has none).
  void BindTransactions(Channel& channel);
  void MeterSend(Channel& channel, Packet& packet, uint32_t bytes, bool queued, sim::SimTime now);
  void MeterSendFailed(Channel& channel);
  // Refuses an oversize send of `channel` at the call: an oversize_packet
  // finding, a failed send in the transaction metrics, `status` returned.
  absl::Status RefuseOversize(Channel& channel, const char* function, NTSTATUS status, std::string detail);
  void MeterDeliver(Channel& channel, Incoming& incoming, sim::SimTime now);
  void MeterComplete(Channel& channel, const Incoming& incoming);
  void MeterFinish(Channel& channel, Packet& packet, NTSTATUS status, sim::SimTime now);
  // Emits the Finish trace record of `packet`'s transaction and meters it.
  void RecordFinish(Channel& channel, Packet& packet, NTSTATUS status);
  Packet* PacketByValue(uint64_t value);
  static std::vector<uint64_t> SortedTransactionIds(const Channel& channel);
  void PostPassiveJob(Channel& channel);

  fabric::Fabric* const fabric_;
  const RuntimeOptions options_;
  Verifier verifier_;
  std::vector<std::unique_ptr<Device>> devices_;  // [partition]
  HandleTable<Channel> channels_;
  HandleTable<Packet> packets_;
  HandleTable<Incoming> completions_;
  // Handle values of incoming packets a close retired uncompleted
  // (force_retire_after): a later completion of one is
  // Rule::kCompletionAfterClose, not a double completion. Handle values are
  // never reused (generation counters), so the set only grows, by what
  // forced teardowns retire.
  std::set<uint64_t> retired_by_close_;
  std::map<uintptr_t, std::unique_ptr<Packet>> caller_packets_;  // VmbPacketInitialize storage.
  std::map<std::pair<uint16_t, uint32_t>, Channel*> server_by_relid_;
  std::map<std::pair<uint16_t, uint32_t>, Channel*> client_by_relid_;
  std::vector<std::unique_ptr<fabric::VmbusClientListener>> listeners_;
  std::vector<std::unique_ptr<Worker>> passive_workers_;  // RunPassive; finished ones are reaped.
  // Workers blocked in WaitUntil, by wait key, each key's in the order they
  // began to wait (Notify wakes them in that order). Looked up, never
  // iterated in an order that matters.
  absl::flat_hash_map<const void*, absl::InlinedVector<Worker*, 1>> waiters_;
  std::vector<std::unique_ptr<Worker>> retired_workers_;
  // The run is over: set by ReleaseWorkers, after which WaitUntil returns
  // false at once instead of blocking or running events.
  bool ending_ = false;
  // RunTransition's jobs posted and not yet run, by ticket. Kept here, not
  // on the caller's stack: a caller still blocked when the run ends is a
  // fiber that never resumes, so what its frames own is never freed.
  std::set<uint64_t> transitions_pending_;
  uint64_t next_transition_ = 0;
  std::map<std::pair<uint16_t, uint32_t>, std::unique_ptr<GpadlRecord>> gpadls_;  // (guest, id).
  // Unmapped GPADL MDLs by address, kept for the runtime's life (one small
  // entry per unmap: drivers map a GPADL per open, not per request).
  std::map<uintptr_t, std::unique_ptr<UnmappedGpadlMdl>> unmapped_gpadl_mdls_;
  // Moves `record`'s mapping into unmapped_gpadl_mdls_. REQUIRES: mapped.
  void RetireGpadlMapping(GpadlRecord& record, uint32_t gpadl, const char* function);
  std::vector<uint64_t> next_free_pfn_;  // Per guest (index guest - 1).
  std::vector<std::vector<std::pair<uint64_t, uint64_t>>> free_page_runs_;  // Per guest: (pfn, count).
  Context context_;
  Runtime* previous_current_ = nullptr;
  bool made_current_ = false;
  int interface_references_ = 0;
  uint64_t next_kernel_handle_ = 0x100;
  std::vector<PeerViolation> peer_violations_;
  std::vector<CausalityViolation> causality_violations_;
  void CausalityViolationFor(const Channel& ch, uint64_t trans_id, sim::SimTime seen, int64_t cause_ns,
                             const char* what);
  RuntimeCounters counters_;
  std::map<std::pair<uint16_t, uint32_t>, EndpointTotals> endpoint_history_;
  // Counters at the last RestartTotals(), which TotalsFor subtracts.
  std::map<std::pair<uint16_t, uint32_t>, std::pair<fabric::DataPathCounters, fabric::DataPathCounters>>
      totals_baseline_;
  // Transaction metrics (transaction_metrics): by (guest, relid); a map, so
  // channels may keep pointers into it.
  std::map<std::pair<uint16_t, uint32_t>, ChannelTransactions> transactions_;
  uint64_t unfinished_sends_ = 0;
  std::vector<OfferRecord> offers_;
  std::vector<std::unique_ptr<Incoming>> incoming_pool_;
  std::vector<std::unique_ptr<Packet>> packet_pool_;
};

}  // namespace vmbsim::kmcl

#endif  // VMBSIM_KMCL_RUNTIME_H_
