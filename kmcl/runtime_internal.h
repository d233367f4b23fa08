// runtime_internal.h
//
// The objects behind the KMCL handles, shared by runtime.cc (lifecycle,
// workers, blocking) and runtime_io.cc (packets, GPADLs, save/restore).
// Nothing outside kmcl/ includes this file.

#ifndef VMBSIM_KMCL_RUNTIME_INTERNAL_H_
#define VMBSIM_KMCL_RUNTIME_INTERNAL_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "kmcl/runtime.h"
#include "kmcl/trace_kinds.h"
#include "sim/core/fiber.h"
#include "sim/core/ring_deque.h"
#include "sim/fabric/packet_format.h"

namespace vmbsim::kmcl {

enum class ConnState : uint8_t {
  kDisabled = 0,
  kEnabled = 1,     // Offered (server) / looking for or opening an offer (client).
  kOpen = 2,
  kPeerClosed = 3,  // Server only: the guest closed; the offer stands.
};
const char* ConnStateName(ConnState state);

enum class CallbackId : uint8_t {
  kOpened = 1,
  kClosed = 2,
  kSuspend = 3,
  kStarted = 4,
  kPostStarted = 5,
  kProcessingComplete = 6,
  kPnpFailure = 7,
};

// Inline, as both run several times per packet: every ContextScope makes
// two exchanges, and every KMCL call charges.
inline Runtime* Runtime::ExchangeCurrent(Runtime* runtime) { return std::exchange(current_runtime_, runtime); }

inline void Runtime::ChargeCall() {
  const sim::SimDuration cost = fabric_->costs().kmcl_call;
  // A zero cost (the `zero` profile) would move no clock; drivers make
  // several calls per packet, so skip charging it.
  if (cost.nanoseconds() == 0) return;
  if (context_.vp != nullptr && context_.vp->running()) context_.vp->Charge(cost);
}

// Sets what driver code runs now (IRQL, channel, packet, worker, VP) and
// makes the runtime current, for one scope.
class Runtime::ContextScope {
 public:
  ContextScope(Runtime* runtime, Context context)
      : runtime_(runtime), saved_(runtime->context_), previous_(ExchangeCurrent(runtime)) {
    runtime_->context_ = context;
  }
  ~ContextScope() {
    runtime_->context_ = saved_;
    ExchangeCurrent(previous_);
  }
  ContextScope(const ContextScope&) = delete;
  ContextScope& operator=(const ContextScope&) = delete;

 private:
  Runtime* const runtime_;
  const Context saved_;
  Runtime* const previous_;
};

// A PASSIVE execution context: a fiber whose slices run as PASSIVE work
// items on a VP. Jobs run in order; a job may block (Runtime::WaitUntil).
// The fiber lives while there are jobs (or one is blocked) and ends when
// they run out, so an idle worker holds no stack.
class Runtime::Worker {
 public:
  Worker(Runtime* runtime, fabric::VirtualProcessor* vp, std::string name);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void Post(std::function<void()> job);
  // A blocked worker re-checks its condition in a new slice.
  void Wake();
  void set_vp(fabric::VirtualProcessor* vp) { vp_ = vp; }
  fabric::VirtualProcessor* vp() const { return vp_; }
  bool idle() const { return state_ == State::kIdle && jobs_.empty(); }
  bool blocked() const { return state_ == State::kBlocked; }
  // Called by WaitUntil from inside the fiber.
  void BlockHere();
  // Stops scheduling; frees the stack when the fiber is not mid-job.
  void Retire();
  // Its partition reset (Runtime::ResetGuest): nothing of it runs again;
  // later jobs are dropped; a blocked fiber stays suspended for good.
  void Freeze();
  bool frozen() const { return frozen_; }
  // The run is over (Runtime::ReleaseWorkers): a fiber suspended in a KMCL
  // call is resumed, outside the run loop, and its wait fails (WaitUntil
  // returns false once the runtime is ending), so the driver's code goes on
  // through its error paths and frees what its frames own. With
  // `run_queued_jobs` the jobs still queued run after it, on the same terms
  // (a Destroy the run never reached); otherwise they are dropped.
  // Afterwards the worker holds no fiber. Nothing for a worker that is not
  // releasable().
  void Release(bool run_queued_jobs);
  // Has a suspended fiber or queued jobs, and is neither retired, frozen
  // nor running.
  bool releasable() const {
    return (fiber_ != nullptr || !jobs_.empty()) && state_ != State::kRunning && !retired_ && !frozen_;
  }
  const std::string& name() const { return name_; }

 private:
  enum class State : uint8_t { kIdle, kScheduled, kRunning, kBlocked };
  void Schedule();
  void Slice();
  void Body();

  Runtime* const runtime_;
  fabric::VirtualProcessor* vp_;
  const std::string name_;
  std::unique_ptr<sim::Fiber> fiber_;
  sim::RingDeque<std::function<void()>> jobs_;
  std::function<void()> current_;  // Kept off the fiber stack.
  State state_ = State::kIdle;
  bool retired_ = false;
  bool frozen_ = false;
  bool slice_queued_ = false;
};

struct Runtime::Packet {
  enum class State : uint8_t {
    kIdle = 0,
    kQueued = 1,      // In the channel's send queue.
    kInFlight = 2,    // In the ring, waiting for the peer's completion.
    kFinishing = 3,   // Written without WAIT; its completion routine is queued.
  };
  uint64_t handle = 0;          // The VMBPACKET value.
  bool caller_owned = false;    // From VmbPacketInitialize.
  uint64_t channel = 0;         // The channel's handle.
  PFN_VMB_PACKET_COMPLETION_ROUTINE routine = nullptr;
  bool routine_set = false;     // Allocated packets free themselves until set.
  void* pointer = nullptr;
  State state = State::kIdle;
  std::vector<uint8_t> inband;
  std::vector<fabric::GpaRange> ranges;
  uint32_t flags = 0;
  uint64_t trans_id = 0;
  // A synchronous request's wait state (internal packets only).
  struct Sync* sync = nullptr;
  bool restored = false;
  // Transaction metrics: the current send is measured and not yet finished,
  // and when it was made (ns).
  bool metered = false;
  int64_t sent_at_ns = 0;
  // The KMCL call that made the current send (static storage), for a
  // finding when the packet leaves the send queue.
  const char* send_function = "VmbPacketSend";
};

struct Runtime::Incoming {
  uint64_t handle = 0;
  uint64_t channel = 0;
  uint64_t trans_id = 0;
  bool completion_requested = false;
  bool external = false;
  std::vector<uint8_t> payload;
  std::vector<fabric::GpaRange> ranges;
  std::vector<uint8_t> client_context;
  std::vector<uint64_t> mdl_storage;  // MDLs and PFN arrays for GetExternalData.
  bool pended_once = false;
  bool defer_requested = false;
  bool redeliver = false;             // GetExternalData said STATUS_PENDING.
  bool completed_inline = false;      // Completed or failed during its ProcessPacket.
  // Transaction metrics: the sender's send time + 1 (fabric::ParsedPacket::tag;
  // 0 = not measured), and whether a delivery was counted already.
  uint64_t sent_tag = 0;
  bool delivery_metered = false;
  // The first ProcessPacket's time + 1 (0: not timed); the completion
  // carries it back as its tag, so the sender can check it is not early.
  uint64_t processed_tag = 0;
};

struct Sync {
  bool done = false;
  bool timed_out = false;
  NTSTATUS status = 0;
  std::vector<uint8_t> completion;
};

// One entry of a channel's send queue: a packet object, or a completion of a
// received packet that did not fit into the ring.
struct QueuedSend {
  Runtime::Packet* packet = nullptr;
  uint64_t trans_id = 0;
  std::vector<uint8_t> completion;
  uint64_t tag = 0;  // A completion's processed_tag.
  // Numbers the channel's queued sends in queue order (Runtime::EnqueueSend).
  uint64_t serial = 0;
  // Made inside a work item whose VP clock ran ahead of the simulator's: the
  // VP has not reached the call yet. It leaves the queue only once it has
  // (an effect at the VP's local time, which preemption of the item
  // delays), so a flush by work that preempted the sender (a DPC freeing
  // ring space) cannot send it early; the entries behind it wait in order.
  bool held = false;
};

struct GpadlRecord {
  uint64_t channel = 0;  // The client channel that created it.
  uint16_t guest = 0;
  uint32_t relid = 0;
  uintptr_t va = 0;      // The driver's buffer.
  uint32_t size = 0;
  uint32_t byte_offset = 0;
  std::vector<uint64_t> pfns;
  bool read_only = false;
  bool pages_owned = false;  // Allocated by the runtime (buffer form).
  bool mapped = false;
  uint64_t mapped_by = 0;             // The server channel holding the mapping.
  std::vector<uint64_t> mdl_storage;  // The server's mapping.
};

// An MDL that VmbChannelMapGpadl returned and VmbChannelUnmapGpadl (or a
// delete with the host gone) took back. Its storage outlives the mapping, so
// a server that still holds the pointer reads stale but valid memory, and
// MmGetSystemAddressForMdlSafe recognises it (Rule::kGpadlUseAfterUnmap)
// instead of handing out the client's buffer.
struct UnmappedGpadlMdl {
  std::vector<uint64_t> storage;  // The MDL; MappedSystemVa cleared.
  uint32_t gpadl = 0;
  uint16_t guest = 0;
  uint32_t relid = 0;
  uint64_t server_channel = 0;    // The channel that had it mapped.
  uint64_t client_channel = 0;    // The channel that created the GPADL.
  sim::SimTime unmapped_at;
  const char* unmapped_by = "";   // The call that took the mapping back.
};

struct Runtime::Channel {
  uint64_t handle = 0;
  uint16_t partition = 0;
  bool is_server = false;
  PDEVICE_OBJECT parent = nullptr;

  // Configuration (Init* setters).
  uint32_t max_packet_size = 0;
  uint32_t max_external_data = 0;
  uint32_t max_chain_length = 0;
  uint32_t client_context_size = 0;
  uint32_t init_flags = 0;
  PFN_VMB_CHANNEL_PROCESS_PACKET process_packet = nullptr;
  PFN_VMB_CHANNEL_PROCESSING_COMPLETE processing_complete = nullptr;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks = {};
  std::u16string friendly_name;
  bool passive = false;
  uint32_t quota = 0;
  void* pointer = nullptr;
  uint32_t incoming_pages = 0;  // Data pages (G10).
  uint32_t outgoing_pages = 0;
  bool target_set = false;
  GUID interface_type = {};
  GUID interface_instance = {};
  bool instance_set = false;
  PFN_VMB_CHANNEL_PNP_FAILURE pnp_failure = nullptr;
  uint32_t server_flags = 0;
  uint16_t mmio_megabytes = 0;
  uint16_t mmio_megabytes_optional = 0;
  uint8_t target_vtl = 0;
  uint16_t target_guest = 0;  // Server: from the VMBus handle (0 = not set).
  PFN_VMB_CHANNEL_SAVE_PACKET save_packet = nullptr;
  PFN_VMB_CHANNEL_RESTORE_PACKET restore_packet = nullptr;
  uint64_t primary = 0;       // Sub-channel: the primary's handle.
  int64_t target_vp = -1;     // Client: VmbClientChannelInitSetTargetProcessorIndex.
  ChannelPolicy policy;       // What the scenario asked for at Enable.
  uint16_t next_sub_index = 0;

  // State (spec §7.2).
  ConnState conn = ConnState::kDisabled;
  bool run_wanted = false;
  bool start_paused = false;
  bool running = false;
  bool suspended = false;       // Between EvtChannelSuspend and the next Started.
  bool in_state_callback = false;
  CallbackId current_callback = CallbackId::kOpened;
  bool open_window = false;     // EvtChannelOpened .. EvtChannelClosed, inclusive.
  bool opening = false;         // Client: GPADL / OPENCHANNEL outstanding.
  bool queue_failed = false;    // VmbChannelPacketFail stopped the queue.
  bool deferring = false;       // G18: the drain feeds the packet worker.
  bool closing_locally = false;
  bool quota_stalled = false;
  // A Pause / Disable / peer close waiting in T-stop for the driver to
  // complete indicated packets: which (static storage; null when none) and
  // since when; whether ReportHungTeardowns has reported it.
  // Client: the channel has run (T-run) since its endpoint was attached;
  // before it, ChannelPolicy::early_signal_drop drops doorbells.
  bool started_since_attach = false;
  bool unstick_armed = false;  // ChannelPolicy::unstick_period's timer is pending.
  const char* teardown_waiting = nullptr;
  sim::SimTime teardown_since;
  bool teardown_reported = false;
  // Client: its guest reset (Runtime::ResetGuest). Nothing of it runs again;
  // the abandoned driver's Disable and Cleanup only free it.
  bool frozen = false;

  // Fabric binding.
  uint16_t guest = 0;
  uint32_t relid = 0;
  fabric::ChannelDataPath* endpoint = nullptr;
  fabric::VirtualProcessor* vp = nullptr;
  uint32_t ring_gpadl = 0;
  uint64_t ring_first_pfn = 0;
  uint64_t ring_page_count = 0;      // Both rings, control pages included.
  uint32_t outgoing_ring_pages = 0;  // The guest->host ring, control page included.
  GUID bound_instance = {};
  uint16_t sub_channel_index = 0;

  // Traffic.
  uint32_t outstanding = 0;  // Incoming packets taken and not yet completed, failed or retired.
  std::deque<uint64_t> passive_queue;  // Incoming handles; 0 = end of a batch.
  std::vector<uint32_t> passive_batch_counts;
  bool passive_job_posted = false;
  uint32_t batch_delivered = 0;
  sim::RingDeque<QueuedSend> send_queue;
  uint64_t next_send_serial = 0;  // QueuedSend::serial.
  // By transaction id. Hash order is never observed: walks sort the ids first.
  absl::flat_hash_map<uint64_t, Packet*> in_flight;
  std::set<uint64_t> abandoned_trans;     // Timed-out sync requests: late completions are absorbed.
  uint64_t next_trans_id = 0;
  std::set<uint32_t> gpadls;              // Client: created, not deleted.
  // Transaction metrics (Runtime::TransactionsOf): the figures of the
  // (guest, relid) it was last bound to; before any binding, its sends.
  ChannelTransactions* metrics = nullptr;
  uint16_t metrics_guest = 0;
  uint32_t metrics_relid = 0;
  struct {
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint64_t queued = 0;
    uint64_t failed = 0;  // DirectionTransactions::sends_failed.
  } unbound_sends;

  // Save / restore.
  std::vector<std::vector<uint8_t>> save_chunks;
  size_t save_next = 0;
  bool saving = false;
  bool restore_done = false;

  std::unique_ptr<Runtime::Worker> state_worker;
  std::unique_ptr<Runtime::Worker> packet_worker;
};

// Chunked save format (private; G12). Each chunk: u32 length, u32 kind, body.
inline constexpr uint32_t kSaveChunkHeader = 1;
inline constexpr uint32_t kSaveChunkPacket = 2;
inline constexpr uint32_t kSaveChunkEnd = 3;

}  // namespace vmbsim::kmcl

#endif  // VMBSIM_KMCL_RUNTIME_INTERNAL_H_
