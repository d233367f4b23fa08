// runtime.cc: the KMCL runtime's world (device objects, workers, blocking),
// the channel lifecycle (spec §7: Allocate, Init setters, Enable, open, run,
// stop, close, rescind, Cleanup) and the fabric hooks. The data path lives
// in runtime_io.cc.

#include <algorithm>
#include <deque>
#include <cstring>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kmcl/interface_tables.h"
#include "kmcl/ntstatus.h"
#include "kmcl/runtime.h"
#include "kmcl/runtime_internal.h"
#include "sim/check.h"

namespace vmbsim::kmcl {
namespace {

constexpr uint64_t kPageBytes = 4096;

bool SameGuid(const GUID& a, const GUID& b) { return std::memcmp(&a, &b, sizeof(GUID)) == 0; }

fabric::Guid ToFabricGuid(const GUID& g) {
  fabric::Guid out;
  static_assert(sizeof(GUID) == 16);
  std::memcpy(out.bytes.data(), &g, 16);  // Both are the little-endian wire form.
  return out;
}

GUID FromFabricGuid(const fabric::Guid& g) {
  GUID out;
  std::memcpy(&out, g.bytes.data(), 16);
  return out;
}

// VMBus handles are small non-zero values naming a guest: 0x1000 + guest.
constexpr uintptr_t kVmbusHandleBase = 0x1000;

}  // namespace

const char* ConnStateName(ConnState state) {
  switch (state) {
    case ConnState::kDisabled: return "disabled";
    case ConnState::kEnabled: return "enabled";
    case ConnState::kOpen: return "open";
    case ConnState::kPeerClosed: return "peer_closed";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------
// Context: what driver code runs now.

// ---------------------------------------------------------------------------
// Workers.

Runtime::Worker::Worker(Runtime* runtime, fabric::VirtualProcessor* vp, std::string name)
    : runtime_(runtime), vp_(vp), name_(std::move(name)) {
  VMBSIM_CHECK(vp != nullptr);
}

namespace {

// The stacks of threads a guest reset froze in the middle of a KMCL call
// (Runtime::ResetGuest). Such a fiber is never resumed, so what its frames
// hold (a GPADL record being created, a request's buffer) is never freed
// by them; the stack is kept, unfreed, until the process ends, as memory
// the reset guest lost, so that everything it points to stays reachable
// rather than leaking in pieces. A run holds one per thread frozen mid-call.
// A process that runs many runs (a swarm's worker) keeps the last
// kFrozenStacksKept; an older one is freed, and what it held is lost.
constexpr size_t kFrozenStacksKept = 64;
void KeepFrozenStack(std::unique_ptr<sim::Fiber> fiber) {
  static auto* const kept = new std::deque<std::unique_ptr<sim::Fiber>>();
  kept->push_back(std::move(fiber));
  if (kept->size() > kFrozenStacksKept) kept->pop_front();
}

}  // namespace

Runtime::Worker::~Worker() {
  if (frozen_ && fiber_ != nullptr && !fiber_->finished()) KeepFrozenStack(std::move(fiber_));
}

void Runtime::Worker::Post(std::function<void()> job) {
  if (frozen_) return;
  VMBSIM_CHECK(!retired_);
  jobs_.push_back(std::move(job));
  if (state_ == State::kIdle) Schedule();
}

void Runtime::Worker::Wake() {
  if (state_ == State::kBlocked && !retired_ && !frozen_) Schedule();
}

void Runtime::Worker::Schedule() {
  state_ = State::kScheduled;
  if (slice_queued_) return;
  slice_queued_ = true;
  vp_->Queue(fabric::Irql::kPassive, sim::SimDuration::Zero(), [this] { Slice(); });  // Workers outlive their VP items (retired, not freed).
}

void Runtime::Worker::Slice() {
  slice_queued_ = false;
  if (retired_ || frozen_ || state_ != State::kScheduled) return;
  if (fiber_ == nullptr) fiber_ = std::make_unique<sim::Fiber>([this] { Body(); });
  state_ = State::kRunning;
  {
    ContextScope scope(runtime_, Context{.irql = PASSIVE_LEVEL, .worker = this, .vp = vp_});
    fiber_->Resume();
  }
  // Body ran out of jobs: the fiber is done, and its stack goes back to the
  // pool for the next worker that runs (sim::Fiber); the next job gets a new
  // fiber. So only workers blocked in virtual time hold a stack.
  if (fiber_->finished()) fiber_.reset();
  if (state_ == State::kRunning) state_ = State::kIdle;
  if (state_ == State::kIdle && !jobs_.empty()) Schedule();
}

void Runtime::Worker::Body() {
  while (!jobs_.empty()) {
    current_ = std::move(jobs_.front());
    jobs_.pop_front();
    current_();
    current_ = nullptr;
  }
  state_ = State::kIdle;
}

void Runtime::Worker::BlockHere() {
  state_ = State::kBlocked;
  sim::Fiber::Suspend();
  state_ = State::kRunning;
}

void Runtime::Worker::Freeze() {
  frozen_ = true;
  jobs_.clear();
  if (state_ != State::kBlocked && state_ != State::kRunning) fiber_.reset();
}

void Runtime::Worker::Release(bool run_queued_jobs) {
  if (!run_queued_jobs) jobs_.clear();
  if (!releasable()) return;
  if (fiber_ == nullptr) fiber_ = std::make_unique<sim::Fiber>([this] { Body(); });
  state_ = State::kRunning;
  {
    ContextScope scope(runtime_, Context{.irql = PASSIVE_LEVEL, .worker = this, .vp = vp_});
    fiber_->Resume();
  }
  VMBSIM_CHECK(fiber_->finished());  // Nothing blocks once the runtime is ending.
  fiber_.reset();
  state_ = State::kIdle;
}

void Runtime::Worker::Retire() {
  retired_ = true;
  jobs_.clear();
  if (state_ != State::kBlocked && state_ != State::kRunning) fiber_.reset();
}

// ---------------------------------------------------------------------------
// Construction.

namespace {

class ClientListener : public fabric::VmbusClientListener {
 public:
  ClientListener(std::function<void(uint32_t)> on_offer, std::function<void(uint32_t)> on_rescind)
      : on_offer_(std::move(on_offer)), on_rescind_(std::move(on_rescind)) {}
  void OnOffer(const fabric::OfferChannel& offer) override { on_offer_(offer.child_relid); }
  void OnRescind(uint32_t relid) override { on_rescind_(relid); }

 private:
  std::function<void(uint32_t)> on_offer_;
  std::function<void(uint32_t)> on_rescind_;
};

}  // namespace

Runtime::Runtime(fabric::Fabric* fabric, RuntimeOptions options)
    : fabric_(fabric),
      options_(std::move(options)),
      channels_(kChannelHandleTag, "channel"),
      packets_(kPacketHandleTag, "packet"),
      completions_(kPacketCompletionHandleTag, "packet completion") {
  VMBSIM_CHECK(fabric != nullptr);
  verifier_.SetFatal(options_.fatal_findings);
  verifier_.SetTraceSink(&sim().tracer());
  const uint16_t partitions = static_cast<uint16_t>(fabric_->guest_count() + 1);
  for (uint16_t p = 0; p < partitions; ++p) {
    auto device = std::make_unique<Device>();
    device->object = _DEVICE_OBJECT{.magic = kDeviceObjectMagic, .runtime = this, .partition = p};
    devices_.push_back(std::move(device));
  }
  next_free_pfn_.assign(fabric_->guest_count(), options_.guest_page_base_pfn);
  free_page_runs_.resize(fabric_->guest_count());
  fabric_->SetChannelAttachedHook([this](uint16_t guest, uint32_t relid) { OnAttached(guest, relid); });
  fabric_->SetChannelDetachingHook([this](uint16_t guest, uint32_t relid) { OnDetaching(guest, relid); });
  fabric_->SetDataPathOptionsHook(
      [this](uint16_t guest, uint32_t relid, fabric::DataPathOptions* guest_end, fabric::DataPathOptions* host_end) {
        guest_end->writer_policy = options_.writer_policy;  // Both ends are KMCL's.
        host_end->writer_policy = options_.writer_policy;
        const Channel* ch = ServerChannelFor(guest, relid);
        if (ch == nullptr) return;
        if (ch->policy.guest_skips_recheck) guest_end->recheck_after_unmask = false;
        if (ch->policy.host_skips_recheck) host_end->recheck_after_unmask = false;
        if (ch->policy.guest_ignores_pending_send) guest_end->signal_blocked_writer = false;
        if (ch->policy.host_ignores_pending_send) host_end->signal_blocked_writer = false;
        ApplyEndpointPolicy(ch->policy.guest_end, guest_end);
        ApplyEndpointPolicy(ch->policy.host_end, host_end);
      });
  fabric_->SetOpenGate([this](uint16_t guest, uint32_t relid, fabric::Fabric::OpenDone done) {
    OnOpenGate(guest, relid, std::move(done));
  });
  for (uint16_t g = 1; g <= fabric_->guest_count(); ++g) {
    listeners_.push_back(std::make_unique<ClientListener>([this, g](uint32_t relid) { OnOffer(g, relid); },
                                                          [this, g](uint32_t relid) { OnRescind(g, relid); }));
    fabric_->client(g).SetListener(listeners_.back().get());
    if (options_.connect_guests) {
      fabric_->client(g).Connect(options_.max_version, [](absl::StatusOr<uint32_t>) {}).IgnoreError();
    }
  }
  if (current_runtime_ == nullptr) {
    current_runtime_ = this;
    made_current_ = true;
  }
}

Runtime::~Runtime() {
  // No ReleaseWorkers here: driver code it would resume may use what its
  // embedder has already destroyed (a test's locals); the embedder calls it
  // while that is alive (the scenario runner, after its teardown).
  fabric_->SetChannelAttachedHook(nullptr);
  fabric_->SetChannelDetachingHook(nullptr);
  fabric_->SetOpenGate(nullptr);
  fabric_->SetDataPathOptionsHook(nullptr);
  for (uint16_t g = 1; g <= fabric_->guest_count(); ++g) fabric_->client(g).SetListener(nullptr);
  verifier_.SetTraceSink(nullptr);
  if (made_current_ && current_runtime_ == this) current_runtime_ = nullptr;
}

// The callback's WDK name, or null when no driver code runs.
const char* Runtime::DriverCallbackName() const noexcept {
  if (context_.callback != nullptr) return context_.callback;
  switch (context_.kind) {
    case CallKind::kNone:
      return nullptr;
    case CallKind::kProcessPacket:
      return "EvtVmbChannelProcessPacket";
    case CallKind::kCompletionRoutine:
      return "EvtVmbPacketCompletionRoutine";
    case CallKind::kOther:
      return "driver code";
    case CallKind::kStateCallback:
      break;
  }
  if (context_.channel == nullptr) return "a channel state callback";
  switch (context_.channel->current_callback) {
    case CallbackId::kOpened:
      return "EvtVmbChannelOpened";
    case CallbackId::kClosed:
      return "EvtVmbChannelClosed";
    case CallbackId::kSuspend:
      return "EvtVmbChannelSuspend";
    case CallbackId::kStarted:
      return "EvtVmbChannelStarted";
    case CallbackId::kPostStarted:
      return "EvtVmbChannelPostStarted";
    case CallbackId::kProcessingComplete:
      return "EvtVmbChannelProcessingComplete";
    case CallbackId::kPnpFailure:
      return "EvtVmbChannelPnpFailure";
  }
  return "a channel state callback";
}

Runtime::DriverCode Runtime::DriverCodeRunning() const noexcept {
  DriverCode out{.callback = DriverCallbackName()};
  if (out.callback == nullptr) return out;
  if (context_.channel != nullptr) {
    out.partition = context_.channel->partition;
    out.relid = context_.channel->relid;
  }
  out.time_ns = CallerNow().nanoseconds();
  return out;
}

Runtime::Scope::Scope(Runtime* runtime) : previous_(current_runtime_) { current_runtime_ = runtime; }
Runtime::Scope::~Scope() { current_runtime_ = previous_; }

PDEVICE_OBJECT Runtime::device(uint16_t partition) { return &devices_.at(partition)->object; }

HANDLE Runtime::vmbus_handle(uint16_t guest) const {
  return reinterpret_cast<HANDLE>(kVmbusHandleBase + guest);
}

uint64_t Runtime::Now100ns() const {
  const sim::SimTime now = CallerNow();
  return static_cast<uint64_t>(now.nanoseconds() / 100);
}

void Runtime::StallExecution(sim::SimDuration duration) {
  if (context_.vp != nullptr && context_.vp->running()) context_.vp->Charge(duration);
}

void Runtime::RunPassive(uint16_t partition, uint32_t vp, std::function<void()> body) {
  fabric::Partition& part = partition == 0 ? fabric_->root() : fabric_->guest(partition);
  auto worker = std::make_unique<Worker>(this, &part.vp(vp), absl::StrCat("passive.", partition, ".", vp));
  worker->Post([this, body = std::move(body)] {
    const char* const saved = context_.callback;
    context_.callback = "a PASSIVE job run for the driver";
    body();
    context_.callback = saved;
  });
  passive_workers_.push_back(std::move(worker));
}

void Runtime::QueueDispatch(uint16_t partition, uint32_t vp, std::unique_ptr<DispatchBody> body) {
  fabric::Partition& part = partition == 0 ? fabric_->root() : fabric_->guest(partition);
  fabric::VirtualProcessor* processor = &part.vp(vp);
  processor->Queue(fabric::Irql::kDispatch, sim::SimDuration::Zero(), [this, processor, held = std::move(body)] {
    ContextScope scope(this, Context{.irql = DISPATCH_LEVEL, .kind = CallKind::kOther, .vp = processor,
                                     .callback = "a DPC run for the driver"});
    held->Run();
  });
}

size_t Runtime::blocked_worker_count() const {
  size_t count = 0;
  for (const auto& [key, workers] : waiters_) {
    for (const Worker* worker : workers) count += worker->blocked() ? 1 : 0;
  }
  return count;
}

// ---------------------------------------------------------------------------
// Blocking.

bool Runtime::WaitUntil(const char* function, uint64_t channel, absl::FunctionRef<bool()> done,
                        const void* wait_key) {
  if (done()) return true;
  if (ending_) return false;  // ReleaseWorkers: nothing waits any more.
  Worker* worker = context_.worker;
  if (worker != nullptr && sim::Fiber::InFiber()) {
    waiters_[wait_key].push_back(worker);
    bool held = true;
    while (!(held = done()) && !ending_) BlockWorker(worker);
    const auto it = waiters_.find(wait_key);
    VMBSIM_CHECK(it != waiters_.end());
    absl::InlinedVector<Worker*, 1>& workers = it->second;
    workers.erase(std::find(workers.begin(), workers.end(), worker));
    if (workers.empty()) waiters_.erase(it);
    return held;
  }
  if (AtDispatch() || sim().running()) {
    Channel* ch = nullptr;
    if (absl::StatusOr<Channel*> found = channels_.Lookup(channel); found.ok()) ch = *found;
    Report(ch, function, Rule::kBlockingCallAtDispatch, STATUS_INVALID_DEVICE_STATE,
           AtDispatch() ? "a blocking call at DISPATCH_LEVEL" : "a blocking call from an event that is not a worker")
        .IgnoreError();
    return false;
  }
  // Outside the run loop: run events until the condition holds.
  Scope scope(this);
  while (!done()) {
    if (sim().pending_count() == 0) return false;
    sim().Run(sim::RunLimits{.events_max = 1});
  }
  return true;
}

void Runtime::BlockWorker(Worker* worker) {
  const Context saved = context_;
  worker->BlockHere();
  context_ = saved;
  current_runtime_ = this;
}

void Runtime::ReleaseWorkers() {
  ending_ = true;
  // One worker at a time, the first releasable one in a fixed order
  // (RunPassive workers as started, then channels' workers by handle), so
  // the release is as deterministic as the run. A released driver may clean
  // up channels and start workers, so the search starts over each time.
  // Each release leaves its worker without a fiber or jobs, and nothing
  // blocks any more, so this ends unless driver code posts new passive work
  // for ever.
  for (;;) {
    Worker* next = nullptr;
    bool run_queued_jobs = true;  // Driver code RunPassive was given.
    for (const std::unique_ptr<Worker>& worker : passive_workers_) {
      if (worker->releasable()) {
        next = worker.get();
        break;
      }
    }
    if (next == nullptr) {
      // A channel's queued transitions and deliveries are the run's and
      // are dropped; a driver callback blocked in one of them returns.
      run_queued_jobs = false;
      for (const uint64_t handle : channels_.HandlesInIssueOrder()) {
        const Channel* const ch = channels_.Find(handle);
        if (ch == nullptr) continue;
        for (Worker* worker : {ch->state_worker.get(), ch->packet_worker.get()}) {
          if (next == nullptr && worker != nullptr && worker->releasable()) next = worker;
        }
        if (next != nullptr) break;
      }
    }
    if (next == nullptr) return;
    next->Release(run_queued_jobs);
  }
}

void Runtime::Notify(const void* wait_key) {
  const auto it = waiters_.find(wait_key);
  if (it == waiters_.end()) return;
  for (Worker* worker : it->second) worker->Wake();  // Wake only schedules: the list stays as it is.
}

// ---------------------------------------------------------------------------
// Lookups and findings.

absl::Status Runtime::Report(Channel* channel, const char* function, Rule rule, NTSTATUS status,
                             std::string detail) {
  const FindingPlace place = channel != nullptr ? FindingPlace{channel->handle, channel->partition, channel->relid}
                                                : FindingPlace{};
  return ReportAt(place, function, rule, status, std::move(detail));
}

absl::Status Runtime::ReportAt(FindingPlace place, const char* function, Rule rule, NTSTATUS status,
                               std::string detail) {
  Finding finding;
  finding.time = CallerNow();
  finding.channel = place.channel;
  finding.function = function;
  finding.rule = rule;
  finding.status = status;
  finding.partition = place.partition;
  finding.vp = CurrentVpIndex();
  finding.relid = place.relid;
  std::string message = absl::StrCat(function, ": ", detail, " (t=", finding.time.ToString(), ")");
  finding.detail = std::move(detail);
  if (verifier_.Report(std::move(finding))) sim().RequestStop();
  if (status == STATUS_SUCCESS) return absl::OkStatus();
  return KmclError(status, message);
}

inline Runtime::Channel* Runtime::LiveChannel(VMBCHANNEL handle) {
  Channel* live = channels_.Find(HandleValueOf(handle));
  if (live != nullptr) ChargeCall();
  return live;
}

absl::StatusOr<Runtime::Channel*> Runtime::FindChannel(VMBCHANNEL handle, const char* function) {
  if (Channel* live = LiveChannel(handle)) return live;
  return ChannelHandleError(handle, function);
}

absl::Status Runtime::ChannelHandleError(VMBCHANNEL handle, const char* function, NTSTATUS status) {
  // Lookup gives the reason (null, stale, foreign, ...).
  const absl::StatusOr<Channel*> found = channels_.Lookup(HandleValueOf(handle));
  VMBSIM_CHECK(!found.ok());  // Find and Lookup agree on what is live.
  VMBSIM_CHECK_NE(status, STATUS_SUCCESS);  // A bad handle always fails the call.
  return Report(nullptr, function, Rule::kStaleOrForeignHandle, status, std::string(found.status().message()));
}

absl::StatusOr<Runtime::Channel*> Runtime::FindForInit(VMBCHANNEL handle, const char* function, Role role) {
  // G3: every Init setter documents STATUS_INVALID_PARAMETER_1 for "a bad
  // channel handle or a channel in the wrong state"; a stale or made-up
  // handle is the first, so it gets _1 too, not the STATUS_INVALID_HANDLE of
  // other calls. The finding is the same stale_or_foreign_handle.
  Channel* ch = LiveChannel(handle);
  if (ch == nullptr) return ChannelHandleError(handle, function, STATUS_INVALID_PARAMETER_1);
  if (role == Role::kServer && !ch->is_server) {
    return KmclError(STATUS_INVALID_PARAMETER_1, absl::StrCat(function, ": a client channel"));
  }
  if (role == Role::kClient && ch->is_server) {
    return KmclError(STATUS_INVALID_PARAMETER_1, absl::StrCat(function, ": a server channel"));
  }
  VMBSIM_RETURN_IF_ERROR(InitSetterGuard(ch, function));
  return ch;
}

absl::Status Runtime::InitSetterGuard(Channel* channel, const char* function) {
  if (channel->conn != ConnState::kDisabled) {
    return Report(channel, function, Rule::kInitSetterWrongState, STATUS_INVALID_PARAMETER_1,
                  absl::StrCat("Init setter on a channel that is ", ConnStateName(channel->conn),
                               " (legal only while disabled)"));
  }
  return absl::OkStatus();
}

Runtime::Channel* Runtime::ServerChannelFor(uint16_t guest, uint32_t relid) {
  auto it = server_by_relid_.find({guest, relid});
  return it == server_by_relid_.end() ? nullptr : it->second;
}

Runtime::Channel* Runtime::ClientChannelFor(uint16_t guest, uint32_t relid) {
  auto it = client_by_relid_.find({guest, relid});
  return it == client_by_relid_.end() ? nullptr : it->second;
}

fabric::ChannelDataPath* Runtime::EndpointOf(VMBCHANNEL handle) {
  absl::StatusOr<Channel*> found = channels_.Lookup(HandleValueOf(handle));
  return found.ok() ? (*found)->endpoint : nullptr;
}

std::string Runtime::StateOf(VMBCHANNEL handle) {
  absl::StatusOr<Channel*> found = channels_.Lookup(HandleValueOf(handle));
  if (!found.ok()) return "invalid";
  return ConnStateName((*found)->conn);
}

std::vector<Runtime::ChannelDebugState> Runtime::DebugStates() const {
  std::vector<ChannelDebugState> states;
  channels_.ForEach([&states](uint64_t handle, const Channel& ch) {
    states.push_back(ChannelDebugState{.handle = handle,
                                       .partition = ch.partition,
                                       .guest = ch.guest,
                                       .relid = ch.relid,
                                       .is_server = ch.is_server,
                                       .state = ch.frozen ? "frozen (guest reset)" : ConnStateName(ch.conn),
                                       .running = ch.running,
                                       .queued_sends = ch.send_queue.size(),
                                       .open_transactions = ch.in_flight.size(),
                                       .packets_held = ch.outstanding,
                                       .quota = ch.quota});
  });
  std::sort(states.begin(), states.end(), [](const ChannelDebugState& a, const ChannelDebugState& b) {
    return std::tie(a.guest, a.relid, a.partition, a.handle) < std::tie(b.guest, b.relid, b.partition, b.handle);
  });
  return states;
}

uint32_t Runtime::RelidOf(VMBCHANNEL handle) {
  absl::StatusOr<Channel*> found = channels_.Lookup(HandleValueOf(handle));
  return found.ok() ? (*found)->relid : 0;
}

// ---------------------------------------------------------------------------
// Guest pages for rings and GPADL buffers: a first-fit list of freed runs,
// then a bump pointer. Deterministic.

uint64_t Runtime::AllocateGuestPages(uint16_t guest, uint64_t count) {
  auto& runs = free_page_runs_.at(guest - 1);
  for (auto it = runs.begin(); it != runs.end(); ++it) {
    if (it->second >= count) {
      const uint64_t pfn = it->first;
      it->first += count;
      it->second -= count;
      if (it->second == 0) runs.erase(it);
      return pfn;
    }
  }
  const uint64_t pfn = next_free_pfn_.at(guest - 1);
  next_free_pfn_[guest - 1] += count;
  return pfn;
}

void Runtime::FreeGuestPages(uint16_t guest, uint64_t first_pfn, uint64_t count) {
  if (count == 0) return;
  auto& runs = free_page_runs_.at(guest - 1);
  runs.emplace_back(first_pfn, count);
  std::sort(runs.begin(), runs.end());
}

std::vector<uint64_t> Runtime::SortedTransactionIds(const Channel& ch) {
  std::vector<uint64_t> ids;
  ids.reserve(ch.in_flight.size());
  for (const auto& [id, packet] : ch.in_flight) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

// ---------------------------------------------------------------------------
// Allocate, Init setters, Cleanup.

absl::StatusOr<VMBCHANNEL> Runtime::ChannelAllocate(PDEVICE_OBJECT parent, bool is_server) {
  constexpr const char* kFn = "VmbChannelAllocate";
  if (AtDispatch()) {
    return Report(nullptr, kFn, Rule::kIrqlViolation, STATUS_INVALID_DEVICE_STATE, "called above PASSIVE_LEVEL");
  }
  if (is_server && parent->partition != 0) {
    return KmclError(STATUS_INVALID_PARAMETER_2,
                     absl::StrCat(kFn, ": a server channel needs the root partition's device (partition ",
                                  parent->partition, " given)"));
  }
  if (!is_server && parent->partition == 0) {
    return KmclError(STATUS_INVALID_PARAMETER_2,
                     absl::StrCat(kFn, ": a client channel needs a guest partition's device (root given)"));
  }
  auto channel = std::make_unique<Channel>();
  Channel* ch = channel.get();
  ch->partition = parent->partition;
  ch->is_server = is_server;
  ch->parent = parent;
  ch->max_packet_size = options_.max_packet_size_default;
  ch->quota = is_server ? options_.server_quota_default : options_.client_quota_default;
  ch->incoming_pages = options_.ring_page_count_default;
  ch->outgoing_pages = options_.ring_page_count_default;
  ch->run_wanted = !is_server;
  ch->guest = is_server ? 0 : parent->partition;
  fabric::Partition& part = is_server ? fabric_->root() : fabric_->guest(parent->partition);
  ch->vp = &part.vp(0);
  VMBSIM_ASSIGN_OR_RETURN(const uint64_t handle, channels_.Insert(std::move(channel)));
  ch->handle = handle;
  ch->state_worker = std::make_unique<Worker>(this, ch->vp, absl::StrCat("state.", handle));
  ch->packet_worker = std::make_unique<Worker>(this, ch->vp, absl::StrCat("packets.", handle));
  ++counters_.channels_allocated;
  return DriverHandleOf<VMBCHANNEL>(handle);
}

void Runtime::ChannelCleanup(VMBCHANNEL handle) {
  constexpr const char* kFn = "VmbChannelCleanup";
  absl::StatusOr<Channel*> found = FindChannel(handle, kFn);
  if (!found.ok()) return;
  Channel* ch = *found;
  if (ch->conn != ConnState::kDisabled) {
    Report(ch, kFn, Rule::kCleanupNotDisabled, STATUS_SUCCESS,
           absl::StrCat("the channel is ", ConnStateName(ch->conn), "; call VmbChannelDisable first"))
        .IgnoreError();
    return;
  }
  DestroyChannel(ch);
}

void Runtime::DestroyChannel(Channel* ch) {
  // Packet objects of the channel go with it (the library's lookaside list);
  // caller-owned storage is only forgotten.
  for (uint64_t handle : packets_.HandlesInIssueOrder()) {
    absl::StatusOr<Packet*> packet = packets_.Lookup(handle);
    if (packet.ok() && (*packet)->channel == ch->handle) packets_.Remove(handle).IgnoreError();
  }
  for (auto it = caller_packets_.begin(); it != caller_packets_.end();) {
    it = it->second->channel == ch->handle ? caller_packets_.erase(it) : std::next(it);
  }
  for (uint64_t handle : completions_.HandlesInIssueOrder()) {
    absl::StatusOr<Incoming*> inc = completions_.Lookup(handle);
    if (inc.ok() && (*inc)->channel == ch->handle) completions_.Remove(handle).IgnoreError();
  }
  ch->state_worker->Retire();
  ch->packet_worker->Retire();
  retired_workers_.push_back(std::move(ch->state_worker));
  retired_workers_.push_back(std::move(ch->packet_worker));
  channels_.Remove(ch->handle).IgnoreError();
}

absl::Status Runtime::InitSetMaximumPacketSize(VMBCHANNEL handle, uint32_t size) {
  constexpr const char* kFn = "VmbChannelInitSetMaximumPacketSize";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindForInit(handle, kFn, Role::kEither));
  if (size == 0) return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": PacketSize is 0"));
  ch->max_packet_size = size;
  return absl::OkStatus();
}

absl::Status Runtime::InitSetMaximumExternalData(VMBCHANNEL handle, uint32_t size, uint32_t chain_length) {
  constexpr const char* kFn = "VmbChannelInitSetMaximumExternalData";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindForInit(handle, kFn, Role::kEither));
  if (size == 0) return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": DataSize is 0"));
  if (chain_length == 0) return KmclError(STATUS_INVALID_PARAMETER_3, absl::StrCat(kFn, ": ChainLength is 0"));
  ch->max_external_data = size;
  ch->max_chain_length = chain_length;
  return absl::OkStatus();
}

absl::Status Runtime::InitSetClientContextSize(VMBCHANNEL handle, uint32_t size) {
  constexpr const char* kFn = "VmbChannelInitSetClientContextSize";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindForInit(handle, kFn, Role::kEither));
  if (size > (1u << 20)) {
    return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": ContextSize ", size, " above 1 MiB"));
  }
  ch->client_context_size = size;
  return absl::OkStatus();
}

absl::Status Runtime::InitSetProcessPacketCallbacks(VMBCHANNEL handle, PFN_VMB_CHANNEL_PROCESS_PACKET process,
                                                    PFN_VMB_CHANNEL_PROCESSING_COMPLETE complete) {
  constexpr const char* kFn = "VmbChannelInitSetProcessPacketCallbacks";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindForInit(handle, kFn, Role::kEither));
  if (process == nullptr) {
    return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": ProcessPacketCallback is NULL"));
  }
  ch->process_packet = process;
  ch->processing_complete = complete;
  return absl::OkStatus();
}

absl::Status Runtime::InitSetStateChangeCallbacks(VMBCHANNEL handle,
                                                  const VMB_CHANNEL_STATE_CHANGE_CALLBACKS* callbacks) {
  constexpr const char* kFn = "VmbChannelInitSetStateChangeCallbacks";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindForInit(handle, kFn, Role::kEither));
  if (callbacks == nullptr || callbacks->Version != 1 ||
      callbacks->Size != sizeof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS)) {
    return KmclError(STATUS_INVALID_PARAMETER_2,
                     absl::StrCat(kFn, ": need Version 1 and Size ", sizeof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS)));
  }
  ch->callbacks = *callbacks;  // The caller's struct may be on its stack.
  return absl::OkStatus();
}

absl::Status Runtime::InitSetFriendlyName(VMBCHANNEL handle, PCUNICODE_STRING name) {
  constexpr const char* kFn = "VmbChannelInitSetFriendlyName";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindForInit(handle, kFn, Role::kEither));
  if (name == nullptr || (name->Length != 0 && name->Buffer == nullptr) || name->Length % 2 != 0) {
    return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": malformed UNICODE_STRING"));
  }
  ch->friendly_name.assign(reinterpret_cast<const char16_t*>(name->Buffer), name->Length / 2);
  return absl::OkStatus();
}

absl::Status Runtime::InitSetFlags(VMBCHANNEL handle, uint32_t flags) {
  constexpr const char* kFn = "VmbChannelInitSetFlags";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindForInit(handle, kFn, Role::kEither));
  if ((flags & ~uint32_t{VMBUS_CHANNEL_INIT_FLAGS}) != 0) {
    return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": unknown flag bits 0x", absl::Hex(flags)));
  }
  ch->init_flags = flags;  // Replaces (spec §6.2 recommendation).
  return absl::OkStatus();
}

void Runtime::SetIncomingProcessingAtPassive(VMBCHANNEL handle, bool passive) {
  absl::StatusOr<Channel*> found = FindChannel(handle, "VmbChannelSetIncomingProcessingAtPassive");
  if (!found.ok()) return;
  (*found)->passive = passive;  // G7: takes effect for the next packet taken.
}

void Runtime::SetTransactionQuota(VMBCHANNEL handle, uint32_t quota) {
  constexpr const char* kFn = "VmbChannelSetTransactionQuota";
  absl::StatusOr<Channel*> found = FindChannel(handle, kFn);
  if (!found.ok()) return;
  if (quota == 0) {
    Report(*found, kFn, Rule::kCallInWrongState, STATUS_SUCCESS, "Quota must be > 0; ignored").IgnoreError();
    return;
  }
  // Never restarts a stalled queue by itself (§6.2): only a completion does.
  (*found)->quota = quota;
}

void Runtime::ChannelSetPointer(VMBCHANNEL handle, void* pointer) {
  absl::StatusOr<Channel*> found = FindChannel(handle, "VmbChannelSetPointer");
  if (found.ok()) (*found)->pointer = pointer;
}

void* Runtime::ChannelGetPointer(VMBCHANNEL handle) {
  // Drivers call this per packet: no status on the live path.
  if (Channel* live = LiveChannel(handle)) return live->pointer;
  ChannelHandleError(handle, "VmbChannelGetPointer").IgnoreError();  // Reported; the driver gets NULL.
  return nullptr;
}

absl::Status Runtime::ClientInitSetRingBufferPageCount(VMBCHANNEL handle, uint32_t incoming, uint32_t outgoing) {
  constexpr const char* kFn = "VmbClientChannelInitSetRingBufferPageCount";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindForInit(handle, kFn, Role::kClient));
  // G10: each count is the ring's data pages; the ring also takes its
  // control page, as in the Windows lineage, which allocates In + Out + 2
  // pages (microsoft/mu_msvm MsvmPkg/EmclDxe/Emcl.c,
  // `EmclInitializePacketLibrary`). A ring is at most 65536 pages.
  if (incoming < 1 || incoming > 65535) {
    return KmclError(STATUS_INVALID_PARAMETER_2,
                     absl::StrCat(kFn, ": IncomingPageCount ", incoming, " not in 1..65535 (data pages)"));
  }
  if (outgoing < 1 || outgoing > 65535) {
    return KmclError(STATUS_INVALID_PARAMETER_3,
                     absl::StrCat(kFn, ": OutgoingPageCount ", outgoing, " not in 1..65535 (data pages)"));
  }
  ch->incoming_pages = incoming;
  ch->outgoing_pages = outgoing;
  return absl::OkStatus();
}

absl::Status Runtime::ClientInitSetTargetPnp(VMBCHANNEL handle, const GUID* type, const GUID* instance,
                                             PFN_VMB_CHANNEL_PNP_FAILURE pnp_failure) {
  constexpr const char* kFn = "VmbClientChannelInitSetTargetPnp";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindForInit(handle, kFn, Role::kClient));
  if (type == nullptr) return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": InterfaceType is NULL"));
  ch->target_set = true;
  ch->interface_type = *type;
  ch->instance_set = instance != nullptr;
  ch->interface_instance = instance != nullptr ? *instance : GUID{};
  ch->pnp_failure = pnp_failure;
  return absl::OkStatus();
}

absl::Status Runtime::ServerInitSetTargetInterfaceId(VMBCHANNEL handle, const GUID& type, const GUID& instance) {
  constexpr const char* kFn = "VmbServerChannelInitSetTargetInterfaceId";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindForInit(handle, kFn, Role::kServer));
  ch->target_set = true;
  ch->interface_type = type;
  ch->interface_instance = instance;
  ch->instance_set = true;
  return absl::OkStatus();
}

absl::Status Runtime::ServerInitSetFlags(VMBCHANNEL handle, uint32_t flags) {
  constexpr const char* kFn = "VmbServerChannelInitSetFlags";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindForInit(handle, kFn, Role::kServer));
  if ((flags & ~uint32_t{VMBUS_SERVER_CHANNEL_INIT_FLAGS}) != 0) {
    return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": unknown flag bits 0x", absl::Hex(flags)));
  }
  ch->server_flags = flags;
  return absl::OkStatus();
}

absl::Status Runtime::ServerInitSetMmioMegabytes(VMBCHANNEL handle, uint16_t mmio, uint16_t optional_mmio) {
  constexpr const char* kFn = "VmbServerChannelInitSetMmioMegabytes";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindForInit(handle, kFn, Role::kServer));
  if (mmio == 0 && optional_mmio == 0) {  // G15: the prose rule.
    return KmclError(STATUS_INVALID_PARAMETER, absl::StrCat(kFn, ": both sizes are 0"));
  }
  ch->mmio_megabytes = mmio;
  ch->mmio_megabytes_optional = optional_mmio;
  return absl::OkStatus();
}

absl::Status Runtime::ServerInitSetTargetVtl(VMBCHANNEL handle, uint8_t vtl) {
  constexpr const char* kFn = "VmbServerChannelInitSetTargetVtl";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindForInit(handle, kFn, Role::kServer));
  if (vtl > 2) return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": VTL ", vtl, " not in 0..2"));  // G16.
  ch->target_vtl = vtl;
  return absl::OkStatus();
}

absl::Status Runtime::ServerInitSetVmbusHandle(VMBCHANNEL handle, HANDLE vmbus) {
  constexpr const char* kFn = "VmbServerChannelInitSetVmbusHandle";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindForInit(handle, kFn, Role::kServer));
  const uintptr_t value = reinterpret_cast<uintptr_t>(vmbus);
  if (value <= kVmbusHandleBase || value > kVmbusHandleBase + fabric_->guest_count()) {
    return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": not a VMBus handle of this fabric"));
  }
  ch->target_guest = static_cast<uint16_t>(value - kVmbusHandleBase);
  return absl::OkStatus();
}

absl::StatusOr<HANDLE> Runtime::ConvertVmbusHandleToKernelHandle(HANDLE vmbus) {
  const uintptr_t value = reinterpret_cast<uintptr_t>(vmbus);
  if (value <= kVmbusHandleBase || value > kVmbusHandleBase + fabric_->guest_count()) {
    return KmclError(STATUS_INVALID_PARAMETER_1, "VmbConvertVmbusHandleToKernelHandle: not a VMBus handle");
  }
  return vmbus;  // One handle per guest serves both forms in the model.
}

absl::Status Runtime::ServerInitSetSaveRestorePacketCallbacks(VMBCHANNEL handle, PFN_VMB_CHANNEL_SAVE_PACKET save,
                                                              PFN_VMB_CHANNEL_RESTORE_PACKET restore) {
  constexpr const char* kFn = "VmbServerChannelInitSetSaveRestorePacketCallbacks";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindForInit(handle, kFn, Role::kServer));
  ch->save_packet = save;
  ch->restore_packet = restore;
  return absl::OkStatus();
}

absl::Status Runtime::InitSetPrimaryChannel(VMBCHANNEL sub_handle, VMBCHANNEL primary_handle) {
  constexpr const char* kFn = "VmbChannelInitSetPrimaryChannel";
  VMBSIM_ASSIGN_OR_RETURN(Channel * sub, FindForInit(sub_handle, kFn, Role::kEither));
  // The second handle is the second parameter: a bad one is _2 (G3's rule).
  Channel* primary = LiveChannel(primary_handle);
  if (primary == nullptr) return ChannelHandleError(primary_handle, kFn, STATUS_INVALID_PARAMETER_2);
  if (primary->is_server != sub->is_server || primary->partition != sub->partition || primary == sub ||
      primary->primary != 0) {
    return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": not a primary of the same role and partition"));
  }
  sub->primary = primary->handle;
  return absl::OkStatus();
}

absl::Status Runtime::ClientInitSetTargetProcessorIndex(VMBCHANNEL handle, uint32_t vp) {
  constexpr const char* kFn = "VmbClientChannelInitSetTargetProcessorIndex";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindForInit(handle, kFn, Role::kClient));
  if (vp >= fabric_->guest(ch->partition).vp_count()) {
    return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": VP ", vp, " of ",
                                                              fabric_->guest(ch->partition).vp_count()));
  }
  ch->target_vp = vp;
  return absl::OkStatus();
}

PDEVICE_OBJECT Runtime::ParentDeviceOf(VMBCHANNEL handle) {
  absl::StatusOr<Channel*> found = FindChannel(handle, "VmbChannelGetParentDeviceObject");
  return found.ok() ? (*found)->parent : nullptr;
}

// ---------------------------------------------------------------------------
// Queries.

absl::StatusOr<GUID> Runtime::GetInterfaceInstance(VMBCHANNEL handle) {
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindChannel(handle, "VmbChannelGetInterfaceInstance"));
  if (ch->relid != 0) return ch->bound_instance;
  return ch->interface_instance;  // G: configured, else GUID_NULL.
}

absl::Status Runtime::GetMmioSpace(VMBCHANNEL handle, uint64_t* address, uint64_t* size) {
  constexpr const char* kFn = "VmbChannelGetMmioSpace";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindChannel(handle, kFn));
  *address = 0;
  *size = 0;
  if (ch->is_server || ch->relid == 0 || !ch->open_window) return absl::OkStatus();
  const fabric::OfferChannel* offer = fabric_->client(ch->guest).offer(ch->relid);
  if (offer == nullptr) return absl::OkStatus();
  const uint64_t megabytes = uint64_t{offer->mmio_megabytes} + offer->mmio_megabytes_optional;
  if (megabytes == 0) return absl::OkStatus();
  // G17: a guest-physical window per relid above 256 GiB, 4 GiB apart.
  *address = (uint64_t{256} << 30) + uint64_t{ch->relid - 1} * (uint64_t{4} << 30);
  *size = megabytes << 20;
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> Runtime::SizeofPacket(VMBCHANNEL handle) {
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindChannel(handle, "VmbChannelSizeofPacket"));
  // A 64-byte object header plus room for one full in-band payload, so the
  // documented floor (> MaxPacketSize + sizeof(PVOID)) always holds.
  return static_cast<uint32_t>(64 + ((uint64_t{ch->max_packet_size} + 7) & ~uint64_t{7}));
}

absl::StatusOr<uint16_t> Runtime::SetInterruptLatency(VMBCHANNEL handle, uint16_t latency_100ns) {
  constexpr const char* kFn = "VmbChannelSetInterruptLatency";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindChannel(handle, kFn));
  if (ch->is_server) {
    return KmclError(STATUS_INVALID_PARAMETER_1, absl::StrCat(kFn, ": guest (client) channels only"));
  }
  if (!ch->open_window) {
    return Report(ch, kFn, Rule::kInterruptLatencyOutsideOpen, STATUS_INVALID_DEVICE_STATE,
                  absl::StrCat("legal from EvtChannelOpened to EvtChannelClosed; the channel is ",
                               ConnStateName(ch->conn)));
  }
  const fabric::OfferChannel* offer = fabric_->client(ch->guest).offer(ch->relid);
  if (offer == nullptr || offer->monitor_id == fabric::kMonitorIdNone || (offer->monitor_allocated & 1) == 0) {
    return KmclError(STATUS_INVALID_DEVICE_REQUEST, absl::StrCat(kFn, ": the channel has no monitor id (G25)"));
  }
  fabric::MonitorPage& page = fabric_->monitor_page(ch->guest);
  const uint16_t previous = page.latency_100ns(offer->monitor_id);
  VMBSIM_RETURN_IF_ERROR(page.SetLatency(offer->monitor_id, latency_100ns));
  return previous;
}

absl::Status Runtime::QueryInterface(const GUID* type, INTERFACE* interface, uint16_t size, uint16_t version) {
  const bool client = SameGuid(*type, KMCL_CLIENT_INTERFACE_TYPE);
  const bool server = SameGuid(*type, KMCL_SERVER_INTERFACE_TYPE);
  if (!client && !server) return KmclError(STATUS_NOT_SUPPORTED, "VmbsimQueryInterface: unknown interface type");
  // G2: V1, and V5 with the V2-V5 members vmbsim implements (others NULL).
  const bool v5 = version == 5;
  const size_t needed = v5 ? (client ? sizeof(KMCL_CLIENT_INTERFACE_V5) : sizeof(KMCL_SERVER_INTERFACE_V5))
                           : (client ? sizeof(KMCL_CLIENT_INTERFACE_V1) : sizeof(KMCL_SERVER_INTERFACE_V1));
  if (version != 1 && !v5) {
    return KmclError(STATUS_NOT_SUPPORTED, absl::StrCat("VmbsimQueryInterface: version ", version,
                                                        " not served (V1 and V5 only, G2)"));
  }
  if (size < needed) {
    return KmclError(STATUS_NOT_SUPPORTED,
                     absl::StrCat("VmbsimQueryInterface: Size ", size, " below the V1 table's ", needed));
  }
  if (v5) {
    FillKmclInterfaceV5(server, this, interface, size);
  } else {
    FillKmclInterface(server, this, interface, size);
  }
  ++interface_references_;
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Enable / Start / Pause / Disable.

absl::Status Runtime::ChannelEnable(VMBCHANNEL handle) {
  constexpr const char* kFn = "VmbChannelEnable";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindChannel(handle, kFn));
  if (AtDispatch()) {
    return Report(ch, kFn, Rule::kBlockingCallAtDispatch, STATUS_INVALID_DEVICE_STATE, "called at DISPATCH_LEVEL");
  }
  if (ch->conn != ConnState::kDisabled) {
    return Report(ch, kFn, Rule::kCallInWrongState, STATUS_INVALID_DEVICE_STATE,
                  absl::StrCat("the channel is ", ConnStateName(ch->conn)));
  }
  if (ch->process_packet == nullptr) {
    return KmclError(STATUS_INVALID_DEVICE_STATE, absl::StrCat(kFn, ": no ProcessPacket callback was set"));
  }
  if ((ch->init_flags & VMBUS_CHANNEL_INIT_FLAG_IS_PIPE) != 0 ||
      (ch->server_flags & (VMBUS_SERVER_CHANNEL_INIT_FLAG_OFFER_AS_PIPE |
                           VMBUS_SERVER_CHANNEL_INIT_FLAG_TLNPI_PROVIDER_OFFER |
                           VMBUS_SERVER_CHANNEL_INIT_FLAG_LOOPBACK_OFFER)) != 0) {
    return KmclError(STATUS_NOT_SUPPORTED, absl::StrCat(kFn, ": pipe, hvsock and loopback offers are not modelled (G13, G27)"));
  }
  if (!ch->target_set && ch->primary == 0) {
    return KmclError(STATUS_INVALID_DEVICE_STATE, absl::StrCat(kFn, ": no interface type was set (",
                                                               ch->is_server ? "VmbServerChannelInitSetTargetInterfaceId"
                                                                             : "VmbClientChannelInitSetTargetPnp",
                                                               ")"));
  }
  Channel* primary = nullptr;
  if (ch->primary != 0) {
    absl::StatusOr<Channel*> found = channels_.Lookup(ch->primary);
    if (!found.ok() || (*found)->conn == ConnState::kDisabled) {
      return KmclError(STATUS_INVALID_DEVICE_STATE, absl::StrCat(kFn, ": the primary channel is not enabled"));
    }
    primary = *found;
    ch->interface_type = primary->interface_type;
    ch->interface_instance = primary->is_server ? primary->interface_instance : primary->bound_instance;
  }
  if (ch->is_server) {
    uint16_t guest = ch->target_guest;
    if (primary != nullptr) guest = primary->guest;
    if (guest == 0) {
      if (fabric_->guest_count() != 1) {
        return KmclError(STATUS_INVALID_DEVICE_STATE,
                         absl::StrCat(kFn, ": no VMBus handle set and the fabric has ", fabric_->guest_count(),
                                      " guests"));
      }
      guest = 1;  // vmbsim: with one guest the handle may be omitted.
    }
    fabric::OfferParams offer;
    offer.interface_id = ToFabricGuid(ch->interface_type);
    offer.instance_id = ToFabricGuid(ch->interface_instance);
    if (primary != nullptr) offer.sub_channel_index = ++primary->next_sub_index;
    if ((ch->server_flags & VMBUS_SERVER_CHANNEL_INIT_FLAG_ENUMERATE_DEVICE_INTERFACE) != 0) {
      offer.chn_flags |= fabric::kOfferFlagEnumerateDeviceInterface;  // Translated, not copied (§4.4).
    }
    offer.mmio_megabytes = ch->mmio_megabytes;
    offer.mmio_megabytes_optional = ch->mmio_megabytes_optional;
    offer.monitored = options_.offer_monitored;
    offer.interrupt_latency_100ns = options_.offer_interrupt_latency_100ns;
    if (options_.channel_policy) {
      const ChannelPolicy policy = options_.channel_policy(true, ch->interface_type, ch->interface_instance);
      ch->policy = policy;
      if (policy.monitored.has_value()) offer.monitored = *policy.monitored;
      if (policy.interrupt_latency_100ns.has_value()) offer.interrupt_latency_100ns = *policy.interrupt_latency_100ns;
      if (policy.dedicated_interrupt.has_value()) offer.is_dedicated_interrupt = *policy.dedicated_interrupt;
    }
    absl::StatusOr<uint32_t> relid = fabric_->server(guest).OfferChannel(offer);
    if (!relid.ok()) {
      return KmclError(STATUS_INVALID_DEVICE_STATE, absl::StrCat(kFn, ": offer refused: ", relid.status().message()));
    }
    ch->guest = guest;
    ch->relid = *relid;
    ch->sub_channel_index = offer.sub_channel_index;
    ch->bound_instance = ch->interface_instance;
    server_by_relid_[{guest, *relid}] = ch;
    offers_.push_back(OfferRecord{.guest = guest, .relid = *relid, .interface_type = ch->interface_type,
                                  .interface_instance = ch->interface_instance,
                                  .sub_channel_index = offer.sub_channel_index});
    // A scenario may place the host end (and its sub-channels') on a chosen
    // root VP; one out of range (a spec built in code) keeps the default.
    if (ch->policy.host_target_vp.has_value() && *ch->policy.host_target_vp < fabric_->root().vp_count()) {
      fabric_->SetHostVp(guest, *relid, *ch->policy.host_target_vp);
    }
    ch->vp = &fabric_->root().vp(fabric_->HostVpFor(guest, *relid));
    ch->state_worker->set_vp(ch->vp);
    ch->packet_worker->set_vp(ch->vp);
    ch->conn = ConnState::kEnabled;
  } else {
    if (options_.channel_policy) {
      ch->policy = options_.channel_policy(false, ch->interface_type, ch->interface_instance);
      if (ch->target_vp < 0 && ch->policy.guest_target_vp.has_value()) ch->target_vp = *ch->policy.guest_target_vp;
    }
    ch->conn = ConnState::kEnabled;
    ch->run_wanted = !ch->start_paused;  // The "start paused" latch (§6.1 Pause).
    ch->start_paused = false;
    TryBindClient(*ch);
  }
  EmitState(*ch, sim().Now(), ch->relid);
  return absl::OkStatus();
}

bool Runtime::OfferFits(const Channel& ch, const Channel* primary, const fabric::OfferChannel& offer) {
  if (!SameGuid(FromFabricGuid(offer.interface_id), ch.interface_type)) return false;
  if (primary != nullptr) {
    return offer.sub_channel_index != 0 && SameGuid(FromFabricGuid(offer.instance_id), primary->bound_instance);
  }
  if (offer.sub_channel_index != 0) return false;
  return !ch.instance_set || SameGuid(FromFabricGuid(offer.instance_id), ch.interface_instance);
}

void Runtime::TryBindClient(Channel& ch) {
  if (ch.conn != ConnState::kEnabled || ch.relid != 0 || ch.frozen) return;
  fabric::VmbusClient& client = fabric_->client(ch.guest);
  Channel* primary = nullptr;
  if (ch.primary != 0) {
    absl::StatusOr<Channel*> found = channels_.Lookup(ch.primary);
    if (!found.ok() || (*found)->relid == 0) return;  // Waits for the primary's offer.
    primary = *found;
  }
  for (uint32_t relid : client.relids()) {  // Ascending: the lowest match wins (G4).
    const fabric::OfferChannel* offer = client.offer(relid);
    if (offer == nullptr || client.rescinded(relid) || ClientChannelFor(ch.guest, relid) != nullptr) continue;
    if (client.channel_state(relid) != fabric::ClientChannelState::kOffered) continue;
    if (!OfferFits(ch, primary, *offer)) continue;
    ch.relid = relid;
    if (options_.transaction_metrics) BindTransactions(ch);  // Sends made while unbound land here.
    ch.bound_instance = FromFabricGuid(offer->instance_id);
    ch.sub_channel_index = offer->sub_channel_index;
    client_by_relid_[{ch.guest, relid}] = &ch;
    StartClientOpen(ch);
    return;
  }
}

void Runtime::OnOffer(uint16_t guest, uint32_t relid) {
  // Offers arrive as PASSIVE work on the client VP: any enabled client
  // channel still looking, and which this offer fits, gets a chance, in
  // handle order. (A channel the new offer does not fit has already looked
  // at every other offer; checking the fit first keeps a guest with many
  // channels from rescanning every offer for every channel at every offer.)
  const fabric::OfferChannel* offer = fabric_->client(guest).offer(relid);
  if (offer == nullptr) return;
  std::vector<uint64_t> looking;  // In handle order.
  channels_.ForEach([&](uint64_t handle, const Channel& ch) {
    if (!ch.is_server && ch.guest == guest && ch.conn == ConnState::kEnabled && ch.relid == 0 && !ch.frozen) {
      looking.push_back(handle);
    }
  });
  for (uint64_t handle : looking) {
    absl::StatusOr<Channel*> found = channels_.Lookup(handle);
    if (!found.ok()) continue;
    Channel* ch = *found;
    if (ch->is_server || ch->guest != guest || ch->conn != ConnState::kEnabled || ch->relid != 0) continue;
    const Channel* primary = nullptr;
    if (ch->primary != 0) {
      absl::StatusOr<Channel*> p = channels_.Lookup(ch->primary);
      if (!p.ok() || (*p)->relid == 0) continue;  // Waits for the primary's binding.
      primary = *p;
    }
    if (!OfferFits(*ch, primary, *offer)) continue;
    TryBindClient(*ch);
    if (ch->relid == relid) return;
  }
}

Runtime::RingPages Runtime::ClientRingPages(const Channel& ch) const {
  // The footprint of one maximum packet: descriptor 16, for external data a
  // GPA-direct header 8 and per range 8 + 8 per page, the payload padded to
  // 8, the trailer 8. A chain of c ranges carrying B bytes spans at most
  // ceil(B / 4096) + 2c - 1 pages: each range's own pages, ceil(b / 4096),
  // sum to under B / 4096 + c, and an offset into its first page can add
  // one more to each.
  uint64_t external_bytes = 0;
  if (ch.max_external_data != 0) {
    const uint64_t chain = std::max<uint32_t>(1, ch.max_chain_length);
    const uint64_t pages = (uint64_t{ch.max_external_data} + kPageBytes - 1) / kPageBytes + 2 * chain - 1;
    external_bytes = 8 + chain * 8 + pages * 8;
  }
  const uint64_t footprint_bytes =
      fabric::kDescriptorSizeBytes + external_bytes + fabric::RoundUpTo8(ch.max_packet_size) + fabric::kTrailerSizeBytes;
  // The writer's own function (ring_buffer.h) under the writers' rule: a
  // maximum packet always passes the writer's packet_footprint_bytes_max.
  const uint64_t pages_min = fabric::RingDataPageCountFor(options_.writer_size_rule, footprint_bytes);
  return RingPages{.outgoing = std::max<uint64_t>(ch.outgoing_pages, pages_min),
                   .incoming = std::max<uint64_t>(ch.incoming_pages, pages_min)};
}

void Runtime::StartClientOpen(Channel& ch) {
  fabric::VmbusClient& client = fabric_->client(ch.guest);
  const RingPages pages = ClientRingPages(ch);  // G10.
  const uint64_t outgoing = pages.outgoing;
  const uint64_t incoming = pages.incoming;
  // Data pages plus a control page per ring: In + Out + 2, the downstream
  // (host->guest) ring at page Out + 1 (EMCL `EmclInitializePacketLibrary`).
  ch.ring_page_count = outgoing + incoming + 2;
  ch.outgoing_ring_pages = static_cast<uint32_t>(outgoing + 1);
  ch.ring_first_pfn = AllocateGuestPages(ch.guest, ch.ring_page_count);
  // A ring starts zeroed (indices 0, interrupts unmasked): pages a closed
  // ring gave back still hold its control pages and packets.
  fabric::GuestMemory& memory = fabric_->guest(ch.guest).memory();
  for (uint64_t i = 0; i < ch.ring_page_count; ++i) {
    const uint64_t pfn = ch.ring_first_pfn + i;
    if (memory.CheckPfn(pfn).ok() && memory.PageIfPresent(pfn) != nullptr) {
      std::memset(memory.PageForWrite(pfn), 0, kPageBytes);
    }
  }
  fabric::GpaRange range;
  range.byte_offset = 0;
  range.byte_count = static_cast<uint32_t>(ch.ring_page_count * kPageBytes);
  for (uint64_t i = 0; i < ch.ring_page_count; ++i) range.pfns.push_back(ch.ring_first_pfn + i);
  // Host->guest interrupts: the driver's choice (V5), else relid % guest VP
  // count (vmbsim's spread).
  const uint32_t vp_count = fabric_->guest(ch.guest).vp_count();
  const uint32_t target_vp =
      ch.target_vp >= 0 ? static_cast<uint32_t>(ch.target_vp) % vp_count : ch.relid % vp_count;
  ch.vp = &fabric_->guest(ch.guest).vp(target_vp);
  ch.state_worker->set_vp(ch.vp);
  ch.packet_worker->set_vp(ch.vp);
  ch.opening = true;
  const uint64_t handle = ch.handle;
  absl::StatusOr<uint32_t> gpadl = client.CreateGpadl(
      ch.relid, absl::MakeConstSpan(&range, 1), [this, handle, target_vp](uint32_t status, uint32_t gpadl_id) {
        absl::StatusOr<Channel*> found = channels_.Lookup(handle);
        if (!found.ok()) return;
        Channel* c = *found;
        if (status != 0) {
          ClientOpenResult(*c, status);
          return;
        }
        c->ring_gpadl = gpadl_id;
        absl::Status opened = fabric_->client(c->guest).OpenChannel(
            c->relid, gpadl_id, c->outgoing_ring_pages, target_vp, {}, [this, handle](uint32_t open_status) {
              absl::StatusOr<Channel*> again = channels_.Lookup(handle);
              if (again.ok()) ClientOpenResult(**again, open_status);
            });
        if (!opened.ok()) ClientOpenResult(*c, STATUS_UNSUCCESSFUL);
      });
  if (!gpadl.ok()) ClientOpenResult(ch, STATUS_UNSUCCESSFUL);
}

void Runtime::ReleaseRing(Channel& ch) {
  if (ch.ring_page_count != 0) FreeGuestPages(ch.guest, ch.ring_first_pfn, ch.ring_page_count);
  ch.ring_page_count = 0;
  ch.ring_first_pfn = 0;
  ch.ring_gpadl = 0;
}

void Runtime::ClientOpenResult(Channel& ch, uint32_t status) {
  ch.opening = false;
  if (ch.frozen) return;  // Its guest reset meanwhile.
  Notify(&ch);
  const uint64_t handle = ch.handle;
  if (status != 0) {
    // G8: the open failed after the offer was found: give the ring back,
    // unbind, stay Enabled without retrying, report through PnpFailure.
    fabric::VmbusClient& client = fabric_->client(ch.guest);
    if (ch.ring_gpadl != 0) client.TeardownGpadl(ch.relid, ch.ring_gpadl, [](uint32_t) {}).IgnoreError();
    ReleaseRing(ch);
    client_by_relid_.erase({ch.guest, ch.relid});
    ch.relid = 0;
    if (ch.pnp_failure != nullptr) {
      const NTSTATUS failure = static_cast<NTSTATUS>(status);
      ch.state_worker->Post([this, handle, failure] {
        absl::StatusOr<Channel*> found = channels_.Lookup(handle);
        if (!found.ok() || (*found)->pnp_failure == nullptr) return;
        Channel& c = **found;
        ContextScope scope(this, Context{.irql = PASSIVE_LEVEL, .channel = &c, .kind = CallKind::kStateCallback,
                                         .worker = c.state_worker.get(), .vp = c.state_worker->vp(),
                                         .callback = "EvtVmbChannelPnpFailure"});
        c.pnp_failure(DriverHandleOf<VMBCHANNEL>(handle), failure);
      });
    }
    return;
  }
  ch.state_worker->Post([this, handle] {
    absl::StatusOr<Channel*> found = channels_.Lookup(handle);
    if (!found.ok()) return;
    Channel& c = **found;
    if (c.conn != ConnState::kEnabled || c.relid == 0) return;  // Disabled meanwhile.
    const NTSTATUS opened = InvokeOpened(c);
    if (opened != STATUS_SUCCESS) {
      // G8: close the wire channel; stay Enabled; report via PnpFailure.
      c.open_window = false;
      ClientWireTeardown(c, false);
      if (c.pnp_failure != nullptr) {
        ContextScope scope(this, Context{.irql = PASSIVE_LEVEL, .channel = &c, .kind = CallKind::kStateCallback,
                                         .worker = c.state_worker.get(), .vp = c.state_worker->vp(),
                                         .callback = "EvtVmbChannelPnpFailure"});
        c.pnp_failure(DriverHandleOf<VMBCHANNEL>(handle), opened);
      }
      return;
    }
    c.conn = ConnState::kOpen;
    EmitState(c, c.vp->LocalNow(), c.relid);
    FlushSendQueue(c);
    TRun(c);
    // Sub-channels waiting for this primary's offer binding, in handle order.
    std::vector<uint64_t> subs;
    channels_.ForEach([&](uint64_t other, const Channel& sub) {
      if (sub.primary == handle) subs.push_back(other);
    });
    for (uint64_t other : subs) {
      absl::StatusOr<Channel*> sub = channels_.Lookup(other);
      if (sub.ok() && (*sub)->primary == handle) TryBindClient(**sub);
    }
  });
}

void Runtime::EmitState(const Channel& c, sim::SimTime time, uint32_t relid, uint64_t running) {
  sim().tracer().Emit({.time = time, .kind = kKmclStateTraceKind, .partition = c.partition, .channel = relid,
                       .id0 = c.handle, .id1 = static_cast<uint64_t>(c.conn), .size0 = running});
}

Runtime::Channel* Runtime::FindForLifecycle(VMBCHANNEL handle, const char* function, const char* callback_detail) {
  absl::StatusOr<Channel*> found = FindChannel(handle, function);
  if (!found.ok()) return nullptr;
  // From inside the channel's own state callback (its state worker) the
  // transition would wait for the callback that waits for it. Another
  // thread's call while a callback is in progress (blocked in a wait) is
  // legal: its transition runs on the state worker after the callback.
  if ((*found)->in_state_callback && context_.worker == (*found)->state_worker.get()) {
    Report(*found, function, Rule::kLifecycleCallInStateCallback, STATUS_SUCCESS, callback_detail).IgnoreError();
    return nullptr;
  }
  return *found;
}

void Runtime::RunTransition(Channel* ch, const char* function, std::function<void(Channel&)> job, bool wait) {
  // Whether the job has run is the runtime's to keep: a caller that does not
  // wait has returned when it runs, and one that waits may never resume
  // (blocked when the run ends), so its frame owns nothing.
  const uint64_t ticket = next_transition_++;
  transitions_pending_.insert(ticket);
  const uint64_t value = ch->handle;
  ch->state_worker->Post([this, value, ticket, job = std::move(job)] {
    Channel* const c = channels_.Find(value);
    if (c != nullptr) job(*c);
    transitions_pending_.erase(ticket);
    if (c != nullptr) Notify(c);
  });
  if (wait) WaitUntil(function, value, [this, ticket] { return !transitions_pending_.contains(ticket); }, ch);
}

NTSTATUS Runtime::InvokeOpened(Channel& c) {
  c.open_window = true;  // SetInterruptLatency and GPADLs are legal from here.
  if (c.callbacks.EvtChannelOpened == nullptr) return STATUS_SUCCESS;  // The library's default.
  c.in_state_callback = true;
  c.current_callback = CallbackId::kOpened;
  ContextScope scope(this, Context{.irql = PASSIVE_LEVEL, .channel = &c, .kind = CallKind::kStateCallback,
                                   .worker = c.state_worker.get(), .vp = c.state_worker->vp()});
  ChargeCall();
  const NTSTATUS opened = c.callbacks.EvtChannelOpened(DriverHandleOf<VMBCHANNEL>(c.handle));
  c.in_state_callback = false;
  return opened;
}

void Runtime::OnOpenGate(uint16_t guest, uint32_t relid, fabric::Fabric::OpenDone done) {
  Channel* ch = ServerChannelFor(guest, relid);
  if (ch == nullptr) {
    done(0);  // Not a KMCL channel.
    return;
  }
  const uint64_t handle = ch->handle;
  ch->state_worker->Post([this, handle, done = std::move(done)] {
    absl::StatusOr<Channel*> found = channels_.Lookup(handle);
    if (!found.ok() || ((*found)->conn != ConnState::kEnabled && (*found)->conn != ConnState::kPeerClosed)) {
      done(STATUS_UNSUCCESSFUL);
      return;
    }
    Channel& c = **found;
    const NTSTATUS opened = InvokeOpened(c);
    if (opened != STATUS_SUCCESS) {
      c.open_window = false;
      done(static_cast<uint32_t>(opened));  // G8: reject the open; keep the offer.
      return;
    }
    c.conn = ConnState::kOpen;
    c.closing_locally = false;
    EmitState(c, c.vp->LocalNow(), c.relid);
    done(0);
    FlushSendQueue(c);
    TRun(c);
  });
}

void Runtime::OnAttached(uint16_t guest, uint32_t relid) {
  if (Channel* ch = ServerChannelFor(guest, relid)) {
    ch->endpoint = fabric_->host_endpoint(guest, relid);
    WireEndpoint(*ch);
  }
  if (Channel* ch = ClientChannelFor(guest, relid)) {
    ch->endpoint = fabric_->guest_endpoint(guest, relid);
    WireEndpoint(*ch);
  }
}

void Runtime::ApplyEndpointPolicy(const EndpointPolicy& policy, fabric::DataPathOptions* options) {
  if (policy.writer.has_value()) options->writer_policy = *policy.writer;
  options->pending_send_fixed_bytes = policy.pending_send_fixed_bytes;
  options->reader_discipline = policy.reader;
  if (policy.batch_packets_max.has_value()) options->batch_packets_max = *policy.batch_packets_max;
  options->dpc_budget = policy.dpc_budget;
  options->poll_period = policy.poll_period;
}

void Runtime::WireEndpoint(Channel& ch) {
  fabric::ChannelDataPath* ep = ch.endpoint;
  if (ep == nullptr) return;
  // KMCL's writer, KMCL's size rule (RuntimeOptions::writer_size_rule),
  // before anything is written: the fabric builds every endpoint with its
  // own default. The client sized the rings by the same rule.
  ep->writer().SetSizeRule(options_.writer_size_rule);
  const uint64_t handle = ch.handle;
  Channel* c = &ch;
  // The endpoint dies before the channel does (OnDetaching clears it), and
  // the channel object is stable while bound, so the raw pointer is safe.
  ep->SetAcceptGate([this, c] { return AcceptGate(*c); });
  ep->SetPacketHandler([this, c](const fabric::ParsedPacket& packet) { OnPacket(*c, packet); });
  ep->SetBatchEndHandler([this, c](uint32_t count, fabric::BatchEnd) { OnBatchEnd(*c, count); });
  ep->SetWritableHandler([this, c] { FlushSendQueue(*c); });
  (void)handle;
  if (!ch.is_server) {
    ch.started_since_attach = false;
    if (ch.policy.early_signal_drop) ep->SetDoorbellFilter([c] { return c->started_since_attach; });
    if (ch.policy.unstick_period.has_value()) ArmUnstick(ch);
  }
}

void Runtime::ArmUnstick(Channel& ch) {
  if (ch.unstick_armed || !ch.policy.unstick_period.has_value()) return;
  ch.unstick_armed = true;
  const uint64_t handle = ch.handle;
  sim().ScheduleAfter(*ch.policy.unstick_period, [this, handle] { OnUnstickTimer(handle); });
}

void Runtime::OnUnstickTimer(uint64_t handle) {
  absl::StatusOr<Channel*> found = channels_.Lookup(handle);
  if (!found.ok()) return;
  Channel& ch = **found;
  ch.unstick_armed = false;
  fabric::ChannelDataPath* ep = ch.endpoint;
  if (ep == nullptr || ep->failed()) return;  // Detached: the timer stops; the next attach arms it.
  const absl::StatusOr<bool> has_data = ep->reader().HasData();
  const bool data = has_data.ok() && *has_data;
  // The driver polls its own ring, as its interrupt would make it: only once
  // it runs, and never over a drain that runs or one KMCL holds (quota).
  if (data && ch.started_since_attach && !ep->draining() && !ep->stalled()) ep->Kick();
  if (data || !ch.in_flight.empty() || !ch.send_queue.empty()) ArmUnstick(ch);
}

namespace {

void AddEndpoints(EndpointTotals& into, fabric::ChannelDataPath* guest, fabric::ChannelDataPath* host) {
  if (guest != nullptr) {
    into.guest += guest->counters();
    into.guest_batches.Merge(guest->batch_sizes());
    into.guest_ring_occupancy.Merge(guest->ring_occupancy());
  }
  if (host != nullptr) {
    into.host += host->counters();
    into.host_batches.Merge(host->batch_sizes());
    into.host_ring_occupancy.Merge(host->ring_occupancy());
  }
}

}  // namespace

DirectionTransactions& DirectionTransactions::operator+=(const DirectionTransactions& other) {
  packets_sent += other.packets_sent;
  bytes_sent += other.bytes_sent;
  packets_processed += other.packets_processed;
  bytes_processed += other.bytes_processed;
  transactions_finished += other.transactions_finished;
  transactions_failed += other.transactions_failed;
  queued_sends += other.queued_sends;
  sends_failed += other.sends_failed;
  send_to_process_ns.Merge(other.send_to_process_ns);
  send_to_completion_ns.Merge(other.send_to_completion_ns);
  process_to_complete_ns.Merge(other.process_to_complete_ns);
  return *this;
}

ChannelTransactions Runtime::TransactionsFor(uint16_t guest, uint32_t relid) const {
  auto it = transactions_.find({guest, relid});
  return it == transactions_.end() ? ChannelTransactions{} : it->second;
}

EndpointTotals Runtime::TotalsFor(uint16_t guest, uint32_t relid) const {
  EndpointTotals totals;
  auto it = endpoint_history_.find({guest, relid});
  if (it != endpoint_history_.end()) totals = it->second;
  AddEndpoints(totals, fabric_->guest_endpoint(guest, relid), fabric_->host_endpoint(guest, relid));
  if (auto base = totals_baseline_.find({guest, relid}); base != totals_baseline_.end()) {
    totals.guest -= base->second.first;
    totals.host -= base->second.second;
  }
  return totals;
}

void Runtime::RestartTotals() {
  for (const auto& [guest, relid] : AttachedChannels()) {
    const EndpointTotals now = TotalsFor(guest, relid);
    auto& base = totals_baseline_[{guest, relid}];
    base.first += now.guest;
    base.second += now.host;
    if (auto it = endpoint_history_.find({guest, relid}); it != endpoint_history_.end()) {
      EndpointTotals& history = it->second;
      history.guest_batches.Clear();
      history.host_batches.Clear();
      history.guest_ring_occupancy.Clear();
      history.host_ring_occupancy.Clear();
    }
    if (fabric::ChannelDataPath* ep = fabric_->guest_endpoint(guest, relid)) ep->ClearHistograms();
    if (fabric::ChannelDataPath* ep = fabric_->host_endpoint(guest, relid)) ep->ClearHistograms();
  }
}

std::vector<std::pair<uint16_t, uint32_t>> Runtime::AttachedChannels() const {
  std::set<std::pair<uint16_t, uint32_t>> keys;
  for (const auto& [key, totals] : endpoint_history_) keys.insert(key);
  for (uint16_t g = 1; g <= fabric_->guest_count(); ++g) {
    for (uint32_t relid : fabric_->server(g).relids()) {
      if (fabric_->guest_endpoint(g, relid) != nullptr) keys.insert({g, relid});
    }
  }
  return std::vector<std::pair<uint16_t, uint32_t>>(keys.begin(), keys.end());
}

void Runtime::OnDetaching(uint16_t guest, uint32_t relid) {
  AddEndpoints(endpoint_history_[{guest, relid}], fabric_->guest_endpoint(guest, relid),
               fabric_->host_endpoint(guest, relid));
  if (Channel* ch = ClientChannelFor(guest, relid)) {
    ch->endpoint = nullptr;
    Notify(ch);
  }
  Channel* ch = ServerChannelFor(guest, relid);
  if (ch == nullptr) return;
  ch->endpoint = nullptr;
  Notify(ch);
  if (ch->conn != ConnState::kOpen || ch->closing_locally) return;
  // The guest closed (or the VM went away): T-close on the server; the offer
  // stays (PeerClosed).
  const uint64_t handle = ch->handle;
  ch->state_worker->Post([this, handle] {
    absl::StatusOr<Channel*> found = channels_.Lookup(handle);
    if (!found.ok() || (*found)->conn != ConnState::kOpen) return;
    Channel& c = **found;
    TClose(c, true, "peer close");
    c.conn = ConnState::kPeerClosed;
    EmitState(c, c.vp->LocalNow(), c.relid);
    Notify(&c);
  });
}

void Runtime::OnRescind(uint16_t guest, uint32_t relid) {
  Channel* ch = ClientChannelFor(guest, relid);
  fabric::VmbusClient& client = fabric_->client(guest);
  if (ch == nullptr) {
    // Nobody holds it: give the relid back.
    if (client.channel_state(relid) == fabric::ClientChannelState::kOffered) client.ReleaseRelid(relid).IgnoreError();
    return;
  }
  const uint64_t handle = ch->handle;
  ch->state_worker->Post([this, handle, guest, relid] {
    absl::StatusOr<Channel*> found = channels_.Lookup(handle);
    if (!found.ok()) return;
    Channel& c = **found;
    WaitUntil("rescind", handle, [&c] { return !c.opening; }, &c);
    if (c.relid != relid) {
      fabric::VmbusClient& cl = fabric_->client(guest);
      if (cl.channel_state(relid) == fabric::ClientChannelState::kOffered) cl.ReleaseRelid(relid).IgnoreError();
      return;
    }
    if (c.conn == ConnState::kOpen) TClose(c, true, "rescind");
    c.open_window = false;
    CancelOutgoing(c, STATUS_DEVICE_REMOVED);  // G9.
    ClientWireTeardown(c, true);
    c.conn = ConnState::kDisabled;  // G26: the driver must Enable again.
    c.running = false;
    c.run_wanted = false;
    EmitState(c, c.vp->LocalNow(), relid);
    Notify(&c);
  });
}

bool Runtime::ResetGuest(uint16_t guest, std::function<void()> unloaded) {
  fabric::VmbusClient& client = fabric_->client(guest);
  if (client.connection_state() != fabric::ClientConnectionState::kConnected) return false;
  std::vector<uint64_t> handles;
  channels_.ForEach([&](uint64_t handle, const Channel& ch) {
    if (!ch.is_server && ch.guest == guest) handles.push_back(handle);
  });
  for (uint64_t handle : handles) {
    Channel* ch = channels_.Find(handle);
    if (ch == nullptr) continue;
    ch->frozen = true;
    ch->running = false;  // The endpoint's accept gate closes: nothing more is taken.
    ch->run_wanted = false;
    ch->opening = false;
    // The endpoint's handlers still reach the channel until the host closes
    // it; they find it frozen. A new offer on the same relid binds anew.
    if (ch->relid != 0) client_by_relid_.erase({guest, ch->relid});
    ch->endpoint = nullptr;
    ch->state_worker->Freeze();
    ch->packet_worker->Freeze();
  }
  for (const std::unique_ptr<Worker>& worker : passive_workers_) {
    if (worker->vp()->partition_id() == guest) worker->Freeze();
  }
  return client.Unload([unloaded = std::move(unloaded)](absl::Status) { unloaded(); }).ok();
}

absl::Status Runtime::ReconnectGuest(uint16_t guest) {
  return fabric_->client(guest).Connect(options_.max_version, [](absl::StatusOr<uint32_t>) {});
}

void Runtime::ClientWireTeardown(Channel& ch, bool rescinded) {
  if (ch.relid == 0) return;
  fabric::VmbusClient& client = fabric_->client(ch.guest);
  const uint32_t relid = ch.relid;
  if (client.channel_state(relid) == fabric::ClientChannelState::kOpened) client.CloseChannel(relid).IgnoreError();
  if (ch.ring_gpadl != 0 && client.gpadl_state(ch.ring_gpadl) == fabric::ClientGpadlState::kCreated) {
    bool torn_down = false;
    if (client.TeardownGpadl(relid, ch.ring_gpadl, [this, &torn_down, &ch](uint32_t) {
          torn_down = true;
          Notify(&ch);
        }).ok()) {
      WaitUntil("VmbChannelDisable", ch.handle, [&torn_down] { return torn_down; }, &ch);
    }
  }
  ReleaseRing(ch);
  if (rescinded) client.ReleaseRelid(relid).IgnoreError();
  client_by_relid_.erase({ch.guest, relid});
  ch.relid = 0;
  ch.endpoint = nullptr;
}

// T-run (spec §7.3): Started, queue enabled, PostStarted. On the state worker.
void Runtime::TRun(Channel& ch) {
  if (!(ch.conn == ConnState::kOpen && ch.run_wanted && !ch.running)) return;
  const VMBCHANNEL handle = DriverHandleOf<VMBCHANNEL>(ch.handle);
  ch.suspended = false;
  if (ch.callbacks.EvtChannelStarted != nullptr) {
    ch.current_callback = CallbackId::kStarted;
    InvokeStateCallback(ch, ch.callbacks.EvtChannelStarted);
  }
  ch.running = true;
  ch.started_since_attach = true;
  EmitState(ch, ch.vp->LocalNow(), ch.relid, /*running=*/1);
  MaybeKick(ch);
  if (ch.callbacks.EvtChannelPostStarted != nullptr) {
    ch.current_callback = CallbackId::kPostStarted;
    InvokeStateCallback(ch, ch.callbacks.EvtChannelPostStarted);
  }
  (void)handle;
  Notify(&ch);
}

void Runtime::InvokeStateCallback(Channel& ch, PFN_VMB_CHANNEL_SUSPEND fn) {
  ch.in_state_callback = true;
  {
    ContextScope scope(this, Context{.irql = PASSIVE_LEVEL, .channel = &ch, .kind = CallKind::kStateCallback,
                                     .worker = ch.state_worker.get(), .vp = ch.state_worker->vp()});
    if (context_.vp->running()) context_.vp->Charge(fabric_->costs().kmcl_callback);
    sim().tracer().Emit({.time = ch.vp->LocalNow(), .kind = kKmclCallbackTraceKind, .partition = ch.partition,
                         .channel = ch.relid, .id0 = ch.handle, .id1 = static_cast<uint64_t>(ch.current_callback)});
    fn(DriverHandleOf<VMBCHANNEL>(ch.handle));
  }
  ch.in_state_callback = false;
}

// T-stop (spec §7.3): stop pulling, Suspend, wait for every indicated packet.
void Runtime::TStop(Channel& ch, const char* teardown) {
  if (!ch.running) return;
  ch.running = false;  // The accept gate closes: nothing more is taken.
  Channel* c = &ch;
  // Packets already taken for PASSIVE processing are delivered first (no
  // ProcessPacket may follow Suspend).
  WaitUntil("T-stop", ch.handle, [c] { return c->passive_queue.empty() && !c->passive_job_posted; }, &ch);
  ch.suspended = true;
  if (ch.callbacks.EvtChannelSuspend != nullptr) {
    ch.current_callback = CallbackId::kSuspend;
    InvokeStateCallback(ch, ch.callbacks.EvtChannelSuspend);
  }
  EmitState(ch, ch.vp->LocalNow(), ch.relid, /*running=*/0);
  if (ch.outstanding == 0) return;
  ch.teardown_waiting = teardown;
  ch.teardown_since = ch.vp->LocalNow();
  ch.teardown_reported = false;
  const std::optional<sim::SimDuration> retire_after =
      ch.policy.force_retire_after.has_value() ? ch.policy.force_retire_after : options_.force_retire_after;
  if (!retire_after.has_value()) {
    // The WDK state model: KMCL blocks until the driver has completed every
    // indicated packet (spec §5.3, §7.3 T-stop step 3). A driver that never
    // does hangs this teardown; the run's end reports it.
    WaitUntil("T-stop", ch.handle, [c] { return c->outstanding == 0; }, &ch);
    ch.teardown_waiting = nullptr;
    return;
  }
  // Opt-in: give up after `retire_after` and retire what is left.
  bool timed_out = false;
  const sim::EventId timer = sim().ScheduleAfter(*retire_after, [this, &timed_out, c] {
    timed_out = true;
    Notify(c);
  });
  WaitUntil("T-stop", ch.handle, [c, &timed_out] { return c->outstanding == 0 || timed_out; }, &ch);
  sim().Cancel(timer);
  ch.teardown_waiting = nullptr;
  if (ch.outstanding != 0) {
    Report(&ch, teardown, Rule::kPacketNotCompletedAtClose, STATUS_SUCCESS,
           absl::StrCat(ch.outstanding, " indicated packet(s) not completed ", retire_after->ToString(),
                        " after EvtChannelSuspend (transaction ids ", absl::StrJoin(UncompletedIds(ch), ", "),
                        "); retired (force_retire_after)"))
        .IgnoreError();
    for (uint64_t handle : completions_.HandlesInIssueOrder()) {
      absl::StatusOr<Incoming*> inc = completions_.Lookup(handle);
      if (inc.ok() && (*inc)->channel == ch.handle) {
        retired_by_close_.insert(handle);
        RetireIncoming(**inc);
        ++counters_.packets_retired;
      }
    }
  }
}

std::vector<uint64_t> Runtime::UncompletedIds(const Channel& ch) const {
  std::vector<uint64_t> ids;
  for (uint64_t handle : completions_.HandlesInIssueOrder()) {
    absl::StatusOr<Incoming*> inc = completions_.Lookup(handle);
    if (inc.ok() && (*inc)->channel == ch.handle) ids.push_back((*inc)->trans_id);
  }
  return ids;
}

size_t Runtime::ReportHungTeardowns() {
  std::vector<uint64_t> hung;
  channels_.ForEach([&hung](uint64_t handle, const Channel& ch) {
    if (ch.teardown_waiting != nullptr && !ch.teardown_reported && ch.outstanding != 0 && !ch.frozen) {
      hung.push_back(handle);
    }
  });
  std::sort(hung.begin(), hung.end());
  for (uint64_t handle : hung) {
    absl::StatusOr<Channel*> found = channels_.Lookup(handle);
    if (!found.ok()) continue;
    Channel& ch = **found;
    ch.teardown_reported = true;
    Report(&ch, ch.teardown_waiting, Rule::kPacketNotCompletedAtClose, STATUS_SUCCESS,
           absl::StrCat(ch.teardown_waiting, " has waited since t=", ch.teardown_since.ToString(), " for ",
                        ch.outstanding, " indicated packet(s) the driver never completed (transaction ids ",
                        absl::StrJoin(UncompletedIds(ch), ", "), "); the teardown hangs"))
        .IgnoreError();
  }
  return hung.size();
}

// T-close (spec §7.3). On the state worker.
void Runtime::TClose(Channel& ch, bool peer_gone, const char* teardown) {
  TStop(ch, teardown);
  if (ch.callbacks.EvtChannelClosed != nullptr) {
    ch.current_callback = CallbackId::kClosed;
    InvokeStateCallback(ch, ch.callbacks.EvtChannelClosed);
  }
  ch.open_window = false;
  if (!ch.is_server && !ch.gpadls.empty()) {
    Report(&ch, "EvtChannelClosed", Rule::kGpadlNotDeletedAtClose, STATUS_SUCCESS,
           absl::StrCat(ch.gpadls.size(), " GPADL(s) still exist when EvtChannelClosed returned"))
        .IgnoreError();
  }
  // Transactions in the ring can no longer complete: the ring is going away.
  if (peer_gone || !ch.is_server) {
    for (uint64_t id : SortedTransactionIds(ch)) {
      Packet* p = ch.in_flight[id];
      ch.in_flight.erase(id);
      ++counters_.transactions_cancelled;
      // G9: a rescind removes the device; a local Disable or a peer close cancels.
      FinishTransaction(*p, !ch.is_server && peer_gone ? STATUS_DEVICE_REMOVED : STATUS_CANCELLED, nullptr, 0);
    }
  }
  // Completions of received packets that never made it into the ring.
  ch.send_queue.EraseIf([](const QueuedSend& q) { return q.packet == nullptr; });
}

void Runtime::CancelOutgoing(Channel& ch, NTSTATUS status) {
  sim::RingDeque<QueuedSend> queued;
  queued.swap(ch.send_queue);
  for (QueuedSend& q : queued) {
    if (q.packet == nullptr) continue;
    ++counters_.transactions_cancelled;
    FinishTransaction(*q.packet, status, nullptr, 0);
  }
  const std::vector<uint64_t> ids = SortedTransactionIds(ch);
  absl::flat_hash_map<uint64_t, Packet*> flying;
  flying.swap(ch.in_flight);
  for (uint64_t id : ids) {
    ++counters_.transactions_cancelled;
    FinishTransaction(*flying[id], status, nullptr, 0);
  }
}

void Runtime::ChannelStart(VMBCHANNEL handle) {
  constexpr const char* kFn = "VmbChannelStart";
  Channel* ch = FindForLifecycle(handle, kFn, "called from a state-change callback");
  if (ch == nullptr) return;
  if (ch->conn == ConnState::kDisabled) {
    Report(ch, kFn, Rule::kCallInWrongState, STATUS_SUCCESS, "the channel is not enabled").IgnoreError();
    return;
  }
  if (ch->run_wanted && (ch->running || ch->conn != ConnState::kOpen)) {
    return;  // Redundant (real clients call it after Enable).
  }
  ch->run_wanted = true;
  if (ch->conn != ConnState::kOpen || ch->frozen) return;  // Starts as soon as it opens.
  // G5: Start returns after Started has returned and the queue is enabled
  // (PostStarted runs on the state worker, so this waits for it as well).
  RunTransition(ch, kFn, [this](Channel& c) { TRun(c); }, /*wait=*/!AtDispatch());
}

void Runtime::ChannelPause(VMBCHANNEL handle) {
  constexpr const char* kFn = "VmbChannelPause";
  Channel* ch = FindForLifecycle(handle, kFn, "called from a state-change callback");
  if (ch == nullptr) return;
  if (AtDispatch()) {
    Report(ch, kFn, Rule::kBlockingCallAtDispatch, STATUS_SUCCESS, "Pause blocks; called at DISPATCH_LEVEL")
        .IgnoreError();
    return;
  }
  if (ch->conn == ConnState::kDisabled) {
    ch->start_paused = true;  // The next Enable leaves the channel paused.
    ch->run_wanted = false;
    return;
  }
  ch->run_wanted = false;
  if (ch->frozen) return;
  RunTransition(ch, kFn, [this](Channel& c) { TStop(c, "VmbChannelPause"); }, /*wait=*/true);
}

void Runtime::ChannelDisable(VMBCHANNEL handle) {
  constexpr const char* kFn = "VmbChannelDisable";
  Channel* ch = FindForLifecycle(handle, kFn, "called from a state-change callback (it would deadlock)");
  if (ch == nullptr) return;
  if (AtDispatch()) {
    Report(ch, kFn, Rule::kBlockingCallAtDispatch, STATUS_SUCCESS, "Disable blocks; called at DISPATCH_LEVEL")
        .IgnoreError();
    return;
  }
  if (ch->conn == ConnState::kDisabled) return;
  if (ch->frozen) {
    // The abandoned driver of a reset guest, torn down after the run: the
    // wire went with the guest's unload; only the state is left to clear.
    ch->conn = ConnState::kDisabled;
    return;
  }
  RunTransition(ch, kFn, [this](Channel& chan) { DisableNow(chan); }, /*wait=*/true);
}

// Disable's transition (spec §7.4, §7.5), on the state worker.
void Runtime::DisableNow(Channel& chan) {
  const uint64_t value = chan.handle;
  if (chan.is_server) {
    if (chan.conn == ConnState::kOpen) {
      chan.closing_locally = true;
      TClose(chan, false, "VmbChannelDisable");
    }
    if (chan.relid != 0) {
      fabric_->server(chan.guest).RescindChannel(chan.relid).IgnoreError();
      Channel* p = &chan;
      WaitUntil("VmbChannelDisable", value, [p] { return p->endpoint == nullptr; }, p);
      server_by_relid_.erase({chan.guest, chan.relid});
    }
    CancelOutgoing(chan, STATUS_CANCELLED);
    chan.relid = 0;
  } else {
    Channel* p = &chan;
    WaitUntil("VmbChannelDisable", value, [p] { return !p->opening; }, p);
    if (chan.conn == ConnState::kOpen) TClose(chan, false, "VmbChannelDisable");
    chan.open_window = false;
    CancelOutgoing(chan, STATUS_CANCELLED);
    ClientWireTeardown(chan, false);
  }
  chan.conn = ConnState::kDisabled;
  chan.running = false;
  chan.run_wanted = !chan.is_server;
  chan.queue_failed = false;
  chan.closing_locally = false;
  EmitState(chan, chan.vp->LocalNow(), /*relid=*/0);
}

}  // namespace vmbsim::kmcl
