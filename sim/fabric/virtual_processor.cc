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

void VirtualProcessor::Queue(Irql level, SimDuration cost, sim::InlineFunction work, const void* owner) {
  VMBSIM_CHECK_GE(cost.nanoseconds(), 0);
  (level == Irql::kDispatch ? dispatch_ : passive_).push_back(Item{std::move(work), cost, owner});
  queue_depth_max_ = std::max(queue_depth_max_, queue_depth());
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
  effects_.push_back(Effect{at, std::move(effect), owner});
  ArmEffects();
}

size_t VirtualProcessor::CancelOwned(const void* owner) {
  VMBSIM_CHECK(owner != nullptr);
  size_t cancelled = 0;
  const auto drop = [&](auto& queue) {
    const size_t before = queue.size();
    std::erase_if(queue, [owner](const auto& entry) { return entry.owner == owner; });
    cancelled += before - queue.size();
  };
  drop(dispatch_);
  drop(passive_);
  drop(effects_);
  if (queue_depth() == 0 && start_event_.valid() && sim_->IsPending(start_event_)) {
    sim_->Cancel(start_event_);
    start_event_ = {};
  }
  if (effects_.empty() && effects_event_.valid() && sim_->IsPending(effects_event_)) {
    sim_->Cancel(effects_event_);
    effects_event_ = {};
  }
  return cancelled;
}

void VirtualProcessor::Charge(SimDuration cost) {
  VMBSIM_CHECK(running_);
  VMBSIM_CHECK_GE(cost.nanoseconds(), 0);
  local_now_ += cost;
}

SimTime VirtualProcessor::LocalNow() const { return running_ ? local_now_ : sim_->Now(); }

bool VirtualProcessor::idle() const {
  return !running_ && queue_depth() == 0 && effects_.empty() && busy_until_ <= sim_->Now();
}

void VirtualProcessor::ArmEffects() {
  if (effects_.empty()) return;
  if (effects_event_.valid() && sim_->IsPending(effects_event_)) return;
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
    effect.work();
    const SimDuration charged = local_now_ - now;
    running_ = false;
    current_ = previous;
    if (charged > SimDuration::Zero()) {
      Extend(charged);
      extended = true;
    }
  }
  return extended;
}

void VirtualProcessor::DelayEffects(SimDuration extra) {
  for (Effect& effect : effects_) effect.at += extra;
  if (effects_event_.valid() && sim_->IsPending(effects_event_)) {
    sim_->Cancel(effects_event_);
    effects_event_ = {};
  }
  ArmEffects();
}

void VirtualProcessor::Extend(SimDuration extra) {
  const SimTime now = sim_->Now();
  busy_time_ += extra;
  busy_until_ = std::max(busy_until_, now) + extra;
  DelayEffects(extra);  // Everything the VP has still to reach comes later by as much.
  if (start_event_.valid() && sim_->IsPending(start_event_)) {
    sim_->Cancel(start_event_);
    start_event_ = {};
  }
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
    busy_until_ += extra;  // The item in progress ends later, and so do its effects.
    DelayEffects(extra);
  }
  stalled_until_ = std::max(stalled_until_, until);
  sim_->tracer().Emit({.time = now,
                       .kind = TraceKind(FabricTraceKind::kVpStall),
                       .partition = partition_id_,
                       .vp = vp_index_,
                       .size0 = static_cast<uint64_t>(duration.nanoseconds())});
  if (start_event_.valid() && sim_->IsPending(start_event_)) {
    sim_->Cancel(start_event_);
    start_event_ = {};
  }
  ArmStart();
}

void VirtualProcessor::ArmStart() {
  if (running_ || queue_depth() == 0) return;
  if (start_event_.valid() && sim_->IsPending(start_event_)) return;
  const SimTime at = std::max({sim_->Now(), busy_until_, stalled_until_});
  start_event_ = sim_->ScheduleAt(at, [this] { StartNext(); });
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
  VMBSIM_CHECK_GE(now.nanoseconds(), busy_until_.nanoseconds());     // Serial execution.
  VMBSIM_CHECK_GE(now.nanoseconds(), stalled_until_.nanoseconds());  // Not while descheduled.
  std::deque<Item>& queue = !dispatch_.empty() ? dispatch_ : passive_;
  VMBSIM_CHECK(!queue.empty());
  running_level_ = &queue == &dispatch_ ? Irql::kDispatch : Irql::kPassive;
  Item item = std::move(queue.front());
  queue.pop_front();
  running_ = true;
  sim_->tracer().Emit({.time = now,
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
  // that lands inside the item extends `busy_until_` but not this record.
  sim_->tracer().Emit({.time = local_now_,
                       .kind = TraceKind(FabricTraceKind::kVpWorkEnd),
                       .partition = partition_id_,
                       .vp = vp_index_,
                       .id0 = static_cast<uint64_t>(running_level_),
                       .size0 = static_cast<uint64_t>((local_now_ - now).nanoseconds())});
  busy_time_ += local_now_ - now;
  busy_until_ = local_now_;
  ++items_run_;
  ArmStart();
}

}  // namespace vmbsim::fabric
