// vmbus_client.h
//
// The guest side of the VMBus channel-management protocol
// (spec/vmbus-fabric.md 4.1-4.8, 5.1-5.5, 7.1-7.3), as a Linux-like guest
// drives it: a message-driven state machine that posts encoded control
// messages to the host with HvPostMessage and handles the host's messages
// from the guest's SINT-2 message slot.
//
// Sending. Every guest-to-host message goes through one FIFO outbox that a
// PASSIVE work item on the client's VP drains back-to-back, each post
// charging `hypercall_post_message` (synic.h), so a GPADL's header and
// bodies leave one after another without waiting (spec 5.2) and nothing is
// ever reordered. A post refused with HV_STATUS_INSUFFICIENT_BUFFERS (or
// _MEMORY) is retried the way Linux's `vmbus_post_msg` does (spec 3.2): up to
// 100 tries per message, the wait starting at 1 us and doubling on each of
// the first 21 retries (so at most 2^21 us, about 2.1 s). A wait of up to
// 1 ms is a busy wait that occupies the VP (`udelay`); a longer one sleeps
// and leaves the VP free (`msleep`). After the 100th refusal, or at once on
// any other failure, the message is dropped, recorded in `post_failures()`,
// and the request it belonged to fails (INITIATE_CONTACT refused with
// INVALID_CONNECTION_ID on id 4 means "host older than 5.0", so the next
// lower version is tried instead). Later messages wait behind a message
// being retried, as they would behind Linux's blocked caller.
//
// Connection ids: INITIATE_CONTACT goes to id 4 from protocol 5.0 and to id 1
// below; later messages to VERSION_RESPONSE's msg_conn_id from 5.0, id 1
// below (spec 3.2, 4.6).
//
// Receiving. The fabric installs the guest ISR and forwards it to
// `OnInterrupt(vp)`, which follows the ISR order of spec 3.1: it takes the
// VP's event flags and hands every one, in ascending order, to the channel
// event handler, and only then reads the message slot, ends the message
// (EOM) and decodes and handles the copy. Messages are handled inside the
// ISR (at DISPATCH, on whichever VP received them); anything the client
// calls back (listener, request callbacks) runs later as its own PASSIVE
// work item on the client's VP, never inside the call that caused it.
//
// Peer input is never trusted (spec 7.1, 7.2): a host message that fails to
// decode at the negotiated version, names an unknown relid or GPADL, or is
// illegal in the current state (an OPEN_RESULT for a channel that is not
// opening, a second ALLOFFERS_DELIVERED, ...) is rejected, not applied,
// recorded in `violations()` and traced (kControlMessage, id1 = 0). The slot
// is still freed (Linux frees it and drops the message).
//
// Requests: `Connect` tries the known versions from `max_version` down
// until the host says version_supported = 1, then sends REQUESTOFFERS once.
// GPADL ids come from a counter starting at 0xE1E10 (Linux
// `next_gpadl_handle`). OPENCHANNEL uses openid = relid and OPENCHANNEL_RESULT
// is matched on (relid, openid) (Linux). A rescind wakes the requests
// waiting on that channel (spec 7.3): an open fails with
// kStatusUnsuccessful, a GPADL create fails with kStatusUnsuccessful, a
// teardown succeeds, a modify fails; a late host reply to any of those is
// then absorbed without a violation. RELID_RELEASED goes out once no reply
// for the channel is outstanding (spec 4.6 "Rescind" step 3). MODIFYCHANNEL
// completes on MODIFYCHANNEL_RESPONSE from Iron and as soon as it is posted
// below (no ack exists). UNLOAD is skipped below Win8.1 as Linux does: the
// client forgets the connection locally.
//
// Traces (partition = the guest's): kControlMessage per handled message;
// kChannelState id0 = ClientChannelState, id1 = 1 once rescinded,
// 0xFF when the offer is dropped; kGpadlState id0 = gpadl id, id1 =
// ClientGpadlState or 0xFF when dropped; kConnectionState id0 =
// ClientConnectionState, id1 = version.
//
// Not modelled: rings and their initialisation (the data path owns them),
// Copper features (INITIATE_CONTACT asks for none; OPENCHANNEL2 is never
// sent), the interrupt page below 5.0 (only its GPA is passed), hvsock,
// reserved channels, save/restore, and Linux's separate offer and rescind
// work queues (messages are handled in arrival order; the listener sees them
// in that order).
//
// Single-threaded. Everything passed to the constructor must outlive the
// client, and the client must outlive every event and VP work item it
// scheduled (destroy it only after the run).

#ifndef VMBSIM_SIM_FABRIC_VMBUS_CLIENT_H_
#define VMBSIM_SIM_FABRIC_VMBUS_CLIENT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "sim/core/sim_time.h"
#include "sim/core/simulator.h"
#include "sim/fabric/channel_messages.h"
#include "sim/fabric/packet_format.h"
#include "sim/fabric/synic.h"
#include "sim/fabric/virtual_processor.h"

namespace vmbsim::fabric {

// The first GPADL id the client hands out (Linux `next_gpadl_handle`).
inline constexpr uint32_t kFirstGpadlId = 0xE1E10;
// Linux `vmbus_post_msg`: tries per message, and how many retries double the wait.
inline constexpr uint32_t kPostMessageTriesMax = 100;
inline constexpr uint32_t kPostMessageDoublingsMax = 21;
// Longest retry wait spent spinning (`udelay`); longer ones sleep (`msleep`).
inline constexpr int64_t kPostRetryBusyWaitMaxNs = 1000 * 1000;

enum class ClientConnectionState : uint8_t {
  kDisconnected = 0,
  kConnecting = 1,     // INITIATE_CONTACT posted, VERSION_RESPONSE awaited.
  kConnected = 2,
  kDisconnecting = 3,  // UNLOAD posted, UNLOAD_RESPONSE awaited.
};

// Linux / OpenVMM client states (spec 4.7). A rescind is a separate flag: a
// rescinded channel stays Opened until its driver closes it.
enum class ClientChannelState : uint8_t {
  kOffered = 0,  // Offer processed, not open (Linux CHANNEL_OPEN_STATE).
  kOpening = 1,  // OPENCHANNEL posted, OPENCHANNEL_RESULT awaited.
  kOpened = 2,
};

enum class ClientGpadlState : uint8_t {
  kCreating = 0,     // Header and bodies posted, GPADL_CREATED awaited.
  kCreated = 1,
  kTearingDown = 2,  // GPADL_TEARDOWN posted, GPADL_TORNDOWN awaited.
};

const char* ClientConnectionStateName(ClientConnectionState state);
const char* ClientChannelStateName(ClientChannelState state);
const char* ClientGpadlStateName(ClientGpadlState state);

// Told about the bus. Every method runs as PASSIVE work on the client's VP.
class VmbusClientListener {
 public:
  virtual ~VmbusClientListener() = default;
  virtual void OnOffer(const OfferChannel& offer) {}
  virtual void OnRescind(uint32_t relid) {}
  virtual void OnAllOffersDelivered() {}
};

struct VmbusClientOptions {
  // The guest VP the client's own work (posting, callbacks) runs on.
  uint32_t vp_index = 0;
  // The guest VP that receives control messages (INITIATE_CONTACT
  // target_vcpu; honoured by hosts from Win8.1).
  uint32_t target_vcpu = 0;
  // Monitor pages passed in INITIATE_CONTACT (0 = none; both or neither).
  uint64_t monitor_page1_gpa = 0;  // Parent to child.
  uint64_t monitor_page2_gpa = 0;  // Child to parent.
  // Passed below 5.0 (the page itself is not modelled).
  uint64_t interrupt_page_gpa = 0;
  // Linux skips GPADL_TEARDOWN for a rescinded channel and completes it
  // locally (the host drops the GPADL at RELID_RELEASED); by default the
  // client sends it and the host answers at once (spec 5.3).
  bool skip_teardown_when_rescinded = false;
};

// One rejected peer message (spec 7.2).
struct ClientViolation {
  sim::SimTime time;
  const char* side = "guest";  // Who rejected it.
  uint32_t msgtype = 0;        // As read from the message header (0 if too short).
  uint32_t relid = 0;          // The relid the message named, if any.
  std::string reason;
};

// A message the client gave up posting.
struct PostFailure {
  sim::SimTime time;
  ChannelMessageType type = ChannelMessageType::kInvalid;
  uint32_t relid = 0;
  uint32_t gpadl_id = 0;  // GPADL messages only.
  HvStatus status = HvStatus::kSuccess;  // The last refusal.
  uint32_t tries = 0;
};

// Totals; all only go up.
struct VmbusClientCounters {
  uint64_t contact_attempts = 0;   // INITIATE_CONTACT messages queued.
  uint64_t posts = 0;              // Accepted by HvPostMessage.
  uint64_t post_retries = 0;       // Refusals (insufficient buffers/memory) that were retried.
  uint64_t post_failures = 0;      // Messages given up.
  uint64_t messages_received = 0;  // Host messages taken from the slot.
  uint64_t messages_rejected = 0;
};

class VmbusClient {
 public:
  using ConnectCallback = std::function<void(absl::StatusOr<uint32_t> version)>;
  using GpadlCallback = std::function<void(uint32_t status, uint32_t gpadl_id)>;
  // Open, teardown and modify: kStatusSuccess or a failure status.
  using StatusCallback = std::function<void(uint32_t status)>;
  using UnloadCallback = std::function<void(absl::Status status)>;
  using ChannelEventHandler = std::function<void(uint32_t flag)>;

  // A client of the guest partition of `*guest_synic`, whose VPs are
  // `guest_vps` (guest_vps[i] is VP i), posting to `*host_synic`.
  // REQUIRES: guest_vps are exactly guest_synic's VPs, in order;
  // options.vp_index and options.target_vcpu name two of them; the two
  // synics are different partitions.
  VmbusClient(sim::Simulator* sim, Synic* guest_synic,
              absl::Span<VirtualProcessor* const> guest_vps, Synic* host_synic,
              VmbusClientOptions options = {});
  VmbusClient(const VmbusClient&) = delete;
  VmbusClient& operator=(const VmbusClient&) = delete;

  // REQUIRES: `*listener` outlives the client or is replaced; null = none.
  void SetListener(VmbusClientListener* listener) { listener_ = listener; }
  // Receives every event flag the ISR takes, before the message slot is read
  // (the fabric maps flags to channels; bit 0 is passed too).
  void SetChannelEventHandler(ChannelEventHandler handler) { event_handler_ = std::move(handler); }

  // The guest ISR for SINT 2 of `vp_index`; the fabric calls it from the
  // handler it installs with Synic::SetInterruptHandler.
  // REQUIRES: called from the ISR work item of `vp_index`.
  void OnInterrupt(uint32_t vp_index);

  // ---- Requests. Each validates its arguments now (driver input: Status)
  // and completes later through its callback, from work on the client's VP.

  // Negotiates a version, trying kKnownVersions from `max_version` down.
  // `callback` gets the version, or Unavailable when the host accepts none of
  // them or refuses the connection. On success REQUESTOFFERS has been queued
  // and offers follow through the listener.
  // Errors: FailedPrecondition unless disconnected; InvalidArgument if no
  // known version is <= max_version.
  absl::Status Connect(uint32_t max_version, ConnectCallback callback);

  // Creates a GPADL over `ranges` for channel `relid` and returns its id;
  // `callback(status, id)` runs on GPADL_CREATED (or a rescind).
  // Errors: FailedPrecondition if not connected or the channel is rescinded;
  // NotFound for an unknown relid; the InvalidArgument of SplitGpadl.
  absl::StatusOr<uint32_t> CreateGpadl(uint32_t relid, absl::Span<const GpaRange> ranges,
                                       GpadlCallback callback);

  // Opens `relid` on ring GPADL `ring_gpadl_id` (both rings; the first
  // `downstream_ringbuffer_pageoffset` pages are the guest-to-host ring).
  // The host validates the offset and target VP.
  // Errors: FailedPrecondition if not connected, the channel is rescinded or
  // not Offered, or the GPADL is not Created; NotFound for an unknown relid
  // or GPADL of that channel.
  absl::Status OpenChannel(uint32_t relid, uint32_t ring_gpadl_id,
                           uint32_t downstream_ringbuffer_pageoffset, uint32_t target_vp,
                           const std::array<uint8_t, 120>& userdata, StatusCallback callback);

  // Posts CLOSECHANNEL (no reply exists) and makes the channel Offered again;
  // sent for a rescinded channel too, as Linux does. The ring GPADL stays
  // until TeardownGpadl. Errors: FailedPrecondition if not connected or not
  // Opened; NotFound for an unknown relid.
  absl::Status CloseChannel(uint32_t relid);

  // Tears GPADL `gpadl_id` of `relid` down; `callback(status)` runs on
  // GPADL_TORNDOWN (or a rescind). The host answers only once no open ring
  // uses it. Errors: FailedPrecondition if not connected or the GPADL is not
  // Created; NotFound for an unknown GPADL of that channel.
  absl::Status TeardownGpadl(uint32_t relid, uint32_t gpadl_id, StatusCallback callback);

  // Releases a rescinded relid: drops its Created GPADLs (the host drops them
  // too) and posts RELID_RELEASED once no reply for the channel is
  // outstanding; the offer is forgotten then. Errors: FailedPrecondition if
  // not connected, not rescinded, not closed or already released; NotFound
  // for an unknown relid.
  absl::Status ReleaseRelid(uint32_t relid);

  // Moves host-to-guest interrupts of an Opened channel to `target_vp`.
  // Errors: FailedPrecondition below protocol 4.1 (Win10Rs3_0), if not
  // Opened, rescinded or a modify is outstanding; NotFound for an unknown relid.
  absl::Status ModifyChannel(uint32_t relid, uint32_t target_vp, StatusCallback callback);

  // Unloads: UNLOAD, then on UNLOAD_RESPONSE every offer and GPADL is
  // forgotten and waiting requests fail. Errors: FailedPrecondition unless
  // connected.
  absl::Status Unload(UnloadCallback callback);

  // ---- State.

  ClientConnectionState connection_state() const { return connection_state_; }
  uint32_t version() const { return version_; }  // kVersionNotNegotiated unless connected.
  uint32_t message_connection_id() const { return msg_conn_id_; }
  bool all_offers_delivered() const { return all_offers_delivered_; }
  std::vector<uint32_t> relids() const;  // Offers held, ascending.
  // Null for an unknown relid.
  const OfferChannel* offer(uint32_t relid) const;
  std::optional<ClientChannelState> channel_state(uint32_t relid) const;
  bool rescinded(uint32_t relid) const;
  std::optional<ClientGpadlState> gpadl_state(uint32_t gpadl_id) const;
  size_t gpadl_count() const { return gpadls_.size(); }
  size_t outbox_depth() const { return outbox_.size(); }

  const std::vector<ClientViolation>& violations() const { return violations_; }
  const std::vector<PostFailure>& post_failures() const { return post_failures_; }
  const VmbusClientCounters& counters() const { return counters_; }

  // Whole-state validation; aborts on a broken invariant. Tests call it
  // after every event.
  void CheckInvariants() const;

 private:
  struct Channel {
    fabric::OfferChannel offer;
    ClientChannelState state = ClientChannelState::kOffered;
    bool rescinded = false;
    bool release_requested = false;  // RELID_RELEASED waits for outstanding replies.
    uint32_t openid = 0;
    StatusCallback open_callback;     // Set exactly while kOpening.
    StatusCallback modify_callback;   // Set exactly while a modify is outstanding.
  };

  struct Gpadl {
    uint32_t relid = 0;
    ClientGpadlState state = ClientGpadlState::kCreating;
    // The rescind already completed the request; the host's late reply is
    // absorbed (and only then is the record dropped).
    bool abandoned = false;
    GpadlCallback create_callback;
    StatusCallback teardown_callback;
  };

  struct Outgoing {
    ChannelMessageType type = ChannelMessageType::kInvalid;
    uint32_t relid = 0;
    uint32_t gpadl_id = 0;
    uint32_t connection_id = 0;
    std::vector<uint8_t> bytes;
    uint32_t failed_tries = 0;
  };

  // Sending.
  void Enqueue(const ChannelMessage& message, uint32_t relid, uint32_t gpadl_id,
               uint32_t connection_id);
  void Enqueue(const ChannelMessage& message, uint32_t relid = 0, uint32_t gpadl_id = 0) {
    Enqueue(message, relid, gpadl_id, msg_conn_id_);
  }
  void StartPump();
  void Pump();
  void OnPosted(const Outgoing& posted);
  void GiveUp(Outgoing failed, HvStatus status);

  // Connection.
  void SendContact();
  void TryNextVersion();
  void FailConnect(absl::Status status);
  void SetConnectionState(ClientConnectionState state);
  // Forgets every offer and GPADL and fails what waited on them.
  void ClearConnection();

  // Receiving.
  void HandleMessage(std::vector<uint8_t> bytes);
  void HandleVersionResponse(const VersionResponse& response);
  void HandleOffer(const fabric::OfferChannel& offer);
  void HandleRescind(const RescindChannelOffer& rescind);
  void HandleAllOffersDelivered();
  void HandleOpenResult(const OpenResult& result);
  void HandleGpadlCreated(const GpadlCreated& created);
  void HandleGpadlTorndown(const GpadlTorndown& torndown);
  void HandleUnloadResponse();
  void HandleModifyChannelResponse(const ModifyChannelResponse& response);
  void Accept(ChannelMessageType type, uint32_t relid);
  void Reject(uint32_t msgtype, uint32_t relid, std::string reason);
  void Reject(ChannelMessageType type, uint32_t relid, std::string reason) {
    Reject(static_cast<uint32_t>(type), relid, std::move(reason));
  }

  // Channels and GPADLs.
  void SetChannelState(uint32_t relid, Channel& channel, ClientChannelState state);
  void SetGpadlState(uint32_t gpadl_id, Gpadl& gpadl, ClientGpadlState state);
  void EraseGpadl(uint32_t gpadl_id);
  // Posts RELID_RELEASED for `relid` if it was requested and nothing waits.
  void MaybeRelease(uint32_t relid);

  // Effects.
  sim::SimTime ContextNow() const;
  // The VP running the client's code now: the ISR's, else the client's own.
  const VirtualProcessor& ContextVp() const;
  // Queues `call` (or the pump, when `call` is empty) as PASSIVE work on the
  // client's VP, no earlier than ContextNow().
  void QueueOnOwnVp(std::optional<uint64_t> call_id);
  void Defer(std::function<void()> call);
  void RunDeferred(uint64_t call_id);
  void Trace(uint16_t kind, uint32_t relid, uint64_t id0, uint64_t id1);

  sim::Simulator* const sim_;
  Synic* const guest_synic_;
  const std::vector<VirtualProcessor*> guest_vps_;
  VirtualProcessor* const vp_;  // guest_vps_[options_.vp_index].
  Synic* const host_synic_;
  const VmbusClientOptions options_;
  VmbusClientListener* listener_ = nullptr;
  ChannelEventHandler event_handler_;
  // The VP whose ISR is running the client, if any.
  std::optional<uint32_t> isr_vp_index_;

  ClientConnectionState connection_state_ = ClientConnectionState::kDisconnected;
  uint32_t version_ = kVersionNotNegotiated;
  uint32_t msg_conn_id_ = kVmbusMessageConnectionId;
  std::vector<uint32_t> candidate_versions_;  // Newest first.
  size_t candidate_index_ = 0;
  uint32_t awaiting_version_ = kVersionNotNegotiated;  // INITIATE_CONTACT outstanding.
  ConnectCallback connect_callback_;
  UnloadCallback unload_callback_;
  bool offers_requested_ = false;
  bool all_offers_delivered_ = false;

  // Ordered containers only (determinism contract).
  std::map<uint32_t, Channel> channels_;  // By relid.
  std::map<uint32_t, Gpadl> gpadls_;      // By GPADL id (unique client-wide).
  uint32_t next_gpadl_id_ = kFirstGpadlId;

  std::deque<Outgoing> outbox_;
  bool pump_scheduled_ = false;  // A pump item is queued or a retry wait runs.

  std::map<uint64_t, std::function<void()>> deferred_;
  uint64_t next_deferred_id_ = 0;

  std::vector<ClientViolation> violations_;
  std::vector<PostFailure> post_failures_;
  VmbusClientCounters counters_;
};

}  // namespace vmbsim::fabric

#endif  // VMBSIM_SIM_FABRIC_VMBUS_CLIENT_H_
