// fabric.h
//
// The VMBus world: one root (host) partition and any number of guests, each
// with its virtual processors, guest-physical memory and SynIC, a monitor
// page per guest, and the data paths of open channels wired to their
// doorbells:
//
//   guest -> host   monitored channel: set the monitor pending bit (after
//                   `monitor_set_bit`); the page fires one host signal per
//                   latency window (monitor_page.h). Otherwise HvSignalEvent
//                   to the channel's connection id (`hypercall_signal_event`).
//   host -> guest   always a direct event: the flag of the channel's relid on
//                   the guest's target VP (spec §3.5: hosts do not use the
//                   parent->child monitor page; open question 2).
//
// Shared guest->host signals (the server's choice, OfferParams::
// is_dedicated_interrupt = false): every shared channel of a guest signals
// the one legacy event connection (VMBUS_EVENT_CONNECTION_ID) or, when
// monitored, sets the one monitor id they share. The host learns only that
// some shared channel signalled, so its interrupt handler rings the doorbell
// of every shared channel of that guest, in relid order, each on its own
// host VP (the interrupt page's guest->host bitmap, which would name them,
// is gone from protocol 5.0 on; spec §3.4). The connection is bound, on the
// host VP of the first shared channel to open, while any shared channel is
// open. Signals from several channels coalesce (one flag, one monitor id);
// each doorbell on an empty ring costs its endpoint a DPC that finds
// nothing. Counted in FabricCounters::shared_*.
//
// The control plane: per guest, a VmbusServer on the root (host VP 0 is its
// worker) and a VmbusClient in the guest, talking over the two SynICs. The
// fabric is the server's device: an accepted OPENCHANNEL attaches the
// channel's data plane over the ring GPADL's pages and completes the open; a
// close (guest close, rescind, unload) detaches it. Chosen where the spec is
// silent: the host endpoint of channel `relid` runs on host VP
// relid % host VP count; an offer without an interrupt latency uses the cost
// model's default monitor latency.
//
// Each side's interrupt handler takes the event flags of its VP and rings the
// doorbell of the channel the flag names: on the guest the flag is the relid
// (spec §3.3); on the host it is a flag the fabric allocates per host VP,
// because relids repeat across guests (the real root partition's port layout
// is not public). The control plane (offers, GPADLs,
// open/close) lives in vmbus_server.h / vmbus_client.h; `AttachChannel` is
// what an accepted open does to the data plane.
//
// Not modelled here: VTLs, multiple host VMBus servers, interrupt-page
// (pre-Win8) signalling.

#ifndef VMBSIM_SIM_FABRIC_FABRIC_H_
#define VMBSIM_SIM_FABRIC_FABRIC_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "sim/core/simulator.h"
#include "sim/fabric/channel_data_path.h"
#include "sim/fabric/cost_model.h"
#include "sim/fabric/fault_hook.h"
#include "sim/fabric/guest_memory.h"
#include "sim/fabric/monitor_page.h"
#include "sim/fabric/synic.h"
#include "sim/fabric/virtual_processor.h"
#include "sim/fabric/vmbus_client.h"
#include "sim/fabric/vmbus_server.h"

namespace vmbsim::fabric {

struct PartitionConfig {
  uint32_t vp_count = 1;
  uint64_t memory_pages_max = uint64_t{1} << 20;  // 4 GiB of guest-physical space.
};

// Per-endpoint behaviour profiles (spec §1.8, §7.2). The defaults are the
// Windows-host forms for the root partition; a guest may take the Linux ones.
struct EndpointProfile {
  PendingSendRule pending_send_rule = PendingSendRule::kWindowsHost;
  ValidationPolicy validation_policy = ValidationPolicy::kReject;
};

struct FabricConfig {
  CostModel costs = CostModel::Default();
  PartitionConfig root;
  std::vector<PartitionConfig> guests;
  MonitorMode monitor_mode = MonitorMode::kTimerPerId;
  // Whether interrupts preempt DPCs and DPCs preempt PASSIVE work on every
  // VP of the fabric (virtual_processor.h).
  Preemption preemption = Preemption::kPacket;
  EndpointProfile host_profile;
  EndpointProfile guest_profile;
  // Guest PFN of each guest's child->parent monitor page; the parent->child
  // page is the next one.
  uint64_t monitor_page_pfn = 1;
  // Whether guests hand their monitor pages to the host in INITIATE_CONTACT
  // (without them no channel is monitored, spec §3.5).
  bool guest_monitor_pages = true;
  // The host VMBus server's options (supported versions, port depth).
  VmbusServerOptions server;
  // The guest VP that receives control messages, and the one the client's
  // own work runs on.
  uint32_t client_vp = 0;
  // Whether each channel endpoint samples the occupancy of the ring it
  // writes at every write (ChannelDataPath::ring_occupancy). Off unless
  // asked for: it is a histogram record per packet.
  bool sample_ring_occupancy = false;
};

class Partition {
 public:
  Partition(sim::Simulator* sim, const CostModel* costs, uint16_t id, const PartitionConfig& config);

  uint16_t id() const { return id_; }
  bool is_root() const { return id_ == 0; }
  uint32_t vp_count() const { return static_cast<uint32_t>(vps_.size()); }
  VirtualProcessor& vp(uint32_t index) { return *vps_.at(index); }
  GuestMemory& memory() { return memory_; }
  Synic& synic() { return *synic_; }

 private:
  const uint16_t id_;
  GuestMemory memory_;
  std::vector<std::unique_ptr<VirtualProcessor>> vps_;
  std::unique_ptr<Synic> synic_;
};

// What an accepted open gives the data plane.
struct ChannelAttachment {
  uint16_t guest = 1;            // Guest partition id (1-based; 0 is the root).
  uint32_t relid = 0;
  uint32_t connection_id = 0;    // Guest->host event connection.
  uint8_t monitor_id = 0xFF;     // 0xFF: not monitored.
  uint16_t monitor_latency_100ns = 1000;
  uint32_t guest_target_vp = 0;  // VP of host->guest interrupts.
  uint32_t host_vp = 0;          // VP of the host endpoint's interrupt work.
  bool shared_interrupt = false;  // Signals the guest's shared connection (above).
  // The ring GPADL's guest pages: [0, downstream_offset) is the guest->host
  // ring, the rest the host->guest ring (spec §1.1, §5.4).
  std::vector<uint64_t> ring_pfns;
  uint32_t downstream_offset = 0;
  DataPathOptions guest_options;  // Name, partition and channel are filled in.
  DataPathOptions host_options;
};

struct FabricCounters {
  uint64_t guest_to_host_signals = 0;   // Hypercalls and monitor sets.
  uint64_t host_to_guest_signals = 0;
  uint64_t doorbells_without_channel = 0;  // Flags naming no attached channel.
  uint64_t shared_interrupts = 0;  // Host interrupts on a guest's shared connection...
  uint64_t shared_doorbells = 0;   // ...and the channel doorbells they rang.
};

class Fabric {
 public:
  // `*sim` must outlive the fabric.
  Fabric(sim::Simulator* sim, FabricConfig config);
  ~Fabric();
  Fabric(const Fabric&) = delete;
  Fabric& operator=(const Fabric&) = delete;

  sim::Simulator& sim() { return *sim_; }
  const CostModel& costs() const { return config_.costs; }
  Partition& root() { return *partitions_[0]; }
  // Guest partition `id` (1-based). REQUIRES: 1 <= id <= guest_count().
  Partition& guest(uint16_t id) { return *partitions_.at(id); }
  uint16_t guest_count() const { return static_cast<uint16_t>(partitions_.size() - 1); }
  MonitorPage& monitor_page(uint16_t guest) { return *monitor_pages_.at(guest - 1); }

  // Builds both endpoints of an open channel over its ring pages and wires
  // their doorbells; binds the host-side event connection and, for a
  // monitored channel, configures the monitor id. InvalidArgument for bad
  // geometry (offset out of range, fewer than 2 pages a ring), an unknown
  // guest or VP, a relid already attached; errors from the rings' control
  // pages as DataLoss.
  absl::Status AttachChannel(ChannelAttachment attachment);
  // Removes a channel's data plane (close or rescind). NotFound if absent.
  absl::Status DetachChannel(uint16_t guest, uint32_t relid);

  // The endpoints of an attached channel, or null.
  ChannelDataPath* guest_endpoint(uint16_t guest, uint32_t relid);
  ChannelDataPath* host_endpoint(uint16_t guest, uint32_t relid);

  // The control plane of guest `guest`.
  VmbusServer& server(uint16_t guest) { return *servers_.at(guest - 1); }
  VmbusClient& client(uint16_t guest) { return *clients_.at(guest - 1); }

  // Told after a channel's data plane is attached (before the open
  // completes) and before it is detached: the layer above sets its packet
  // handlers here and drops its endpoint pointers there.
  using ChannelHook = std::function<void(uint16_t guest, uint32_t relid)>;
  void SetChannelAttachedHook(ChannelHook hook) { on_attached_ = std::move(hook); }
  void SetChannelDetachingHook(ChannelHook hook) { on_detaching_ = std::move(hook); }

  // Asked after an accepted OPENCHANNEL has attached the channel's data
  // plane and before the open completes: the layer above (the host driver's
  // EvtChannelOpened) answers `done(status)` now or later; 0 accepts, any
  // other value detaches the data plane again and fails the open with that
  // status. Without a gate every attached open is accepted at once.
  using OpenDone = std::function<void(uint32_t status)>;
  using OpenGate = std::function<void(uint16_t guest, uint32_t relid, OpenDone done)>;
  void SetOpenGate(OpenGate gate) { open_gate_ = std::move(gate); }

  // Asked before an accepted open attaches its data plane: the layer above
  // may adjust both endpoints' options (e.g. a scenario's deliberately buggy
  // endpoint that skips a re-check).
  using DataPathOptionsHook =
      std::function<void(uint16_t guest, uint32_t relid, DataPathOptions* guest_end, DataPathOptions* host_end)>;
  void SetDataPathOptionsHook(DataPathOptionsHook hook) { options_hook_ = std::move(hook); }

  // The host VP that runs the host endpoint of (guest, relid) once attached:
  // the one SetHostVp chose for it, else relid % host VP count (the spec is
  // silent; a scenario's host_target_vp chooses).
  uint32_t HostVpFor(uint16_t guest, uint32_t relid) const {
    const auto it = host_vp_choices_.find({guest, relid});
    return it != host_vp_choices_.end() ? it->second : relid % partitions_[0]->vp_count();
  }
  // Places the host endpoint of (guest, relid) on host VP `vp` from its next
  // attach on. Call when the host offers the channel, before the guest opens
  // it. REQUIRES: vp < root().vp_count().
  void SetHostVp(uint16_t guest, uint32_t relid, uint32_t vp);

  // Routes a guest event flag to the channel it names (the client's
  // interrupt handler forwards every flag here).
  void DispatchGuestEventFlag(uint16_t guest, uint32_t relid);

  // Checks every fabric invariant (ring indexes, endpoint pairing, SynIC
  // invariants); aborts on a violation. Tests run it after every event.
  void CheckInvariants();

  const FabricCounters& counters() const { return counters_; }
  size_t attached_channel_count() const { return channels_.size(); }

  // Installs the fault hook (fault_hook.h) on the fabric, its SynICs, its
  // servers and every data path attached from now on (and those attached
  // now); null removes it. `*hook` must outlive the fabric or be removed.
  void SetFaultHook(FaultHook* hook);
  FaultHook* fault_hook() const { return fault_hook_; }
  // The attachment of an attached channel, or null.
  const ChannelAttachment* attachment(uint16_t guest, uint32_t relid);
  // Rings the doorbell of an attached channel's endpoint as if its peer had
  // signalled (a spurious interrupt); false when the channel is not attached.
  bool RingDoorbell(uint16_t guest, uint32_t relid, bool host_end);

 private:
  struct Channel {
    ChannelAttachment attachment;
    uint32_t host_flag = 0;
    std::unique_ptr<ChannelDataPath> guest_end;
    std::unique_ptr<ChannelDataPath> host_end;
  };
  using ChannelKey = std::pair<uint16_t, uint32_t>;  // (guest, relid)

  class DeviceAdapter;
  void OpenFromServer(uint16_t guest, uint32_t relid, const OpenRequest& request);
  void CloseFromServer(uint16_t guest, uint32_t relid);
  void SignalHost(Channel& channel);
  void SignalGuest(Channel& channel);
  // The signals themselves, after the fault hook had its say.
  void SignalHostNow(Channel& channel);
  void SignalGuestNow(Channel& channel);
  // A doorbell of (guest, relid) `delay` from now, if the channel is still
  // attached then: a signal (`at_sender`) or an interrupt reaching its endpoint.
  void DoorbellLater(sim::SimDuration delay, uint16_t guest, uint32_t relid, bool to_host, bool at_sender);
  void OnHostInterrupt(uint32_t vp_index);

  sim::Simulator* const sim_;
  const FabricConfig config_;
  std::vector<std::unique_ptr<Partition>> partitions_;  // [0] is the root.
  std::vector<std::unique_ptr<MonitorPage>> monitor_pages_;  // One per guest.
  std::vector<std::unique_ptr<VmbusServer>> servers_;         // One per guest.
  std::vector<std::unique_ptr<VmbusClient>> clients_;         // One per guest.
  std::vector<std::unique_ptr<DeviceAdapter>> devices_;       // One per guest.
  ChannelHook on_attached_;
  ChannelHook on_detaching_;
  OpenGate open_gate_;
  DataPathOptionsHook options_hook_;
  // Owns the attached channels, in (guest, relid) order.
  std::map<ChannelKey, Channel> channels_;
  // O(1) indexes into channels_ for the per-doorbell paths: per guest, by
  // relid; per host VP, by host event flag. The host side of every channel's
  // doorbell is a flag on its host VP; relids repeat across guests, so the
  // fabric allocates host flags itself: the lowest free flag of that VP
  // (1..2047; bit 0 is reserved as on the guest side).
  // Per guest with a shared channel open: where its shared connection lands
  // and the channels it rings, in relid order.
  struct SharedSignal {
    uint32_t host_vp = 0;
    uint32_t host_flag = 0;
    std::map<uint32_t, Channel*> members;  // By relid.
  };
  // What a host event flag rings: one dedicated channel, or a guest's shared
  // connection (all its members), or nothing.
  struct HostFlagUse {
    Channel* channel = nullptr;
    SharedSignal* shared = nullptr;
  };
  std::vector<std::vector<Channel*>> channel_by_relid_;  // [guest - 1][relid]
  std::vector<std::vector<HostFlagUse>> host_flags_;     // [host VP][flag]
  Channel* FindChannel(uint16_t guest, uint32_t relid);
  std::map<ChannelKey, uint32_t> host_vp_choices_;  // SetHostVp.
  std::map<uint16_t, SharedSignal> shared_signals_;  // By guest; nodes stay put, host_flags_ points at them.
  bool HostFlagFree(uint32_t vp, uint32_t flag) const;
  void RingSharedChannels(SharedSignal& shared);
  // One host doorbell of `channel`, through the fault hook when one is set.
  void RingHostEnd(Channel& channel);
  FabricCounters counters_;
  FaultHook* fault_hook_ = nullptr;
};

}  // namespace vmbsim::fabric

#endif  // VMBSIM_SIM_FABRIC_FABRIC_H_
