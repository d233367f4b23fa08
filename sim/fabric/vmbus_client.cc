#include "sim/fabric/vmbus_client.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "sim/check.h"
#include "sim/core/trace.h"
#include "sim/fabric/gpadl_messages.h"
#include "sim/fabric/trace_kinds.h"

namespace vmbsim::fabric {

using sim::SimDuration;
using sim::SimTime;

namespace {

// Linux `MAX_CHANNEL_RELIDS`: one event flag per relid; 0 names no channel.
constexpr uint32_t kRelidLimit = kEventFlagCount;
// kChannelState / kGpadlState value for "dropped" (as the server's).
constexpr uint64_t kTraceDropped = 0xFF;

uint32_t RawMessageType(const std::vector<uint8_t>& bytes) {
  if (bytes.size() < 4) return 0;
  return uint32_t{bytes[0]} | uint32_t{bytes[1]} << 8 | uint32_t{bytes[2]} << 16 |
         uint32_t{bytes[3]} << 24;
}

// Messages only a guest sends; a client that receives one rejects it.
bool IsGuestToHost(ChannelMessageType type) {
  switch (type) {
    case ChannelMessageType::kRequestOffers:
    case ChannelMessageType::kOpenChannel:
    case ChannelMessageType::kCloseChannel:
    case ChannelMessageType::kGpadlHeader:
    case ChannelMessageType::kGpadlBody:
    case ChannelMessageType::kGpadlTeardown:
    case ChannelMessageType::kRelidReleased:
    case ChannelMessageType::kInitiateContact:
    case ChannelMessageType::kUnload:
    case ChannelMessageType::kOpenReservedChannel:
    case ChannelMessageType::kCloseReservedChannel:
    case ChannelMessageType::kTlConnectRequest:
    case ChannelMessageType::kModifyChannel:
    case ChannelMessageType::kModifyConnection:
    case ChannelMessageType::kPause:
    case ChannelMessageType::kResume:
      return true;
    default:
      return false;
  }
}

}  // namespace

const char* ClientConnectionStateName(ClientConnectionState state) {
  switch (state) {
    case ClientConnectionState::kDisconnected: return "Disconnected";
    case ClientConnectionState::kConnecting: return "Connecting";
    case ClientConnectionState::kConnected: return "Connected";
    case ClientConnectionState::kDisconnecting: return "Disconnecting";
  }
  return "unknown";
}

const char* ClientChannelStateName(ClientChannelState state) {
  switch (state) {
    case ClientChannelState::kOffered: return "Offered";
    case ClientChannelState::kOpening: return "Opening";
    case ClientChannelState::kOpened: return "Opened";
  }
  return "unknown";
}

const char* ClientGpadlStateName(ClientGpadlState state) {
  switch (state) {
    case ClientGpadlState::kCreating: return "Creating";
    case ClientGpadlState::kCreated: return "Created";
    case ClientGpadlState::kTearingDown: return "TearingDown";
  }
  return "unknown";
}

VmbusClient::VmbusClient(sim::Simulator* sim, Synic* guest_synic,
                         absl::Span<VirtualProcessor* const> guest_vps, Synic* host_synic,
                         VmbusClientOptions options)
    : sim_(sim),
      guest_synic_(guest_synic),
      guest_vps_(guest_vps.begin(), guest_vps.end()),
      vp_(options.vp_index < guest_vps.size() ? guest_vps[options.vp_index] : nullptr),
      host_synic_(host_synic),
      options_(options) {
  VMBSIM_CHECK(sim != nullptr);
  VMBSIM_CHECK(guest_synic != nullptr);
  VMBSIM_CHECK(host_synic != nullptr);
  VMBSIM_CHECK_EQ(guest_vps_.size(), guest_synic->vp_count());
  for (size_t i = 0; i < guest_vps_.size(); ++i) {
    VMBSIM_CHECK(guest_vps_[i] != nullptr);
    VMBSIM_CHECK_EQ(guest_vps_[i]->vp_index(), i);
    VMBSIM_CHECK_EQ(guest_vps_[i]->partition_id(), guest_synic->partition_id());
  }
  VMBSIM_CHECK(vp_ != nullptr);  // options.vp_index names a guest VP.
  VMBSIM_CHECK_LT(options.target_vcpu, guest_synic->vp_count());
  VMBSIM_CHECK_NE(guest_synic->partition_id(), host_synic->partition_id());
}

// ---------------------------------------------------------------------------
// Requests.

absl::Status VmbusClient::Connect(uint32_t max_version, ConnectCallback callback) {
  if (connection_state_ != ClientConnectionState::kDisconnected) {
    return absl::FailedPreconditionError(
        absl::StrCat("vmbus client: Connect while ", ClientConnectionStateName(connection_state_),
                     " at t=", sim_->Now().ToString()));
  }
  std::vector<uint32_t> candidates;
  for (uint32_t version : kKnownVersions) {
    if (version <= max_version) candidates.push_back(version);  // Newest first.
  }
  if (candidates.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vmbus client: Connect: no known protocol version <= 0x", absl::Hex(max_version)));
  }
  candidate_versions_ = std::move(candidates);
  candidate_index_ = 0;
  connect_callback_ = std::move(callback);
  SetConnectionState(ClientConnectionState::kConnecting);
  SendContact();
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> VmbusClient::CreateGpadl(uint32_t relid,
                                                  absl::Span<const GpaRange> ranges,
                                                  GpadlCallback callback) {
  if (connection_state_ != ClientConnectionState::kConnected) {
    return absl::FailedPreconditionError(
        absl::StrCat("vmbus client: CreateGpadl: not connected at t=", sim_->Now().ToString()));
  }
  auto it = channels_.find(relid);
  if (it == channels_.end()) {
    return absl::NotFoundError(absl::StrCat("vmbus client: CreateGpadl: unknown relid ", relid));
  }
  if (it->second.rescinded) {
    return absl::FailedPreconditionError(
        absl::StrCat("vmbus client: CreateGpadl: channel ", relid, " is rescinded"));
  }
  const uint32_t gpadl_id = next_gpadl_id_;
  VMBSIM_ASSIGN_OR_RETURN(std::vector<ChannelMessage> messages,
                          SplitGpadl(relid, gpadl_id, ranges));
  VMBSIM_CHECK(!messages.empty());  // A header at least.
  ++next_gpadl_id_;
  Gpadl gpadl;
  gpadl.relid = relid;
  gpadl.create_callback = std::move(callback);
  auto [gpadl_it, inserted] = gpadls_.emplace(gpadl_id, std::move(gpadl));
  VMBSIM_CHECK(inserted);  // Ids only grow.
  SetGpadlState(gpadl_id, gpadl_it->second, ClientGpadlState::kCreating);
  // Header and bodies back-to-back, without waiting (spec 5.2).
  for (const ChannelMessage& message : messages) Enqueue(message, relid, gpadl_id);
  return gpadl_id;
}

absl::Status VmbusClient::OpenChannel(uint32_t relid, uint32_t ring_gpadl_id,
                                      uint32_t downstream_ringbuffer_pageoffset,
                                      uint32_t target_vp,
                                      const std::array<uint8_t, 120>& userdata,
                                      StatusCallback callback) {
  if (connection_state_ != ClientConnectionState::kConnected) {
    return absl::FailedPreconditionError(
        absl::StrCat("vmbus client: OpenChannel: not connected at t=", sim_->Now().ToString()));
  }
  auto it = channels_.find(relid);
  if (it == channels_.end()) {
    return absl::NotFoundError(absl::StrCat("vmbus client: OpenChannel: unknown relid ", relid));
  }
  Channel& channel = it->second;
  if (channel.rescinded || channel.state != ClientChannelState::kOffered) {
    return absl::FailedPreconditionError(absl::StrCat(
        "vmbus client: OpenChannel: channel ", relid, " is ",
        ClientChannelStateName(channel.state), channel.rescinded ? " and rescinded" : ""));
  }
  auto gpadl = gpadls_.find(ring_gpadl_id);
  if (gpadl == gpadls_.end() || gpadl->second.relid != relid) {
    return absl::NotFoundError(absl::StrCat("vmbus client: OpenChannel: no gpadl 0x",
                                            absl::Hex(ring_gpadl_id), " on channel ", relid));
  }
  if (gpadl->second.state != ClientGpadlState::kCreated) {
    return absl::FailedPreconditionError(
        absl::StrCat("vmbus client: OpenChannel: gpadl 0x", absl::Hex(ring_gpadl_id), " is ",
                     ClientGpadlStateName(gpadl->second.state)));
  }
  channel.openid = relid;  // Linux uses the relid as openid.
  channel.open_callback = std::move(callback);
  SetChannelState(relid, channel, ClientChannelState::kOpening);
  fabric::OpenChannel open;
  open.child_relid = relid;
  open.openid = channel.openid;
  open.ringbuffer_gpadlhandle = ring_gpadl_id;
  open.target_vp = target_vp;
  open.downstream_ringbuffer_pageoffset = downstream_ringbuffer_pageoffset;
  open.userdata = userdata;
  Enqueue(open, relid);
  return absl::OkStatus();
}

absl::Status VmbusClient::CloseChannel(uint32_t relid) {
  if (connection_state_ != ClientConnectionState::kConnected) {
    return absl::FailedPreconditionError(
        absl::StrCat("vmbus client: CloseChannel: not connected at t=", sim_->Now().ToString()));
  }
  auto it = channels_.find(relid);
  if (it == channels_.end()) {
    return absl::NotFoundError(absl::StrCat("vmbus client: CloseChannel: unknown relid ", relid));
  }
  Channel& channel = it->second;
  if (channel.state != ClientChannelState::kOpened) {
    return absl::FailedPreconditionError(absl::StrCat(
        "vmbus client: CloseChannel: channel ", relid, " is ",
        ClientChannelStateName(channel.state)));
  }
  if (channel.modify_callback) {
    return absl::FailedPreconditionError(absl::StrCat(
        "vmbus client: CloseChannel: channel ", relid, " has a MODIFYCHANNEL outstanding"));
  }
  SetChannelState(relid, channel, ClientChannelState::kOffered);
  Enqueue(fabric::CloseChannel{.child_relid = relid}, relid);
  return absl::OkStatus();
}

absl::Status VmbusClient::TeardownGpadl(uint32_t relid, uint32_t gpadl_id,
                                        StatusCallback callback) {
  if (connection_state_ != ClientConnectionState::kConnected) {
    return absl::FailedPreconditionError(absl::StrCat(
        "vmbus client: TeardownGpadl: not connected at t=", sim_->Now().ToString()));
  }
  auto it = gpadls_.find(gpadl_id);
  if (it == gpadls_.end() || it->second.relid != relid) {
    return absl::NotFoundError(absl::StrCat("vmbus client: TeardownGpadl: no gpadl 0x",
                                            absl::Hex(gpadl_id), " on channel ", relid));
  }
  Gpadl& gpadl = it->second;
  if (gpadl.state != ClientGpadlState::kCreated) {
    return absl::FailedPreconditionError(
        absl::StrCat("vmbus client: TeardownGpadl: gpadl 0x", absl::Hex(gpadl_id), " is ",
                     ClientGpadlStateName(gpadl.state)));
  }
  const Channel& channel = channels_.at(relid);  // Records never outlive their channel.
  if (channel.rescinded && options_.skip_teardown_when_rescinded) {
    // Linux: no GPADL_TEARDOWN for a rescinded channel (spec 4.6 "Rescind" step 2).
    EraseGpadl(gpadl_id);
    Defer([callback = std::move(callback)] { callback(kStatusSuccess); });
    return absl::OkStatus();
  }
  gpadl.teardown_callback = std::move(callback);
  SetGpadlState(gpadl_id, gpadl, ClientGpadlState::kTearingDown);
  Enqueue(GpadlTeardown{.child_relid = relid, .gpadl = gpadl_id}, relid, gpadl_id);
  return absl::OkStatus();
}

absl::Status VmbusClient::ReleaseRelid(uint32_t relid) {
  if (connection_state_ != ClientConnectionState::kConnected) {
    return absl::FailedPreconditionError(
        absl::StrCat("vmbus client: ReleaseRelid: not connected at t=", sim_->Now().ToString()));
  }
  auto it = channels_.find(relid);
  if (it == channels_.end()) {
    return absl::NotFoundError(absl::StrCat("vmbus client: ReleaseRelid: unknown relid ", relid));
  }
  Channel& channel = it->second;
  if (!channel.rescinded || channel.state != ClientChannelState::kOffered ||
      channel.release_requested) {
    return absl::FailedPreconditionError(absl::StrCat(
        "vmbus client: ReleaseRelid: channel ", relid, " is ",
        ClientChannelStateName(channel.state),
        channel.rescinded ? (channel.release_requested ? ", already released" : "")
                          : ", not rescinded"));
  }
  // Created GPADLs go with the channel (the host drops its copies at the
  // release); only replies still outstanding hold the release back.
  std::vector<uint32_t> created;
  for (const auto& [gpadl_id, gpadl] : gpadls_) {
    if (gpadl.relid == relid && gpadl.state == ClientGpadlState::kCreated) {
      created.push_back(gpadl_id);
    }
  }
  for (uint32_t gpadl_id : created) EraseGpadl(gpadl_id);
  channel.release_requested = true;
  MaybeRelease(relid);
  return absl::OkStatus();
}

absl::Status VmbusClient::ModifyChannel(uint32_t relid, uint32_t target_vp,
                                        StatusCallback callback) {
  if (connection_state_ != ClientConnectionState::kConnected) {
    return absl::FailedPreconditionError(
        absl::StrCat("vmbus client: ModifyChannel: not connected at t=", sim_->Now().ToString()));
  }
  if (version_ < MinimumProtocolVersion(ChannelMessageType::kModifyChannel)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "vmbus client: ModifyChannel needs protocol Win10Rs3_0, connected at ",
        ProtocolVersionName(version_)));
  }
  auto it = channels_.find(relid);
  if (it == channels_.end()) {
    return absl::NotFoundError(absl::StrCat("vmbus client: ModifyChannel: unknown relid ", relid));
  }
  Channel& channel = it->second;
  if (channel.rescinded || channel.state != ClientChannelState::kOpened ||
      channel.modify_callback) {
    return absl::FailedPreconditionError(absl::StrCat(
        "vmbus client: ModifyChannel: channel ", relid, " is ",
        ClientChannelStateName(channel.state), channel.rescinded ? ", rescinded" : "",
        channel.modify_callback ? ", a modify is outstanding" : ""));
  }
  channel.modify_callback = std::move(callback);
  Enqueue(fabric::ModifyChannel{.child_relid = relid, .target_vp = target_vp}, relid);
  return absl::OkStatus();
}

absl::Status VmbusClient::Unload(UnloadCallback callback) {
  if (connection_state_ != ClientConnectionState::kConnected) {
    return absl::FailedPreconditionError(
        absl::StrCat("vmbus client: Unload while ", ClientConnectionStateName(connection_state_),
                     " at t=", sim_->Now().ToString()));
  }
  if (version_ < kVersionWin8_1) {
    // Linux skips UNLOAD below Win8.1 (spec 4.6 "Unload" step 1).
    ClearConnection();
    SetConnectionState(ClientConnectionState::kDisconnected);
    Defer([callback = std::move(callback)] { callback(absl::OkStatus()); });
    return absl::OkStatus();
  }
  unload_callback_ = std::move(callback);
  SetConnectionState(ClientConnectionState::kDisconnecting);
  Enqueue(fabric::Unload{});
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Sending.

void VmbusClient::Enqueue(const ChannelMessage& message, uint32_t relid, uint32_t gpadl_id,
                          uint32_t connection_id) {
  Outgoing outgoing;
  outgoing.type = MessageTypeOf(message);
  outgoing.relid = relid;
  outgoing.gpadl_id = gpadl_id;
  outgoing.connection_id = connection_id;
  outgoing.bytes = Encode(message);
  VMBSIM_CHECK_LE(outgoing.bytes.size(), kMaxMessagePayloadBytes);
  outbox_.push_back(std::move(outgoing));
  StartPump();
}

void VmbusClient::StartPump() {
  if (pump_scheduled_ || outbox_.empty()) return;
  pump_scheduled_ = true;
  QueueOnOwnVp(std::nullopt);
}

void VmbusClient::QueueOnOwnVp(std::optional<uint64_t> call_id) {
  auto queue = [this](std::optional<uint64_t> id) {
    if (id.has_value()) {
      vp_->Queue(Irql::kPassive, SimDuration::Zero(), [this, id = *id] { RunDeferred(id); });
    } else {
      vp_->Queue(Irql::kPassive, SimDuration::Zero(), [this] { Pump(); });
    }
  };
  // No earlier than the clock of the work that asked: an ISR on another VP
  // may have charged time already. Work queued from the own VP's item starts
  // after it anyway.
  const SimTime at = ContextNow();
  if (vp_->running() || at == sim_->Now()) {
    queue(call_id);
    return;
  }
  // Captures fit the 24-byte event: `this`, a flag and an id.
  const bool has_id = call_id.has_value();
  const uint64_t id = call_id.value_or(0);
  sim_->ScheduleAt(at, [this, has_id, id] {
    if (has_id) {
      vp_->Queue(Irql::kPassive, SimDuration::Zero(), [this, id] { RunDeferred(id); });
    } else {
      vp_->Queue(Irql::kPassive, SimDuration::Zero(), [this] { Pump(); });
    }
  });
}

void VmbusClient::Pump() {
  VMBSIM_CHECK(pump_scheduled_);  // Paired with StartPump / the retry wait.
  VMBSIM_CHECK(vp_->running());
  // pump_scheduled_ stays set while this loop runs: a message a give-up
  // queues (the next INITIATE_CONTACT) is taken by this loop, and no second
  // pump item is ever in flight.
  // Each round posts or drops the front message, or waits; give-ups may add
  // at most one INITIATE_CONTACT per known version.
  const size_t rounds_max = outbox_.size() + kKnownVersions.size();
  for (size_t round = 0; !outbox_.empty(); ++round) {
    VMBSIM_CHECK_LE(round, rounds_max);
    Outgoing& front = outbox_.front();
    const HvStatus status = PostMessage(*host_synic_, *vp_, front.connection_id, front.bytes);
    if (status == HvStatus::kSuccess) {
      ++counters_.posts;
      const Outgoing posted = std::move(front);
      outbox_.pop_front();
      OnPosted(posted);
      continue;
    }
    ++front.failed_tries;
    const bool transient =
        status == HvStatus::kInsufficientBuffers || status == HvStatus::kInsufficientMemory;
    if (transient && front.failed_tries < kPostMessageTriesMax) {
      // Linux `vmbus_post_msg`: 1 us, doubled on each of the first 21 retries.
      ++counters_.post_retries;
      const uint32_t doublings = std::min(front.failed_tries - 1, kPostMessageDoublingsMax);
      const SimDuration wait = SimDuration::Microseconds(int64_t{1} << doublings);
      if (wait.nanoseconds() <= kPostRetryBusyWaitMaxNs) {
        // udelay: the VP spins for the wait, then retries.
        vp_->Queue(Irql::kPassive, wait, [this] { Pump(); });
      } else {
        // msleep: the VP is free meanwhile.
        sim_->ScheduleAt(vp_->LocalNow() + wait, [this] {
          vp_->Queue(Irql::kPassive, SimDuration::Zero(), [this] { Pump(); });
        });
      }
      return;
    }
    Outgoing failed = std::move(front);
    outbox_.pop_front();
    GiveUp(std::move(failed), status);
  }
  pump_scheduled_ = false;
}

void VmbusClient::OnPosted(const Outgoing& posted) {
  if (posted.type != ChannelMessageType::kModifyChannel || version_ >= kVersionIron) return;
  // Below Iron no MODIFYCHANNEL_RESPONSE exists: done once posted (spec 4.6).
  auto it = channels_.find(posted.relid);
  if (it == channels_.end() || !it->second.modify_callback) return;  // A rescind completed it.
  StatusCallback callback = std::move(it->second.modify_callback);
  it->second.modify_callback = nullptr;
  Defer([callback = std::move(callback)] { callback(kStatusSuccess); });
}

void VmbusClient::GiveUp(Outgoing failed, HvStatus status) {
  ++counters_.post_failures;
  post_failures_.push_back(PostFailure{.time = vp_->LocalNow(),
                                       .type = failed.type,
                                       .relid = failed.relid,
                                       .gpadl_id = failed.gpadl_id,
                                       .status = status,
                                       .tries = failed.failed_tries});
  switch (failed.type) {
    case ChannelMessageType::kInitiateContact:
      if (connection_state_ != ClientConnectionState::kConnecting) return;
      awaiting_version_ = kVersionNotNegotiated;
      // On id 4 this means "host older than 5.0" (spec 3.2): try lower.
      if (status == HvStatus::kInvalidConnectionId &&
          failed.connection_id == kVmbusMessageConnectionId4) {
        TryNextVersion();
        return;
      }
      FailConnect(absl::UnavailableError(
          absl::StrCat("vmbus client: INITIATE_CONTACT not posted: hv status 0x",
                       absl::Hex(static_cast<uint16_t>(status)), " after ", failed.failed_tries,
                       " tries")));
      return;
    case ChannelMessageType::kGpadlHeader:
    case ChannelMessageType::kGpadlBody: {
      // The GPADL can never complete: fail it and drop the rest of its messages.
      outbox_.erase(std::remove_if(outbox_.begin(), outbox_.end(),
                                   [&](const Outgoing& o) {
                                     return o.gpadl_id == failed.gpadl_id &&
                                            (o.type == ChannelMessageType::kGpadlHeader ||
                                             o.type == ChannelMessageType::kGpadlBody);
                                   }),
                    outbox_.end());
      auto it = gpadls_.find(failed.gpadl_id);
      if (it == gpadls_.end() || it->second.state != ClientGpadlState::kCreating) return;
      const bool abandoned = it->second.abandoned;
      GpadlCallback callback = std::move(it->second.create_callback);
      const uint32_t relid = it->second.relid;
      const uint32_t gpadl_id = failed.gpadl_id;
      EraseGpadl(gpadl_id);
      if (!abandoned) {
        Defer([callback = std::move(callback), gpadl_id] { callback(kStatusUnsuccessful, gpadl_id); });
      }
      MaybeRelease(relid);
      return;
    }
    case ChannelMessageType::kGpadlTeardown: {
      auto it = gpadls_.find(failed.gpadl_id);
      if (it == gpadls_.end() || it->second.state != ClientGpadlState::kTearingDown) return;
      const bool abandoned = it->second.abandoned;
      StatusCallback callback = std::move(it->second.teardown_callback);
      it->second.teardown_callback = nullptr;
      it->second.abandoned = false;
      SetGpadlState(failed.gpadl_id, it->second, ClientGpadlState::kCreated);
      if (!abandoned) Defer([callback = std::move(callback)] { callback(kStatusUnsuccessful); });
      MaybeRelease(failed.relid);
      return;
    }
    case ChannelMessageType::kOpenChannel: {
      auto it = channels_.find(failed.relid);
      if (it == channels_.end() || it->second.state != ClientChannelState::kOpening) return;
      StatusCallback callback = std::move(it->second.open_callback);
      it->second.open_callback = nullptr;
      SetChannelState(failed.relid, it->second, ClientChannelState::kOffered);
      Defer([callback = std::move(callback)] { callback(kStatusUnsuccessful); });
      return;
    }
    case ChannelMessageType::kModifyChannel: {
      auto it = channels_.find(failed.relid);
      if (it == channels_.end() || !it->second.modify_callback) return;
      StatusCallback callback = std::move(it->second.modify_callback);
      it->second.modify_callback = nullptr;
      Defer([callback = std::move(callback)] { callback(kStatusUnsuccessful); });
      return;
    }
    case ChannelMessageType::kUnload: {
      if (connection_state_ != ClientConnectionState::kDisconnecting) return;
      SetConnectionState(ClientConnectionState::kConnected);
      UnloadCallback callback = std::move(unload_callback_);
      unload_callback_ = nullptr;
      Defer([callback = std::move(callback), status] {
        callback(absl::UnavailableError(absl::StrCat(
            "vmbus client: UNLOAD not posted: hv status 0x",
            absl::Hex(static_cast<uint16_t>(status)))));
      });
      return;
    }
    default:
      return;  // REQUESTOFFERS, CLOSECHANNEL, RELID_RELEASED: recorded only.
  }
}

// ---------------------------------------------------------------------------
// Connection.

void VmbusClient::SendContact() {
  VMBSIM_CHECK(connection_state_ == ClientConnectionState::kConnecting);
  VMBSIM_CHECK_LT(candidate_index_, candidate_versions_.size());
  const uint32_t version = candidate_versions_[candidate_index_];
  const bool v5 = version >= kVersionWin10Rs3_1;
  awaiting_version_ = version;
  ++counters_.contact_attempts;
  InitiateContact contact;
  contact.vmbus_version_requested = version;
  contact.target_vcpu = options_.target_vcpu;
  // From 5.0 the word is target info (SINT 2, VTL 0, no Copper features).
  contact.interrupt_page_or_target_info =
      v5 ? TargetInfo{.msg_sint = static_cast<uint8_t>(kVmbusSint)}.ToWord()
         : options_.interrupt_page_gpa;
  contact.monitor_page1 = options_.monitor_page1_gpa;
  contact.monitor_page2 = options_.monitor_page2_gpa;
  Enqueue(contact, 0, 0, v5 ? kVmbusMessageConnectionId4 : kVmbusMessageConnectionId);
}

void VmbusClient::TryNextVersion() {
  ++candidate_index_;
  if (candidate_index_ >= candidate_versions_.size()) {
    FailConnect(absl::UnavailableError(absl::StrCat(
        "vmbus client: the host accepts none of the ", candidate_versions_.size(),
        " versions from ", ProtocolVersionName(candidate_versions_.front()), " down")));
    return;
  }
  SendContact();
}

void VmbusClient::FailConnect(absl::Status status) {
  VMBSIM_CHECK(!status.ok());
  SetConnectionState(ClientConnectionState::kDisconnected);
  awaiting_version_ = kVersionNotNegotiated;
  ConnectCallback callback = std::move(connect_callback_);
  connect_callback_ = nullptr;
  if (callback) Defer([callback = std::move(callback), status] { callback(status); });
}

void VmbusClient::SetConnectionState(ClientConnectionState state) {
  connection_state_ = state;
  Trace(TraceKind(FabricTraceKind::kConnectionState), 0, static_cast<uint64_t>(state), version_);
}

void VmbusClient::ClearConnection() {
  // Waiting requests fail: the host will not answer them any more.
  for (auto& [relid, channel] : channels_) {
    if (channel.open_callback) {
      Defer([callback = std::move(channel.open_callback)] { callback(kStatusUnsuccessful); });
    }
    if (channel.modify_callback) {
      Defer([callback = std::move(channel.modify_callback)] { callback(kStatusUnsuccessful); });
    }
    Trace(TraceKind(FabricTraceKind::kChannelState), relid, kTraceDropped, 0);
  }
  for (auto& [gpadl_id, gpadl] : gpadls_) {
    if (!gpadl.abandoned && gpadl.state == ClientGpadlState::kCreating) {
      Defer([callback = std::move(gpadl.create_callback), id = gpadl_id] {
        callback(kStatusUnsuccessful, id);
      });
    }
    if (!gpadl.abandoned && gpadl.state == ClientGpadlState::kTearingDown) {
      // The host tore everything down itself (spec 5.5).
      Defer([callback = std::move(gpadl.teardown_callback)] { callback(kStatusSuccess); });
    }
    Trace(TraceKind(FabricTraceKind::kGpadlState), gpadl.relid, gpadl_id, kTraceDropped);
  }
  channels_.clear();
  gpadls_.clear();
  version_ = kVersionNotNegotiated;
  msg_conn_id_ = kVmbusMessageConnectionId;
  offers_requested_ = false;
  all_offers_delivered_ = false;
}

// ---------------------------------------------------------------------------
// Receiving.

void VmbusClient::OnInterrupt(uint32_t vp_index) {
  VMBSIM_CHECK_LT(vp_index, guest_vps_.size());
  VMBSIM_CHECK(!isr_vp_index_.has_value());           // ISRs do not nest.
  VMBSIM_CHECK(guest_vps_[vp_index]->running());       // Called from the ISR item.
  isr_vp_index_ = vp_index;
  // Spec 3.1: channels (event flags) first, then the message slot.
  absl::StatusOr<Synic::EventFlagList> flags = guest_synic_->TakeEventFlags(vp_index);
  VMBSIM_CHECK_MSG(flags.ok(), flags.status().ToString());
  for (uint32_t flag : *flags) {
    if (event_handler_) event_handler_(flag);
  }
  absl::StatusOr<std::optional<std::vector<uint8_t>>> slot =
      guest_synic_->ReadMessageSlot(vp_index);
  VMBSIM_CHECK_MSG(slot.ok(), slot.status().ToString());
  if (slot->has_value()) {
    // Copied out first; the slot is freed before the copy is parsed (spec 7.1).
    std::vector<uint8_t> bytes = std::move(**slot);
    const absl::Status eom = guest_synic_->EndOfMessage(vp_index);
    VMBSIM_CHECK_MSG(eom.ok(), eom.ToString());  // The slot was occupied.
    HandleMessage(std::move(bytes));
  }
  isr_vp_index_.reset();
}

void VmbusClient::HandleMessage(std::vector<uint8_t> bytes) {
  ++counters_.messages_received;
  absl::StatusOr<ChannelMessage> message = Decode(bytes, version_);
  if (!message.ok()) {
    Reject(RawMessageType(bytes), 0,
           absl::StrCat("message does not decode at version ", ProtocolVersionName(version_),
                        ": ", message.status().message()));
    return;
  }
  const ChannelMessage& m = *message;
  if (const auto* r = std::get_if<VersionResponse>(&m)) return HandleVersionResponse(*r);
  if (const auto* r = std::get_if<VersionResponse2>(&m)) {
    return HandleVersionResponse(r->version_response);
  }
  if (const auto* r = std::get_if<VersionResponse3>(&m)) {
    return HandleVersionResponse(r->version_response2.version_response);
  }
  if (const auto* o = std::get_if<fabric::OfferChannel>(&m)) return HandleOffer(*o);
  if (const auto* r = std::get_if<RescindChannelOffer>(&m)) return HandleRescind(*r);
  if (std::holds_alternative<AllOffersDelivered>(m)) return HandleAllOffersDelivered();
  if (const auto* r = std::get_if<OpenResult>(&m)) return HandleOpenResult(*r);
  if (const auto* c = std::get_if<GpadlCreated>(&m)) return HandleGpadlCreated(*c);
  if (const auto* t = std::get_if<GpadlTorndown>(&m)) return HandleGpadlTorndown(*t);
  if (std::holds_alternative<UnloadResponse>(m)) return HandleUnloadResponse();
  if (const auto* r = std::get_if<ModifyChannelResponse>(&m)) {
    return HandleModifyChannelResponse(*r);
  }
  const ChannelMessageType type = MessageTypeOf(m);
  Reject(type, 0,
         absl::StrCat(ChannelMessageTypeName(type), IsGuestToHost(type)
                                                        ? " is a guest-to-host message"
                                                        : " is not supported by this client"));
}

void VmbusClient::Accept(ChannelMessageType type, uint32_t relid) {
  Trace(TraceKind(FabricTraceKind::kControlMessage), relid, static_cast<uint32_t>(type), 1);
}

void VmbusClient::Reject(uint32_t msgtype, uint32_t relid, std::string reason) {
  ++counters_.messages_rejected;
  violations_.push_back(ClientViolation{.time = ContextNow(),
                                        .side = "guest",
                                        .msgtype = msgtype,
                                        .relid = relid,
                                        .reason = std::move(reason)});
  Trace(TraceKind(FabricTraceKind::kControlMessage), relid, msgtype, 0);
}

void VmbusClient::HandleVersionResponse(const VersionResponse& response) {
  constexpr ChannelMessageType kType = ChannelMessageType::kVersionResponse;
  if (connection_state_ != ClientConnectionState::kConnecting ||
      awaiting_version_ == kVersionNotNegotiated) {
    Reject(kType, 0, "VERSION_RESPONSE without an INITIATE_CONTACT outstanding");
    return;
  }
  const uint32_t version = awaiting_version_;
  const bool v5 = version >= kVersionWin10Rs3_1;
  if (response.version_supported == 1 &&
      response.connection_state == kConnectionStateSuccessful && v5 &&
      (response.msg_conn_id == 0 || (response.msg_conn_id & ~kConnectionIdMask) != 0)) {
    Reject(kType, 0,
           absl::StrCat("msg_conn_id 0x", absl::Hex(response.msg_conn_id),
                        " is not a connection id"));
    FailConnect(absl::UnavailableError("vmbus client: the host returned a bad msg_conn_id"));
    return;
  }
  Accept(kType, 0);
  awaiting_version_ = kVersionNotNegotiated;
  if (response.version_supported == 0) {
    TryNextVersion();  // Spec 4.3: the next lower version.
    return;
  }
  if (response.connection_state != kConnectionStateSuccessful) {
    FailConnect(absl::UnavailableError(
        absl::StrCat("vmbus client: the host refused the connection at ",
                     ProtocolVersionName(version), ": connection_state ",
                     response.connection_state)));
    return;
  }
  version_ = version;
  msg_conn_id_ = v5 ? response.msg_conn_id : kVmbusMessageConnectionId;
  SetConnectionState(ClientConnectionState::kConnected);
  // Spec 4.6 "Connect" step 4: once per connection.
  offers_requested_ = true;
  Enqueue(RequestOffers{});
  ConnectCallback callback = std::move(connect_callback_);
  connect_callback_ = nullptr;
  if (callback) Defer([callback = std::move(callback), version] { callback(version); });
}

void VmbusClient::HandleOffer(const fabric::OfferChannel& offer) {
  constexpr ChannelMessageType kType = ChannelMessageType::kOfferChannel;
  const uint32_t relid = offer.child_relid;
  if (!offers_requested_) {
    Reject(kType, relid, "OFFERCHANNEL before REQUESTOFFERS");
    return;
  }
  if (relid == 0 || relid >= kRelidLimit) {
    Reject(kType, relid, absl::StrCat("relid ", relid, " is outside 1..", kRelidLimit - 1));
    return;
  }
  if (channels_.count(relid) != 0) {
    Reject(kType, relid, absl::StrCat("relid ", relid, " is already offered"));
    return;
  }
  if (offer.sub_channel_index != 0) {
    bool primary = false;
    for (const auto& [other_relid, channel] : channels_) {
      primary = primary || (channel.offer.interface_id == offer.interface_id &&
                            channel.offer.instance_id == offer.instance_id &&
                            channel.offer.sub_channel_index == 0);
    }
    if (!primary) {
      Reject(kType, relid,
             absl::StrCat("sub-channel ", offer.sub_channel_index, " offered before its primary"));
      return;
    }
  }
  Accept(kType, relid);
  Channel channel;
  channel.offer = offer;
  auto [it, inserted] = channels_.emplace(relid, std::move(channel));
  VMBSIM_CHECK(inserted);
  SetChannelState(relid, it->second, ClientChannelState::kOffered);
  Defer([this, offer] {
    if (listener_ != nullptr) listener_->OnOffer(offer);
  });
}

void VmbusClient::HandleRescind(const RescindChannelOffer& rescind) {
  constexpr ChannelMessageType kType = ChannelMessageType::kRescindChannelOffer;
  const uint32_t relid = rescind.child_relid;
  auto it = channels_.find(relid);
  if (it == channels_.end()) {
    Reject(kType, relid, absl::StrCat("unknown relid ", relid));
    return;
  }
  Channel& channel = it->second;
  if (channel.rescinded) {
    Reject(kType, relid, absl::StrCat("channel ", relid, " is already rescinded"));
    return;
  }
  Accept(kType, relid);
  channel.rescinded = true;
  // Spec 7.3: the requests waiting on the channel are woken now, not by a reply.
  if (channel.state == ClientChannelState::kOpening) {
    StatusCallback callback = std::move(channel.open_callback);
    channel.open_callback = nullptr;
    Defer([callback = std::move(callback)] { callback(kStatusUnsuccessful); });
    SetChannelState(relid, channel, ClientChannelState::kOffered);
  } else {
    SetChannelState(relid, channel, channel.state);  // Traces the flag.
  }
  if (channel.modify_callback) {
    StatusCallback callback = std::move(channel.modify_callback);
    channel.modify_callback = nullptr;
    Defer([callback = std::move(callback)] { callback(kStatusUnsuccessful); });
  }
  for (auto& [gpadl_id, gpadl] : gpadls_) {
    if (gpadl.relid != relid || gpadl.abandoned) continue;
    if (gpadl.state == ClientGpadlState::kCreating) {
      gpadl.abandoned = true;
      Defer([callback = std::move(gpadl.create_callback), id = gpadl_id] {
        callback(kStatusUnsuccessful, id);
      });
      gpadl.create_callback = nullptr;
    } else if (gpadl.state == ClientGpadlState::kTearingDown) {
      gpadl.abandoned = true;
      Defer([callback = std::move(gpadl.teardown_callback)] { callback(kStatusSuccess); });
      gpadl.teardown_callback = nullptr;
    }
  }
  Defer([this, relid] {
    if (listener_ != nullptr) listener_->OnRescind(relid);
  });
}

void VmbusClient::HandleAllOffersDelivered() {
  constexpr ChannelMessageType kType = ChannelMessageType::kAllOffersDelivered;
  if (!offers_requested_ || all_offers_delivered_) {
    Reject(kType, 0,
           all_offers_delivered_ ? "ALLOFFERS_DELIVERED already received on this connection"
                                 : "ALLOFFERS_DELIVERED before REQUESTOFFERS");
    return;
  }
  Accept(kType, 0);
  all_offers_delivered_ = true;
  Defer([this] {
    if (listener_ != nullptr) listener_->OnAllOffersDelivered();
  });
}

void VmbusClient::HandleOpenResult(const OpenResult& result) {
  constexpr ChannelMessageType kType = ChannelMessageType::kOpenChannelResult;
  const uint32_t relid = result.child_relid;
  auto it = channels_.find(relid);
  if (it == channels_.end()) {
    Reject(kType, relid, absl::StrCat("unknown relid ", relid));
    return;
  }
  Channel& channel = it->second;
  if (channel.state != ClientChannelState::kOpening) {
    Reject(kType, relid,
           absl::StrCat("channel ", relid, " is ", ClientChannelStateName(channel.state),
                        ", not opening"));
    return;
  }
  if (result.openid != channel.openid) {  // Matched on (relid, openid), as Linux.
    Reject(kType, relid,
           absl::StrCat("openid ", result.openid, " does not match the open's ", channel.openid));
    return;
  }
  Accept(kType, relid);
  StatusCallback callback = std::move(channel.open_callback);
  channel.open_callback = nullptr;
  SetChannelState(relid, channel,
                  result.status == kStatusSuccess ? ClientChannelState::kOpened
                                                  : ClientChannelState::kOffered);
  const uint32_t status = result.status;
  Defer([callback = std::move(callback), status] { callback(status); });
}

void VmbusClient::HandleGpadlCreated(const GpadlCreated& created) {
  constexpr ChannelMessageType kType = ChannelMessageType::kGpadlCreated;
  const uint32_t relid = created.child_relid;
  const uint32_t gpadl_id = created.gpadl;
  auto it = gpadls_.find(gpadl_id);
  if (it == gpadls_.end()) {
    Reject(kType, relid, absl::StrCat("unknown gpadl 0x", absl::Hex(gpadl_id)));
    return;
  }
  Gpadl& gpadl = it->second;
  if (gpadl.relid != relid) {  // Matched on (relid, gpadl) (spec 5.2).
    Reject(kType, relid,
           absl::StrCat("gpadl 0x", absl::Hex(gpadl_id), " belongs to channel ", gpadl.relid));
    return;
  }
  if (gpadl.state != ClientGpadlState::kCreating) {
    Reject(kType, relid,
           absl::StrCat("gpadl 0x", absl::Hex(gpadl_id), " is ", ClientGpadlStateName(gpadl.state),
                        ", not being created"));
    return;
  }
  Accept(kType, relid);
  if (gpadl.abandoned) {
    // The rescind already failed the request; a success here leaves a GPADL
    // the host drops at RELID_RELEASED.
    EraseGpadl(gpadl_id);
    MaybeRelease(relid);
    return;
  }
  GpadlCallback callback = std::move(gpadl.create_callback);
  gpadl.create_callback = nullptr;
  const uint32_t status = created.creation_status;
  if (status == kStatusSuccess) {
    SetGpadlState(gpadl_id, gpadl, ClientGpadlState::kCreated);
  } else {
    EraseGpadl(gpadl_id);
  }
  Defer([callback = std::move(callback), status, gpadl_id] { callback(status, gpadl_id); });
}

void VmbusClient::HandleGpadlTorndown(const GpadlTorndown& torndown) {
  constexpr ChannelMessageType kType = ChannelMessageType::kGpadlTorndown;
  const uint32_t gpadl_id = torndown.gpadl;
  auto it = gpadls_.find(gpadl_id);
  if (it == gpadls_.end()) {
    Reject(kType, 0, absl::StrCat("unknown gpadl 0x", absl::Hex(gpadl_id)));
    return;
  }
  Gpadl& gpadl = it->second;
  const uint32_t relid = gpadl.relid;
  if (gpadl.state != ClientGpadlState::kTearingDown) {
    Reject(kType, relid,
           absl::StrCat("gpadl 0x", absl::Hex(gpadl_id), " is ", ClientGpadlStateName(gpadl.state),
                        ", not being torn down"));
    return;
  }
  Accept(kType, relid);
  const bool abandoned = gpadl.abandoned;
  StatusCallback callback = std::move(gpadl.teardown_callback);
  EraseGpadl(gpadl_id);
  if (!abandoned) Defer([callback = std::move(callback)] { callback(kStatusSuccess); });
  MaybeRelease(relid);
}

void VmbusClient::HandleUnloadResponse() {
  constexpr ChannelMessageType kType = ChannelMessageType::kUnloadResponse;
  if (connection_state_ != ClientConnectionState::kDisconnecting) {
    Reject(kType, 0, "UNLOAD_RESPONSE without an UNLOAD outstanding");
    return;
  }
  Accept(kType, 0);
  ClearConnection();
  SetConnectionState(ClientConnectionState::kDisconnected);
  UnloadCallback callback = std::move(unload_callback_);
  unload_callback_ = nullptr;
  if (callback) Defer([callback = std::move(callback)] { callback(absl::OkStatus()); });
}

void VmbusClient::HandleModifyChannelResponse(const ModifyChannelResponse& response) {
  constexpr ChannelMessageType kType = ChannelMessageType::kModifyChannelResponse;
  const uint32_t relid = response.child_relid;
  auto it = channels_.find(relid);
  if (it == channels_.end()) {
    Reject(kType, relid, absl::StrCat("unknown relid ", relid));
    return;
  }
  if (!it->second.modify_callback) {
    Reject(kType, relid, absl::StrCat("no MODIFYCHANNEL of channel ", relid, " is outstanding"));
    return;
  }
  Accept(kType, relid);
  StatusCallback callback = std::move(it->second.modify_callback);
  it->second.modify_callback = nullptr;
  const uint32_t status = static_cast<uint32_t>(response.status);
  Defer([callback = std::move(callback), status] { callback(status); });
}

// ---------------------------------------------------------------------------
// Channels and GPADLs.

void VmbusClient::SetChannelState(uint32_t relid, Channel& channel, ClientChannelState state) {
  channel.state = state;
  Trace(TraceKind(FabricTraceKind::kChannelState), relid, static_cast<uint64_t>(state),
        channel.rescinded ? 1 : 0);
}

void VmbusClient::SetGpadlState(uint32_t gpadl_id, Gpadl& gpadl, ClientGpadlState state) {
  gpadl.state = state;
  Trace(TraceKind(FabricTraceKind::kGpadlState), gpadl.relid, gpadl_id,
        static_cast<uint64_t>(state));
}

void VmbusClient::EraseGpadl(uint32_t gpadl_id) {
  auto it = gpadls_.find(gpadl_id);
  VMBSIM_CHECK(it != gpadls_.end());
  const uint32_t relid = it->second.relid;
  gpadls_.erase(it);
  Trace(TraceKind(FabricTraceKind::kGpadlState), relid, gpadl_id, kTraceDropped);
}

void VmbusClient::MaybeRelease(uint32_t relid) {
  auto it = channels_.find(relid);
  if (it == channels_.end() || !it->second.release_requested) return;
  for (const auto& [gpadl_id, gpadl] : gpadls_) {
    if (gpadl.relid == relid) return;  // A host reply is still outstanding.
  }
  VMBSIM_CHECK(it->second.rescinded);  // Paired with ReleaseRelid.
  channels_.erase(it);
  Trace(TraceKind(FabricTraceKind::kChannelState), relid, kTraceDropped, 1);
  // Once UNLOAD is on its way the host releases everything itself; a
  // RELID_RELEASED behind it would reach a disconnected host.
  if (connection_state_ == ClientConnectionState::kConnected) {
    Enqueue(RelidReleased{.child_relid = relid}, relid);
  }
}

// ---------------------------------------------------------------------------
// Effects.

const VirtualProcessor& VmbusClient::ContextVp() const {
  return isr_vp_index_.has_value() ? *guest_vps_[*isr_vp_index_] : *vp_;
}

SimTime VmbusClient::ContextNow() const { return ContextVp().LocalNow(); }

void VmbusClient::Defer(std::function<void()> call) {
  const uint64_t call_id = next_deferred_id_++;
  deferred_.emplace(call_id, std::move(call));
  QueueOnOwnVp(call_id);
}

void VmbusClient::RunDeferred(uint64_t call_id) {
  auto it = deferred_.find(call_id);
  VMBSIM_CHECK(it != deferred_.end());  // Each deferred call runs exactly once.
  std::function<void()> call = std::move(it->second);
  deferred_.erase(it);
  call();
}

void VmbusClient::Trace(uint16_t kind, uint32_t relid, uint64_t id0, uint64_t id1) {
  sim_->tracer().Emit({.time = ContextNow(),
                       .kind = kind,
                       .partition = guest_synic_->partition_id(),
                       .vp = ContextVp().vp_index(),
                       .channel = relid,
                       .id0 = id0,
                       .id1 = id1});
}

// ---------------------------------------------------------------------------
// Accessors and invariants.

std::vector<uint32_t> VmbusClient::relids() const {
  std::vector<uint32_t> out;
  out.reserve(channels_.size());
  for (const auto& [relid, channel] : channels_) out.push_back(relid);
  return out;
}

const OfferChannel* VmbusClient::offer(uint32_t relid) const {
  auto it = channels_.find(relid);
  return it == channels_.end() ? nullptr : &it->second.offer;
}

std::optional<ClientChannelState> VmbusClient::channel_state(uint32_t relid) const {
  auto it = channels_.find(relid);
  if (it == channels_.end()) return std::nullopt;
  return it->second.state;
}

bool VmbusClient::rescinded(uint32_t relid) const {
  auto it = channels_.find(relid);
  return it != channels_.end() && it->second.rescinded;
}

std::optional<ClientGpadlState> VmbusClient::gpadl_state(uint32_t gpadl_id) const {
  auto it = gpadls_.find(gpadl_id);
  if (it == gpadls_.end()) return std::nullopt;
  return it->second.state;
}

void VmbusClient::CheckInvariants() const {
  const bool has_connection = connection_state_ == ClientConnectionState::kConnected ||
                              connection_state_ == ClientConnectionState::kDisconnecting;
  VMBSIM_DCHECK(has_connection == (version_ != kVersionNotNegotiated));
  if (!has_connection) {
    VMBSIM_DCHECK(channels_.empty());
    VMBSIM_DCHECK(gpadls_.empty());
    VMBSIM_DCHECK(!offers_requested_);
  }
  VMBSIM_DCHECK((awaiting_version_ != kVersionNotNegotiated) <=
                (connection_state_ == ClientConnectionState::kConnecting));
  VMBSIM_DCHECK(!all_offers_delivered_ || offers_requested_);
  VMBSIM_DCHECK(msg_conn_id_ != 0 && (msg_conn_id_ & ~kConnectionIdMask) == 0);
  for (const auto& [relid, channel] : channels_) {
    VMBSIM_DCHECK(relid == channel.offer.child_relid);
    VMBSIM_DCHECK(relid > 0 && relid < kRelidLimit);
    VMBSIM_DCHECK(static_cast<bool>(channel.open_callback) ==
                  (channel.state == ClientChannelState::kOpening));
    // A rescind wakes the open, so a rescinded channel is never opening.
    VMBSIM_DCHECK(!channel.rescinded || channel.state != ClientChannelState::kOpening);
    VMBSIM_DCHECK(!channel.rescinded || !channel.modify_callback);
    VMBSIM_DCHECK(!channel.release_requested ||
                  (channel.rescinded && channel.state == ClientChannelState::kOffered));
  }
  for (const auto& [gpadl_id, gpadl] : gpadls_) {
    VMBSIM_DCHECK(gpadl_id >= kFirstGpadlId && gpadl_id < next_gpadl_id_);
    auto channel = channels_.find(gpadl.relid);
    VMBSIM_DCHECK(channel != channels_.end());  // Records never outlive their channel.
    VMBSIM_DCHECK(!gpadl.abandoned || channel->second.rescinded);
    VMBSIM_DCHECK(!gpadl.abandoned || gpadl.state != ClientGpadlState::kCreated);
    VMBSIM_DCHECK(static_cast<bool>(gpadl.create_callback) ==
                  (gpadl.state == ClientGpadlState::kCreating && !gpadl.abandoned));
    VMBSIM_DCHECK(static_cast<bool>(gpadl.teardown_callback) ==
                  (gpadl.state == ClientGpadlState::kTearingDown && !gpadl.abandoned));
    // A released channel keeps only records whose reply is outstanding.
    VMBSIM_DCHECK(!channel->second.release_requested || gpadl.state != ClientGpadlState::kCreated);
  }
  // Liveness: a message waiting to be posted always has a pump coming.
  VMBSIM_DCHECK(outbox_.empty() || pump_scheduled_);
}

}  // namespace vmbsim::fabric
