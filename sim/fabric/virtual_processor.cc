#include "sim/fabric/virtual_processor.h"

#include <algorithm>
#include <utility>

#include "sim/check.h"
#include "sim/fabric/trace_kinds.h"

namespace vmbsim::fabric {

using sim::SimDuration;
using sim::SimTime;

thread_local VirtualProcessor* VirtualProcessor::current_ = nullptr;

VirtualProcessor::VirtualProcessor(sim::Simulator* sim, uint16_t partition_id, uint32_t vp_index)
    : sim_(sim), partition_id_(partition_id), vp_index_(vp_index) {
  VMBSIM_CHECK(sim != nullptr);
}

void VirtualProcessor::set_speed_ppm(uint32_t speed_ppm) {
  VMBSIM_CHECK_GT(speed_ppm, 0u);
  speed_ppm_ = speed_ppm;
}

SimDuration VirtualProcessor::ScaledBySpeed(SimDuration cost) const {
  // Rounded to the nearest ns; 128 bits, since a cost may be up to 10^15 ns.
  const __int128 scaled = (static_cast<__int128>(cost.nanoseconds()) * kNominalSpeedPpm + speed_ppm_ / 2) / speed_ppm_;
  VMBSIM_CHECK(scaled <= static_cast<__int128>(INT64_MAX / 4));
  return SimDuration::Nanoseconds(static_cast<int64_t>(scaled));
}

void VirtualProcessor::Queue(Irql level, SimDuration cost, sim::InlineFunction work, const void* owner) {
  VMBSIM_CHECK_GE(cost.nanoseconds(), 0);
  // Queued from inside this VP's work: ready when the VP reaches the call.
  QueueFor(level).emplace_back(std::move(work), Scaled(cost), owner, LocalNow(), level);  // Built in its slot.
  ++queued_;
  queue_depth_max_ = std::max(queue_depth_max_, queue_depth());
  if (preemption_ == Preemption::kPacket && !spans_.empty() && level > spans_.back().level) {
    // It may preempt the item in progress: earlier than the start armed for the queue.
    Disarm(start_event_);
  }
  ArmStart();
}

void VirtualProcessor::AtLocalNow(sim::InlineFunction effect, const void* owner) {
  SimTime at = LocalNow();
  if (effects_.empty()) {
    if (at == sim_->Now()) {
      effect();
      return;
    }
  } else {
    at = std::max(at, effects_.back().at);  // Never before an effect deferred earlier.
  }
  effects_.emplace_back(at, std::move(effect), owner, current_irql());
  ArmEffects();
}

size_t VirtualProcessor::CancelOwned(const void* owner) {
  VMBSIM_CHECK(owner != nullptr);
  size_t cancelled = 0;
  const auto drop = [&](auto& queue) {
    cancelled += queue.EraseIf([owner](const auto& entry) { return entry.owner == owner; });
  };
  for (sim::RingDeque<Item>& queue : queues_) drop(queue);
  queued_ = queues_[0].size() + queues_[1].size() + queues_[2].size();
  drop(effects_);
  drop(preempted_effects_);
  if (queue_depth() == 0) Disarm(start_event_);
  if (effects_.empty()) Disarm(effects_event_);
  return cancelled;
}

void VirtualProcessor::Spin(SimDuration duration) {
  VMBSIM_CHECK(running_);
  VMBSIM_CHECK_GE(duration.nanoseconds(), 0);
  local_now_ += duration;
}

bool VirtualProcessor::idle() const {
  return !running_ && queue_depth() == 0 && effects_.empty() && busy_until_ <= sim_->Now();
}

void VirtualProcessor::ArmEffects() {
  if (effects_.empty()) return;
  if (Armed(effects_event_)) return;
  effects_event_ = sim_->ScheduleAt(effects_.front().at, [this] {
    effects_event_ = {};
    RunDueEffects();
    ArmEffects();
    ArmStart();  // An effect may have queued work while it ran.
  });
}

bool VirtualProcessor::RunDueEffects() {
  bool extended = false;
  const SimTime now = sim_->Now();
  while (!effects_.empty() && effects_.front().at <= now) {
    VMBSIM_CHECK(!running_);  // Effects run between items, never inside one.
    Effect effect = std::move(effects_.front());
    effects_.pop_front();
    VirtualProcessor* const previous = current_;
    current_ = this;
    running_ = true;
    local_now_ = now;
    running_level_ = effect.level;
    effect.work();
    const SimDuration charged = local_now_ - now;
    running_ = false;
    current_ = previous;
    if (charged > SimDuration::Zero()) {
      level_time_[LevelIndex(effect.level)] += charged;
      Extend(charged);
      extended = true;
    }
  }
  return extended;
}

void VirtualProcessor::DelayEffects(SimDuration extra) {
  for (Effect& effect : effects_) effect.at += extra;
  Disarm(effects_event_);
  ArmEffects();
}

void VirtualProcessor::Extend(SimDuration extra) {
  const SimTime now = sim_->Now();
  busy_time_ += extra;
  busy_until_ = std::max(busy_until_, now) + extra;
  if (preemption_ == Preemption::kPacket) {
    PopEndedSpans();
    if (spans_.empty()) {
      spans_.push_back(Span{busy_until_, running_level_});
    } else {
      for (Span& span : spans_) span.end += extra;
    }
  }
  DelayEffects(extra);  // Everything the VP has still to reach comes later by as much.
  Disarm(start_event_);
  ArmStart();
}

void VirtualProcessor::Stall(SimDuration duration) {
  VMBSIM_CHECK_GE(duration.nanoseconds(), 0);
  const SimTime now = sim_->Now();
  const SimTime until = now + duration;
  // Only the part not already covered by an earlier stall adds delay.
  const SimTime covered_until = std::max(now, stalled_until_);
  const SimDuration extra = until > covered_until ? until - covered_until : SimDuration::Zero();
  stalled_time_ += extra;
  if (busy_until_ > now) {
    busy_until_ += extra;  // The items in progress end later, and so do their effects.
    for (Span& span : spans_) {
      if (span.end > now) span.end += extra;
    }
    DelayEffects(extra);
  }
  stalled_until_ = std::max(stalled_until_, until);
  sim_->tracer().Emit({.time = now,
                       .kind = TraceKind(FabricTraceKind::kVpStall),
                       .partition = partition_id_,
                       .vp = vp_index_,
                       .size0 = static_cast<uint64_t>(duration.nanoseconds())});
  Disarm(start_event_);
  ArmStart();
}

void VirtualProcessor::PopEndedSpans() {
  // Spans nest: an inner one ends before the one it preempted.
  const SimTime now = sim_->Now();
  while (!spans_.empty() && spans_.back().end <= now) spans_.pop_back();
}

SimTime VirtualProcessor::NextStartTime() {
  const SimTime now = sim_->Now();
  if (preemption_ == Preemption::kNone) return std::max({now, busy_until_, stalled_until_});
  PopEndedSpans();
  if (spans_.empty()) return std::max({now, busy_until_, stalled_until_});
  const Item& next = NextQueue().front();
  if (next.level > spans_.back().level) return std::max({now, stalled_until_, next.ready});  // Preempts.
  // After the innermost item in progress; then it may preempt the next one out.
  return std::max({now, spans_.back().end, stalled_until_});
}

void VirtualProcessor::ArmStart() {
  if (running_ || queue_depth() == 0) return;
  if (Armed(start_event_)) return;
  start_event_ = sim_->ScheduleAt(NextStartTime(), [this] { StartNext(); });
}

void VirtualProcessor::StartNext() {
  start_event_ = {};
  VMBSIM_CHECK(!running_);
  // What the VP reached before this instant happens before the next item.
  if (!effects_.empty() && effects_.front().at <= sim_->Now()) {
    const bool extended = RunDueEffects();
    ArmEffects();
    if (extended || queue_depth() == 0) return;  // Extend armed the start.
  }
  const SimTime now = sim_->Now();
  VMBSIM_CHECK_GE(now.nanoseconds(), stalled_until_.nanoseconds());  // Not while descheduled.
  bool preempting = false;
  if (preemption_ == Preemption::kPacket) {
    if (NextStartTime() > now) {  // An effect queued or charged something meanwhile.
      ArmStart();
      return;
    }
    preempting = !spans_.empty();  // NextStartTime dropped the spans that are over.
  }
  if (!preempting) VMBSIM_CHECK_GE(now.nanoseconds(), busy_until_.nanoseconds());  // Serial execution.
  sim::RingDeque<Item>& queue = NextQueue();
  Item item = std::move(queue.front());
  queue.pop_front();
  --queued_;
  running_level_ = item.level;
  if (preempting) {
    // The preempted items' effects wait until this item is over.
    ++preemptions_;
    VMBSIM_CHECK(preempted_effects_.empty());
    preempted_effects_.swap(effects_);  // Both stay allocated: no copy, no allocation.
    Disarm(effects_event_);
  }
  running_ = true;
  sim_->tracer().EmitInline({.time = now,
                             .kind = TraceKind(FabricTraceKind::kVpWorkStart),
                             .partition = partition_id_,
                             .vp = vp_index_,
                             .id0 = static_cast<uint64_t>(running_level_),
                             .size0 = queue_depth(),
                             .size1 = static_cast<uint64_t>(item.cost.nanoseconds())});
  local_now_ = now + item.cost;
  VirtualProcessor* const previous = current_;
  current_ = this;
  item.work();
  current_ = previous;
  running_ = false;
  VMBSIM_CHECK_GE(local_now_.nanoseconds(), now.nanoseconds());  // Charges are non-negative.
  // Emitted when the callable returns but timed at the item's end (its local
  // clock), so later records in the trace may carry earlier times. A stall
  // or a preemption that lands inside the item extends `busy_until_` but not
  // this record.
  sim_->tracer().EmitInline({.time = local_now_,
                             .kind = TraceKind(FabricTraceKind::kVpWorkEnd),
                             .partition = partition_id_,
                             .vp = vp_index_,
                             .id0 = static_cast<uint64_t>(running_level_),
                             .size0 = static_cast<uint64_t>((local_now_ - now).nanoseconds())});
  const SimDuration duration = local_now_ - now;
  busy_time_ += duration;
  level_time_[LevelIndex(item.level)] += duration;
  ++items_run_;
  if (preempting) {
    // Everything the preempted items had not reached comes later by as much.
    for (Span& span : spans_) span.end += duration;
    busy_until_ += duration;
    for (Effect& effect : preempted_effects_) effect.at += duration;
    if (effects_.empty()) {
      effects_.swap(preempted_effects_);
    } else {
      for (Effect& effect : preempted_effects_) effects_.push_back(std::move(effect));
      preempted_effects_.clear();
    }
    Disarm(effects_event_);
    ArmEffects();
  } else {
    busy_until_ = local_now_;
  }
  if (preemption_ == Preemption::kPacket && duration > SimDuration::Zero()) {
    spans_.push_back(Span{local_now_, item.level});
  }
  ArmStart();
}

}  // namespace vmbsim::fabric
