#include "sim/fabric/vmbus_server.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "sim/check.h"
#include "sim/core/trace.h"
#include "sim/fabric/trace_kinds.h"

namespace vmbsim::fabric {

using sim::SimDuration;
using sim::SimTime;

namespace {

// The msgtype word of raw bytes that did not decode (0 if there is none).
uint32_t RawMessageType(const std::vector<uint8_t>& bytes) {
  if (bytes.size() < 4) return 0;
  return uint32_t{bytes[0]} | uint32_t{bytes[1]} << 8 | uint32_t{bytes[2]} << 16 |
         uint32_t{bytes[3]} << 24;
}

bool IsKnownVersion(uint32_t version) {
  return std::find(kKnownVersions.begin(), kKnownVersions.end(), version) != kKnownVersions.end();
}

uint64_t PageCount(const std::vector<GpaRange>& ranges) {
  uint64_t pages = 0;
  for (const GpaRange& range : ranges) pages += range.pfns.size();
  return pages;
}

std::vector<uint64_t> Pages(const std::vector<GpaRange>& ranges) {
  std::vector<uint64_t> pages;
  pages.reserve(PageCount(ranges));
  for (const GpaRange& range : ranges) pages.insert(pages.end(), range.pfns.begin(), range.pfns.end());
  return pages;
}

bool SameInstance(const OfferParams& a, const OfferParams& b) {
  return a.interface_id == b.interface_id && a.instance_id == b.instance_id &&
         a.sub_channel_index == b.sub_channel_index;
}

bool IsRevokedState(ServerChannelState state) {
  return state == ServerChannelState::kRevoked || state == ServerChannelState::kReoffered;
}

// Messages only a host sends; a server that receives one rejects it.
bool IsHostToGuest(ChannelMessageType type) {
  switch (type) {
    case ChannelMessageType::kOfferChannel:
    case ChannelMessageType::kRescindChannelOffer:
    case ChannelMessageType::kAllOffersDelivered:
    case ChannelMessageType::kOpenChannelResult:
    case ChannelMessageType::kGpadlCreated:
    case ChannelMessageType::kGpadlTorndown:
    case ChannelMessageType::kVersionResponse:
    case ChannelMessageType::kUnloadResponse:
    case ChannelMessageType::kCloseReservedResponse:
    case ChannelMessageType::kTlConnectResult:
    case ChannelMessageType::kModifyChannelResponse:
    case ChannelMessageType::kModifyConnectionResponse:
    case ChannelMessageType::kPauseResponse:
      return true;
    default:
      return false;
  }
}

}  // namespace

const char* ServerConnectionStateName(ServerConnectionState state) {
  switch (state) {
    case ServerConnectionState::kDisconnected: return "Disconnected";
    case ServerConnectionState::kConnected: return "Connected";
    case ServerConnectionState::kDisconnecting: return "Disconnecting";
  }
  return "unknown";
}

const char* ServerChannelStateName(ServerChannelState state) {
  switch (state) {
    case ServerChannelState::kClosed: return "Closed";
    case ServerChannelState::kOpening: return "Opening";
    case ServerChannelState::kOpen: return "Open";
    case ServerChannelState::kClosing: return "Closing";
    case ServerChannelState::kClosingReopen: return "ClosingReopen";
    case ServerChannelState::kRevoked: return "Revoked";
    case ServerChannelState::kReoffered: return "Reoffered";
    case ServerChannelState::kOpeningClientRelease: return "OpeningClientRelease";
    case ServerChannelState::kClosingClientRelease: return "ClosingClientRelease";
  }
  return "unknown";
}

const char* ServerGpadlStateName(ServerGpadlState state) {
  switch (state) {
    case ServerGpadlState::kInProgress: return "InProgress";
    case ServerGpadlState::kAccepted: return "Accepted";
    case ServerGpadlState::kTearingDown: return "TearingDown";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------
// Construction.

absl::StatusOr<std::unique_ptr<VmbusServer>> VmbusServer::Create(
    sim::Simulator* sim, const CostModel* costs, Synic* host_synic, VirtualProcessor* host_vp,
    Synic* guest_synic, VmbusServerOptions options) {
  VMBSIM_CHECK(sim != nullptr);
  VMBSIM_CHECK(costs != nullptr);
  VMBSIM_CHECK(host_synic != nullptr);
  VMBSIM_CHECK(host_vp != nullptr);
  VMBSIM_CHECK(guest_synic != nullptr);
  if (options.supported_versions.empty()) {
    return absl::InvalidArgumentError("vmbus server: no supported protocol version");
  }
  for (uint32_t version : options.supported_versions) {
    if (!IsKnownVersion(version)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "vmbus server: supported version 0x", absl::Hex(version), " is not a protocol version"));
    }
  }
  if (host_vp->partition_id() != host_synic->partition_id() ||
      host_vp->vp_index() >= host_synic->vp_count()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vmbus server: host vp ", host_vp->vp_index(), " of partition ", host_vp->partition_id(),
        " is not a VP of the host synic's partition ", host_synic->partition_id()));
  }
  if (host_synic->partition_id() == guest_synic->partition_id()) {
    return absl::InvalidArgumentError("vmbus server: host and guest synic are one partition");
  }
  std::unique_ptr<VmbusServer> server(
      new VmbusServer(sim, costs, host_synic, host_vp, guest_synic, std::move(options)));
  // Port 4 first: INITIATE_CONTACT from 5.0 (spec 3.2). Both share the handler.
  for (uint32_t port_id : {kVmbusMessageConnectionId4, kServerMessageConnectionId}) {
    std::shared_ptr<VmbusServer*> target = server->port_target_;
    VMBSIM_RETURN_IF_ERROR(host_synic->CreatePort(
        port_id, host_vp->vp_index(),
        [target, port_id](std::vector<uint8_t> bytes) {
          if (*target != nullptr) (*target)->OnPortMessage(port_id, std::move(bytes));
        },
        server->options_.port_buffer_count));
  }
  return server;
}

VmbusServer::VmbusServer(sim::Simulator* sim, const CostModel* costs, Synic* host_synic,
                         VirtualProcessor* host_vp, Synic* guest_synic,
                         VmbusServerOptions options)
    : sim_(sim),
      costs_(costs),
      host_synic_(host_synic),
      host_vp_(host_vp),
      guest_synic_(guest_synic),
      options_(std::move(options)),
      port_target_(std::make_shared<VmbusServer*>(this)) {}

VmbusServer::~VmbusServer() { *port_target_ = nullptr; }

// ---------------------------------------------------------------------------
// Receive path.

void VmbusServer::OnPortMessage(uint32_t port_id, std::vector<uint8_t> bytes) {
  // Port handlers are PASSIVE work on the port's VP (synic.h).
  VMBSIM_CHECK(host_vp_->running());
  VMBSIM_CHECK(host_vp_->current_irql() == Irql::kPassive);
  host_vp_->Charge(costs_->host_ctrl_msg_processing);
  ++counters_.messages_received;
  // The Synic hands over a private copy, so every field is read once (spec 7.1).
  absl::StatusOr<ChannelMessage> message = Decode(bytes, version_, /*feature_flags=*/0);
  if (!message.ok()) {
    Reject(RawMessageType(bytes), kNoRelid,
           absl::StrCat("message on port ", port_id, " does not decode at version ",
                        ProtocolVersionName(version_), ": ", message.status().message()));
    return;
  }
  Dispatch(*message);
}

void VmbusServer::Dispatch(const ChannelMessage& message) {
  if (const auto* m = std::get_if<InitiateContact>(&message)) return HandleInitiateContact(*m);
  if (const auto* m = std::get_if<InitiateContact2>(&message)) {
    return HandleInitiateContact(m->initiate_contact);  // The client id is not modelled.
  }
  if (std::holds_alternative<RequestOffers>(message)) return HandleRequestOffers();
  if (const auto* m = std::get_if<OpenChannel>(&message)) return HandleOpenChannel(*m);
  if (const auto* m = std::get_if<OpenChannel2>(&message)) return HandleOpenChannel(m->open_channel);
  if (const auto* m = std::get_if<CloseChannel>(&message)) return HandleCloseChannel(*m);
  if (const auto* m = std::get_if<GpadlHeader>(&message)) return HandleGpadlHeader(*m);
  if (const auto* m = std::get_if<GpadlBody>(&message)) return HandleGpadlBody(*m);
  if (const auto* m = std::get_if<GpadlTeardown>(&message)) return HandleGpadlTeardown(*m);
  if (const auto* m = std::get_if<RelidReleased>(&message)) return HandleRelidReleased(*m);
  if (std::holds_alternative<Unload>(message)) return HandleUnload();
  if (const auto* m = std::get_if<ModifyChannel>(&message)) return HandleModifyChannel(*m);
  const ChannelMessageType type = MessageTypeOf(message);
  Reject(type, kNoRelid,
         absl::StrCat(ChannelMessageTypeName(type),
                      IsHostToGuest(type) ? " is a host-to-guest message"
                                          : " is not supported by this server"));
}

void VmbusServer::Accept(ChannelMessageType type, uint32_t relid) {
  Trace(TraceKind(FabricTraceKind::kControlMessage), relid, static_cast<uint32_t>(type), 1);
}

void VmbusServer::RecordViolation(uint32_t msgtype, uint32_t relid, std::string reason) {
  violations_.push_back(ServerViolation{.time = host_vp_->LocalNow(),
                                        .side = "host",
                                        .msgtype = msgtype,
                                        .relid = relid,
                                        .reason = std::move(reason)});
}

void VmbusServer::Reject(uint32_t msgtype, uint32_t relid, std::string reason) {
  ++counters_.messages_rejected;
  RecordViolation(msgtype, relid, std::move(reason));
  Trace(TraceKind(FabricTraceKind::kControlMessage), relid, msgtype, 0);
}

VmbusServer::Channel* VmbusServer::FindOffered(uint32_t relid) {
  auto it = channels_.find(relid);
  if (it == channels_.end() || !it->second.offer_sent) return nullptr;
  return &it->second;
}

// ---------------------------------------------------------------------------
// Connection.

void VmbusServer::HandleInitiateContact(const InitiateContact& contact) {
  constexpr ChannelMessageType kType = ChannelMessageType::kInitiateContact;
  if (connection_state_ == ServerConnectionState::kDisconnecting) {
    Reject(kType, kNoRelid, "INITIATE_CONTACT while the previous connection is being torn down");
    return;
  }
  // target_vcpu is honoured from Win8.1 (spec 4.2); older guests get their
  // control messages on VP 0.
  const uint32_t requested = contact.vmbus_version_requested;
  const uint32_t target = requested >= kVersionWin8_1 ? contact.target_vcpu : 0;
  if (target >= guest_synic_->vp_count()) {
    Reject(kType, kNoRelid,
           absl::StrCat("target_vcpu ", target, " is not a VP of the guest (",
                        guest_synic_->vp_count(), " VPs)"));
    return;
  }
  if ((contact.monitor_page1 == 0) != (contact.monitor_page2 == 0)) {
    // Both monitor pages or neither (OpenVMM answers FAILED_UNKNOWN_FAILURE).
    Reject(kType, kNoRelid, "INITIATE_CONTACT supplies only one of the two monitor pages");
    SendTo(target, VersionResponse{.version_supported = 1,
                                   .connection_state = kConnectionStateFailedUnknownFailure});
    return;
  }
  Accept(kType, kNoRelid);
  if (connection_state_ == ServerConnectionState::kConnected) {
    // An implicit disconnect and reconnect (spec 4.6 "Connect" step 3).
    reconnect_contact_ = contact;
    BeginDisconnect(DisconnectAction::kReconnect);
    return;
  }
  CompleteContact(contact);
}

void VmbusServer::CompleteContact(const InitiateContact& contact) {
  VMBSIM_CHECK(connection_state_ == ServerConnectionState::kDisconnected);
  VMBSIM_CHECK(gpadls_.empty());  // A disconnect tears every GPADL down.
  const uint32_t requested = contact.vmbus_version_requested;
  target_vcpu_ = requested >= kVersionWin8_1 ? contact.target_vcpu : 0;
  VMBSIM_CHECK_LT(target_vcpu_, guest_synic_->vp_count());  // Validated on receipt.
  const bool supported = std::find(options_.supported_versions.begin(),
                                   options_.supported_versions.end(),
                                   requested) != options_.supported_versions.end();
  if (!supported) {
    // Exact match only; the guest tries its next lower version (spec 4.3).
    ++counters_.versions_refused;
    Send(VersionResponse{.version_supported = 0});
    return;
  }
  version_ = requested;
  connection_state_ = ServerConnectionState::kConnected;
  monitor_pages_ = contact.monitor_page1 != 0;
  offers_requested_ = false;
  Trace(TraceKind(FabricTraceKind::kConnectionState), kNoRelid,
        static_cast<uint64_t>(connection_state_), version_);
  const VersionResponse response{
      .version_supported = 1,
      .connection_state = kConnectionStateSuccessful,
      // From 5.0 the id for later messages; below, the selected version (OpenVMM).
      .msg_conn_id = requested >= kVersionWin10Rs3_1 ? kServerMessageConnectionId : requested};
  if (requested >= kVersionCopper) {
    Send(VersionResponse2{.version_response = response, .supported_features = 0});
  } else {
    Send(response);
  }
}

void VmbusServer::HandleRequestOffers() {
  constexpr ChannelMessageType kType = ChannelMessageType::kRequestOffers;
  if (connection_state_ != ServerConnectionState::kConnected) {
    Reject(kType, kNoRelid, "REQUESTOFFERS while not connected");
    return;
  }
  if (offers_requested_) {
    Reject(kType, kNoRelid, "REQUESTOFFERS already received on this connection");
    return;
  }
  Accept(kType, kNoRelid);
  offers_requested_ = true;
  // In the order the offers were made, so a sub-channel follows its primary
  // whatever their relids.
  std::vector<Channel*> pending;
  for (auto& [relid, channel] : channels_) {
    VMBSIM_CHECK(!channel.offer_sent);  // Nothing is offered before REQUESTOFFERS.
    if (channel.state == ServerChannelState::kClosed) pending.push_back(&channel);
  }
  std::sort(pending.begin(), pending.end(), [](const Channel* a, const Channel* b) {
    return a->offer_sequence < b->offer_sequence;
  });
  for (Channel* channel : pending) SendOffer(*channel);
  Send(AllOffersDelivered{});
}

void VmbusServer::HandleUnload() {
  constexpr ChannelMessageType kType = ChannelMessageType::kUnload;
  if (connection_state_ != ServerConnectionState::kConnected) {
    Reject(kType, kNoRelid,
           absl::StrCat("UNLOAD while ", ServerConnectionStateName(connection_state_)));
    return;
  }
  Accept(kType, kNoRelid);
  BeginDisconnect(DisconnectAction::kSendUnloadResponse);
}

void VmbusServer::BeginDisconnect(DisconnectAction action) {
  VMBSIM_CHECK(connection_state_ == ServerConnectionState::kConnected);
  disconnect_action_ = action;
  disconnect_version_ = version_;
  connection_state_ = ServerConnectionState::kDisconnecting;
  offers_requested_ = false;
  Trace(TraceKind(FabricTraceKind::kConnectionState), kNoRelid,
        static_cast<uint64_t>(connection_state_), version_);
  // The guest has released every channel (spec 4.6 "Unload" step 2): open
  // ones are closed in their devices; the rest wait for their device.
  std::vector<uint32_t> gone;
  for (auto& [relid, channel] : channels_) {
    channel.offer_sent = false;
    switch (channel.state) {
      case ServerChannelState::kClosed:
        break;
      case ServerChannelState::kOpening:
        SetState(channel, ServerChannelState::kOpeningClientRelease);
        break;
      case ServerChannelState::kOpen:
        SetState(channel, ServerChannelState::kClosingClientRelease);
        StartDeviceClose(channel);
        break;
      case ServerChannelState::kClosing:
      case ServerChannelState::kClosingReopen:
        channel.reopen.reset();
        SetState(channel, ServerChannelState::kClosingClientRelease);
        break;
      case ServerChannelState::kRevoked:
        if (channel.device == DeviceStage::kIdle) {
          gone.push_back(relid);
        } else {
          channel.client_released = true;
        }
        break;
      case ServerChannelState::kReoffered:
        channel.offer = *channel.reoffer;
        channel.reoffer.reset();
        SetState(channel, ServerChannelState::kClosed);
        break;
      case ServerChannelState::kOpeningClientRelease:
      case ServerChannelState::kClosingClientRelease:
        VMBSIM_CHECK_MSG(false, "a client-release state while connected");
    }
  }
  for (uint32_t relid : gone) RemoveChannel(relid);
  MaybeFinishDisconnect();
}

void VmbusServer::MaybeFinishDisconnect() {
  if (connection_state_ != ServerConnectionState::kDisconnecting) return;
  for (const auto& [relid, channel] : channels_) {
    if (channel.device != DeviceStage::kIdle) return;  // Wait for every device (spec 4.6).
  }
  // The host tears the remaining GPADLs down itself (spec 5.5).
  std::vector<GpadlKey> keys;
  for (const auto& [key, gpadl] : gpadls_) keys.push_back(key);
  for (const GpadlKey& key : keys) RemoveGpadl(key);
  VMBSIM_CHECK_EQ(assembler_.gpadl_count(), 0u);
  for (auto& [relid, channel] : channels_) {
    VMBSIM_CHECK(channel.state == ServerChannelState::kClosed);  // Revoked ones are gone.
    FreeMonitorId(channel);
  }
  connection_state_ = ServerConnectionState::kDisconnected;
  version_ = kVersionNotNegotiated;
  Trace(TraceKind(FabricTraceKind::kConnectionState), kNoRelid,
        static_cast<uint64_t>(connection_state_), version_);
  if (disconnect_action_ == DisconnectAction::kSendUnloadResponse) {
    // UNLOAD_RESPONSE exists from Win7 (spec 4.1).
    if (disconnect_version_ >= kVersionWin7) Send(UnloadResponse{});
    return;
  }
  VMBSIM_CHECK(reconnect_contact_.has_value());
  const InitiateContact contact = *reconnect_contact_;
  reconnect_contact_.reset();
  CompleteContact(contact);
}

// ---------------------------------------------------------------------------
// Offers and rescinds.

absl::StatusOr<uint32_t> VmbusServer::OfferChannel(const OfferParams& params) {
  for (auto& [relid, channel] : channels_) {
    const OfferParams& current =
        channel.state == ServerChannelState::kReoffered ? *channel.reoffer : channel.offer;
    if (!SameInstance(current, params)) continue;
    if (channel.state != ServerChannelState::kRevoked) {
      return absl::AlreadyExistsError(absl::StrCat(
          "vmbus server: OfferChannel: ", params.interface_id.ToString(), "/",
          params.instance_id.ToString(), " sub-channel ", params.sub_channel_index,
          " is already offered as relid ", relid));
    }
    if (channel.device != DeviceStage::kIdle) {
      return absl::FailedPreconditionError(absl::StrCat(
          "vmbus server: OfferChannel: revoked relid ", relid,
          " is still closing in its device at t=", sim_->Now().ToString()));
    }
    // Re-offer of a device the guest has not released yet (spec 4.6
    // "Rescind" step 4): sent with the same relid right after the release.
    channel.reoffer = params;
    SetState(channel, ServerChannelState::kReoffered);
    return relid;
  }
  if (params.sub_channel_index != 0) {
    bool primary_live = false;
    for (const auto& [relid, channel] : channels_) {
      primary_live = primary_live ||
                     (channel.offer.interface_id == params.interface_id &&
                      channel.offer.instance_id == params.instance_id &&
                      channel.offer.sub_channel_index == 0 && !IsRevokedState(channel.state));
    }
    if (!primary_live) {
      return absl::FailedPreconditionError(absl::StrCat(
          "vmbus server: OfferChannel: sub-channel ", params.sub_channel_index, " of ",
          params.instance_id.ToString(), " is offered before its primary (spec 4.8)"));
    }
  }
  uint32_t relid = kRelidMin;
  while (relid <= kRelidMax && channels_.count(relid) != 0) ++relid;  // Lowest free.
  if (relid > kRelidMax) {
    return absl::ResourceExhaustedError(
        absl::StrCat("vmbus server: OfferChannel: all ", kRelidMax, " relids are held"));
  }
  Channel channel;
  channel.relid = relid;
  channel.offer = params;
  channel.offer_sequence = next_offer_sequence_++;
  auto [it, inserted] = channels_.emplace(relid, std::move(channel));
  VMBSIM_CHECK(inserted);
  Trace(TraceKind(FabricTraceKind::kChannelState), relid,
        static_cast<uint64_t>(ServerChannelState::kClosed));
  // A hot-add once the guest has asked for offers (spec 4.6 "Connect" step 5).
  if (connection_state_ == ServerConnectionState::kConnected && offers_requested_) {
    SendOffer(it->second);
  }
  return relid;
}

void VmbusServer::SendOffer(Channel& channel) {
  VMBSIM_CHECK(!channel.offer_sent);
  VMBSIM_CHECK(connection_state_ == ServerConnectionState::kConnected);
  VMBSIM_CHECK(offers_requested_);
  VMBSIM_CHECK_EQ(channel.monitor_id, kMonitorIdNone);  // Given per connection.
  // Withheld unless the guest supplied monitor pages (OpenVMM `send_offer`).
  if (channel.offer.monitored && monitor_pages_) channel.monitor_id = AllocateMonitorId(channel);
  const OfferParams& params = channel.offer;
  const bool win7 = version_ >= kVersionWin7;  // is_dedicated and connection_id are Win7+.
  fabric::OfferChannel offer;
  offer.interface_id = params.interface_id;
  offer.instance_id = params.instance_id;
  // Bytes 40-47 (`reserved1`) stay 0, as Windows 8 and later hosts send
  // them: the monitor latency is not in the offer. The fabric writes it into
  // the guest's monitor page when the channel opens (Fabric::AttachChannel),
  // the only place a guest learns it.
  offer.chn_flags = params.chn_flags;
  offer.mmio_megabytes = params.mmio_megabytes;
  offer.user_defined = params.user_defined;
  offer.sub_channel_index = params.sub_channel_index;
  offer.mmio_megabytes_optional = params.mmio_megabytes_optional;
  offer.child_relid = channel.relid;
  offer.monitor_id = channel.monitor_id;
  offer.monitor_allocated = channel.monitor_id != kMonitorIdNone ? 1 : 0;
  offer.is_dedicated_interrupt = win7 && params.is_dedicated_interrupt ? 1 : 0;
  offer.connection_id = win7 ? ConnectionIdOf(channel.relid, params) : 0;
  Send(offer);
  channel.offer_sent = true;
  ++counters_.offers_sent;
}

absl::Status VmbusServer::RescindChannel(uint32_t relid) {
  auto it = channels_.find(relid);
  if (it == channels_.end()) {
    return absl::NotFoundError(absl::StrCat("vmbus server: RescindChannel: unknown relid ", relid,
                                            " at t=", sim_->Now().ToString()));
  }
  Channel& channel = it->second;
  if (IsRevokedState(channel.state)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "vmbus server: RescindChannel: relid ", relid, " is already ",
        ServerChannelStateName(channel.state), " at t=", sim_->Now().ToString()));
  }
  if (!channel.offer_sent) {
    // The guest does not know the channel on this connection: withdraw it.
    if (channel.device == DeviceStage::kIdle) {
      RemoveChannel(relid);
      return absl::OkStatus();
    }
    // Only during a disconnect can a device still hold an unoffered channel.
    VMBSIM_CHECK(channel.state == ServerChannelState::kOpeningClientRelease ||
                 channel.state == ServerChannelState::kClosingClientRelease);
    channel.client_released = true;
    SetState(channel, ServerChannelState::kRevoked);
    return absl::OkStatus();
  }
  VMBSIM_CHECK(connection_state_ == ServerConnectionState::kConnected);  // offer_sent.
  // Spec 4.6 "Rescind" step 1: GPADLs still in progress fail now; accepted
  // ones stay until the guest tears them down or releases the relid.
  for (auto& [key, gpadl] : gpadls_) {
    if (key.second != relid || gpadl.state != ServerGpadlState::kInProgress) continue;
    if (gpadl.create_failed) continue;
    gpadl.create_failed = true;
    Send(GpadlCreated{.child_relid = relid, .gpadl = key.first,
                      .creation_status = kStatusUnsuccessful});
    ++counters_.gpadls_failed;
  }
  channel.reopen.reset();
  // A Revoked channel is never open in its device: close it (an open still
  // in the device is closed when it completes).
  if (channel.device == DeviceStage::kOpen) StartDeviceClose(channel);
  SetState(channel, ServerChannelState::kRevoked);
  Send(RescindChannelOffer{.child_relid = relid});
  ++counters_.rescinds_sent;
  return absl::OkStatus();
}

VmbusServer::Channel* VmbusServer::ChannelForRequest(ChannelMessageType type, uint32_t relid,
                                                     const char* wire_name) {
  if (connection_state_ != ServerConnectionState::kConnected) {
    Reject(type, relid, absl::StrCat(wire_name, " while not connected"));
    return nullptr;
  }
  Channel* channel = FindOffered(relid);
  if (channel == nullptr) Reject(type, relid, absl::StrCat("unknown relid ", relid));
  return channel;
}

void VmbusServer::HandleRelidReleased(const RelidReleased& released) {
  constexpr ChannelMessageType kType = ChannelMessageType::kRelidReleased;
  const uint32_t relid = released.child_relid;
  Channel* channel = ChannelForRequest(kType, relid, "RELID_RELEASED");
  if (channel == nullptr) return;
  if (!IsRevokedState(channel->state)) {
    Reject(kType, relid,
           absl::StrCat("channel ", relid, " is ", ServerChannelStateName(channel->state),
                        ", not rescinded"));
    return;
  }
  Accept(kType, relid);
  if (channel->state == ServerChannelState::kReoffered) {
    // The new offer goes out now, reusing the relid (spec 4.6 "Rescind" step 4).
    VMBSIM_CHECK(channel->device == DeviceStage::kIdle);  // Required by OfferChannel.
    RemoveChannelGpadls(relid, std::nullopt);
    FreeMonitorId(*channel);
    channel->offer = *channel->reoffer;
    channel->reoffer.reset();
    channel->offer_sent = false;
    channel->offer_sequence = next_offer_sequence_++;
    SetState(*channel, ServerChannelState::kClosed);
    if (offers_requested_) SendOffer(*channel);
    return;
  }
  if (channel->device == DeviceStage::kIdle) {
    RemoveChannel(relid);  // Frees the relid and the monitor id.
    return;
  }
  // The device still holds the ring: the record goes when it is done.
  channel->client_released = true;
  channel->offer_sent = false;
  RemoveChannelGpadls(relid, channel->open->ring_gpadl_id);
}

// ---------------------------------------------------------------------------
// Open, close, modify.

void VmbusServer::HandleOpenChannel(const OpenChannel& open) {
  constexpr ChannelMessageType kType = ChannelMessageType::kOpenChannel;
  const uint32_t relid = open.child_relid;
  Channel* channel = ChannelForRequest(kType, relid, "OPENCHANNEL");
  if (channel == nullptr) return;
  if (IsRevokedState(channel->state)) {
    // Spec 4.6 "Rescind" step 2: ignored silently, no reply.
    Accept(kType, relid);
    ++counters_.opens_ignored_revoked;
    return;
  }
  if (channel->state != ServerChannelState::kClosed &&
      channel->state != ServerChannelState::kClosing) {
    Reject(kType, relid,
           absl::StrCat("channel ", relid, " is ", ServerChannelStateName(channel->state),
                        ", not closed"));
    return;
  }
  OpenParams params;
  if (std::optional<std::string> reason = ValidateOpen(*channel, open, &params)) {
    Reject(kType, relid, *reason);
    Send(OpenResult{.child_relid = relid, .openid = open.openid, .status = kStatusUnsuccessful});
    return;
  }
  Accept(kType, relid);
  if (channel->state == ServerChannelState::kClosing) {
    // A re-open while the device is still closing is legal (spec 4.6 "Close").
    channel->reopen = params;
    SetState(*channel, ServerChannelState::kClosingReopen);
    return;
  }
  SetState(*channel, ServerChannelState::kOpening);
  StartDeviceOpen(*channel, params);
}

std::optional<std::string> VmbusServer::ValidateOpen(const Channel& channel,
                                                     const OpenChannel& open,
                                                     OpenParams* params) const {
  const GpadlKey key{open.ringbuffer_gpadlhandle, channel.relid};
  auto it = gpadls_.find(key);
  if (it == gpadls_.end()) {
    return absl::StrCat("ring gpadl 0x", absl::Hex(key.first), " is not a GPADL of channel ",
                        channel.relid);
  }
  if (it->second.state != ServerGpadlState::kAccepted) {
    return absl::StrCat("ring gpadl 0x", absl::Hex(key.first), " is ",
                        ServerGpadlStateName(it->second.state), ", not accepted");
  }
  // Both rings live in the one GPADL: the guest-to-host ring first, each
  // with its control page (spec 4.2, 5.4).
  const uint64_t pages = it->second.page_count;
  const uint32_t offset = open.downstream_ringbuffer_pageoffset;
  if (offset == 0 || offset >= pages) {
    return absl::StrCat("downstream_ringbuffer_pageoffset ", offset, " is not inside the ", pages,
                        "-page ring gpadl 0x", absl::Hex(key.first));
  }
  // target_vp is honoured from Win8 (spec 4.2); before, interrupts go to VP 0.
  const uint32_t target_vp = version_ >= kVersionWin8 ? open.target_vp : 0;
  if (target_vp != kVpIndexDisableInterrupt && target_vp >= guest_synic_->vp_count()) {
    return absl::StrCat("target_vp ", target_vp, " is not a VP of the guest (",
                        guest_synic_->vp_count(), " VPs)");
  }
  params->openid = open.openid;
  params->ring_gpadl_id = key.first;
  params->downstream_ringbuffer_pageoffset = offset;
  params->target_vp = target_vp;
  params->userdata = open.userdata;
  return std::nullopt;
}

void VmbusServer::StartDeviceOpen(Channel& channel, const OpenParams& params) {
  VMBSIM_CHECK(channel.device == DeviceStage::kIdle);
  VMBSIM_CHECK(!channel.open.has_value());
  const Gpadl& gpadl = gpadls_.at(GpadlKey{params.ring_gpadl_id, channel.relid});
  VMBSIM_CHECK(gpadl.state == ServerGpadlState::kAccepted);  // Validated by ValidateOpen.
  channel.open = params;
  channel.target_vp = params.target_vp;
  channel.device = DeviceStage::kOpenPending;
  OpenRequest request{.openid = params.openid,
                      .ring_gpadl_id = params.ring_gpadl_id,
                      .ring_pages = Pages(gpadl.ranges),
                      .downstream_ringbuffer_pageoffset = params.downstream_ringbuffer_pageoffset,
                      .target_vp = params.target_vp,
                      .userdata = params.userdata};
  const uint32_t relid = channel.relid;
  Defer([this, relid, request = std::move(request)] {
    if (device_ != nullptr) {
      device_->OnOpen(relid, request);
      return;
    }
    const absl::Status status = CompleteOpen(relid, kStatusSuccess);  // No device: opens at once.
    VMBSIM_CHECK_MSG(status.ok(), status.ToString());
  });
}

void VmbusServer::StartDeviceClose(Channel& channel) {
  VMBSIM_CHECK(channel.device == DeviceStage::kOpen);
  channel.device = DeviceStage::kClosePending;
  const uint32_t relid = channel.relid;
  Defer([this, relid] {
    if (device_ != nullptr) {
      device_->OnClose(relid);
      return;
    }
    const absl::Status status = CompleteClose(relid);
    VMBSIM_CHECK_MSG(status.ok(), status.ToString());
  });
}

absl::Status VmbusServer::CompleteOpen(uint32_t relid, uint32_t status) {
  auto it = channels_.find(relid);
  if (it == channels_.end()) {
    return absl::NotFoundError(absl::StrCat("vmbus server: CompleteOpen: unknown relid ", relid,
                                            " at t=", sim_->Now().ToString()));
  }
  if (it->second.device != DeviceStage::kOpenPending) {
    return absl::FailedPreconditionError(absl::StrCat(
        "vmbus server: CompleteOpen: no open of relid ", relid, " is waiting (channel ",
        ServerChannelStateName(it->second.state), ") at t=", sim_->Now().ToString()));
  }
  FinishOpen(it->second, status);
  return absl::OkStatus();
}

void VmbusServer::FinishOpen(Channel& channel, uint32_t status) {
  VMBSIM_CHECK(channel.device == DeviceStage::kOpenPending);
  const uint32_t relid = channel.relid;
  const bool ok = status == kStatusSuccess;
  switch (channel.state) {
    case ServerChannelState::kOpening: {
      const uint32_t openid = channel.open->openid;
      if (ok) {
        channel.device = DeviceStage::kOpen;
        SetState(channel, ServerChannelState::kOpen);
      } else {
        ReleaseDevice(channel);
        SetState(channel, ServerChannelState::kClosed);
      }
      Send(OpenResult{.child_relid = relid, .openid = openid, .status = status});
      return;
    }
    case ServerChannelState::kRevoked:
    case ServerChannelState::kOpeningClientRelease:
      // Nobody waits for a result: the guest was told the channel is gone,
      // or it unloaded. A device that did open closes again.
      if (ok) {
        channel.device = DeviceStage::kOpen;
        if (channel.state == ServerChannelState::kOpeningClientRelease) {
          SetState(channel, ServerChannelState::kClosingClientRelease);
        }
        StartDeviceClose(channel);
      } else {
        ReleaseDevice(channel);
        if (channel.state == ServerChannelState::kOpeningClientRelease) {
          SetState(channel, ServerChannelState::kClosed);
        } else if (channel.client_released) {
          RemoveChannel(relid);  // Invalidates `channel`.
        }
      }
      MaybeFinishDisconnect();
      return;
    default:
      VMBSIM_CHECK_MSG(false, absl::StrCat("open pending in state ",
                                           ServerChannelStateName(channel.state)));
  }
}

void VmbusServer::HandleCloseChannel(const CloseChannel& close) {
  constexpr ChannelMessageType kType = ChannelMessageType::kCloseChannel;
  const uint32_t relid = close.child_relid;
  Channel* channel = ChannelForRequest(kType, relid, "CLOSECHANNEL");
  if (channel == nullptr) return;
  if (IsRevokedState(channel->state)) {
    // The rescind closed it already; CLOSECHANNEL still comes (spec 4.6).
    Accept(kType, relid);
    ++counters_.closes_ignored_revoked;
    return;
  }
  if (channel->state != ServerChannelState::kOpen) {
    Reject(kType, relid,
           absl::StrCat("channel ", relid, " is ", ServerChannelStateName(channel->state),
                        ", not open"));
    return;
  }
  Accept(kType, relid);  // No reply exists (spec 4.1).
  SetState(*channel, ServerChannelState::kClosing);
  StartDeviceClose(*channel);
}

absl::Status VmbusServer::CompleteClose(uint32_t relid) {
  auto it = channels_.find(relid);
  if (it == channels_.end()) {
    return absl::NotFoundError(absl::StrCat("vmbus server: CompleteClose: unknown relid ", relid,
                                            " at t=", sim_->Now().ToString()));
  }
  if (it->second.device != DeviceStage::kClosePending) {
    return absl::FailedPreconditionError(absl::StrCat(
        "vmbus server: CompleteClose: no close of relid ", relid, " is waiting (channel ",
        ServerChannelStateName(it->second.state), ") at t=", sim_->Now().ToString()));
  }
  FinishClose(it->second);
  return absl::OkStatus();
}

void VmbusServer::FinishClose(Channel& channel) {
  VMBSIM_CHECK(channel.device == DeviceStage::kClosePending);
  const uint32_t relid = channel.relid;
  ReleaseDevice(channel);
  switch (channel.state) {
    case ServerChannelState::kClosing:
    case ServerChannelState::kClosingClientRelease:
      SetState(channel, ServerChannelState::kClosed);
      break;
    case ServerChannelState::kClosingReopen: {
      const OpenParams params = *channel.reopen;
      channel.reopen.reset();
      SetState(channel, ServerChannelState::kClosed);
      auto gpadl = gpadls_.find(GpadlKey{params.ring_gpadl_id, relid});
      if (gpadl == gpadls_.end() || gpadl->second.state != ServerGpadlState::kAccepted) {
        // Validated on receipt; the guest tore its ring down while waiting.
        RecordViolation(static_cast<uint32_t>(ChannelMessageType::kOpenChannel), relid,
                        absl::StrCat("ring gpadl 0x", absl::Hex(params.ring_gpadl_id),
                                     " went away while the re-open waited for the close"));
        Send(OpenResult{.child_relid = relid, .openid = params.openid,
                        .status = kStatusUnsuccessful});
        break;
      }
      SetState(channel, ServerChannelState::kOpening);
      StartDeviceOpen(channel, params);
      break;
    }
    case ServerChannelState::kRevoked:
      if (channel.client_released) RemoveChannel(relid);  // Invalidates `channel`.
      break;
    default:
      VMBSIM_CHECK_MSG(false, absl::StrCat("close pending in state ",
                                           ServerChannelStateName(channel.state)));
  }
  MaybeFinishDisconnect();
}

void VmbusServer::ReleaseDevice(Channel& channel) {
  VMBSIM_CHECK(channel.device != DeviceStage::kIdle);
  VMBSIM_CHECK(channel.open.has_value());  // Paired with StartDeviceOpen.
  const GpadlKey key{channel.open->ring_gpadl_id, channel.relid};
  channel.device = DeviceStage::kIdle;
  channel.open.reset();
  auto it = gpadls_.find(key);
  VMBSIM_CHECK(it != gpadls_.end());  // A held ring is never removed.
  if (it->second.state == ServerGpadlState::kTearingDown) {
    // The deferred GPADL_TORNDOWN ("teardown while a ring uses it").
    const bool reply =
        connection_state_ == ServerConnectionState::kConnected && !channel.client_released;
    RemoveGpadl(key);
    if (reply) {
      Send(GpadlTorndown{.gpadl = key.first});
      ++counters_.gpadls_torn_down;
    }
  } else if (channel.client_released) {
    RemoveGpadl(key);  // The guest released the channel and all its GPADLs.
  }
}

void VmbusServer::HandleModifyChannel(const ModifyChannel& modify) {
  constexpr ChannelMessageType kType = ChannelMessageType::kModifyChannel;
  const uint32_t relid = modify.child_relid;
  Channel* channel = ChannelForRequest(kType, relid, "MODIFYCHANNEL");
  if (channel == nullptr) return;
  if (IsRevokedState(channel->state)) {
    Accept(kType, relid);  // The rescind woke the guest's waiter (spec 7.3).
    ++counters_.modifies_ignored_revoked;
    return;
  }
  // Acknowledged from Iron only (spec 4.6 "Modify channel").
  const bool acknowledge = version_ >= kVersionIron;
  std::optional<std::string> reason;
  if (channel->state != ServerChannelState::kOpen) {
    reason = absl::StrCat("channel ", relid, " is ", ServerChannelStateName(channel->state),
                          ", not open");
  } else if (modify.target_vp == kVpIndexDisableInterrupt) {
    // OpenVMM's server does not disable a channel's interrupts through
    // MODIFYCHANNEL (vm/devices/vmbus/vmbus_server: "matches Hyper-V"); it is
    // refused like any bad target, with OpenVMM's failure status.
    reason = "target_vp 0xFFFFFFFF: MODIFYCHANNEL does not disable interrupts";
  } else if (channel->open->target_vp == kVpIndexDisableInterrupt) {
    // Nor does it enable those of a channel opened with interrupts disabled
    // (the same source). Disabling is never accepted, so the open's target
    // is still the one the channel was opened with.
    reason = "the channel was opened with interrupts disabled; MODIFYCHANNEL does not enable them";
  } else if (modify.target_vp >= guest_synic_->vp_count()) {
    reason = absl::StrCat("target_vp ", modify.target_vp, " is not a VP of the guest");
  }
  if (reason.has_value()) {
    Reject(kType, relid, *reason);
    if (acknowledge) {
      Send(ModifyChannelResponse{.child_relid = relid,
                                 .status = static_cast<int32_t>(kStatusUnsuccessful)});
    }
    return;
  }
  Accept(kType, relid);
  channel->open->target_vp = modify.target_vp;
  channel->target_vp = modify.target_vp;
  const uint32_t target_vp = modify.target_vp;
  // The response follows the move: the device retargets the channel's event
  // port first, and only then does the guest hear that it is done (OpenVMM
  // vm/devices/vmbus/vmbus_server answers MODIFYCHANNEL once the port has
  // been modified). A guest that acts on the response (Linux waits for it
  // before it considers the channel moved) finds the interrupt already on
  // the new VP. Before, the response went out first.
  Defer([this, relid, target_vp, acknowledge] {
    if (device_ != nullptr) device_->OnModifyChannel(relid, target_vp);
    if (acknowledge && connection_state_ == ServerConnectionState::kConnected && channels_.contains(relid)) {
      Send(ModifyChannelResponse{.child_relid = relid, .status = 0});
    }
  });
}

void VmbusServer::RemoveChannel(uint32_t relid) {
  auto it = channels_.find(relid);
  VMBSIM_CHECK(it != channels_.end());
  VMBSIM_CHECK(it->second.device == DeviceStage::kIdle);  // Never while a device holds it.
  FreeMonitorId(it->second);
  RemoveChannelGpadls(relid, std::nullopt);
  channels_.erase(it);
  Trace(TraceKind(FabricTraceKind::kChannelState), relid, kTraceStateRemoved);
}

void VmbusServer::SetState(Channel& channel, ServerChannelState state) {
  channel.state = state;
  Trace(TraceKind(FabricTraceKind::kChannelState), channel.relid, static_cast<uint64_t>(state));
}

uint32_t VmbusServer::ConnectionIdOf(uint32_t relid, const OfferParams& offer) {
  return offer.is_dedicated_interrupt ? ChannelConnectionId(relid) : kVmbusEventConnectionId;
}

uint8_t VmbusServer::AllocateMonitorId(const Channel& channel) {
  if (!channel.offer.is_dedicated_interrupt && shared_monitor_holders_ > 0) {
    ++shared_monitor_holders_;
    return shared_monitor_id_;
  }
  for (uint32_t id = 0; id < kMonitorIdCount; ++id) {
    if (!monitor_id_used_[id]) {
      monitor_id_used_[id] = true;
      if (!channel.offer.is_dedicated_interrupt) {
        shared_monitor_id_ = static_cast<uint8_t>(id);
        shared_monitor_holders_ = 1;
      }
      return static_cast<uint8_t>(id);
    }
  }
  return kMonitorIdNone;  // All 128 in use: the channel signals by hypercall.
}

void VmbusServer::FreeMonitorId(Channel& channel) {
  if (channel.monitor_id == kMonitorIdNone) return;
  VMBSIM_CHECK_LT(channel.monitor_id, kMonitorIdCount);
  VMBSIM_CHECK(monitor_id_used_[channel.monitor_id]);  // Paired with AllocateMonitorId.
  if (shared_monitor_holders_ > 0 && channel.monitor_id == shared_monitor_id_) {
    channel.monitor_id = kMonitorIdNone;
    if (--shared_monitor_holders_ > 0) return;
    monitor_id_used_[shared_monitor_id_] = false;
    shared_monitor_id_ = kMonitorIdNone;
    return;
  }
  monitor_id_used_[channel.monitor_id] = false;
  channel.monitor_id = kMonitorIdNone;
}

// ---------------------------------------------------------------------------
// GPADLs.

void VmbusServer::HandleGpadlHeader(const GpadlHeader& header) {
  constexpr ChannelMessageType kType = ChannelMessageType::kGpadlHeader;
  const uint32_t relid = header.child_relid;
  const GpadlKey key{header.gpadl, relid};
  if (connection_state_ != ServerConnectionState::kConnected) {
    Reject(kType, relid, "GPADL_HEADER while not connected");
    return;
  }
  if (FindOffered(relid) == nullptr) {
    Reject(kType, relid,
           absl::StrCat("gpadl 0x", absl::Hex(key.first), " names unknown relid ", relid));
    Send(GpadlCreated{.child_relid = relid, .gpadl = key.first,
                      .creation_status = kStatusUnsuccessful});
    ++counters_.gpadls_failed;
    return;
  }
  // Ids in progress are unique connection-wide: GPADL_BODY has no relid (spec 5.1).
  if (assembler_.ChildRelidOf(key.first).has_value() || gpadls_.count(key) != 0) {
    Reject(kType, relid, absl::StrCat("gpadl 0x", absl::Hex(key.first), " is already in use"));
    return;
  }
  if (ABSL_PREDICT_FALSE(fault_hook_ != nullptr)) {
    const FaultAction action = fault_hook_->At(
        {.site = FaultSite::kGpadlCreate, .guest = fault_guest_, .relid = relid, .host_side = true});
    if (action.kind == FaultAction::Kind::kFail) {
      Reject(kType, relid, absl::StrCat("gpadl 0x", absl::Hex(key.first), ": creation failed (fault)"));
      Send(GpadlCreated{.child_relid = relid, .gpadl = key.first, .creation_status = kStatusUnsuccessful});
      ++counters_.gpadls_failed;
      return;
    }
  }
  absl::StatusOr<bool> complete = assembler_.AddHeader(header);
  if (!complete.ok()) {
    assembler_.Discard(key.first);
    Reject(kType, relid,
           absl::StrCat("gpadl 0x", absl::Hex(key.first), ": ", complete.status().message()));
    Send(GpadlCreated{.child_relid = relid, .gpadl = key.first,
                      .creation_status = kStatusUnsuccessful});
    ++counters_.gpadls_failed;
    return;
  }
  gpadls_.emplace(key, Gpadl{});
  if (*complete) {
    CompleteGpadl(kType, key);
    return;
  }
  Accept(kType, relid);
  SetGpadlState(key, ServerGpadlState::kInProgress);
}

void VmbusServer::HandleGpadlBody(const GpadlBody& body) {
  constexpr ChannelMessageType kType = ChannelMessageType::kGpadlBody;
  if (connection_state_ != ServerConnectionState::kConnected) {
    Reject(kType, kNoRelid, "GPADL_BODY while not connected");
    return;
  }
  const std::optional<uint32_t> relid = assembler_.ChildRelidOf(body.gpadl);
  if (!relid.has_value()) {
    Reject(kType, kNoRelid,
           absl::StrCat("gpadl 0x", absl::Hex(body.gpadl), " has no GPADL_HEADER in progress"));
    return;
  }
  const GpadlKey key{body.gpadl, *relid};
  auto it = gpadls_.find(key);
  // The assembler holds exactly the GPADLs in progress here (CheckInvariants).
  VMBSIM_CHECK(it != gpadls_.end());
  VMBSIM_CHECK(it->second.state == ServerGpadlState::kInProgress);
  absl::StatusOr<bool> complete = assembler_.AddBody(body);
  if (!complete.ok()) {
    Reject(kType, *relid,
           absl::StrCat("gpadl 0x", absl::Hex(body.gpadl), ": ", complete.status().message()));
    FailGpadl(key);
    return;
  }
  if (*complete) {
    CompleteGpadl(kType, key);
    return;
  }
  Accept(kType, *relid);
}

void VmbusServer::CompleteGpadl(ChannelMessageType type, const GpadlKey& key) {
  VMBSIM_CHECK(host_vp_->running());  // Only from a port handler: it charges the pages.
  absl::StatusOr<std::vector<GpaRange>> ranges = assembler_.Finish(key.first);
  if (!ranges.ok()) {
    Reject(type, key.second,
           absl::StrCat("gpadl 0x", absl::Hex(key.first), ": ", ranges.status().message()));
    FailGpadl(key);
    return;
  }
  Accept(type, key.second);
  Gpadl& gpadl = gpadls_.at(key);
  const uint64_t pages = PageCount(*ranges);
  VMBSIM_CHECK_GT(pages, 0u);  // Finish() rejects empty ranges.
  host_vp_->Charge(costs_->host_gpadl_per_page * static_cast<int64_t>(pages));
  if (gpadl.create_failed) {
    RemoveGpadl(key);  // The rescind answered it already.
    return;
  }
  gpadl.ranges = std::move(ranges).value();
  gpadl.page_count = pages;
  SetGpadlState(key, ServerGpadlState::kAccepted);
  ++counters_.gpadls_accepted;
  counters_.gpadl_pages_accepted += pages;
  Send(GpadlCreated{.child_relid = key.second, .gpadl = key.first,
                    .creation_status = kStatusSuccess});
}

void VmbusServer::FailGpadl(const GpadlKey& key) {
  auto it = gpadls_.find(key);
  VMBSIM_CHECK(it != gpadls_.end());
  const bool already_answered = it->second.create_failed;
  RemoveGpadl(key);
  if (already_answered) return;
  Send(GpadlCreated{.child_relid = key.second, .gpadl = key.first,
                    .creation_status = kStatusUnsuccessful});
  ++counters_.gpadls_failed;
}

void VmbusServer::HandleGpadlTeardown(const GpadlTeardown& teardown) {
  constexpr ChannelMessageType kType = ChannelMessageType::kGpadlTeardown;
  const uint32_t relid = teardown.child_relid;
  const GpadlKey key{teardown.gpadl, relid};
  Channel* channel = ChannelForRequest(kType, relid, "GPADL_TEARDOWN");
  if (channel == nullptr) return;
  auto it = gpadls_.find(key);
  if (it == gpadls_.end()) {
    Reject(kType, relid,
           absl::StrCat("unknown gpadl 0x", absl::Hex(key.first), " of channel ", relid));
    return;
  }
  // Teardown of a GPADL that is not Accepted is a protocol error (spec 5.3).
  if (it->second.state != ServerGpadlState::kAccepted) {
    Reject(kType, relid,
           absl::StrCat("gpadl 0x", absl::Hex(key.first), " is ",
                        ServerGpadlStateName(it->second.state), ", not accepted"));
    return;
  }
  Accept(kType, relid);
  if (ABSL_PREDICT_FALSE(fault_hook_ != nullptr)) {
    fault_hook_->At({.site = FaultSite::kGpadlTeardown, .guest = fault_guest_, .relid = relid, .host_side = true});
  }
  if (channel->open.has_value() && channel->open->ring_gpadl_id == key.first) {
    // The device maps it as the ring: answer once it lets go (spec 4.6 "Close").
    SetGpadlState(key, ServerGpadlState::kTearingDown);
    return;
  }
  // Includes a Revoked channel's GPADLs: answered at once (spec 5.3).
  RemoveGpadl(key);
  Send(GpadlTorndown{.gpadl = key.first});
  ++counters_.gpadls_torn_down;
}

void VmbusServer::RemoveGpadl(const GpadlKey& key) {
  auto it = gpadls_.find(key);
  VMBSIM_CHECK(it != gpadls_.end());
  // A GPADL that was in progress may still be held by the assembler.
  if (it->second.state == ServerGpadlState::kInProgress) assembler_.Discard(key.first);
  gpadls_.erase(it);
  Trace(TraceKind(FabricTraceKind::kGpadlState), key.second, key.first, kTraceStateRemoved);
}

void VmbusServer::RemoveChannelGpadls(uint32_t relid, std::optional<uint32_t> keep_gpadl_id) {
  std::vector<GpadlKey> keys;
  for (const auto& [key, gpadl] : gpadls_) {
    if (key.second == relid && key.first != keep_gpadl_id) keys.push_back(key);
  }
  for (const GpadlKey& key : keys) RemoveGpadl(key);
}

void VmbusServer::SetGpadlState(const GpadlKey& key, ServerGpadlState state) {
  gpadls_.at(key).state = state;
  Trace(TraceKind(FabricTraceKind::kGpadlState), key.second, key.first,
        static_cast<uint64_t>(state));
}

// ---------------------------------------------------------------------------
// Effects.

void VmbusServer::SendTo(uint32_t guest_vp, const ChannelMessage& message) {
  const ChannelMessageType type = MessageTypeOf(message);
  // Without a connection only the answers that end or refuse one go out.
  if (connection_state_ != ServerConnectionState::kConnected) {
    VMBSIM_CHECK(type == ChannelMessageType::kVersionResponse ||
                 type == ChannelMessageType::kUnloadResponse);
  }
  const std::vector<uint8_t> bytes = Encode(message);
  // Never before a message sent earlier: the guest must see them in order.
  const SimTime at = std::max(host_vp_->LocalNow(), last_send_time_);
  last_send_time_ = at;
  const absl::Status status = guest_synic_->DeliverMessageAt(at, guest_vp, bytes);
  VMBSIM_CHECK_MSG(status.ok(), status.ToString());  // The VP was validated on receipt.
  ++counters_.messages_sent;
}

void VmbusServer::Defer(std::function<void()> call) {
  const uint64_t call_id = next_deferred_id_++;
  deferred_.emplace(call_id, std::move(call));
  host_vp_->Queue(Irql::kPassive, SimDuration::Zero(), [this, call_id] { RunDeferred(call_id); });
}

void VmbusServer::RunDeferred(uint64_t call_id) {
  auto it = deferred_.find(call_id);
  VMBSIM_CHECK(it != deferred_.end());  // Each deferred call runs exactly once.
  std::function<void()> call = std::move(it->second);
  deferred_.erase(it);
  call();
}

void VmbusServer::Trace(uint16_t kind, uint32_t relid, uint64_t id0, uint64_t id1,
                        uint64_t size0) {
  sim_->tracer().Emit({.time = host_vp_->LocalNow(),
                       .kind = kind,
                       .partition = host_synic_->partition_id(),
                       .vp = host_vp_->vp_index(),
                       .channel = relid,
                       .id0 = id0,
                       .id1 = id1,
                       .size0 = size0});
}

// ---------------------------------------------------------------------------
// Accessors.

std::vector<uint32_t> VmbusServer::relids() const {
  std::vector<uint32_t> out;
  out.reserve(channels_.size());
  for (const auto& [relid, channel] : channels_) out.push_back(relid);
  return out;
}

std::optional<ServerChannelState> VmbusServer::channel_state(uint32_t relid) const {
  auto it = channels_.find(relid);
  if (it == channels_.end()) return std::nullopt;
  return it->second.state;
}

absl::StatusOr<ServerChannelInfo> VmbusServer::channel(uint32_t relid) const {
  auto it = channels_.find(relid);
  if (it == channels_.end()) {
    return absl::NotFoundError(absl::StrCat("vmbus server: unknown relid ", relid));
  }
  const Channel& channel = it->second;
  ServerChannelInfo info;
  info.relid = relid;
  info.state = channel.state;
  info.offer = channel.state == ServerChannelState::kReoffered ? *channel.reoffer : channel.offer;
  info.connection_id = ConnectionIdOf(relid, channel.offer);
  info.monitor_id = channel.monitor_id;
  info.offer_sent = channel.offer_sent;
  info.target_vp = channel.target_vp;
  if (channel.open.has_value()) {
    info.ring_gpadl_id = channel.open->ring_gpadl_id;
    info.downstream_ringbuffer_pageoffset = channel.open->downstream_ringbuffer_pageoffset;
    info.openid = channel.open->openid;
  }
  return info;
}

absl::StatusOr<std::vector<uint64_t>> VmbusServer::RingPages(uint32_t relid) const {
  auto it = channels_.find(relid);
  if (it == channels_.end()) {
    return absl::NotFoundError(absl::StrCat("vmbus server: unknown relid ", relid));
  }
  if (!it->second.open.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("vmbus server: channel ", relid, " has no ring (",
                     ServerChannelStateName(it->second.state), ")"));
  }
  return GpadlPages(relid, it->second.open->ring_gpadl_id);
}

std::optional<ServerGpadlState> VmbusServer::gpadl_state(uint32_t relid,
                                                         uint32_t gpadl_id) const {
  auto it = gpadls_.find(GpadlKey{gpadl_id, relid});
  if (it == gpadls_.end()) return std::nullopt;
  return it->second.state;
}

absl::StatusOr<std::vector<GpaRange>> VmbusServer::GpadlRanges(uint32_t relid,
                                                              uint32_t gpadl_id) const {
  auto it = gpadls_.find(GpadlKey{gpadl_id, relid});
  if (it == gpadls_.end()) {
    return absl::NotFoundError(absl::StrCat("vmbus server: no gpadl 0x", absl::Hex(gpadl_id),
                                            " on channel ", relid));
  }
  if (it->second.state == ServerGpadlState::kInProgress) {
    return absl::FailedPreconditionError(absl::StrCat(
        "vmbus server: gpadl 0x", absl::Hex(gpadl_id), " on channel ", relid, " is in progress"));
  }
  return it->second.ranges;
}

absl::StatusOr<std::vector<uint64_t>> VmbusServer::GpadlPages(uint32_t relid,
                                                             uint32_t gpadl_id) const {
  VMBSIM_ASSIGN_OR_RETURN(const std::vector<GpaRange> ranges, GpadlRanges(relid, gpadl_id));
  return Pages(ranges);
}

// ---------------------------------------------------------------------------
// Invariants.

void VmbusServer::CheckInvariants() const {
  const bool connected = connection_state_ == ServerConnectionState::kConnected;
  const bool disconnecting = connection_state_ == ServerConnectionState::kDisconnecting;
  VMBSIM_DCHECK(connected || !offers_requested_);
  VMBSIM_DCHECK((connection_state_ == ServerConnectionState::kDisconnected) ==
                (version_ == kVersionNotNegotiated));
  VMBSIM_DCHECK(connection_state_ != ServerConnectionState::kDisconnected || gpadls_.empty());
  VMBSIM_DCHECK(target_vcpu_ < guest_synic_->vp_count());
  VMBSIM_DCHECK(reconnect_contact_.has_value() ==
                (disconnecting && disconnect_action_ == DisconnectAction::kReconnect));
  std::array<bool, kMonitorIdCount> seen = {};
  size_t monitors = 0;
  for (const auto& [relid, channel] : channels_) {
    // Relids are unique by construction (map keys); each is in range and
    // its connection id follows from it.
    VMBSIM_DCHECK(relid == channel.relid);
    VMBSIM_DCHECK(relid >= kRelidMin && relid <= kRelidMax);
    VMBSIM_DCHECK(!channel.offer_sent || (connected && offers_requested_));
    if (channel.monitor_id != kMonitorIdNone) {
      VMBSIM_DCHECK(channel.monitor_id < kMonitorIdCount);
      // Monitor ids are unique, but for the one the shared channels hold.
      VMBSIM_DCHECK(!seen[channel.monitor_id] || channel.monitor_id == shared_monitor_id_);
      VMBSIM_DCHECK(monitor_id_used_[channel.monitor_id]);
      if (!seen[channel.monitor_id]) ++monitors;
      seen[channel.monitor_id] = true;
    }
    VMBSIM_DCHECK(channel.open.has_value() == (channel.device != DeviceStage::kIdle));
    VMBSIM_DCHECK(channel.reopen.has_value() ==
                  (channel.state == ServerChannelState::kClosingReopen));
    VMBSIM_DCHECK(channel.reoffer.has_value() ==
                  (channel.state == ServerChannelState::kReoffered));
    VMBSIM_DCHECK(!channel.client_released ||
                  (channel.state == ServerChannelState::kRevoked &&
                   channel.device != DeviceStage::kIdle && !channel.offer_sent));
    switch (channel.state) {
      case ServerChannelState::kClosed:
      case ServerChannelState::kReoffered:
        VMBSIM_DCHECK(channel.device == DeviceStage::kIdle);
        break;
      case ServerChannelState::kOpening:
        VMBSIM_DCHECK(channel.device == DeviceStage::kOpenPending);
        VMBSIM_DCHECK(channel.offer_sent);
        break;
      case ServerChannelState::kOpen:
        VMBSIM_DCHECK(channel.device == DeviceStage::kOpen);
        VMBSIM_DCHECK(channel.offer_sent);
        break;
      case ServerChannelState::kClosing:
      case ServerChannelState::kClosingReopen:
        VMBSIM_DCHECK(channel.device == DeviceStage::kClosePending);
        VMBSIM_DCHECK(channel.offer_sent);
        break;
      case ServerChannelState::kRevoked:
        // Negative space: a Revoked channel is never open in its device.
        VMBSIM_DCHECK(channel.device != DeviceStage::kOpen);
        break;
      case ServerChannelState::kOpeningClientRelease:
        VMBSIM_DCHECK(channel.device == DeviceStage::kOpenPending);
        VMBSIM_DCHECK(disconnecting);
        break;
      case ServerChannelState::kClosingClientRelease:
        VMBSIM_DCHECK(channel.device == DeviceStage::kClosePending);
        VMBSIM_DCHECK(disconnecting);
        break;
    }
    if (channel.open.has_value()) {
      // The ring the device holds exists, complete, on this channel.
      auto ring = gpadls_.find(GpadlKey{channel.open->ring_gpadl_id, relid});
      VMBSIM_DCHECK(ring != gpadls_.end());
      VMBSIM_DCHECK(ring->second.state != ServerGpadlState::kInProgress);
      VMBSIM_DCHECK(channel.open->downstream_ringbuffer_pageoffset > 0);
      VMBSIM_DCHECK(channel.open->downstream_ringbuffer_pageoffset < ring->second.page_count);
    }
  }
  size_t used = 0;
  for (bool in_use : monitor_id_used_) used += in_use ? 1 : 0;
  VMBSIM_DCHECK(used == monitors);
  size_t in_progress = 0;
  for (const auto& [key, gpadl] : gpadls_) {
    auto channel = channels_.find(key.second);
    VMBSIM_DCHECK(channel != channels_.end());  // Every GPADL belongs to a channel.
    switch (gpadl.state) {
      case ServerGpadlState::kInProgress:
        ++in_progress;
        VMBSIM_DCHECK(assembler_.ChildRelidOf(key.first) == std::optional<uint32_t>(key.second));
        VMBSIM_DCHECK(gpadl.ranges.empty());
        break;
      case ServerGpadlState::kAccepted:
        VMBSIM_DCHECK(!gpadl.create_failed);
        VMBSIM_DCHECK(gpadl.page_count > 0);
        VMBSIM_DCHECK(gpadl.page_count == PageCount(gpadl.ranges));
        break;
      case ServerGpadlState::kTearingDown:
        // Deferred only while the device holds it as the ring.
        VMBSIM_DCHECK(channel->second.open.has_value());
        VMBSIM_DCHECK(channel->second.open->ring_gpadl_id == key.first);
        break;
    }
  }
  VMBSIM_DCHECK(assembler_.gpadl_count() == in_progress);
}

}  // namespace vmbsim::fabric
