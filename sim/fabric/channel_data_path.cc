#include "sim/fabric/channel_data_path.h"

#include <algorithm>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "sim/check.h"
#include "sim/fabric/trace_kinds.h"

namespace vmbsim::fabric {

ChannelDataPath::ChannelDataPath(sim::Simulator* sim, const CostModel* costs, VirtualProcessor* vp,
                                 RingWriter writer, RingReader reader, DataPathOptions options)
    : sim_(sim),
      costs_(costs),
      vp_(vp),
      writer_(std::move(writer)),
      reader_(std::move(reader)),
      options_(std::move(options)),
      // Not zero-filled: a packet is copied in before it is read, and an idle
      // endpoint's buffer then costs no resident memory (1024 channels
      // would otherwise zero 2 x 60 KiB each at attach).
      read_buffer_(std::make_unique_for_overwrite<uint8_t[]>(reader_.data_size_bytes())) {
  VMBSIM_CHECK(sim != nullptr);
  VMBSIM_CHECK(costs != nullptr);
  VMBSIM_CHECK(vp != nullptr);
  VMBSIM_CHECK_GE(options_.batch_packets_max, 1u);
  VMBSIM_CHECK(options_.writer_policy != WriterPolicy::kFixed || options_.pending_send_fixed_bytes > 0);
  if (polled()) {
    VMBSIM_CHECK_GT(options_.poll_period.nanoseconds(), 0);
    // A polling reader never wants a doorbell for data: masked for good.
    reader_.SetInterruptMask(true);
    Trace(TraceKind(FabricTraceKind::kRingMask), 1, 0);
  }
}

ChannelDataPath::~ChannelDataPath() {
  VMBSIM_CHECK_EQ(active_depth_, 0u);  // Never freed by its own step or handler.
  for (auto& [serial, deferred] : deferred_) sim_->Cancel(deferred.event);
  if (poll_armed_) sim_->Cancel(poll_event_);
  vp_->CancelOwned(this);
  for (VirtualProcessor* vp : deferring_vps_) vp->CancelOwned(this);
}

namespace {

// Counts an endpoint's frames on the stack, for the lifetime check.
class ActiveScope {
 public:
  explicit ActiveScope(uint32_t* depth) : depth_(depth) { ++*depth_; }
  ~ActiveScope() { --*depth_; }
  ActiveScope(const ActiveScope&) = delete;
  ActiveScope& operator=(const ActiveScope&) = delete;

 private:
  uint32_t* depth_;
};

// Bytes from ring index `from` forward to `to`, both in [0, data_size).
inline uint32_t RingDistance(uint32_t from, uint32_t to, uint32_t data_size) {
  return to >= from ? to - from : to + data_size - from;
}

}  // namespace

VirtualProcessor& ChannelDataPath::Actor() const { return VirtualProcessor::ActingIn(*vp_); }

void ChannelDataPath::TraceBy(const VirtualProcessor& actor, uint16_t kind, uint64_t id0, uint64_t id1,
                              uint64_t size0, uint64_t size1) {
  sim_->tracer().Emit({.time = actor.LocalNow(),
                       .kind = kind,
                       .partition = options_.partition_id,
                       .vp = actor.vp_index(),
                       .channel = options_.channel_id,
                       .id0 = id0,
                       .id1 = id1,
                       .size0 = size0,
                       .size1 = size1});
}

void ChannelDataPath::Fail(const absl::Status& status) {
  if (!status_.ok()) return;
  status_ = status;
  TraceBy(Actor(), TraceKind(FabricTraceKind::kRingCorrupt), 0, 0);
}

void ChannelDataPath::Queue(void (ChannelDataPath::*step)()) {
  struct Step {
    ChannelDataPath* self;
    void (ChannelDataPath::*step)();
    void operator()() const {
      ActiveScope active(&self->active_depth_);
      (self->*step)();
    }
  };
  vp_->Queue(Irql::kDispatch, sim::SimDuration::Zero(), Step{this, step}, this);
}

void ChannelDataPath::Ring() {
  ++counters_.signals_sent;
  if (signal_peer_) signal_peer_();
}

absl::StatusOr<WriteOutcome> ChannelDataPath::Send(const OutgoingPacket& packet) {
  if (ABSL_PREDICT_TRUE(fault_hook_ == nullptr)) return SendNow(packet);
  if (!status_.ok() || writer_blocked()) return SendNow(packet);  // The errors, as without the hook.
  const FaultAction action = fault_hook_->At({.site = FaultSite::kRingWrite,
                                              .guest = fault_guest_,
                                              .relid = options_.channel_id,
                                              .host_side = fault_host_side_,
                                              .trans_id = packet.trans_id,
                                              .packet_type = static_cast<uint16_t>(packet.type),
                                              .endpoint = this});
  absl::StatusOr<WriteOutcome> outcome = WriteOutcome::kWritten;
  switch (action.kind) {
    case FaultAction::Kind::kDrop:
      break;  // Lost by a misbehaving writer: never in the ring.
    case FaultAction::Kind::kRewrite: {
      OutgoingPacket rewritten = packet;
      rewritten.trans_id = action.value;
      outcome = SendNow(rewritten);
      break;
    }
    case FaultAction::Kind::kDuplicate:
      outcome = SendNow(packet);
      if (outcome.ok() && *outcome == WriteOutcome::kWritten && !writer_blocked()) {
        // The second copy only if it fits now; a full ring keeps the one.
        const absl::StatusOr<PacketGeometry> geometry = MeasurePacket(packet);
        if (geometry.ok()) {
          const absl::StatusOr<bool> fits = writer_.CanWrite(geometry->ring_footprint_bytes);
          if (fits.ok() && *fits) SendNow(packet).IgnoreError();
        }
      }
      break;
    case FaultAction::Kind::kDelay:
    case FaultAction::Kind::kHold:
      if (!Defer(packet, action.delay, action.kind == FaultAction::Kind::kHold)) outcome = SendNow(packet);
      return outcome;  // A held packet is not "the next write" of another held one.
    default:
      outcome = SendNow(packet);
      break;
  }
  if (ABSL_PREDICT_FALSE(!deferred_.empty())) ReleaseHeld();
  return outcome;
}

bool ChannelDataPath::Defer(const OutgoingPacket& packet, sim::SimDuration delay, bool until_next) {
  if (!packet.transfer_page_ranges.empty() || !packet.gpa_ranges.empty()) return false;
  VMBSIM_CHECK_GE(delay.nanoseconds(), 0);
  const uint64_t serial = ++deferred_serial_;
  Deferred& d = deferred_[serial];
  d.bytes.assign(packet.payload.begin(), packet.payload.end());
  d.packet = packet;
  d.packet.payload = absl::MakeConstSpan(d.bytes);
  d.until_next = until_next;
  struct Release {
    ChannelDataPath* self;
    uint64_t serial;
    void operator()() const { self->ReleaseDeferred(serial); }
  };
  d.event = sim_->ScheduleAfter(delay, Release{this, serial});
  return true;
}

void ChannelDataPath::ReleaseDeferred(uint64_t serial) {
  auto it = deferred_.find(serial);
  if (it == deferred_.end()) return;
  ActiveScope active(&active_depth_);
  Deferred& d = it->second;
  if (!status_.ok()) {
    deferred_.erase(it);  // A failed endpoint writes nothing.
    return;
  }
  // Written only when it fits now: a deferred packet does not enter the
  // blocked-writer protocol, which belongs to the layer above's queue.
  const absl::StatusOr<PacketGeometry> geometry = MeasurePacket(d.packet);
  bool fits = false;
  if (geometry.ok() && !writer_blocked()) {
    const absl::StatusOr<bool> can = writer_.CanWrite(geometry->ring_footprint_bytes);
    fits = can.ok() && *can;
    if (!can.ok() && writer_.failed()) Fail(writer_.status());
  }
  if (!fits && geometry.ok() && status_.ok() && d.retries < 10000) {
    ++d.retries;
    struct Release {
      ChannelDataPath* self;
      uint64_t serial;
      void operator()() const { self->ReleaseDeferred(serial); }
    };
    d.event = sim_->ScheduleAfter(sim::SimDuration::Microseconds(10), Release{this, serial});
    return;
  }
  const OutgoingPacket packet = d.packet;
  const std::vector<uint8_t> bytes = std::move(d.bytes);
  deferred_.erase(it);
  if (!fits) return;  // Never fits, or the endpoint failed: dropped.
  OutgoingPacket copy = packet;
  copy.payload = absl::MakeConstSpan(bytes);
  SendNow(copy).IgnoreError();
}

void ChannelDataPath::ReleaseHeld() {
  std::vector<uint64_t> held;
  for (const auto& [serial, d] : deferred_) {
    if (d.until_next) held.push_back(serial);
  }
  for (const uint64_t serial : held) {
    sim_->Cancel(deferred_[serial].event);
    ReleaseDeferred(serial);
  }
}

absl::StatusOr<WriteOutcome> ChannelDataPath::SendNow(const OutgoingPacket& packet) {
  if (!status_.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(options_.name, ": endpoint failed: ", status_.message()));
  }
  if (writer_blocked()) {
    return absl::FailedPreconditionError(absl::StrCat(options_.name, ": writer is blocked on a full ring"));
  }
  const uint32_t index_before = writer_.next_write_index();
  absl::StatusOr<WriteOutcome> outcome = writer_.Write(packet);
  if (!outcome.ok()) {
    if (writer_.failed()) Fail(writer_.status());
    return outcome.status();
  }
  if (*outcome == WriteOutcome::kRingFull) {
    // Cold path: measure the packet to know what to wait for.
    VMBSIM_ASSIGN_OR_RETURN(const PacketGeometry geometry, MeasurePacket(packet));
    ++counters_.ring_full;
    TraceBy(Actor(), TraceKind(FabricTraceKind::kRingFull), 0, 0, geometry.ring_footprint_bytes);
    blocked_footprint_bytes_ = geometry.ring_footprint_bytes;
    Queue(&ChannelDataPath::StepPublishPendingSend);
    return WriteOutcome::kRingFull;
  }
  // The Windows lineage clears its published pending_send_sz at the next
  // successful reservation (EMCL `PkGetSendBuffer`).
  if (ABSL_PREDICT_FALSE(pending_send_published_)) {
    writer_.ClearPendingSendSize();
    pending_send_published_ = false;
  }
  // The writer's cursor moved by the packet's ring footprint (packet and
  // trailer), so the packet need not be measured a second time.
  const uint32_t data_size = writer_.data_size_bytes();
  const uint32_t index_after = writer_.next_write_index();
  const uint32_t footprint_bytes = RingDistance(index_before, index_after, data_size);
  VirtualProcessor& actor = Actor();
  if (actor.running()) {
    // The copy holds the outbound ring lock; another VP's copy may hold it still.
    if (&actor != lock_holder_ && lock_free_at_ > actor.LocalNow()) {
      const sim::SimDuration wait = lock_free_at_ - actor.LocalNow();
      actor.Spin(wait);
      ++counters_.lock_waits;
      counters_.lock_wait_ns += static_cast<uint64_t>(wait.nanoseconds());
    }
    actor.Charge(costs_->RingCopy(footprint_bytes - kTrailerSizeBytes));
    lock_free_at_ = actor.LocalNow();
    lock_holder_ = &actor;
  }
  ++counters_.packets_sent;
  counters_.bytes_sent += packet.payload.size();
  if (peer_ != nullptr) {
    if (packet.tag != 0) sent_tags_.push_back(SentTag{index_before, packet.tag});
    if (options_.sample_ring_occupancy) {
      // A Hyper-V ring never fills up completely, so the distance is never ambiguous.
      ring_occupancy_.Record(RingDistance(peer_->reader_.read_cursor_index(), index_after, data_size));
    }
  }
  TraceBy(actor, TraceKind(FabricTraceKind::kRingWrite), index_before, packet.trans_id, footprint_bytes,
          static_cast<uint64_t>(packet.type));
  // Visible now only when nothing of the writer's is pending: a write from
  // outside the VP's work (a deferred packet released by an event) while the
  // VP's own earlier writes wait for its clock must not publish them early
  // with its index; it is published after them, in ring order.
  if (actor.deferred_effect_count() == 0 && (!actor.running() || actor.LocalNow() == sim_->Now())) {
    Publish(actor, index_after);  // Nothing charged, nothing pending: visible now (AtLocalNow's own rule).
    return WriteOutcome::kWritten;
  }
  // Visible when the sender reaches this point of its work (at once when it
  // already has).
  if (&actor != vp_ && std::find(deferring_vps_.begin(), deferring_vps_.end(), &actor) == deferring_vps_.end()) {
    deferring_vps_.push_back(&actor);
  }
  struct PublishAt {
    ChannelDataPath* self;
    VirtualProcessor* actor;
    uint32_t index;
    void operator()() const { self->Publish(*actor, index); }
  };
  actor.AtLocalNow(PublishAt{this, &actor, index_after}, this);
  return WriteOutcome::kWritten;
}

void ChannelDataPath::Publish(const VirtualProcessor& actor, uint32_t index) {
  if (!status_.ok()) return;
  ActiveScope active(&active_depth_);
  const bool signal = writer_.CommitWriteTo(index);
  if (writer_.failed()) {
    Fail(writer_.status());
    return;
  }
  if (writer_.committed_write_index() != index) return;  // A later packet's publish covered it.
  TraceBy(actor, TraceKind(FabricTraceKind::kRingCommitWrite), writer_.committed_write_index(), signal ? 1 : 0);
  if (signal) {
    Ring();
  } else {
    ++counters_.signals_suppressed;
    // A polling reader keeps its interrupt masked: the data waits for its
    // next poll.
    if (ABSL_PREDICT_FALSE(peer_ != nullptr && peer_->polled())) peer_->ArmPoll();
  }
}

// Inline: the drain calls it per packet.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline uint64_t ChannelDataPath::TakeTag(uint32_t index) {
  while (!sent_tags_.empty()) {
    const SentTag front = sent_tags_.front();
    if (front.index == index) {  // The usual case.
      sent_tags_.pop_front();
      return front.tag;
    }
    // The unread part of the ring runs from `index` to the write index: a tag
    // inside it belongs to a later packet (this one had none); a tag outside
    // it to a packet the reader passed without parsing.
    const uint32_t data_size = writer_.data_size_bytes();
    if (RingDistance(index, front.index, data_size) < RingDistance(index, writer_.next_write_index(), data_size)) {
      return 0;
    }
    sent_tags_.pop_front();
  }
  return 0;
}

absl::StatusOr<WriteOutcome> ChannelDataPath::SendCompletion(uint64_t trans_id, absl::Span<const uint8_t> payload,
                                                             uint64_t tag) {
  OutgoingPacket completion;
  completion.tag = tag;
  completion.type = PacketType::kComp;
  completion.trans_id = trans_id;
  completion.payload = payload;
  return Send(completion);
}

void ChannelDataPath::OnDoorbell() {
  if (ABSL_PREDICT_FALSE(doorbell_filter_ != nullptr) && !doorbell_filter_()) {
    ++counters_.doorbells_dropped;
    return;
  }
  ++counters_.doorbells;
  if (!status_.ok()) return;
  if (writer_blocked()) Queue(&ChannelDataPath::StepWriterRecheck);
  if (draining_) {
    ++counters_.doorbells_coalesced;
    return;
  }
  switch (options_.reader_discipline) {
    case ReaderDiscipline::kPolled:
      return;  // Space for the writer only: the reader's polls read the ring.
    case ReaderDiscipline::kBatched:
      // Masked in the interrupt handler (this call), before the DPC runs.
      draining_ = true;
      stalled_ = false;
      reader_.SetInterruptMask(true);
      Trace(TraceKind(FabricTraceKind::kRingMask), 1, 0);
      Queue(&ChannelDataPath::StepReadBatch);
      return;
    default:
      break;
  }
  draining_ = true;
  stalled_ = false;
  Queue(&ChannelDataPath::StepMask);
}

void ChannelDataPath::ArmPoll() {
  if (poll_armed_ || draining_ || !status_.ok()) return;
  // The next instant of the grid k * poll_period strictly after now: a
  // packet published at a poll's instant waits for the next one.
  const int64_t period_ns = options_.poll_period.nanoseconds();
  const int64_t now_ns = sim_->Now().nanoseconds();
  const sim::SimTime at = sim::SimTime::FromNanoseconds((now_ns / period_ns + 1) * period_ns);
  poll_armed_ = true;
  struct Poll {
    ChannelDataPath* self;
    void operator()() const { self->StartPoll(); }
  };
  poll_event_ = sim_->ScheduleAt(at, Poll{this});
}

void ChannelDataPath::StartPoll() {
  poll_armed_ = false;
  if (!status_.ok() || draining_) return;
  draining_ = true;
  stalled_ = false;
  Queue(&ChannelDataPath::StepReadBatch);  // Still masked.
}

void ChannelDataPath::MoveTo(VirtualProcessor* vp) {
  VMBSIM_CHECK(vp != nullptr);
  if (vp == vp_) return;
  // The old VP may still hold steps this endpoint owns: cancel them there
  // too if the endpoint goes away.
  if (std::find(deferring_vps_.begin(), deferring_vps_.end(), vp_) == deferring_vps_.end()) {
    deferring_vps_.push_back(vp_);
  }
  vp_ = vp;
}

void ChannelDataPath::Kick() {
  if (!status_.ok() || draining_) return;
  if (polled()) {
    ArmPoll();  // The next poll reads what the gate held.
    return;
  }
  draining_ = true;
  // A stalled drain kept the mask set; otherwise mask first, as a doorbell does.
  Queue(stalled_ ? &ChannelDataPath::StepReadBatch : &ChannelDataPath::StepMask);
  stalled_ = false;
}

void ChannelDataPath::StepMask() {
  reader_.SetInterruptMask(true);
  Trace(TraceKind(FabricTraceKind::kRingMask), 1, 0);
  Queue(&ChannelDataPath::StepReadBatch);
}

void ChannelDataPath::StepReadBatch() {
  if (!status_.ok()) {
    draining_ = false;
    return;
  }
  if (ABSL_PREDICT_FALSE(fault_hook_ != nullptr)) {
    // A corrupt peer writes into the ring here; what the reader makes of it
    // is the reader's business (validation, never a crash).
    fault_hook_->At({.site = FaultSite::kRingRead,
                     .guest = fault_guest_,
                     .relid = options_.channel_id,
                     .host_side = fault_host_side_,
                     .endpoint = this});
  }
  uint32_t count = 0;
  bool gated = false;
  // The VP running this step: the endpoint's, unless MoveTo moved it since
  // the step was queued.
  VirtualProcessor& reader_vp = Actor();
  bool out_of_budget = false;
  const sim::SimTime started = reader_vp.LocalNow();
  while (count < options_.batch_packets_max) {
    if (accept_gate_ && !accept_gate_()) {
      gated = true;
      break;
    }
    const uint32_t cursor = reader_.read_cursor_index();
    absl::StatusOr<ReadResult> result = reader_.ReadPacket(absl::MakeSpan(read_buffer_.get(), reader_.data_size_bytes()));
    if (!result.ok()) {
      if (reader_.failed()) {
        Fail(reader_.status());
        draining_ = false;
        return;
      }
      continue;  // kClamp dropped a malformed packet; the endpoint lives on.
    }
    if (result->outcome == ReadOutcome::kEmpty) break;
    // The read buffer spans the whole data area, so kBufferTooSmall cannot happen.
    VMBSIM_CHECK(result->outcome == ReadOutcome::kPacket);
    ++count;
    ++counters_.packets_received;
    counters_.bytes_received += result->packet.payload().size();
    reader_vp.Charge(costs_->RingCopy(result->packet_size_bytes));
    Trace(TraceKind(FabricTraceKind::kRingRead), cursor, result->packet.descriptor.trans_id,
          result->packet.ring_footprint_bytes());
    if (peer_ != nullptr && !peer_->sent_tags_.empty()) result->packet.tag = peer_->TakeTag(cursor);
    if (on_packet_) on_packet_(result->packet);
    if (ABSL_PREDICT_FALSE(options_.dpc_budget.nanoseconds() > 0) &&
        reader_vp.LocalNow() - started >= options_.dpc_budget) {
      out_of_budget = true;  // KMCL: "DPC cycle limit is exceeded".
      break;
    }
  }
  if (count > 0) {
    ++counters_.batches;
    batch_sizes_.Record(count);
    if (on_batch_end_) {
      on_batch_end_(count, gated                                   ? BatchEnd::kGated
                           : count == options_.batch_packets_max ? BatchEnd::kBatchCap
                           : out_of_budget                         ? BatchEnd::kBudget
                                                                 : BatchEnd::kRingEmpty);
    }
  } else {
    ++counters_.empty_drains;
  }
  // The batch's processing cost occupies the VP; read_index is published when
  // it is over, so the writer sees the space only then (spec §1.6: space is
  // released at commit time).
  last_batch_count_ = count;
  last_batch_gated_ = gated;
  last_batch_continues_ = !gated && (count == options_.batch_packets_max || out_of_budget);
  Queue(&ChannelDataPath::StepCommitRead);
}

void ChannelDataPath::StepCommitRead() {
  if (!status_.ok()) {
    draining_ = false;
    return;
  }
  const bool signal_writer = reader_.CommitRead();
  if (reader_.failed()) {
    Fail(reader_.status());
    draining_ = false;
    return;
  }
  if (last_batch_count_ > 0) {
    Trace(TraceKind(FabricTraceKind::kRingCommitRead), reader_.committed_read_index(), signal_writer);
  }
  if (signal_writer && options_.signal_blocked_writer) Ring();
  // A writer that publishes no pending send size re-checks for room after
  // reading its peer's packets (the completions that freed it).
  if (options_.writer_policy == WriterPolicy::kNone && last_batch_count_ > 0 && writer_blocked()) {
    Queue(&ChannelDataPath::StepWriterRecheck);
  }
  if (last_batch_gated_) {
    if (accept_gate_ && accept_gate_()) {
      // The gate opened while the batch ended (the batch-end handler freed
      // room): read on instead of stalling.
      Queue(&ChannelDataPath::StepReadBatch);
      return;
    }
    // Held by the layer above: stay masked until Kick().
    stalled_ = true;
    draining_ = false;
    return;
  }
  if (polled()) {
    // The poll is over; what it left (a full poll) or what arrived meanwhile
    // waits for the next one. Never unmasked.
    draining_ = false;
    absl::StatusOr<bool> has_data = reader_.HasData();
    if (!has_data.ok()) {
      Fail(has_data.status());
      return;
    }
    if (*has_data) ArmPoll();
    return;
  }
  // A full batch (or one that used the DPC's budget) yields the VP and
  // continues in a new DPC while still masked.
  Queue(last_batch_continues_ ? &ChannelDataPath::StepReadBatch : &ChannelDataPath::StepUnmask);
}

void ChannelDataPath::StepUnmask() {
  reader_.SetInterruptMask(false);
  Trace(TraceKind(FabricTraceKind::kRingMask), 0, 0);
  if (options_.recheck_after_unmask) {
    Queue(&ChannelDataPath::StepRecheck);
  } else {
    draining_ = false;  // The buggy driver stops here.
  }
}

void ChannelDataPath::StepRecheck() {
  absl::StatusOr<bool> has_data = reader_.HasData();
  if (!has_data.ok()) {
    Fail(has_data.status());
    draining_ = false;
    return;
  }
  if (*has_data) {
    Queue(&ChannelDataPath::StepMask);  // Data raced with the unmask: drain again.
  } else {
    draining_ = false;
  }
}

void ChannelDataPath::StepPublishPendingSend() {
  if (!writer_blocked() || !status_.ok()) return;
  const uint32_t t = blocked_footprint_bytes_;
  absl::Status status;
  switch (options_.writer_policy) {
    case WriterPolicy::kOpenVmm:
      status = writer_.SetPendingSendSize(writer_.PendingSendSizeFor(t));
      break;
    case WriterPolicy::kWindows: {
      // The reader measures free space from the published write index, so
      // room for T behind the writer's unpublished packets takes both.
      const uint32_t data_size = writer_.data_size_bytes();
      const uint64_t uncommitted =
          RingDistance(writer_.committed_write_index(), writer_.next_write_index(), data_size);
      status = writer_.SetPendingSendSizeExact(
          static_cast<uint32_t>(std::min<uint64_t>(uncommitted + t, data_size - 1)));
      pending_send_published_ = status.ok();
      break;
    }
    case WriterPolicy::kNone:
      break;  // Completions restart it (StepCommitRead).
    case WriterPolicy::kFixed:
      status = writer_.SetPendingSendSize(std::max(options_.pending_send_fixed_bytes, t));
      break;
  }
  if (!status.ok()) {
    Fail(status);
    return;
  }
  if (options_.recheck_after_pending_send) Queue(&ChannelDataPath::StepWriterRecheck);
}

void ChannelDataPath::StepWriterRecheck() {
  if (!writer_blocked() || !status_.ok()) return;
  absl::StatusOr<bool> fits = writer_.CanWrite(blocked_footprint_bytes_);
  if (!fits.ok()) {
    Fail(fits.status());
    return;
  }
  if (!*fits) return;  // Still full: wait for the reader's signal.
  // kWindows leaves it published until the next write (SendNow).
  if (!pending_send_published_) writer_.ClearPendingSendSize();
  blocked_footprint_bytes_ = 0;
  ++counters_.writer_wakeups;
  if (on_writable_) on_writable_();
}

}  // namespace vmbsim::fabric
