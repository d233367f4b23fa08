#include "tools/scenario/drivers.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "kmcl/drivers/echo_vsp.h"
#include "kmcl/drivers/request_response_vsc.h"
#include "kmcl/drivers/streaming_vsc.h"
#include "kmcl/drivers/sync_request_client.h"
#include "kmcl/ntstatus.h"
#include "sim/check.h"
#include "sim/core/prng.h"
#include "sim/core/sim_time.h"
#include "sim/fabric/virtual_processor.h"
#include "tools/scenario/distribution.h"

namespace vmbsim::scenario {
namespace {

// The scenario format's sub-channel limit is the built-in drivers' (spec.h):
// a scenario the loader accepts never fails their Create for it.
static_assert(kSubChannelsMax + 1 == ECHO_VSP_MAX_CHANNELS, "spec.h kSubChannelsMax vs echo_vsp.h");
static_assert(kSubChannelsMax + 1 == STREAMING_VSC_MAX_CHANNELS, "spec.h kSubChannelsMax vs streaming_vsc.h");
static_assert(kSubChannelsMax + 1 == RR_VSC_MAX_CHANNELS, "spec.h kSubChannelsMax vs request_response_vsc.h");

// A failed Create as "<function> returned STATUS_X (text)", with the
// NTSTATUS as the payload; the runner adds which driver on which channel.
absl::Status CreateFailed(NTSTATUS status, absl::string_view function) {
  return kmcl::KmclError(status, absl::StrCat(function, " returned ", kmcl::NtStatusToString(status)));
}

// A driver's `service` parameter: a duration drawn per call from the
// distribution and charged to the VP the caller runs on (the processing VP
// of a ProcessPacket, the guest VP of a completion routine). The C drivers
// take it as a plain routine and context (ServiceRoutine /
// CompletionServiceRoutine), so they stay written against the public KMCL
// header only. Each driver end draws from its own stream,
// "service.<channel>.<host|guest>", so adding a service time on one side
// leaves every other draw of the run where it was. A host driver that a
// crash fault restarts gets a new instance and starts its stream again.
class ServiceTimer {
 public:
  // Returns null when the driver has no `service` parameter.
  static absl::StatusOr<std::unique_ptr<ServiceTimer>> For(const DriverContext& c) {
    const auto it = c.driver->distribution_params.find("service");
    if (it == c.driver->distribution_params.end()) return nullptr;
    absl::StatusOr<DistributionSampler> sampler = DistributionSampler::Create(it->second);
    if (!sampler.ok()) return absl::InvalidArgumentError(absl::StrCat("params/service: ", sampler.status().message()));
    const std::string stream = absl::StrCat("service.", c.channel->name, c.host_side ? ".host" : ".guest");
    return std::unique_ptr<ServiceTimer>(
        new ServiceTimer(c.runtime, std::move(*sampler), c.runtime->sim().ForkPrng(stream)));
  }

  // The C routine: `context` is a ServiceTimer.
  static VOID Run(PVOID context) {
    ServiceTimer* timer = static_cast<ServiceTimer*>(context);
    timer->runtime_->StallExecution(sim::SimDuration::Nanoseconds(timer->sampler_.Sample(timer->prng_)));
  }

 private:
  ServiceTimer(kmcl::Runtime* runtime, DistributionSampler sampler, sim::Prng prng)
      : runtime_(runtime), sampler_(std::move(sampler)), prng_(prng) {}
  kmcl::Runtime* runtime_;
  DistributionSampler sampler_;
  sim::Prng prng_;
};

// The echo VSP's link to its channel's shared back-end (backend.h): a
// request arrives there when the processing VP reaches it (its local clock),
// and once served its completion runs as a DPC on that VP (the device's
// completion interrupt is not modelled; the DPC costs what its KMCL calls
// cost). Before the VSP is destroyed the link makes the back-end forget its
// requests, so no completion reaches a VSP that is gone; a channel torn down
// meanwhile has completed them in its suspend (echo_vsp.h).
class BackendLink {
 public:
  BackendLink(kmcl::Runtime* runtime, Backend* backend) : runtime_(runtime), backend_(backend) {}
  ~BackendLink() { Forget(); }
  void Forget() {
    if (backend_ != nullptr) backend_->CancelOwned(this);
    alive_.reset();
  }

  // ECHO_VSP_CONFIG.BackendSubmit: `context` is a BackendLink.
  static VOID Submit(PVOID context, ECHO_VSP_REQUEST* request) {
    BackendLink* self = static_cast<BackendLink*>(context);
    if (self->alive_ == nullptr) {  // Being torn down: the back-end is no longer asked.
      EchoVspBackendComplete(request);
      return;
    }
    const fabric::VirtualProcessor* vp = fabric::VirtualProcessor::Current();
    const uint32_t vp_index = vp != nullptr && vp->partition_id() == 0 ? vp->vp_index() : 0;
    const sim::SimTime at = vp != nullptr ? vp->LocalNow() : self->runtime_->sim().Now();
    // The back-end forgets this link's requests before the link goes
    // (Forget), so `self` is still there when a request's service ends; the
    // DPC queued then may run later, so it checks the VSP is still there.
    self->backend_->Submit(self, at, [self, vp_index, request] { self->Served(vp_index, request); });
  }

 private:
  void Served(uint32_t vp_index, ECHO_VSP_REQUEST* request) {
    std::weak_ptr<int> alive = alive_;
    runtime_->RunDispatch(0, vp_index, [request, alive = std::move(alive)] {
      if (!alive.expired()) EchoVspBackendComplete(request);
    });
  }


  kmcl::Runtime* runtime_;
  Backend* backend_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // Expires when the VSP goes.
};

// echo_vsp: the echo VSP of kmcl/drivers/echo_vsp.h.
class EchoVspInstance : public DriverInstance {
 public:
  EchoVspInstance(ECHO_VSP* vsp, std::unique_ptr<ServiceTimer> service, std::unique_ptr<BackendLink> backend,
                  bool save_restore)
      : vsp_(vsp), service_(std::move(service)), backend_(std::move(backend)), save_restore_(save_restore) {}
  ~EchoVspInstance() override {
    if (backend_ != nullptr) backend_->Forget();
  }
  void Destroy() override {
    if (backend_ != nullptr) backend_->Forget();
    EchoVspDestroy(vsp_);
    vsp_ = nullptr;
  }
  std::map<std::string, int64_t> figures() const override {
    ECHO_VSP_STATS stats = {};
    if (vsp_ != nullptr) EchoVspGetStats(vsp_, &stats);
    return {{"processed", static_cast<int64_t>(stats.PacketsProcessed)},
            {"failed", static_cast<int64_t>(stats.PacketsFailed)},
            {"greetings_sent", static_cast<int64_t>(stats.GreetingsSent)},
            {"greetings_completed", static_cast<int64_t>(stats.GreetingsCompleted)},
            {"processing_complete_calls", static_cast<int64_t>(stats.ProcessingCompleteCalls)},
            {"backend_submitted", static_cast<int64_t>(stats.BackendSubmitted)},
            {"backend_completed_early", static_cast<int64_t>(stats.BackendCompletedEarly)},
            {"shared_served", static_cast<int64_t>(stats.SharedServed)},
            {"shared_aborted", static_cast<int64_t>(stats.SharedAborted)},
            {"gpadl_maps", static_cast<int64_t>(stats.GpadlMaps)},
            {"greetings_saved", static_cast<int64_t>(stats.GreetingsSaved)},
            {"greetings_restored", static_cast<int64_t>(stats.GreetingsRestored)}};
  }
  // The echo VSP saves a primary without sub-channels (echo_vsp.h).
  bool CanSave() const override { return vsp_ != nullptr && save_restore_ && EchoVspChannelAt(vsp_, 1) == nullptr; }
  absl::Status SaveBegin() override {
    if (vsp_ == nullptr) return absl::FailedPreconditionError("the driver is gone");
    const NTSTATUS status = EchoVspSaveBegin(vsp_);
    if (status != STATUS_SUCCESS) return kmcl::FromNtStatus(status, "EchoVspSaveBegin");
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<uint8_t>> SaveEnd() override {
    if (vsp_ == nullptr) return absl::FailedPreconditionError("the driver is gone");
    UINT8* buffer = nullptr;
    UINT32 size = 0;
    const NTSTATUS status = EchoVspSaveEnd(vsp_, &buffer, &size);
    if (status != STATUS_SUCCESS) return kmcl::FromNtStatus(status, "EchoVspSaveEnd");
    std::vector<uint8_t> saved(buffer, buffer + size);
    free(buffer);
    return saved;
  }

 private:
  ECHO_VSP* vsp_;
  std::unique_ptr<ServiceTimer> service_;  // The driver calls it until Destroy.
  std::unique_ptr<BackendLink> backend_;   // Null without a back-end.
  bool save_restore_;  // Created with its save callbacks (DriverContext::save_restore).
};

absl::StatusOr<std::unique_ptr<DriverInstance>> MakeEchoVsp(const DriverContext& c) {
  ECHO_VSP_CONFIG config = {};
  config.InterfaceType = c.interface_type;
  config.InterfaceInstance = c.interface_instance;
  config.MaxPacketSize = c.channel->max_packet_bytes;
  config.ProcessAtPassive = c.channel->host_passive_processing ? TRUE : FALSE;
  config.TransactionQuota = c.channel->host_transaction_quota.value_or(0);
  config.CompletionBytes = static_cast<UINT32>(IntParam(*c.driver, "completion_bytes", 0));
  config.CompleteAsynchronously = BoolParam(*c.driver, "complete_asynchronously", false) ? TRUE : FALSE;
  config.SubChannels = c.channel->sub_channels;
  config.GreetingPackets = static_cast<UINT32>(IntParam(*c.driver, "greeting_packets", 0));
  config.ServiceMicroseconds = static_cast<UINT32>(IntParam(*c.driver, "service_us", 0));
  config.BugCompleteTwice = BoolParam(*c.driver, "bug_complete_twice", false) ? TRUE : FALSE;
  config.BugCompleteAfterClose = BoolParam(*c.driver, "bug_complete_after_close", false) ? TRUE : FALSE;
  config.BugCompleteAfterRescind = BoolParam(*c.driver, "bug_complete_after_rescind", false) ? TRUE : FALSE;
  config.SharedBuffer = BoolParam(*c.driver, "shared_buffer", false) ? TRUE : FALSE;
  config.BugUnmapInUse = BoolParam(*c.driver, "bug_unmap_in_use", false) ? TRUE : FALSE;
  if (config.BugUnmapInUse && !config.SharedBuffer) {
    return absl::InvalidArgumentError("params: \"bug_unmap_in_use\" needs \"shared_buffer\"");
  }
  VMBSIM_ASSIGN_OR_RETURN(std::unique_ptr<ServiceTimer> service, ServiceTimer::For(c));
  if (service != nullptr) {
    if (config.ServiceMicroseconds != 0) {
      return absl::InvalidArgumentError("params: \"service\" and \"service_us\" both set; use one");
    }
    config.ServiceRoutine = &ServiceTimer::Run;
    config.ServiceContext = service.get();
  }
  std::unique_ptr<BackendLink> backend;
  if (c.backend != nullptr) {
    backend = std::make_unique<BackendLink>(c.runtime, c.backend);
    config.BackendSubmit = &BackendLink::Submit;
    config.BackendContext = backend.get();
  }
  config.SaveRestore = c.save_restore ? TRUE : FALSE;
  if (c.restore != nullptr) {
    config.RestoreBuffer = c.restore->data();
    config.RestoreBufferSize = static_cast<UINT32>(c.restore->size());
  }
  ECHO_VSP* vsp = nullptr;
  const NTSTATUS status = EchoVspCreate(c.device, c.vmbus_handle, &config, &vsp);
  if (status != STATUS_SUCCESS) return CreateFailed(status, "EchoVspCreate");
  return std::make_unique<EchoVspInstance>(vsp, std::move(service), std::move(backend),
                                           c.save_restore || c.restore != nullptr);
}

// rr_vsc: the request/response VSC; closed loop from the workload, or open
// loop with submissions from the runner.
class RrVscInstance : public DriverInstance {
 public:
  RrVscInstance(RR_VSC* vsc, std::unique_ptr<ServiceTimer> service) : vsc_(vsc), service_(std::move(service)) {}
  void Destroy() override {
    RrVscDestroy(vsc_);
    vsc_ = nullptr;
  }
  // RrVscSubmitBytes's status is the refusal: a request above the request
  // buffer, no packet object, or VmbPacketSend failing (after a rescind).
  bool Submit(uint32_t bytes) override {
    if (vsc_ == nullptr) return false;
    return NT_SUCCESS(RrVscSubmitBytes(vsc_, bytes));
  }
  int64_t requests_issued() const override { return static_cast<int64_t>(Stats().Sent); }
  int64_t requests_ended() const override {
    const RR_VSC_STATS s = Stats();
    return static_cast<int64_t>(s.Completed + s.Failed);
  }
  std::map<std::string, int64_t> figures() const override {
    const RR_VSC_STATS s = Stats();
    // How the requests spread over the primary and its sub-channels.
    int64_t least = INT64_MAX, most = 0;
    for (UINT32 i = 0; i < s.Channels; ++i) {
      least = std::min(least, static_cast<int64_t>(s.ChannelSent[i]));
      most = std::max(most, static_cast<int64_t>(s.ChannelSent[i]));
    }
    return {{"sent", static_cast<int64_t>(s.Sent)},
            {"completed", static_cast<int64_t>(s.Completed)},
            {"failed", static_cast<int64_t>(s.Failed)},
            {"send_errors", static_cast<int64_t>(s.SendErrors)},
            {"channels", static_cast<int64_t>(s.Channels)},
            {"sent_per_channel_min", s.Channels == 0 ? 0 : least},
            {"sent_per_channel_max", most},
            {"shared_checked", static_cast<int64_t>(s.SharedChecked)},
            {"shared_mismatches", static_cast<int64_t>(s.SharedMismatches)}};
  }

 private:
  RR_VSC_STATS Stats() const {
    RR_VSC_STATS stats = {};
    if (vsc_ != nullptr) RrVscGetStats(vsc_, &stats);
    last_ = stats;
    return vsc_ != nullptr ? stats : last_;
  }
  RR_VSC* vsc_;
  mutable RR_VSC_STATS last_ = {};
  std::unique_ptr<ServiceTimer> service_;
};

absl::StatusOr<std::unique_ptr<DriverInstance>> MakeRrVsc(const DriverContext& c) {
  RR_VSC_CONFIG config = {};
  config.InterfaceType = c.interface_type;
  config.InterfaceInstance = c.interface_instance;
  config.IncomingPageCount = c.channel->incoming_ring_pages;
  config.OutgoingPageCount = c.channel->outgoing_ring_pages;
  config.MaxPacketSize = c.channel->max_packet_bytes;
  config.RequestBytes = c.request_bytes_max;
  config.ProcessAtPassive = c.channel->guest_passive_processing ? TRUE : FALSE;
  if (c.closed_loop != nullptr) {
    config.Outstanding = c.closed_loop->arrival.outstanding;
    config.TotalRequests = c.closed_loop->requests;
  }
  config.EarlyRequests = static_cast<UINT32>(IntParam(*c.driver, "early_requests", 0));
  config.SubChannels = c.channel->sub_channels;
  config.VpCount = c.guest_vps;
  config.SharedBuffer = BoolParam(*c.driver, "shared_buffer", false) ? TRUE : FALSE;
  VMBSIM_ASSIGN_OR_RETURN(std::unique_ptr<ServiceTimer> service, ServiceTimer::For(c));
  if (service != nullptr) {
    config.CompletionServiceRoutine = &ServiceTimer::Run;
    config.CompletionServiceContext = service.get();
  }
  RR_VSC* vsc = nullptr;
  const NTSTATUS status = RrVscCreate(c.device, &config, &vsc);
  if (status != STATUS_SUCCESS) return CreateFailed(status, "RrVscCreate");
  return std::make_unique<RrVscInstance>(vsc, std::move(service));
}

// sync_client: synchronous requests from EvtChannelPostStarted.
class SyncClientInstance : public DriverInstance {
 public:
  SyncClientInstance(SYNC_CLIENT* client, std::unique_ptr<ServiceTimer> service)
      : client_(client), service_(std::move(service)) {}
  void Destroy() override {
    SyncClientDestroy(client_);
    client_ = nullptr;
  }
  std::map<std::string, int64_t> figures() const override {
    SYNC_CLIENT_STATS s = {};
    if (client_ != nullptr) SyncClientGetStats(client_, &s);
    return {{"requests", static_cast<int64_t>(s.RequestsMade)},
            {"succeeded", static_cast<int64_t>(s.Succeeded)},
            {"failed", static_cast<int64_t>(s.Failed)}};
  }

 private:
  SYNC_CLIENT* client_;
  std::unique_ptr<ServiceTimer> service_;
};

absl::StatusOr<std::unique_ptr<DriverInstance>> MakeSyncClient(const DriverContext& c) {
  SYNC_CLIENT_CONFIG config = {};
  config.InterfaceType = c.interface_type;
  config.InterfaceInstance = c.interface_instance;
  config.MaxPacketSize = c.channel->max_packet_bytes;
  config.RequestBytes = static_cast<UINT32>(IntParam(*c.driver, "request_bytes", 64));
  config.CompletionBufferBytes = static_cast<UINT32>(IntParam(*c.driver, "completion_buffer_bytes", 4096));
  config.Requests = static_cast<UINT32>(IntParam(*c.driver, "requests", 1));
  config.TimeoutMs = static_cast<UINT32>(IntParam(*c.driver, "timeout_ms", 0));
  VMBSIM_ASSIGN_OR_RETURN(std::unique_ptr<ServiceTimer> service, ServiceTimer::For(c));
  if (service != nullptr) {
    config.CompletionServiceRoutine = &ServiceTimer::Run;
    config.CompletionServiceContext = service.get();
  }
  SYNC_CLIENT* client = nullptr;
  const NTSTATUS status = SyncClientCreate(c.device, &config, &client);
  if (status != STATUS_SUCCESS) {
    return CreateFailed(status, "SyncClientCreate");
  }
  return std::make_unique<SyncClientInstance>(client, std::move(service));
}

// streaming_vsc: fire-and-forget packets over a primary and its sub-channels.
class StreamingVscInstance : public DriverInstance {
 public:
  StreamingVscInstance(STREAMING_VSC* vsc, std::unique_ptr<ServiceTimer> service)
      : vsc_(vsc), service_(std::move(service)) {}
  void Destroy() override {
    StreamingVscDestroy(vsc_);
    vsc_ = nullptr;
  }
  std::map<std::string, int64_t> figures() const override {
    STREAMING_VSC_STATS s = {};
    if (vsc_ != nullptr) StreamingVscGetStats(vsc_, &s);
    return {{"sent", static_cast<int64_t>(s.Sent)},
            {"channels_open", static_cast<int64_t>(s.ChannelsOpen)},
            {"send_errors", static_cast<int64_t>(s.SendErrors)}};
  }

 private:
  STREAMING_VSC* vsc_;
  std::unique_ptr<ServiceTimer> service_;  // The driver calls it until Destroy.
};

absl::StatusOr<std::unique_ptr<DriverInstance>> MakeStreamingVsc(const DriverContext& c) {
  STREAMING_VSC_CONFIG config = {};
  config.InterfaceType = c.interface_type;
  config.InterfaceInstance = c.interface_instance;
  config.SubChannels = c.channel->sub_channels;
  config.PacketBytes = static_cast<UINT32>(IntParam(*c.driver, "packet_bytes", 64));
  config.PacketsPerChannel = static_cast<UINT64>(IntParam(*c.driver, "packets_per_channel", 1000));
  config.TargetVpSpread = BoolParam(*c.driver, "target_vp_spread", true) ? TRUE : FALSE;
  config.VpCount = static_cast<UINT32>(IntParam(*c.driver, "vp_count", 1));
  config.FirstVp = static_cast<UINT32>(IntParam(*c.driver, "first_vp", 0));
  config.IncomingPageCount = c.channel->incoming_ring_pages;
  config.OutgoingPageCount = c.channel->outgoing_ring_pages;
  config.MaxPacketSize = c.channel->max_packet_bytes;
  VMBSIM_ASSIGN_OR_RETURN(std::unique_ptr<ServiceTimer> service, ServiceTimer::For(c));
  if (service != nullptr) {
    config.ServiceRoutine = &ServiceTimer::Run;
    config.ServiceContext = service.get();
  }
  STREAMING_VSC* vsc = nullptr;
  const NTSTATUS status = StreamingVscCreate(c.device, &config, &vsc);
  if (status != STATUS_SUCCESS) {
    return CreateFailed(status, "StreamingVscCreate");
  }
  return std::make_unique<StreamingVscInstance>(vsc, std::move(service));
}

}  // namespace

int64_t IntParam(const DriverSpec& driver, const std::string& name, int64_t fallback) {
  auto it = driver.int_params.find(name);
  return it == driver.int_params.end() ? fallback : it->second;
}

bool BoolParam(const DriverSpec& driver, const std::string& name, bool fallback) {
  auto it = driver.bool_params.find(name);
  return it == driver.bool_params.end() ? fallback : it->second;
}

DriverRegistry DriverRegistry::WithBuiltins() {
  DriverRegistry registry;
  registry
      .Register({.name = "echo_vsp",
                 .description = "host VSP: completes every request with an echo (or a fixed-size pattern)",
                 .host_side = true,
                 .params = {{"completion_bytes", ParamType::kInt,
                             "completion payload bytes; 0 echoes the request", 0, 16777216},
                            {"greeting_packets", ParamType::kInt,
                             "packets sent to the guest from EvtChannelStarted, before the guest sees the open", 0, 1000000},
                            {"complete_asynchronously", ParamType::kBool,
                             "complete from ProcessingComplete instead of inline"},
                            {"service_us", ParamType::kInt,
                             "the device's work per request (us), spent on the processing VP before completing", 0, 1000000},
                            {"service", ParamType::kDistribution,
                             "the device's work per request, a distribution in ns (e.g. {\"kind\": \"exponential\", "
                             "\"mean_ns\": 10000}), spent on the processing VP before completing; not with service_us"},
                            {"bug_complete_twice", ParamType::kBool,
                             "a deliberate bug: a suspend (rescind, close) completes the requests in the back-end "
                             "without marking them, and the back-end's return completes them a second time"},
                            {"bug_complete_after_close", ParamType::kBool,
                             "a deliberate bug: a suspend (rescind, close) leaves the requests in the back-end "
                             "uncompleted, and the back-end's return completes them, after a bounded close "
                             "(force_retire_after_ns) has retired them"},
                            {"bug_complete_after_rescind", ParamType::kBool,
                             "a deliberate bug: the VSP's unload (a rescind: host_stop_ns, a rescind or host_crash "
                             "fault) leaves the requests in the back-end to itself and completes them after "
                             "VmbChannelDisable, after a bounded teardown (force_retire_after_ns) has retired them"},
                            {"shared_buffer", ParamType::kBool,
                             "requests name slots of a guest buffer shared through a GPADL (rr_vsc's shared_buffer): "
                             "map it, read the slot, write the response into it, unmap at the suspend"},
                            {"bug_unmap_in_use", ParamType::kBool,
                             "a deliberate bug (with shared_buffer): a suspend unmaps the GPADL without cancelling "
                             "the back-end's writes, and the back-end's return writes through the unmapped MDL"}},
                 .uses_backend = true},
                MakeEchoVsp)
      .IgnoreError();
  registry
      .Register({.name = "rr_vsc",
                 .description = "guest VSC: request/response transactions from the channel's workload, over the "
                                "primary and its sub-channels (a closed loop's slot k on channel k % channels, an "
                                "open-loop request on the sending VP's channel)",
                 .guest_side = true,
                 .params = {{"early_requests", ParamType::kInt,
                             "requests sent right after Enable, before the channel opens", 0, 1000000},
                            {"shared_buffer", ParamType::kBool,
                             "request bytes go in a buffer donated through a GPADL from EvtChannelOpened (deleted in "
                             "EvtChannelClosed), one slot per closed-loop slot; completions are checked against it"},
                            {"service", ParamType::kDistribution,
                             "the driver's work per completed transaction, a distribution in ns, spent on the guest VP "
                             "in the completion routine (after the round trip is timed, before the next request)"}}},
                MakeRrVsc)
      .IgnoreError();
  registry
      .Register({.name = "sync_client",
                 .description = "guest client: VmbChannelSendSynchronousRequest from EvtChannelPostStarted",
                 .guest_side = true,
                 .params = {{"request_bytes", ParamType::kInt, "bytes per request", 0, 16777216},
                            {"completion_buffer_bytes", ParamType::kInt, "completion buffer capacity", 0, 16777216},
                            {"requests", ParamType::kInt, "requests per negotiation", 0, 1000000000},
                            {"timeout_ms", ParamType::kInt, "timeout per request; 0 waits forever", 0, 86400000},
                            {"service", ParamType::kDistribution,
                             "the driver's work per answered request, a distribution in ns, spent on the guest VP "
                             "before the next request"}}},
                MakeSyncClient)
      .IgnoreError();
  registry
      .Register({.name = "streaming_vsc",
                 .description = "guest VSC: streams fire-and-forget packets over a primary and its sub-channels",
                 .guest_side = true,
                 .params = {{"packet_bytes", ParamType::kInt, "in-band bytes per packet", 0, 16777216},
                            {"packets_per_channel", ParamType::kInt, "packets each channel sends", 0, 1000000000},
                            {"target_vp_spread", ParamType::kBool, "channel i interrupts guest VP first_vp + i % vp_count"},
                            {"vp_count", ParamType::kInt, "guest VPs to spread over", 1, 1024},
                            {"first_vp", ParamType::kInt,
                             "the spread's first VP: channel i interrupts guest VP first_vp + i % vp_count", 0, 1023},
                            {"service", ParamType::kDistribution,
                             "the driver's work per packet (building it), a distribution in ns, spent on the sending "
                             "VP before each send"}}},
                MakeStreamingVsc)
      .IgnoreError();
  return registry;
}

absl::Status DriverRegistry::Register(DriverDescriptor descriptor, DriverFactory factory) {
  const std::string name = descriptor.name;
  if (entries_.count(name) != 0) return absl::AlreadyExistsError(absl::StrCat("driver '", name, "' is already registered"));
  entries_[name] = Entry{std::move(descriptor), std::move(factory)};
  return absl::OkStatus();
}

const DriverFactory* DriverRegistry::Find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second.factory;
}

const DriverDescriptor* DriverRegistry::Descriptor(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second.descriptor;
}

std::vector<DriverDescriptor> DriverRegistry::descriptors() const {
  std::vector<DriverDescriptor> out;
  for (const auto& [name, entry] : entries_) out.push_back(entry.descriptor);
  return out;
}

}  // namespace vmbsim::scenario
