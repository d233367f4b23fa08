#include "sim/fabric/fabric.h"

#include <algorithm>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "sim/check.h"
#include "sim/fabric/channel_messages.h"

namespace vmbsim::fabric {
namespace {

constexpr uint32_t kHostFlagMax = 2047;  // 2048-bit SINT-2 map; bit 0 reserved.

}  // namespace

// The fabric as the host VMBus server's device for one guest.
class Fabric::DeviceAdapter : public VmbusDeviceHandler {
 public:
  DeviceAdapter(Fabric* fabric, uint16_t guest) : fabric_(fabric), guest_(guest) {}
  void OnOpen(uint32_t relid, const OpenRequest& request) override { fabric_->OpenFromServer(guest_, relid, request); }
  void OnClose(uint32_t relid) override { fabric_->CloseFromServer(guest_, relid); }
  void OnModifyChannel(uint32_t relid, uint32_t target_vp) override {
    Channel* channel = fabric_->FindChannel(guest_, relid);
    if (channel != nullptr && target_vp < fabric_->guest(guest_).vp_count()) {
      channel->attachment.guest_target_vp = target_vp;  // Host->guest interrupts move ...
      // ... and so does the guest end's drain (its DPC), which runs where
      // the interrupt lands; a drain under way finishes where it began.
      if (ChannelDataPath* guest_end = fabric_->guest_endpoint(guest_, relid)) {
        guest_end->MoveTo(&fabric_->guest(guest_).vp(target_vp));
      }
    }
  }

 private:
  Fabric* const fabric_;
  const uint16_t guest_;
};

Partition::Partition(sim::Simulator* sim, const CostModel* costs, uint16_t id, const PartitionConfig& config)
    : id_(id), memory_(config.memory_pages_max) {
  VMBSIM_CHECK_GE(config.vp_count, 1u);
  std::vector<VirtualProcessor*> vps;
  for (uint32_t i = 0; i < config.vp_count; ++i) {
    vps_.push_back(std::make_unique<VirtualProcessor>(sim, id, i));
    vps.push_back(vps_.back().get());
  }
  synic_ = std::make_unique<Synic>(sim, costs, id, absl::MakeConstSpan(vps));
}

Fabric::Fabric(sim::Simulator* sim, FabricConfig config) : sim_(sim), config_(std::move(config)) {
  VMBSIM_CHECK(sim != nullptr);
  partitions_.push_back(std::make_unique<Partition>(sim, &config_.costs, 0, config_.root));
  for (size_t i = 0; i < config_.guests.size(); ++i) {
    const uint16_t id = static_cast<uint16_t>(i + 1);
    partitions_.push_back(std::make_unique<Partition>(sim, &config_.costs, id, config_.guests[i]));
    Partition& guest = *partitions_.back();
    // The monitor page is guest memory; the hypervisor model watches it.
    uint8_t* page = guest.memory().PageForWrite(config_.monitor_page_pfn);
    monitor_pages_.push_back(std::make_unique<MonitorPage>(
        sim, page, id, config_.monitor_mode, sim->ForkPrng(absl::StrCat("fabric.monitor.", id))));
    monitor_pages_.back()->SetFireHandler([this](uint8_t, uint32_t connection_id, uint16_t) {
      // One host signal per window, to the channel's event connection.
      root().synic().SignalConnection(connection_id);
    });
  }
  for (auto& partition : partitions_) {
    for (uint32_t v = 0; v < partition->vp_count(); ++v) partition->vp(v).set_preemption(config_.preemption);
  }
  root().synic().SetInterruptHandler([this](uint32_t vp) { OnHostInterrupt(vp); });
  channel_by_relid_.assign(guest_count(), std::vector<Channel*>(kHostFlagMax + 1, nullptr));
  host_flags_.assign(root().vp_count(), std::vector<HostFlagUse>(kHostFlagMax + 1));
  for (uint16_t id = 1; id <= guest_count(); ++id) {
    Partition& guest = this->guest(id);
    absl::StatusOr<std::unique_ptr<VmbusServer>> server = VmbusServer::Create(
        sim, &config_.costs, &root().synic(), &root().vp(0), &guest.synic(), config_.server);
    VMBSIM_CHECK_MSG(server.ok(), server.status().ToString());  // Fixed, valid configuration.
    servers_.push_back(std::move(*server));
    devices_.push_back(std::make_unique<DeviceAdapter>(this, id));
    servers_.back()->SetDeviceHandler(devices_.back().get());
    VmbusClientOptions client_options;
    client_options.vp_index = std::min(config_.client_vp, guest.vp_count() - 1);
    client_options.target_vcpu = client_options.vp_index;
    if (config_.guest_monitor_pages) {
      client_options.monitor_page2_gpa = config_.monitor_page_pfn * kPageSizeBytes;
      client_options.monitor_page1_gpa = (config_.monitor_page_pfn + 1) * kPageSizeBytes;
    }
    std::vector<VirtualProcessor*> vps;
    for (uint32_t v = 0; v < guest.vp_count(); ++v) vps.push_back(&guest.vp(v));
    clients_.push_back(std::make_unique<VmbusClient>(sim, &guest.synic(), absl::MakeConstSpan(vps),
                                                     &root().synic(), client_options));
    VmbusClient* client = clients_.back().get();
    client->SetChannelEventHandler([this, id](uint32_t relid) { DispatchGuestEventFlag(id, relid); });
    guest.synic().SetInterruptHandler([client](uint32_t vp) { client->OnInterrupt(vp); });
  }
}

Fabric::~Fabric() = default;

void Fabric::OpenFromServer(uint16_t guest_id, uint32_t relid, const OpenRequest& request) {
  VmbusServer& server = this->server(guest_id);
  absl::StatusOr<ServerChannelInfo> info = server.channel(relid);
  VMBSIM_CHECK(info.ok());  // The server asks only about its own channels.
  ChannelAttachment a;
  a.guest = guest_id;
  a.relid = relid;
  a.connection_id = info->connection_id;
  a.monitor_id = info->monitor_id;
  a.monitor_latency_100ns = info->offer.interrupt_latency_100ns.value_or(
      static_cast<uint16_t>(config_.costs.monitor_latency_default.TruncateTo100nsUnits()));
  // VP_INDEX_DISABLE_INTERRUPT: no host->guest interrupts are wanted; the
  // guest polls. Modelled by targeting VP 0 (open question; documented).
  a.guest_target_vp = request.target_vp < guest(guest_id).vp_count() ? request.target_vp : 0;
  a.host_vp = HostVpFor(guest_id, relid);
  a.shared_interrupt = !info->offer.is_dedicated_interrupt;
  a.ring_pfns = request.ring_pages;
  a.downstream_offset = request.downstream_ringbuffer_pageoffset;
  if (options_hook_) options_hook_(guest_id, relid, &a.guest_options, &a.host_options);
  if (ABSL_PREDICT_FALSE(fault_hook_ != nullptr)) {
    const FaultAction action =
        fault_hook_->At({.site = FaultSite::kOpenChannel, .guest = guest_id, .relid = relid, .host_side = true});
    if (action.kind == FaultAction::Kind::kFail) {
      server.CompleteOpen(relid, action.value != 0 ? static_cast<uint32_t>(action.value) : kStatusUnsuccessful)
          .IgnoreError();
      return;
    }
  }
  const absl::Status attached = AttachChannel(std::move(a));
  if (!attached.ok()) {
    // A refused attach (bad ring geometry written by the guest) fails the open.
    server.CompleteOpen(relid, kStatusUnsuccessful).IgnoreError();
    return;
  }
  if (on_attached_) on_attached_(guest_id, relid);
  if (!open_gate_) {
    server.CompleteOpen(relid, 0).IgnoreError();
    return;
  }
  open_gate_(guest_id, relid, [this, guest_id, relid](uint32_t status) {
    if (status != 0 && FindChannel(guest_id, relid) != nullptr) {
      if (on_detaching_) on_detaching_(guest_id, relid);
      DetachChannel(guest_id, relid).IgnoreError();
    }
    // A rescind or unload meanwhile makes the server refuse; nothing to do then.
    this->server(guest_id).CompleteOpen(relid, status).IgnoreError();
  });
}

void Fabric::CloseFromServer(uint16_t guest_id, uint32_t relid) {
  if (FindChannel(guest_id, relid) != nullptr) {
    if (on_detaching_) on_detaching_(guest_id, relid);
    DetachChannel(guest_id, relid).IgnoreError();
  }
  server(guest_id).CompleteClose(relid).IgnoreError();
}

absl::Status Fabric::AttachChannel(ChannelAttachment a) {
  const std::string where = absl::StrCat("attach guest ", a.guest, " relid ", a.relid);
  if (a.guest < 1 || a.guest > guest_count()) return absl::InvalidArgumentError(absl::StrCat(where, ": no such guest"));
  if (a.relid == 0 || a.relid > kHostFlagMax) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": relid out of range 1..", kHostFlagMax));
  }
  const ChannelKey key{a.guest, a.relid};
  if (channels_.count(key) != 0) return absl::InvalidArgumentError(absl::StrCat(where, ": already attached"));
  Partition& guest = this->guest(a.guest);
  if (a.guest_target_vp >= guest.vp_count()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": target VP ", a.guest_target_vp, " of ", guest.vp_count()));
  }
  if (a.host_vp >= root().vp_count()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": host VP ", a.host_vp, " of ", root().vp_count()));
  }
  if (a.downstream_offset < 2 || a.ring_pfns.size() < a.downstream_offset + 2) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": downstream offset ", a.downstream_offset, " in ",
                                                   a.ring_pfns.size(), " ring pages (each ring needs >= 2)"));
  }
  // Host flag: the lowest free one on the host VP; a shared channel joins
  // its guest's shared connection once one is bound.
  const auto shared = a.shared_interrupt ? shared_signals_.find(a.guest) : shared_signals_.end();
  const bool joins_shared = shared != shared_signals_.end();
  uint32_t host_flag = 0;
  const uint32_t flag_vp = joins_shared ? shared->second.host_vp : a.host_vp;
  if (joins_shared) {
    host_flag = shared->second.host_flag;
  } else {
    for (uint32_t flag = 1; flag <= kHostFlagMax; ++flag) {
      if (HostFlagFree(a.host_vp, flag)) {
        host_flag = flag;
        break;
      }
    }
  }
  if (host_flag == 0) {
    return absl::ResourceExhaustedError(absl::StrCat(where, ": host VP ", a.host_vp, " has no free event flag"));
  }

  const absl::Span<const uint64_t> pfns(a.ring_pfns);
  VMBSIM_ASSIGN_OR_RETURN(RingMemory outgoing, RingMemory::Create(&guest.memory(), pfns.subspan(0, a.downstream_offset)));
  VMBSIM_ASSIGN_OR_RETURN(RingMemory incoming, RingMemory::Create(&guest.memory(), pfns.subspan(a.downstream_offset)));
  const std::string name = absl::StrCat("guest ", a.guest, " channel ", a.relid);

  RingReaderOptions guest_reader;
  guest_reader.name = name + " host->guest";
  guest_reader.pending_send_rule = config_.guest_profile.pending_send_rule;
  guest_reader.validation_policy = config_.guest_profile.validation_policy;
  RingReaderOptions host_reader;
  host_reader.name = name + " guest->host";
  host_reader.pending_send_rule = config_.host_profile.pending_send_rule;
  host_reader.validation_policy = config_.host_profile.validation_policy;

  VMBSIM_ASSIGN_OR_RETURN(RingWriter guest_writer, RingWriter::Create(outgoing, name + " guest->host"));
  VMBSIM_ASSIGN_OR_RETURN(RingReader guest_reader_end, RingReader::Create(incoming, guest_reader));
  VMBSIM_ASSIGN_OR_RETURN(RingWriter host_writer, RingWriter::Create(incoming, name + " host->guest"));
  VMBSIM_ASSIGN_OR_RETURN(RingReader host_reader_end, RingReader::Create(outgoing, host_reader));

  if (!joins_shared) {
    // The shared monitor id keeps the latency of the first shared channel.
    if (a.monitor_id != kMonitorIdNone) {
      VMBSIM_RETURN_IF_ERROR(
          monitor_page(a.guest).Configure(a.monitor_id, a.monitor_latency_100ns, a.connection_id, 0));
    }
    VMBSIM_RETURN_IF_ERROR(root().synic().BindEventConnection(a.connection_id, flag_vp, host_flag));
  }

  Channel channel;
  channel.host_flag = host_flag;
  DataPathOptions guest_options = a.guest_options;
  guest_options.name = name + " guest";
  guest_options.partition_id = a.guest;
  guest_options.channel_id = a.relid;
  guest_options.reader = guest_reader;
  DataPathOptions host_options = a.host_options;
  host_options.name = name + " host";
  host_options.partition_id = 0;
  host_options.channel_id = a.relid;
  host_options.reader = host_reader;
  guest_options.sample_ring_occupancy = config_.sample_ring_occupancy;
  host_options.sample_ring_occupancy = config_.sample_ring_occupancy;
  channel.guest_end = std::make_unique<ChannelDataPath>(sim_, &config_.costs, &guest.vp(a.guest_target_vp),
                                                        std::move(guest_writer), std::move(guest_reader_end),
                                                        guest_options);
  channel.host_end = std::make_unique<ChannelDataPath>(sim_, &config_.costs, &root().vp(a.host_vp),
                                                       std::move(host_writer), std::move(host_reader_end),
                                                       host_options);
  channel.attachment = std::move(a);
  auto [it, inserted] = channels_.emplace(key, std::move(channel));
  VMBSIM_CHECK(inserted);
  Channel* stored = &it->second;
  stored->guest_end->SetSignalPeer([this, stored] { SignalHost(*stored); });
  stored->host_end->SetSignalPeer([this, stored] { SignalGuest(*stored); });
  stored->guest_end->SetPeer(stored->host_end.get());  // Both die with the channel.
  stored->host_end->SetPeer(stored->guest_end.get());
  if (fault_hook_ != nullptr) {
    stored->guest_end->SetFaultHook(fault_hook_, key.first, /*host_side=*/false);
    stored->host_end->SetFaultHook(fault_hook_, key.first, /*host_side=*/true);
  }
  if (stored->attachment.shared_interrupt) {
    SharedSignal& group = shared_signals_[key.first];
    group.host_vp = flag_vp;
    group.host_flag = host_flag;
    group.members[key.second] = stored;
    host_flags_[flag_vp][host_flag].shared = &group;
  } else {
    host_flags_[stored->attachment.host_vp][host_flag].channel = stored;
  }
  channel_by_relid_[key.first - 1][key.second] = stored;
  return absl::OkStatus();
}

absl::Status Fabric::DetachChannel(uint16_t guest, uint32_t relid) {
  const auto it = channels_.find({guest, relid});
  if (it == channels_.end()) {
    return absl::NotFoundError(absl::StrCat("detach guest ", guest, " relid ", relid, ": not attached"));
  }
  const ChannelAttachment& a = it->second.attachment;
  bool last_user = true;  // Of the connection and monitor id.
  if (a.shared_interrupt) {
    const auto shared = shared_signals_.find(guest);
    VMBSIM_CHECK(shared != shared_signals_.end());
    shared->second.members.erase(relid);
    last_user = shared->second.members.empty();
    if (last_user) {
      host_flags_[shared->second.host_vp][shared->second.host_flag].shared = nullptr;
      shared_signals_.erase(shared);
    }
  } else {
    host_flags_[a.host_vp][it->second.host_flag].channel = nullptr;
  }
  if (last_user) {
    root().synic().UnbindEventConnection(a.connection_id).IgnoreError();
    if (a.monitor_id != kMonitorIdNone) monitor_page(guest).Release(a.monitor_id).IgnoreError();
  }
  channel_by_relid_[guest - 1][relid] = nullptr;
  channels_.erase(it);
  return absl::OkStatus();
}

Fabric::Channel* Fabric::FindChannel(uint16_t guest, uint32_t relid) {
  if (guest < 1 || guest > guest_count() || relid > kHostFlagMax) return nullptr;
  return channel_by_relid_[guest - 1][relid];
}

ChannelDataPath* Fabric::guest_endpoint(uint16_t guest, uint32_t relid) {
  Channel* channel = FindChannel(guest, relid);
  return channel == nullptr ? nullptr : channel->guest_end.get();
}

ChannelDataPath* Fabric::host_endpoint(uint16_t guest, uint32_t relid) {
  Channel* channel = FindChannel(guest, relid);
  return channel == nullptr ? nullptr : channel->host_end.get();
}

void Fabric::SetFaultHook(FaultHook* hook) {
  fault_hook_ = hook;
  for (auto& partition : partitions_) partition->synic().SetFaultHook(hook);
  for (uint16_t g = 1; g <= guest_count(); ++g) server(g).SetFaultHook(hook, g);
  for (auto& [key, channel] : channels_) {
    channel.guest_end->SetFaultHook(hook, key.first, /*host_side=*/false);
    channel.host_end->SetFaultHook(hook, key.first, /*host_side=*/true);
  }
}

const ChannelAttachment* Fabric::attachment(uint16_t guest, uint32_t relid) {
  Channel* channel = FindChannel(guest, relid);
  return channel == nullptr ? nullptr : &channel->attachment;
}

bool Fabric::RingDoorbell(uint16_t guest, uint32_t relid, bool host_end) {
  Channel* channel = FindChannel(guest, relid);
  if (channel == nullptr) return false;
  (host_end ? channel->host_end : channel->guest_end)->OnDoorbell();
  return true;
}

void Fabric::DoorbellLater(sim::SimDuration delay, uint16_t guest, uint32_t relid, bool to_host, bool at_sender) {
  VMBSIM_CHECK_GE(delay.nanoseconds(), 0);
  struct Later {
    Fabric* fabric;
    uint32_t relid;
    uint16_t guest;
    bool to_host;
    bool at_sender;
    void operator()() const {
      Channel* channel = fabric->FindChannel(guest, relid);
      if (channel == nullptr) return;  // Closed or rescinded meanwhile.
      if (at_sender) {
        if (to_host) {
          fabric->SignalHostNow(*channel);
        } else {
          fabric->SignalGuestNow(*channel);
        }
        return;
      }
      (to_host ? channel->host_end : channel->guest_end)->OnDoorbell();
    }
  };
  sim_->ScheduleAfter(delay, Later{this, relid, guest, to_host, at_sender});
}

void Fabric::SignalHost(Channel& channel) {
  if (ABSL_PREDICT_FALSE(fault_hook_ != nullptr)) {
    const ChannelAttachment& a = channel.attachment;
    const FaultAction action = fault_hook_->At({.site = FaultSite::kSignalToHost, .guest = a.guest, .relid = a.relid});
    switch (action.kind) {
      case FaultAction::Kind::kDrop:
        return;
      case FaultAction::Kind::kDelay:
        DoorbellLater(action.delay, a.guest, a.relid, /*to_host=*/true, /*at_sender=*/true);
        return;
      case FaultAction::Kind::kDuplicate:
        SignalHostNow(channel);
        break;
      default:
        break;
    }
  }
  SignalHostNow(channel);
}

void Fabric::SignalHostNow(Channel& channel) {
  ++counters_.guest_to_host_signals;
  const ChannelAttachment& a = channel.attachment;
  // The guest VP whose code signals pays (a send's publish, a read's
  // commit); the channel's target VP when no guest code runs.
  VirtualProcessor& vp = VirtualProcessor::ActingIn(guest(a.guest).vp(a.guest_target_vp));
  if (a.monitor_id != kMonitorIdNone) {
    // Monitored: set the pending bit at the guest's clock plus the cost of
    // the locked OR; the page coalesces sets into one host signal.
    if (vp.running()) vp.Charge(config_.costs.monitor_set_bit);
    struct SetBit {
      Fabric* fabric;
      uint16_t guest;
      uint8_t monitor_id;
      void operator()() const { fabric->monitor_page(guest).SetPending(monitor_id).IgnoreError(); }
    };
    sim_->ScheduleAt(vp.LocalNow(), SetBit{this, a.guest, a.monitor_id});
    return;
  }
  SignalEventHypercall(root().synic(), vp, a.connection_id);
}

void Fabric::SignalGuest(Channel& channel) {
  if (ABSL_PREDICT_FALSE(fault_hook_ != nullptr)) {
    const ChannelAttachment& a = channel.attachment;
    const FaultAction action =
        fault_hook_->At({.site = FaultSite::kSignalToGuest, .guest = a.guest, .relid = a.relid, .host_side = true});
    switch (action.kind) {
      case FaultAction::Kind::kDrop:
        return;
      case FaultAction::Kind::kDelay:
        DoorbellLater(action.delay, a.guest, a.relid, /*to_host=*/false, /*at_sender=*/true);
        return;
      case FaultAction::Kind::kDuplicate:
        SignalGuestNow(channel);
        break;
      default:
        break;
    }
  }
  SignalGuestNow(channel);
}

void Fabric::SignalGuestNow(Channel& channel) {
  ++counters_.host_to_guest_signals;
  const ChannelAttachment& a = channel.attachment;
  VirtualProcessor& host_vp = VirtualProcessor::ActingIn(root().vp(a.host_vp));  // The host VP that signals pays.
  guest(a.guest).synic().SignalEventAt(host_vp.LocalNow(), a.guest_target_vp, a.relid).IgnoreError();
}

void Fabric::OnHostInterrupt(uint32_t vp_index) {
  absl::StatusOr<Synic::EventFlagList> flags = root().synic().TakeEventFlags(vp_index);
  VMBSIM_CHECK(flags.ok());  // The SynIC passes its own, valid VP index.
  for (const uint32_t flag : *flags) {
    const HostFlagUse use = flag <= kHostFlagMax ? host_flags_[vp_index][flag] : HostFlagUse{};
    if (use.channel != nullptr) {
      RingHostEnd(*use.channel);
    } else if (use.shared != nullptr) {
      RingSharedChannels(*use.shared);
    } else {
      ++counters_.doorbells_without_channel;
    }
  }
}

void Fabric::RingHostEnd(Channel& channel) {
  if (ABSL_PREDICT_FALSE(fault_hook_ != nullptr)) {
    const ChannelAttachment& a = channel.attachment;
    const FaultAction action =
        fault_hook_->At({.site = FaultSite::kInterruptAtHost, .guest = a.guest, .relid = a.relid, .host_side = true});
    if (action.kind == FaultAction::Kind::kDrop) return;
    if (action.kind == FaultAction::Kind::kDelay) {
      DoorbellLater(action.delay, a.guest, a.relid, /*to_host=*/true, /*at_sender=*/false);
      return;
    }
    if (action.kind == FaultAction::Kind::kDuplicate) channel.host_end->OnDoorbell();
  }
  channel.host_end->OnDoorbell();
}

bool Fabric::HostFlagFree(uint32_t vp, uint32_t flag) const {
  const HostFlagUse& use = host_flags_[vp][flag];
  return use.channel == nullptr && use.shared == nullptr;
}

void Fabric::RingSharedChannels(SharedSignal& shared) {
  ++counters_.shared_interrupts;
  if (ABSL_PREDICT_TRUE(fault_hook_ == nullptr)) {
    // A doorbell only queues work on the host VP, so the members stay put.
    for (const auto& [relid, channel] : shared.members) {
      ++counters_.shared_doorbells;
      RingHostEnd(*channel);
    }
    return;
  }
  // A copy: a fault hook may detach a member (or the whole group) while the
  // others are rung.
  std::vector<ChannelKey> members;
  members.reserve(shared.members.size());
  for (const auto& [relid, channel] : shared.members) members.push_back({channel->attachment.guest, relid});
  for (const auto& [guest_id, relid] : members) {
    Channel* channel = FindChannel(guest_id, relid);
    if (channel == nullptr) continue;
    ++counters_.shared_doorbells;
    RingHostEnd(*channel);
  }
}

void Fabric::DispatchGuestEventFlag(uint16_t guest_id, uint32_t relid) {
  ChannelDataPath* endpoint = guest_endpoint(guest_id, relid);
  if (endpoint == nullptr) {
    ++counters_.doorbells_without_channel;
    return;
  }
  if (ABSL_PREDICT_FALSE(fault_hook_ != nullptr)) {
    const FaultAction action = fault_hook_->At({.site = FaultSite::kInterruptAtGuest, .guest = guest_id, .relid = relid});
    if (action.kind == FaultAction::Kind::kDrop) return;
    if (action.kind == FaultAction::Kind::kDelay) {
      DoorbellLater(action.delay, guest_id, relid, /*to_host=*/false, /*at_sender=*/false);
      return;
    }
    if (action.kind == FaultAction::Kind::kDuplicate) endpoint->OnDoorbell();
  }
  endpoint->OnDoorbell();
}

void Fabric::CheckInvariants() {
  for (auto& partition : partitions_) partition->synic().CheckInvariants();
  for (auto& server : servers_) server->CheckInvariants();
  for (auto& client : clients_) client->CheckInvariants();
  for (auto& [key, channel] : channels_) {
    for (ChannelDataPath* end : {channel.guest_end.get(), channel.host_end.get()}) {
      const uint32_t d_out = end->writer().data_size_bytes();
      const uint32_t d_in = end->reader().data_size_bytes();
      VMBSIM_CHECK_EQ(end->writer().committed_write_index() % 8, 0u);
      VMBSIM_CHECK_LT(end->writer().committed_write_index(), d_out);
      VMBSIM_CHECK_EQ(end->reader().committed_read_index() % 8, 0u);
      VMBSIM_CHECK_LT(end->reader().committed_read_index(), d_in);
    }
    // Pairing: nothing is received that was not sent.
    VMBSIM_CHECK_LE(channel.host_end->counters().packets_received, channel.guest_end->counters().packets_sent);
    VMBSIM_CHECK_LE(channel.guest_end->counters().packets_received, channel.host_end->counters().packets_sent);
  }
}

void Fabric::SetHostVp(uint16_t guest, uint32_t relid, uint32_t vp) {
  VMBSIM_CHECK_LT(vp, root().vp_count());  // The scenario loader checks host_target_vp.
  host_vp_choices_[{guest, relid}] = vp;
}

}  // namespace vmbsim::fabric
