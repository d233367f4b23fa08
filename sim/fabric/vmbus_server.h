// vmbus_server.h
//
// The host (root partition) side of the VMBus channel-management protocol
// for one guest partition (spec/vmbus-fabric.md 4.1-4.8, 5.1-5.5, 7.1-7.3).
// It is a message-driven state machine: the guest's control messages arrive
// through HvPostMessage on two message ports of the host partition's SynIC,
// and every reply is a real encoded message sent through the guest's SynIC
// message slot on the guest's control VP, in order.
//
// Ports and ids. The server creates message port 4
// (`VMBUS_MESSAGE_CONNECTION_ID_4`, INITIATE_CONTACT from protocol 5.0) and
// port 1 (`VMBUS_MESSAGE_CONNECTION_ID`, everything below 5.0). From 5.0 the
// guest sends later messages to the id that VERSION_RESPONSE returns; this
// server always returns 1 (`kServerMessageConnectionId`), so one port serves
// both eras and the fabric needs no per-version port (OpenVMM's VTL0 server
// calls port 1 its "normal" message port). Below 5.0 VERSION_RESPONSE carries
// the selected version in that field, as OpenVMM does. Both ports hand
// messages to one handler, which runs as PASSIVE work on the server's host VP
// and charges `host_ctrl_msg_processing` per message plus
// `host_gpadl_per_page` per page when a GPADL completes.
//
// Channels. `OfferChannel` gives an offer the lowest free relid from 1
// (relids are held until the guest's RELID_RELEASED, so a rescinded id is
// never reused early) and the connection id `relid | kVmbusSint << 12`
// (OpenVMM's VTL0 form, spec 3.6: relid 1 -> 0x2001). Monitor ids are given
// when an offer is sent: the lowest free of 128 if the offer is monitored and
// the guest supplied monitor pages, else 0xFF with monitor_allocated = 0
// (OpenVMM `send_offer`). Offers made before the guest's REQUESTOFFERS are
// sent after it, in the order they were made (a sub-channel is offered after
// its primary, whatever their relids), then ALLOFFERS_DELIVERED; later offers
// are hot-adds. Relids stay with their channels across an UNLOAD and a
// reconnect (OpenVMM reassigns them; the spec leaves it open).
//
// Host channel states follow OpenVMM's `ChannelState` (spec 4.7); the device
// side is tracked next to them:
//
//   Closed --OPEN--> Opening --CompleteOpen(ok)--> Open --CLOSE--> Closing
//     ^                 |  (fail: OPEN_RESULT(status))      |         |
//     +-----------------+                                  OPEN       |
//     +------------------------- CompleteClose ------------ | --------+
//                                               ClosingReopen -> Opening
//   any offered state --RescindChannel--> Revoked --RELID_RELEASED--> gone
//   Revoked --OfferChannel(same ids)--> Reoffered --RELID_RELEASED--> Closed (re-sent)
//   Opening/Open/Closing --UNLOAD--> OpeningClientRelease/ClosingClientRelease --> Closed
//
// The device is asked through `VmbusDeviceHandler` (OnOpen / OnClose) and
// answers with CompleteOpen / CompleteClose, possibly much later. A rescind
// of an open channel closes the device side (OnClose); an open still in the
// device when the rescind comes is closed once it completes. A Revoked
// channel is never open on the device side.
//
// GPADLs are keyed by (gpadl id, relid), states InProgress -> Accepted ->
// TearingDown -> removed (spec 5.3). The model's devices do not vet GPADLs, so
// OpenVMM's Offered / OfferedTearingDown states (waiting for the device)
// collapse into Accepted. A GPADL used as the ring of a channel whose device
// holds it (Opening .. close completed) is only marked TearingDown by a
// GPADL_TEARDOWN; GPADL_TORNDOWN is sent when the device releases the ring.
//
// Peer input is never trusted (spec 7.1, 7.2): a message that fails to
// decode, is not valid at the negotiated version, names an unknown relid or
// GPADL, or is illegal in the current state is rejected, not applied,
// recorded in `violations()` and traced (kControlMessage, id1 = 0). Where the
// guest would otherwise wait forever for a reply to a rejected request the
// server still answers with a failure (OpenVMM answers GPADL errors with
// GPADL_CREATED(STATUS_UNSUCCESSFUL)): OPENCHANNEL with bad parameters gets
// OPENCHANNEL_RESULT(kStatusUnsuccessful), a GPADL_HEADER for an unknown relid
// or with bad range data gets GPADL_CREATED(kStatusUnsuccessful), MODIFYCHANNEL
// from Iron gets MODIFYCHANNEL_RESPONSE(kStatusUnsuccessful). OPEN / CLOSE /
// MODIFY for a Revoked channel are legal races and are ignored silently
// (spec 4.6: no reply), and counted.
//
// Timing and re-entrancy: state changes caused by a host-side call
// (OfferChannel, RescindChannel, CompleteOpen, CompleteClose) take effect
// inside the call; messages they send leave at the server VP's clock
// (`LocalNow()`), never earlier than a message sent before them, so the
// guest sees messages in the order the server decided them. Every call into
// the device runs later, as its own PASSIVE work item on the server VP, never
// inside the call or message that caused it.
//
// Not modelled: Copper feature negotiation (the server accepts none, so
// VersionResponse2 reports 0 and OPENCHANNEL is always the 148-byte form),
// server-supplied monitor pages, the interrupt page of protocols below 5.0,
// hvsock (TL_CONNECT), reserved channels (18-20), MODIFY_CONNECTION, pause /
// resume, save / restore, the "unstick" timer and relid reassignment at
// reconnect. Messages of those kinds are rejected as violations.
//
// Single-threaded, like the rest of the model. Everything passed to Create()
// must outlive the server, and the server must outlive every event and VP
// work item it scheduled (destroy it only after the run).

#ifndef VMBSIM_SIM_FABRIC_VMBUS_SERVER_H_
#define VMBSIM_SIM_FABRIC_VMBUS_SERVER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sim/core/sim_time.h"
#include "sim/core/simulator.h"
#include "sim/fabric/fault_hook.h"
#include "sim/fabric/monitor_page.h"
#include "sim/fabric/channel_messages.h"
#include "sim/fabric/cost_model.h"
#include "sim/fabric/gpadl_messages.h"
#include "sim/fabric/packet_format.h"
#include "sim/fabric/synic.h"
#include "sim/fabric/virtual_processor.h"

namespace vmbsim::fabric {

// The message connection id this server returns in VERSION_RESPONSE from
// protocol 5.0 (see the file comment).
inline constexpr uint32_t kServerMessageConnectionId = kVmbusMessageConnectionId;

// Relids 1..2047: bit 0 of the event bitmap is the legacy shared interrupt
// and the bitmap has 2048 bits (spec 3.6, OpenVMM `MAX_CHANNELS`).
inline constexpr uint32_t kRelidMin = 1;
inline constexpr uint32_t kRelidMax = 2047;
// Monitor ids 0..127 (kMonitorIdCount, monitor_page.h): 4 trigger groups of 32.

// Linux's `INVALID_RELID` is not used on the wire; 0 names no channel in
// violations and traces.
inline constexpr uint32_t kNoRelid = 0;

// The guest-to-host event connection id of channel `relid` (spec 3.6,
// OpenVMM `ConnectionId::new` at VTL0).
constexpr uint32_t ChannelConnectionId(uint32_t relid) { return relid | kVmbusSint << 12; }
static_assert(ChannelConnectionId(1) == 0x2001, "spec 3.6 example");
static_assert(ChannelConnectionId(kRelidMax) <= kConnectionIdMask, "fits 24 bits");

// kChannelState / kGpadlState trace value for "no longer exists".
inline constexpr uint64_t kTraceStateRemoved = 0xFF;

enum class ServerConnectionState : uint8_t {
  kDisconnected = 0,
  kConnected = 1,
  // UNLOAD or a reconnecting INITIATE_CONTACT is being processed: devices are
  // closing the channels that were open.
  kDisconnecting = 2,
};

// Values are traced (kChannelState id0 on the host partition).
enum class ServerChannelState : uint8_t {
  kClosed = 0,                // Offered (or waiting for REQUESTOFFERS), not open.
  kOpening = 1,               // OPENCHANNEL accepted; the device has not completed it.
  kOpen = 2,
  kClosing = 3,               // CLOSECHANNEL accepted; the device has not completed it.
  kClosingReopen = 4,         // An OPENCHANNEL arrived while closing; opens after the close.
  kRevoked = 5,               // Rescinded; the guest has not released the relid.
  kReoffered = 6,             // Revoked, and the device offered again; re-sent at release.
  kOpeningClientRelease = 7,  // The guest unloaded while the device was opening.
  kClosingClientRelease = 8,  // The guest unloaded while the device was (or had to be) closing.
};

// Values are traced (kGpadlState id1 on the host partition).
enum class ServerGpadlState : uint8_t {
  kInProgress = 0,   // Header seen, bodies outstanding.
  kAccepted = 1,     // GPADL_CREATED(0) sent.
  kTearingDown = 2,  // GPADL_TEARDOWN seen; waits for the device to release the ring.
};

const char* ServerConnectionStateName(ServerConnectionState state);
const char* ServerChannelStateName(ServerChannelState state);
const char* ServerGpadlStateName(ServerGpadlState state);

// What the host side says about a channel in OFFERCHANNEL (spec 4.2).
struct OfferParams {
  Guid interface_id;
  Guid instance_id;
  uint16_t sub_channel_index = 0;  // 0 = primary; sub-channels repeat the primary's GUIDs.
  uint16_t chn_flags = 0;          // kOfferFlag*.
  uint16_t mmio_megabytes = 0;
  uint16_t mmio_megabytes_optional = 0;
  std::array<uint8_t, 120> user_defined = {};
  // Ask for a monitor id (MNF, spec 3.5); given only if the guest supplied
  // monitor pages.
  bool monitored = false;
  // Monitor latency, which the fabric programs into the guest's monitor page
  // for the channel's monitor id; never sent in the offer (its bytes 40-47
  // are 0, as Windows 8 and later hosts send them). Unset: the fabric's
  // default (the cost model's monitor_latency_default). 0 means 0: the
  // monitor page fires at the first scan.
  std::optional<uint16_t> interrupt_latency_100ns;
  // The server's dedicated/shared choice (sent from Win7). Dedicated (the
  // default; what Windows 8 and later hosts and OpenVMM send): the channel's
  // own guest->host connection id and, when monitored, its own monitor id.
  // Shared: every shared channel of the guest signals the one legacy event
  // connection, VMBUS_EVENT_CONNECTION_ID (2), and, when monitored, shares
  // one monitor id; the host cannot tell which channel signalled and polls
  // them all (Fabric). Host->guest signals are per channel either way.
  bool is_dedicated_interrupt = true;
};

// What the device needs to open a channel: the ring GPADL and the open
// parameters of OPENCHANNEL (spec 4.2, 4.6 "Open").
struct OpenRequest {
  uint32_t openid = 0;
  uint32_t ring_gpadl_id = 0;
  std::vector<uint64_t> ring_pages;               // Every PFN of the ring GPADL, in order.
  uint32_t downstream_ringbuffer_pageoffset = 0;  // 0 < offset < ring_pages.size().
  uint32_t target_vp = 0;                         // Guest VP, or kVpIndexDisableInterrupt.
  std::array<uint8_t, 120> userdata = {};
};

// The device behind the server's channels. Every method runs as PASSIVE work
// on the server's VP, never inside the call that caused it.
class VmbusDeviceHandler {
 public:
  virtual ~VmbusDeviceHandler() = default;
  // The guest opens `relid`. Answer with VmbusServer::CompleteOpen, now or later.
  virtual void OnOpen(uint32_t relid, const OpenRequest& request) = 0;
  // The device must stop using `relid`'s ring (guest close, rescind or
  // unload). Answer with VmbusServer::CompleteClose, now or later.
  virtual void OnClose(uint32_t relid) = 0;
  // MODIFYCHANNEL moved `relid`'s host-to-guest interrupts to `target_vp`.
  virtual void OnModifyChannel(uint32_t relid, uint32_t target_vp) {}
};

struct VmbusServerOptions {
  // Versions accepted in INITIATE_CONTACT, by exact match (spec 4.3).
  std::vector<uint32_t> supported_versions{kKnownVersions.begin(), kKnownVersions.end()};
  // Buffers per message port (spec 3.2: 16).
  size_t port_buffer_count = kPortBufferCountDefault;
};

// One rejected peer message (spec 7.2).
struct ServerViolation {
  sim::SimTime time;
  const char* side = "host";  // Who rejected it.
  uint32_t msgtype = 0;       // As read from the message header (0 if too short).
  uint32_t relid = kNoRelid;  // The relid the message named, if any.
  std::string reason;
};

// Totals; all only go up.
struct VmbusServerCounters {
  uint64_t messages_received = 0;
  uint64_t messages_rejected = 0;
  uint64_t messages_sent = 0;
  uint64_t versions_refused = 0;          // INITIATE_CONTACT answered version_supported = 0.
  uint64_t offers_sent = 0;
  uint64_t rescinds_sent = 0;
  uint64_t gpadls_accepted = 0;
  uint64_t gpadl_pages_accepted = 0;
  uint64_t gpadls_failed = 0;             // GPADL_CREATED with a failure status.
  uint64_t gpadls_torn_down = 0;          // GPADL_TORNDOWN sent.
  uint64_t opens_ignored_revoked = 0;     // OPEN / CLOSE / MODIFY for a Revoked channel.
  uint64_t closes_ignored_revoked = 0;
  uint64_t modifies_ignored_revoked = 0;
};

// A snapshot of one channel, for the fabric and for tests.
struct ServerChannelInfo {
  uint32_t relid = kNoRelid;
  ServerChannelState state = ServerChannelState::kClosed;
  OfferParams offer;
  uint32_t connection_id = 0;
  uint8_t monitor_id = kMonitorIdNone;   // kMonitorIdNone when none is allocated.
  bool offer_sent = false;               // The guest knows the channel on this connection.
  // While the device holds the ring (Opening until its close completes):
  std::optional<uint32_t> ring_gpadl_id;
  uint32_t downstream_ringbuffer_pageoffset = 0;
  uint32_t target_vp = 0;                // Host-to-guest interrupt VP (MODIFYCHANNEL updates it).
  uint32_t openid = 0;
};

class VmbusServer {
 public:
  // Creates the server of the guest whose SynIC is `*guest_synic`, receiving
  // on `*host_synic` (the root partition's) and working on `*host_vp` (a VP of
  // the root partition). Creates message ports 4 and 1 on `*host_synic`.
  // Errors: InvalidArgument for an empty or unknown supported version, or a
  // host VP of another partition; the port errors of Synic::CreatePort (e.g.
  // AlreadyExists when a port id is taken).
  static absl::StatusOr<std::unique_ptr<VmbusServer>> Create(
      sim::Simulator* sim, const CostModel* costs, Synic* host_synic, VirtualProcessor* host_vp,
      Synic* guest_synic, VmbusServerOptions options = {});

  VmbusServer(const VmbusServer&) = delete;
  VmbusServer& operator=(const VmbusServer&) = delete;
  // Port messages that arrive after destruction are dropped.
  ~VmbusServer();

  // Installs the device behind every channel (replacing any earlier one);
  // null means none: opens and closes then complete at once, successfully.
  // REQUIRES: `*handler` outlives the server or is replaced.
  void SetDeviceHandler(VmbusDeviceHandler* handler) { device_ = handler; }
  // Asks `hook` (fault_hook.h) at every GPADL_HEADER it would accept
  // (kGpadlCreate: kFail answers GPADL_CREATED with a failure status) and
  // every GPADL_TEARDOWN it accepts (kGpadlTeardown, notification), naming
  // guest `guest`. Null removes it.
  void SetFaultHook(FaultHook* hook, uint16_t guest) {
    fault_hook_ = hook;
    fault_guest_ = guest;
  }

  // ---- Host-side calls (device / fabric).

  // Offers a channel and returns its relid. Sent at once if the guest has
  // asked for offers on the current connection, else after its REQUESTOFFERS.
  // If `params` names the same (interface, instance, sub-channel index) as a
  // Revoked channel, that channel becomes Reoffered and its relid is returned:
  // the new offer goes out, with that relid, right after the guest releases it.
  // Errors: FailedPrecondition for a sub-channel whose primary is not offered
  // (or is revoked), or a re-offer while the revoked instance is still
  // closing in the device; AlreadyExists for a live channel with the same
  // ids; ResourceExhausted when all 2047 relids are held.
  absl::StatusOr<uint32_t> OfferChannel(const OfferParams& params);

  // Rescinds `relid` (spec 4.6 "Rescind"): GPADLs of the channel still in
  // progress are failed (GPADL_CREATED(kStatusUnsuccessful)), the device is
  // told to close if it holds the channel open, the channel becomes Revoked
  // and RESCIND_CHANNELOFFER is sent. A channel the guest has not been
  // offered on this connection is simply withdrawn (no message).
  // Errors: NotFound for an unknown relid; FailedPrecondition if it is
  // already Revoked or Reoffered.
  absl::Status RescindChannel(uint32_t relid);

  // The device's answer to OnOpen. `status` is kStatusSuccess or an NTSTATUS
  // failure, sent to the guest in OPENCHANNEL_RESULT. If the channel was
  // rescinded or the guest unloaded meanwhile, nothing is sent and a
  // successful open is closed again (OnClose follows).
  // Errors: NotFound for an unknown relid; FailedPrecondition if no open of
  // `relid` is waiting for the device.
  absl::Status CompleteOpen(uint32_t relid, uint32_t status);

  // The device's answer to OnClose: it no longer uses the ring. Deferred
  // GPADL_TORNDOWN replies for the ring go out; a reopen that was waiting
  // starts; an UNLOAD waiting for the last device completes.
  // Errors: NotFound for an unknown relid; FailedPrecondition if no close of
  // `relid` is waiting for the device.
  absl::Status CompleteClose(uint32_t relid);

  // ---- State, for the fabric and for tests.

  ServerConnectionState connection_state() const { return connection_state_; }
  uint32_t version() const { return version_; }        // kVersionNotNegotiated unless connected.
  uint32_t target_vcpu() const { return target_vcpu_; }  // Guest VP receiving control messages.
  bool offers_requested() const { return offers_requested_; }

  std::vector<uint32_t> relids() const;  // Ascending.
  std::optional<ServerChannelState> channel_state(uint32_t relid) const;
  // NotFound for an unknown relid.
  absl::StatusOr<ServerChannelInfo> channel(uint32_t relid) const;
  // The ring pages of `relid` while the device holds the ring, as passed in
  // OnOpen. NotFound for an unknown relid; FailedPrecondition with no ring.
  absl::StatusOr<std::vector<uint64_t>> RingPages(uint32_t relid) const;

  std::optional<ServerGpadlState> gpadl_state(uint32_t relid, uint32_t gpadl_id) const;
  // Every PFN of a GPADL that is complete (Accepted or TearingDown), in
  // order. NotFound if there is none with that key; FailedPrecondition while
  // it is in progress.
  absl::StatusOr<std::vector<uint64_t>> GpadlPages(uint32_t relid, uint32_t gpadl_id) const;
  absl::StatusOr<std::vector<GpaRange>> GpadlRanges(uint32_t relid, uint32_t gpadl_id) const;
  size_t gpadl_count() const { return gpadls_.size(); }

  const std::vector<ServerViolation>& violations() const { return violations_; }
  const VmbusServerCounters& counters() const { return counters_; }

  // Whole-state validation (O(channels + GPADLs)); aborts on a broken
  // invariant. Tests call it after every event.
  void CheckInvariants() const;

 private:
  enum class DeviceStage : uint8_t {
    kIdle,          // The device does not hold the channel.
    kOpenPending,   // OnOpen issued, CompleteOpen awaited.
    kOpen,          // The device has the channel open (and maps the ring).
    kClosePending,  // OnClose issued, CompleteClose awaited.
  };

  // What happens when a disconnect completes.
  enum class DisconnectAction : uint8_t { kSendUnloadResponse, kReconnect };

  struct OpenParams {
    uint32_t openid = 0;
    uint32_t ring_gpadl_id = 0;
    uint32_t downstream_ringbuffer_pageoffset = 0;
    uint32_t target_vp = 0;
    std::array<uint8_t, 120> userdata = {};
  };

  struct Channel {
    uint32_t relid = kNoRelid;
    OfferParams offer;
    uint64_t offer_sequence = 0;  // Order of OfferChannel calls: the REQUESTOFFERS order.
    uint8_t monitor_id = kMonitorIdNone;
    ServerChannelState state = ServerChannelState::kClosed;
    DeviceStage device = DeviceStage::kIdle;
    bool offer_sent = false;
    // Revoked only: the guest released the relid (or unloaded) while the
    // device still held the channel; the record goes when the device is done.
    bool client_released = false;
    std::optional<OpenParams> open;    // Set exactly while device != kIdle.
    std::optional<OpenParams> reopen;  // kClosingReopen only.
    std::optional<OfferParams> reoffer;  // kReoffered only.
    uint32_t target_vp = 0;            // Last target VP (kept after close for the accessor).
  };

  struct Gpadl {
    ServerGpadlState state = ServerGpadlState::kInProgress;
    // In progress only: GPADL_CREATED(failure) already went out because the
    // channel was rescinded; the rest of the bodies are absorbed and the
    // GPADL is dropped when complete.
    bool create_failed = false;
    std::vector<GpaRange> ranges;  // Once complete.
    uint64_t page_count = 0;
  };
  using GpadlKey = std::pair<uint32_t, uint32_t>;  // (gpadl id, relid).

  VmbusServer(sim::Simulator* sim, const CostModel* costs, Synic* host_synic,
              VirtualProcessor* host_vp, Synic* guest_synic, VmbusServerOptions options);

  // Receive path.
  void OnPortMessage(uint32_t port_id, std::vector<uint8_t> bytes);
  void Dispatch(const ChannelMessage& message);
  void HandleInitiateContact(const InitiateContact& contact);
  void HandleRequestOffers();
  void HandleOpenChannel(const OpenChannel& open);
  void HandleCloseChannel(const CloseChannel& close);
  void HandleGpadlHeader(const GpadlHeader& header);
  void HandleGpadlBody(const GpadlBody& body);
  void HandleGpadlTeardown(const GpadlTeardown& teardown);
  void HandleRelidReleased(const RelidReleased& released);
  void HandleUnload();
  void HandleModifyChannel(const ModifyChannel& modify);

  void Accept(ChannelMessageType type, uint32_t relid);
  // Records a violation; Reject also counts and traces the rejected message.
  void RecordViolation(uint32_t msgtype, uint32_t relid, std::string reason);
  void Reject(uint32_t msgtype, uint32_t relid, std::string reason);
  void Reject(ChannelMessageType type, uint32_t relid, std::string reason) {
    Reject(static_cast<uint32_t>(type), relid, std::move(reason));
  }
  // The channel the guest was offered on this connection, or null.
  Channel* FindOffered(uint32_t relid);
  // The common preamble of a guest request naming a channel: the connection
  // is up and `relid` names an offered channel. Otherwise rejects the
  // message (recorded with `wire_name`) and returns null. Revoked channels
  // are returned: each request treats them differently.
  Channel* ChannelForRequest(ChannelMessageType type, uint32_t relid, const char* wire_name);

  // Connection.
  void CompleteContact(const InitiateContact& contact);
  void BeginDisconnect(DisconnectAction action);
  void MaybeFinishDisconnect();

  // Channels.
  void SendOffer(Channel& channel);
  // Validates an OPENCHANNEL against `channel`; returns the reason it is bad.
  std::optional<std::string> ValidateOpen(const Channel& channel, const OpenChannel& open,
                                          OpenParams* params) const;
  void StartDeviceOpen(Channel& channel, const OpenParams& params);
  void StartDeviceClose(Channel& channel);
  void FinishOpen(Channel& channel, uint32_t status);
  void FinishClose(Channel& channel);
  // The device stopped holding `channel`: frees its ring GPADL's deferred
  // teardown. REQUIRES: channel.device != kIdle.
  void ReleaseDevice(Channel& channel);
  void RemoveChannel(uint32_t relid);
  void SetState(Channel& channel, ServerChannelState state);
  uint8_t AllocateMonitorId(const Channel& channel);
  void FreeMonitorId(Channel& channel);
  // The guest->host event connection of a channel: its own, or the shared one.
  static uint32_t ConnectionIdOf(uint32_t relid, const OfferParams& offer);

  // GPADLs.
  // Handles the message that completed GPADL `key`'s range data: validates
  // the ranges and answers GPADL_CREATED, or rejects `type`.
  void CompleteGpadl(ChannelMessageType type, const GpadlKey& key);
  // Drops a GPADL that can never be accepted; answers GPADL_CREATED(failure)
  // unless the rescind already did.
  void FailGpadl(const GpadlKey& key);
  void RemoveGpadl(const GpadlKey& key);
  // Removes every GPADL of `relid`, except the ring the device holds.
  void RemoveChannelGpadls(uint32_t relid, std::optional<uint32_t> keep_gpadl_id);
  void SetGpadlState(const GpadlKey& key, ServerGpadlState state);

  // Effects.
  void Send(const ChannelMessage& message) { SendTo(target_vcpu_, message); }
  void SendTo(uint32_t guest_vp, const ChannelMessage& message);
  void Defer(std::function<void()> call);
  void RunDeferred(uint64_t call_id);
  void Trace(uint16_t kind, uint32_t relid, uint64_t id0, uint64_t id1 = 0, uint64_t size0 = 0);

  sim::Simulator* const sim_;
  const CostModel* const costs_;
  Synic* const host_synic_;
  VirtualProcessor* const host_vp_;
  Synic* const guest_synic_;
  const VmbusServerOptions options_;
  VmbusDeviceHandler* device_ = nullptr;
  FaultHook* fault_hook_ = nullptr;
  uint16_t fault_guest_ = 0;

  ServerConnectionState connection_state_ = ServerConnectionState::kDisconnected;
  uint32_t version_ = kVersionNotNegotiated;
  uint32_t target_vcpu_ = 0;
  bool monitor_pages_ = false;
  bool offers_requested_ = false;
  DisconnectAction disconnect_action_ = DisconnectAction::kSendUnloadResponse;
  uint32_t disconnect_version_ = kVersionNotNegotiated;  // Version being unloaded.
  std::optional<InitiateContact> reconnect_contact_;

  // Ordered containers only (determinism contract).
  std::map<uint32_t, Channel> channels_;  // By relid.
  uint64_t next_offer_sequence_ = 0;
  std::array<bool, kMonitorIdCount> monitor_id_used_ = {};
  // The monitor id the shared-interrupt channels hold together, and how many
  // hold it (it is freed with the last).
  uint8_t shared_monitor_id_ = kMonitorIdNone;
  uint32_t shared_monitor_holders_ = 0;
  std::map<GpadlKey, Gpadl> gpadls_;
  GpadlAssembler assembler_;

  // What the port handlers call: the server, or null once it is destroyed
  // (ports live as long as the Synic).
  std::shared_ptr<VmbusServer*> port_target_;
  std::map<uint64_t, std::function<void()>> deferred_;
  uint64_t next_deferred_id_ = 0;
  sim::SimTime last_send_time_;

  std::vector<ServerViolation> violations_;
  VmbusServerCounters counters_;
};

}  // namespace vmbsim::fabric

#endif  // VMBSIM_SIM_FABRIC_VMBUS_SERVER_H_
