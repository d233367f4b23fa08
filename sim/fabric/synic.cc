#include "sim/fabric/synic.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "sim/check.h"
#include "sim/core/trace.h"
#include "sim/fabric/trace_kinds.h"

namespace vmbsim::fabric {

using sim::SimDuration;
using sim::SimTime;

Synic::Synic(sim::Simulator* sim, const CostModel* costs, uint16_t partition_id,
             absl::Span<VirtualProcessor* const> vps)
    : sim_(sim),
      costs_(costs),
      partition_id_(partition_id),
      vps_(vps.begin(), vps.end()),
      vp_states_(vps.size()) {
  VMBSIM_CHECK(sim != nullptr);
  VMBSIM_CHECK(costs != nullptr);
  VMBSIM_CHECK(!vps_.empty());
  for (size_t i = 0; i < vps_.size(); ++i) {
    VMBSIM_CHECK(vps_[i] != nullptr);
    VMBSIM_CHECK_EQ(vps_[i]->vp_index(), i);                  // Index = VP index.
    VMBSIM_CHECK_EQ(vps_[i]->partition_id(), partition_id);   // One partition's VPs only.
  }
}

// ---------------------------------------------------------------------------
// Validation of caller input (scenario values, driver arguments).

absl::Status Synic::ValidateVp(const char* operation, uint32_t vp_index) const {
  if (vp_index < vps_.size()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("synic of partition ", partition_id_, ": ",
                                                 operation, ": vp ", vp_index, " out of range (",
                                                 vps_.size(), " VPs) at t=",
                                                 sim_->Now().ToString()));
}

absl::Status Synic::ValidateFlag(const char* operation, uint32_t flag) const {
  if (flag < kEventFlagCount) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("synic of partition ", partition_id_, ": ",
                                                 operation, ": event flag ", flag, " >= ",
                                                 kEventFlagCount, " at t=", sim_->Now().ToString()));
}

absl::Status Synic::ValidateNewConnection(const char* operation, uint32_t connection_id) const {
  if ((connection_id & ~kConnectionIdMask) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("synic of partition ", partition_id_, ": ",
                                                   operation, ": connection id 0x",
                                                   absl::Hex(connection_id),
                                                   " is wider than 24 bits"));
  }
  // Hyper-V connection ids are unique per partition across port kinds.
  if (ports_.count(connection_id) != 0 || event_connections_.count(connection_id) != 0) {
    return absl::AlreadyExistsError(absl::StrCat("synic of partition ", partition_id_, ": ",
                                                 operation, ": connection id 0x",
                                                 absl::Hex(connection_id), " is already in use"));
  }
  return absl::OkStatus();
}

void Synic::Trace(SimTime time, uint16_t kind, uint32_t vp_index, uint64_t id0, uint64_t id1,
                  uint64_t size0, uint64_t size1) {
  sim_->tracer().Emit({.time = time,
                       .kind = kind,
                       .partition = partition_id_,
                       .vp = vp_index,
                       .id0 = id0,
                       .id1 = id1,
                       .size0 = size0,
                       .size1 = size1});
}

// ---------------------------------------------------------------------------
// Mask.

absl::Status Synic::SetSintMasked(uint32_t vp_index, bool masked) {
  VMBSIM_RETURN_IF_ERROR(ValidateVp("SetSintMasked", vp_index));
  VpState& state = vp_states_[vp_index];
  const SimTime now = vps_[vp_index]->LocalNow();
  state.masked = masked;
  Trace(now, TraceKind(FabricTraceKind::kSintMask), vp_index, kVmbusSint, masked ? 1 : 0);
  // Messages held while masked: the hypervisor's "SINT ready" re-check
  // delivers the first as it would into any free slot.
  if (!masked && state.slot.header.message_type == kHvMessageTypeNone && !state.write_in_flight &&
      !state.queue.empty()) {
    ScheduleWrite(vp_index, now + costs_->simp_delivery, /*redelivery=*/false);
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Synic::SintMasked(uint32_t vp_index) const {
  VMBSIM_RETURN_IF_ERROR(ValidateVp("SintMasked", vp_index));
  return vp_states_[vp_index].masked;
}

// ---------------------------------------------------------------------------
// Event flags and interrupts.

absl::Status Synic::SignalEvent(uint32_t vp_index, uint32_t flag) {
  return SignalEventAt(sim_->Now(), vp_index, flag);
}

absl::Status Synic::SignalEventAt(SimTime at, uint32_t vp_index, uint32_t flag) {
  VMBSIM_RETURN_IF_ERROR(ValidateVp("SignalEvent", vp_index));
  VMBSIM_RETURN_IF_ERROR(ValidateFlag("SignalEvent", flag));
  ScheduleSignal(at, vp_index, flag);
  return absl::OkStatus();
}

void Synic::ScheduleSignal(SimTime at, uint32_t vp_index, uint32_t flag) {
  VMBSIM_CHECK_GE(at.nanoseconds(), sim_->Now().nanoseconds());
  if (at == sim_->Now()) {
    ApplySignal(vp_index, flag);
    return;
  }
  sim_->ScheduleAt(at, [this, vp_index, flag] { ApplySignal(vp_index, flag); });
}

void Synic::ApplySignal(uint32_t vp_index, uint32_t flag) {
  VMBSIM_CHECK_LT(vp_index, vps_.size());  // Validated when accepted.
  VMBSIM_CHECK_LT(flag, kEventFlagCount);
  VpState& state = vp_states_[vp_index];
  ++counters_.signals;
  if (state.masked) {
    ++counters_.signals_dropped_masked;
    Trace(sim_->Now(), TraceKind(FabricTraceKind::kSignalDropped), vp_index, flag);
    return;
  }
  uint64_t& word = state.flags[flag / 64];
  const uint64_t bit = uint64_t{1} << (flag % 64);
  const bool was_clear = (word & bit) == 0;
  word |= bit;  // The hypervisor's atomic OR.
  state.words_set |= uint32_t{1} << (flag / 64);
  Trace(sim_->Now(), TraceKind(FabricTraceKind::kEventFlagSet), vp_index, flag, was_clear ? 1 : 0);
  if (!was_clear) {
    ++counters_.signals_coalesced;  // The interrupt for the earlier set will see this bit.
    return;
  }
  RaiseSint(vp_index, costs_->signal_delivery_to_running_vp);
}

void Synic::RaiseSint(uint32_t vp_index, SimDuration delivery) {
  VpState& state = vp_states_[vp_index];
  ++counters_.sint_raises;
  if (state.interrupt_pending) {
    // The pending ISR has not started its scan, so it will find whatever
    // this raise announces.
    ++counters_.sint_raises_merged;
    Trace(sim_->Now(), TraceKind(FabricTraceKind::kSintRaise), vp_index, kVmbusSint, 1);
    return;
  }
  const SimDuration delay =
      delivery + (vps_[vp_index]->idle() ? costs_->vp_wakeup_from_halt : SimDuration::Zero());
  state.interrupt_pending = true;
  Trace(sim_->Now(), TraceKind(FabricTraceKind::kSintRaise), vp_index, kVmbusSint, 0,
        static_cast<uint64_t>(delay.nanoseconds()));
  sim_->ScheduleAfter(delay, [this, vp_index] { DispatchInterrupt(vp_index); });
}

void Synic::DispatchInterrupt(uint32_t vp_index) {
  VMBSIM_CHECK(vp_states_[vp_index].interrupt_pending);  // Paired with RunInterrupt.
  vps_[vp_index]->Queue(Irql::kInterrupt, costs_->isr_dispatch,
                        [this, vp_index] { RunInterrupt(vp_index); });
}

void Synic::RunInterrupt(uint32_t vp_index) {
  VpState& state = vp_states_[vp_index];
  VMBSIM_CHECK(state.interrupt_pending);
  VMBSIM_CHECK(vps_[vp_index]->current_irql() == Irql::kInterrupt);
  // Cleared before the handler scans: a raise from here on is a new
  // interrupt, so nothing set after the scan can be stranded.
  state.interrupt_pending = false;
  ++counters_.interrupts;
  ++state.interrupts;
  Trace(vps_[vp_index]->LocalNow(), TraceKind(FabricTraceKind::kInterrupt), vp_index, kVmbusSint);
  if (interrupt_handler_) interrupt_handler_(vp_index);
}

absl::StatusOr<Synic::EventFlagList> Synic::TakeEventFlags(uint32_t vp_index) {
  VMBSIM_RETURN_IF_ERROR(ValidateVp("TakeEventFlags", vp_index));
  VpState& state = vp_states_[vp_index];
  EventFlagList taken;
  // In flag order, as a guest scanning every word would take them.
  for (uint32_t words = std::exchange(state.words_set, 0); words != 0; words &= words - 1) {
    const uint32_t word_index = static_cast<uint32_t>(__builtin_ctz(words));
    uint64_t word = std::exchange(state.flags[word_index], 0);  // Atomic exchange in a guest.
    while (word != 0) {
      const uint32_t bit = static_cast<uint32_t>(__builtin_ctzll(word));
      taken.push_back(word_index * 64 + bit);
      word &= word - 1;
    }
  }
  VMBSIM_CHECK_LE(taken.size(), kEventFlagCount);
  if (!taken.empty()) {
    Trace(vps_[vp_index]->LocalNow(), TraceKind(FabricTraceKind::kEventFlagsCleared), vp_index,
          taken.front(), 0, taken.size());
  }
  return taken;
}

absl::StatusOr<bool> Synic::TestAndClearFlag(uint32_t vp_index, uint32_t flag) {
  VMBSIM_RETURN_IF_ERROR(ValidateVp("TestAndClearFlag", vp_index));
  VMBSIM_RETURN_IF_ERROR(ValidateFlag("TestAndClearFlag", flag));
  uint64_t& word = vp_states_[vp_index].flags[flag / 64];
  const uint64_t bit = uint64_t{1} << (flag % 64);
  const bool was_set = (word & bit) != 0;
  word &= ~bit;
  if (was_set) {
    Trace(vps_[vp_index]->LocalNow(), TraceKind(FabricTraceKind::kEventFlagsCleared), vp_index,
          flag, 0, 1);
  }
  return was_set;
}

// ---------------------------------------------------------------------------
// Message slot and EOM.

absl::Status Synic::DeliverMessage(uint32_t vp_index, absl::Span<const uint8_t> payload) {
  return DeliverMessageAt(sim_->Now(), vp_index, payload);
}

absl::Status Synic::DeliverMessageAt(SimTime at, uint32_t vp_index,
                                     absl::Span<const uint8_t> payload) {
  VMBSIM_RETURN_IF_ERROR(ValidateVp("DeliverMessage", vp_index));
  if (payload.size() > kMaxMessagePayloadBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "synic of partition ", partition_id_, ": DeliverMessage: vp ", vp_index, ": payload of ",
        payload.size(), " bytes > ", kMaxMessagePayloadBytes, " at t=", sim_->Now().ToString()));
  }
  VMBSIM_CHECK_GE(at.nanoseconds(), sim_->Now().nanoseconds());
  if (ABSL_PREDICT_FALSE(fault_hook_ != nullptr)) {
    const FaultAction action = fault_hook_->At({.site = FaultSite::kMessageDeliver, .guest = partition_id_});
    if (action.kind == FaultAction::Kind::kDelay) {
      at = at + action.delay;
      fault_floor_ = std::max(fault_floor_, at);
    }
    at = std::max(at, fault_floor_);  // Later messages keep their place behind a delayed one.
  }
  std::vector<uint8_t> bytes(payload.begin(), payload.end());
  if (at == sim_->Now()) {
    EnqueueMessage(vp_index, std::move(bytes));
  } else {
    Stage(at, Staged{.to_port = false, .target = vp_index, .bytes = std::move(bytes)});
  }
  return absl::OkStatus();
}

void Synic::EnqueueMessage(uint32_t vp_index, std::vector<uint8_t> payload) {
  VMBSIM_CHECK_LE(payload.size(), kMaxMessagePayloadBytes);  // Validated when accepted.
  VpState& state = vp_states_[vp_index];
  const bool slot_occupied = state.slot.header.message_type != kHvMessageTypeNone;
  const bool must_wait = slot_occupied || state.write_in_flight || state.masked;
  // Nothing waits behind a free, unmasked slot with no write under way.
  VMBSIM_CHECK(must_wait || state.queue.empty());
  const uint64_t size_bytes = payload.size();
  state.queue.push_back(std::move(payload));
  ++counters_.messages_sent;
  counters_.message_queue_depth_max =
      std::max<uint64_t>(counters_.message_queue_depth_max, state.queue.size());
  // The hypervisor tells the guest, through the occupying header, that it
  // must write the EOM MSR when done (spec 3.1).
  if (slot_occupied) state.slot.header.message_flags |= kHvMessageFlagPending;
  Trace(sim_->Now(), TraceKind(FabricTraceKind::kMessageSend), vp_index, must_wait ? 1 : 0,
        kVmbusHvMessageType, size_bytes, state.queue.size());
  if (!must_wait) ScheduleWrite(vp_index, sim_->Now() + costs_->simp_delivery, /*redelivery=*/false);
}

void Synic::ScheduleWrite(uint32_t vp_index, SimTime at, bool redelivery) {
  VpState& state = vp_states_[vp_index];
  VMBSIM_CHECK(!state.write_in_flight);  // One write at a time per slot.
  VMBSIM_CHECK(!state.queue.empty());
  state.write_in_flight = true;
  sim_->ScheduleAt(at, [this, vp_index, redelivery] { WriteSlot(vp_index, redelivery); });
}

void Synic::WriteSlot(uint32_t vp_index, bool redelivery) {
  VpState& state = vp_states_[vp_index];
  VMBSIM_CHECK(state.write_in_flight);  // Paired with ScheduleWrite.
  VMBSIM_CHECK_EQ(state.slot.header.message_type, kHvMessageTypeNone);
  VMBSIM_CHECK(!state.queue.empty());
  state.write_in_flight = false;
  // Masked while the write was under way: the message stays first in line;
  // unmasking starts the write again.
  if (state.masked) return;
  std::vector<uint8_t> payload = std::move(state.queue.front());
  state.queue.pop_front();
  HvMessage& slot = state.slot;
  slot = HvMessage{};
  slot.header.message_type = kVmbusHvMessageType;
  slot.header.payload_size = static_cast<uint8_t>(payload.size());
  slot.header.message_flags = state.queue.empty() ? 0 : kHvMessageFlagPending;
  if (!payload.empty()) std::memcpy(slot.payload.data(), payload.data(), payload.size());
  ++counters_.messages_delivered;
  if (redelivery) ++counters_.message_redeliveries;
  Trace(sim_->Now(), TraceKind(FabricTraceKind::kMessageDeliver), vp_index, 0, kVmbusHvMessageType,
        payload.size());
  // simp_delivery / eom_redelivery already include the injection (spec 6.2).
  RaiseSint(vp_index, SimDuration::Zero());
}

absl::StatusOr<HvMessageHeader> Synic::ReadMessageHeader(uint32_t vp_index) const {
  VMBSIM_RETURN_IF_ERROR(ValidateVp("ReadMessageHeader", vp_index));
  return vp_states_[vp_index].slot.header;
}

absl::StatusOr<std::optional<std::vector<uint8_t>>> Synic::ReadMessageSlot(
    uint32_t vp_index) const {
  VMBSIM_RETURN_IF_ERROR(ValidateVp("ReadMessageSlot", vp_index));
  const HvMessage& slot = vp_states_[vp_index].slot;
  if (slot.header.message_type == kHvMessageTypeNone) return std::optional<std::vector<uint8_t>>();
  VMBSIM_CHECK_LE(slot.header.payload_size, kMaxMessagePayloadBytes);  // Written by WriteSlot.
  return std::optional<std::vector<uint8_t>>(
      std::vector<uint8_t>(slot.payload.begin(), slot.payload.begin() + slot.header.payload_size));
}

absl::Status Synic::EndOfMessage(uint32_t vp_index) {
  VMBSIM_RETURN_IF_ERROR(ValidateVp("EndOfMessage", vp_index));
  VpState& state = vp_states_[vp_index];
  const SimTime now = vps_[vp_index]->LocalNow();
  if (state.slot.header.message_type == kHvMessageTypeNone) {
    return absl::FailedPreconditionError(
        absl::StrCat("synic of partition ", partition_id_, ": EndOfMessage: vp ", vp_index,
                     ": the message slot is free (double EOM?) at t=", now.ToString()));
  }
  const bool pending = (state.slot.header.message_flags & kHvMessageFlagPending) != 0;
  VMBSIM_CHECK_EQ(pending, !state.queue.empty());  // msg_pending tells the truth.
  VMBSIM_CHECK(!state.write_in_flight);            // Never while the slot is occupied.
  // The guest writes HVMSG_NONE; with msg_pending it then writes the EOM
  // MSR, which makes the hypervisor deliver the next message.
  state.slot.header = HvMessageHeader{};
  ++counters_.eoms;
  Trace(now, TraceKind(FabricTraceKind::kMessageEom), vp_index, pending ? 1 : 0);
  if (pending && !state.masked) {
    ScheduleWrite(vp_index, now + costs_->eom_redelivery, /*redelivery=*/true);
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> Synic::QueuedMessageCount(uint32_t vp_index) const {
  VMBSIM_RETURN_IF_ERROR(ValidateVp("QueuedMessageCount", vp_index));
  return vp_states_[vp_index].queue.size();
}

// ---------------------------------------------------------------------------
// Deferred effects.

void Synic::Stage(SimTime at, Staged staged) {
  VMBSIM_CHECK_GT(at.nanoseconds(), sim_->Now().nanoseconds());  // Now() is applied directly.
  const uint64_t stage_id = next_stage_id_++;
  const bool inserted = staged_.emplace(stage_id, std::move(staged)).second;
  VMBSIM_CHECK(inserted);
  sim_->ScheduleAt(at, [this, stage_id] { Unstage(stage_id); });
}

void Synic::Unstage(uint64_t stage_id) {
  auto it = staged_.find(stage_id);
  VMBSIM_CHECK(it != staged_.end());  // Each staged item is taken exactly once.
  Staged staged = std::move(it->second);
  staged_.erase(it);
  if (staged.to_port) {
    MakePortMessageVisible(staged.target, std::move(staged.bytes));
  } else {
    EnqueueMessage(staged.target, std::move(staged.bytes));
  }
}

// ---------------------------------------------------------------------------
// Ports and event connections.

absl::Status Synic::CreatePort(uint32_t connection_id, uint32_t target_vp, PortHandler handler,
                               size_t capacity) {
  VMBSIM_RETURN_IF_ERROR(ValidateNewConnection("CreatePort", connection_id));
  VMBSIM_RETURN_IF_ERROR(ValidateVp("CreatePort", target_vp));
  if (capacity == 0 || !handler) {
    return absl::InvalidArgumentError(absl::StrCat("synic of partition ", partition_id_,
                                                   ": CreatePort: connection id 0x",
                                                   absl::Hex(connection_id),
                                                   capacity == 0 ? ": capacity 0" : ": no handler"));
  }
  Port port;
  port.target_vp = target_vp;
  port.capacity = capacity;
  port.handler = std::move(handler);
  ports_.emplace(connection_id, std::move(port));
  return absl::OkStatus();
}

absl::StatusOr<size_t> Synic::PortBuffersInUse(uint32_t connection_id) const {
  auto it = ports_.find(connection_id);
  if (it == ports_.end()) {
    return absl::NotFoundError(absl::StrCat("synic of partition ", partition_id_,
                                            ": no port with connection id 0x",
                                            absl::Hex(connection_id)));
  }
  return it->second.buffers_in_use;
}

absl::Status Synic::BindEventConnection(uint32_t connection_id, uint32_t vp_index, uint32_t flag) {
  VMBSIM_RETURN_IF_ERROR(ValidateNewConnection("BindEventConnection", connection_id));
  VMBSIM_RETURN_IF_ERROR(ValidateVp("BindEventConnection", vp_index));
  VMBSIM_RETURN_IF_ERROR(ValidateFlag("BindEventConnection", flag));
  event_connections_.emplace(connection_id, EventBinding{.vp_index = vp_index, .flag = flag});
  return absl::OkStatus();
}

absl::Status Synic::UnbindEventConnection(uint32_t connection_id) {
  if (event_connections_.erase(connection_id) == 0) {
    return absl::NotFoundError(absl::StrCat("synic of partition ", partition_id_,
                                            ": UnbindEventConnection: connection id 0x",
                                            absl::Hex(connection_id), " is not bound"));
  }
  return absl::OkStatus();
}

HvStatus Synic::SignalConnection(uint32_t connection_id) {
  const uint32_t id = connection_id & kConnectionIdMask;
  auto it = event_connections_.find(id);
  if (it == event_connections_.end()) {
    ++counters_.signal_hypercalls_rejected;
    Trace(sim_->Now(), TraceKind(FabricTraceKind::kSignalEventRejected), 0, id,
          static_cast<uint64_t>(HvStatus::kInvalidConnectionId));
    return HvStatus::kInvalidConnectionId;
  }
  ApplySignal(it->second.vp_index, it->second.flag);
  return HvStatus::kSuccess;
}

void Synic::MakePortMessageVisible(uint32_t connection_id, std::vector<uint8_t> message) {
  auto it = ports_.find(connection_id);
  VMBSIM_CHECK(it != ports_.end());  // Ports are never removed.
  Port& port = it->second;
  VMBSIM_CHECK_LT(port.visible.size(), port.buffers_in_use);  // This message holds a buffer.
  port.visible.push_back(std::move(message));
  // One work item per message, queued in the order messages become visible,
  // so the handler sees them in that order.
  vps_[port.target_vp]->Queue(Irql::kPassive, SimDuration::Zero(),
                              [this, connection_id] { RunPortHandler(connection_id); });
}

void Synic::RunPortHandler(uint32_t connection_id) {
  auto it = ports_.find(connection_id);
  VMBSIM_CHECK(it != ports_.end());
  Port& port = it->second;  // Map nodes are stable if the handler creates ports.
  VMBSIM_CHECK(!port.visible.empty());  // Paired with MakePortMessageVisible.
  std::vector<uint8_t> message = std::move(port.visible.front());
  port.visible.pop_front();
  Trace(vps_[port.target_vp]->LocalNow(), TraceKind(FabricTraceKind::kPortDispatch),
        port.target_vp, connection_id, 0, message.size(), port.buffers_in_use);
  port.handler(std::move(message));
  // The buffer is released only now: a port is full while its worker runs.
  VMBSIM_CHECK_GT(port.buffers_in_use, 0u);
  --port.buffers_in_use;
  ++counters_.port_messages_handled;
}

HvStatus PostMessage(Synic& receiver, VirtualProcessor& sender_vp, uint32_t connection_id,
                     absl::Span<const uint8_t> message) {
  if (sender_vp.running()) sender_vp.Charge(receiver.costs_->hypercall_post_message);
  const SimTime at = sender_vp.LocalNow();
  const uint32_t id = connection_id & kConnectionIdMask;
  sim::Tracer& tracer = receiver.sim_->tracer();
  ++receiver.counters_.posts;
  tracer.Emit({.time = at,
               .kind = TraceKind(FabricTraceKind::kMessagePost),
               .partition = sender_vp.partition_id(),
               .vp = sender_vp.vp_index(),
               .id0 = id,
               .id1 = kVmbusHvMessageType,
               .size0 = message.size()});
  auto reject = [&](HvStatus status, uint64_t* counter) {
    ++*counter;
    tracer.Emit({.time = at,
                 .kind = TraceKind(FabricTraceKind::kMessageRejected),
                 .partition = sender_vp.partition_id(),
                 .vp = sender_vp.vp_index(),
                 .id0 = id,
                 .id1 = static_cast<uint64_t>(status)});
    return status;
  };
  if (message.size() > kMaxMessagePayloadBytes) {
    return reject(kHvStatusInvalidParameter,
                  &receiver.counters_.posts_rejected_invalid_parameter);
  }
  auto it = receiver.ports_.find(id);
  if (it == receiver.ports_.end()) {
    return reject(HvStatus::kInvalidConnectionId,
                  &receiver.counters_.posts_rejected_invalid_connection);
  }
  Synic::Port& port = it->second;
  if (ABSL_PREDICT_FALSE(receiver.fault_hook_ != nullptr)) {
    const FaultAction action =
        receiver.fault_hook_->At({.site = FaultSite::kMessagePost, .guest = sender_vp.partition_id()});
    if (action.kind == FaultAction::Kind::kFail) {
      return reject(HvStatus::kInsufficientBuffers, &receiver.counters_.posts_rejected_insufficient_buffers);
    }
  }
  if (port.buffers_in_use >= port.capacity) {
    return reject(HvStatus::kInsufficientBuffers,
                  &receiver.counters_.posts_rejected_insufficient_buffers);
  }
  ++port.buffers_in_use;
  VMBSIM_CHECK_LE(port.buffers_in_use, port.capacity);
  std::vector<uint8_t> bytes(message.begin(), message.end());
  if (at == receiver.sim_->Now()) {
    receiver.MakePortMessageVisible(id, std::move(bytes));
  } else {
    receiver.Stage(at, Synic::Staged{.to_port = true, .target = id, .bytes = std::move(bytes)});
  }
  return HvStatus::kSuccess;
}

HvStatus SignalEventHypercall(Synic& receiver, VirtualProcessor& sender_vp,
                              uint32_t connection_id) {
  if (sender_vp.running()) sender_vp.Charge(receiver.costs_->hypercall_signal_event);
  const SimTime at = sender_vp.LocalNow();
  const uint32_t id = connection_id & kConnectionIdMask;
  sim::Tracer& tracer = receiver.sim_->tracer();
  auto it = receiver.event_connections_.find(id);
  if (it == receiver.event_connections_.end()) {
    ++receiver.counters_.signal_hypercalls_rejected;
    tracer.Emit({.time = at,
                 .kind = TraceKind(FabricTraceKind::kSignalEventRejected),
                 .partition = sender_vp.partition_id(),
                 .vp = sender_vp.vp_index(),
                 .id0 = id,
                 .id1 = static_cast<uint64_t>(HvStatus::kInvalidConnectionId)});
    return HvStatus::kInvalidConnectionId;
  }
  ++receiver.counters_.signal_hypercalls;
  tracer.Emit({.time = at,
               .kind = TraceKind(FabricTraceKind::kSignalEvent),
               .partition = sender_vp.partition_id(),
               .vp = sender_vp.vp_index(),
               .id0 = id,
               .id1 = it->second.flag});
  receiver.ScheduleSignal(at, it->second.vp_index, it->second.flag);
  return HvStatus::kSuccess;
}

// ---------------------------------------------------------------------------
// Invariants.

void Synic::CheckInvariants() const {
  VMBSIM_DCHECK(vp_states_.size() == vps_.size());
  for (const VpState& state : vp_states_) {
    const bool occupied = state.slot.header.message_type != kHvMessageTypeNone;
    VMBSIM_DCHECK(state.slot.header.payload_size <= kMaxMessagePayloadBytes);
    // A write targets a free slot only, and a write needs a message.
    VMBSIM_DCHECK(!(state.write_in_flight && occupied));
    VMBSIM_DCHECK(!state.write_in_flight || !state.queue.empty());
    // msg_pending in an occupied header says exactly whether more wait.
    if (occupied) {
      VMBSIM_DCHECK(((state.slot.header.message_flags & kHvMessageFlagPending) != 0) ==
                    !state.queue.empty());
    }
    // Liveness: a free, unmasked slot with messages waiting has a write under way.
    if (!occupied && !state.masked) VMBSIM_DCHECK(state.write_in_flight || state.queue.empty());
    for (const std::vector<uint8_t>& message : state.queue) {
      VMBSIM_DCHECK(message.size() <= kMaxMessagePayloadBytes);
    }
  }
  size_t staged_posts = 0;
  for (const auto& [stage_id, staged] : staged_) {
    VMBSIM_DCHECK(stage_id < next_stage_id_);
    if (staged.to_port) ++staged_posts;
  }
  size_t held_total = 0;
  for (const auto& [connection_id, port] : ports_) {
    VMBSIM_DCHECK((connection_id & ~kConnectionIdMask) == 0);
    VMBSIM_DCHECK(port.buffers_in_use <= port.capacity);
    // Every visible message holds a buffer; the rest are staged or in a handler.
    VMBSIM_DCHECK(port.visible.size() <= port.buffers_in_use);
    held_total += port.buffers_in_use - port.visible.size();
  }
  // At most one handler runs at a time (single thread), so buffers held
  // neither visible nor by a running handler are exactly the staged posts.
  VMBSIM_DCHECK(held_total >= staged_posts);
  VMBSIM_DCHECK(held_total <= staged_posts + 1);
  for (const auto& [connection_id, binding] : event_connections_) {
    VMBSIM_DCHECK(binding.vp_index < vps_.size());
    VMBSIM_DCHECK(binding.flag < kEventFlagCount);
    VMBSIM_DCHECK(ports_.count(connection_id) == 0);
  }
}

}  // namespace vmbsim::fabric
