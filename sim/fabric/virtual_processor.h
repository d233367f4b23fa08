// virtual_processor.h
//
// A virtual processor executes timed work serially. Work is queued at one of
// three levels, INTERRUPT (an ISR), DISPATCH (DPCs) or PASSIVE (threads);
// whenever the VP may start work it starts the oldest item of the highest
// level that has one. An item occupies the VP for its modelled CPU cost plus
// whatever its callable charges while it runs (`Charge()`), so queueing delay
// and batching emerge from load. The item's own cost is the overhead of
// getting to the callable (an ISR hop, a DPC dispatch) and is charged before
// the callable runs. Effects the callable causes are timed at the VP's local
// clock (`LocalNow()`: start time plus the cost charged so far), so a
// callback that spends 2 us before sending sends 2 us later.
//
// Preemption (DESIGN.md, "Time on a VP"; Windows raises IRQL so that an
// interrupt preempts DPCs and a DPC preempts threads, as Linux runs hardirq
// before softirq before process context). Selectable per VP:
//   * kPacket (the default): an item queued while a lower-level item is in
//     progress starts at once (at the local time it was queued, when queued
//     from inside work), and everything the preempted item has not reached
//     yet (its deferred effects, its end, and so the next item) moves back
//     by the preempting item's duration. Levels nest: an interrupt may
//     preempt a DPC that preempted a thread, and both are stretched. Since
//     an item's effects are the points where it reaches each packet (a
//     publish, a signal, a completion), the split falls between packets.
//   * kNone: nothing is preempted (the model before preemption): a DPC
//     queued while a PASSIVE item runs starts when that item ends, and an
//     interrupt item waits in the DISPATCH queue in arrival order.
// A preempted item's callable has already run (it ran in one simulator
// event at its start), so trace records it emitted directly (its ring
// reads, its work-end record) keep their unstretched times, as they do for
// a stall; its deferred effects, which other VPs observe, are stretched.
// (The timeline stretches the preempted item's slice from the records: see
// scenario::TimelineWriter.)
//
// Speed (heterogeneous cores, an SMT sibling sharing its core): a VP of
// speed s (set_speed_ppm: s x 10^6) takes cost / s for every cost it is
// charged, an item's own cost and every Charge() alike, rounded to the
// nearest nanosecond. Stalls and spins (Spin()) are not scaled: they are
// time passing, not work the VP does.
//
// Other modelling choices (the spec is silent on VP scheduling):
//   * A stall (the VP descheduled by the hypervisor) delays the end of the
//     items in progress by the stall and starts nothing until it is over;
//     queued work waits. Stalls that overlap extend to the later end.
//   * Measured: busy time (sum of item costs), the part of it at each level,
//     stalled time, items run, preemptions, and queue depth (current and
//     maximum, all levels together).
//
// Causality (DESIGN.md, "Time on a VP"): a callable runs in one simulator
// event at its item's start, but the VP reaches each point of it only at its
// local clock. Effects other VPs can observe (a ring index published, a
// signal, a mask change) go through `AtLocalNow()`: they run at once when the
// local clock equals the simulator's, otherwise as an event at the local
// time, in the order of the VP's clock (a preempting item's effects before
// the rest of the preempted item's). So a completion written after
// 3 us of charged work becomes visible 3 us after the item started, never at
// its start. An effect runs "on" the VP: `running()` is true inside it, and
// `Charge()` there is a late charge that occupies the VP from the effect's
// time on (the VP's later effects and its next item move back by it).
//
// Lifetime rule: every queued item and deferred effect may name an owner.
// An object that queues work capturing a pointer to itself passes itself as
// the owner and calls `CancelOwned(this)` before it dies, so no queued work
// can reach it afterwards (ChannelDataPath does; see its header).

#ifndef VMBSIM_SIM_FABRIC_VIRTUAL_PROCESSOR_H_
#define VMBSIM_SIM_FABRIC_VIRTUAL_PROCESSOR_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "sim/check.h"
#include "sim/core/inline_function.h"
#include "sim/core/ring_deque.h"
#include "sim/core/sim_time.h"
#include "sim/core/simulator.h"

namespace vmbsim::fabric {

// Windows IRQL values: PASSIVE_LEVEL 0, DISPATCH_LEVEL 2, and a device
// interrupt level above them (DIRQL; 3 stands for all of them here).
enum class Irql : uint8_t { kPassive = 0, kDispatch = 2, kInterrupt = 3 };

// Whether a higher-level item preempts a lower-level one in progress.
enum class Preemption : uint8_t { kNone = 0, kPacket = 1 };

class VirtualProcessor {
 public:
  // `*sim` must outlive this object.
  VirtualProcessor(sim::Simulator* sim, uint16_t partition_id, uint32_t vp_index);
  VirtualProcessor(const VirtualProcessor&) = delete;
  VirtualProcessor& operator=(const VirtualProcessor&) = delete;

  uint16_t partition_id() const { return partition_id_; }
  uint32_t vp_index() const { return vp_index_; }

  // Set before any work is queued. Default kPacket.
  void set_preemption(Preemption preemption) { preemption_ = preemption; }
  Preemption preemption() const { return preemption_; }

  // The VP's speed in millionths of the cost model's processor (1'000'000:
  // nominal, the default; 500'000 takes twice as long). Set before any work
  // is queued. REQUIRES: speed_ppm > 0.
  static constexpr uint32_t kNominalSpeedPpm = 1'000'000;
  void set_speed_ppm(uint32_t speed_ppm);
  uint32_t speed_ppm() const { return speed_ppm_; }

  // Queues `work` to run at `level`, occupying the VP for `cost` (at least)
  // once it starts. May be called from inside running work. `owner`, when
  // not null, names the object `work` points into (see CancelOwned).
  // REQUIRES: cost >= 0.
  void Queue(Irql level, sim::SimDuration cost, sim::InlineFunction work, const void* owner = nullptr);

  // Runs `effect` when this VP reaches its local clock: at once when nothing
  // is running on it or LocalNow() == Now() and no earlier effect waits;
  // otherwise as an event at LocalNow(), after every effect deferred before
  // it (effects of one VP keep their order under tie-break exploration too,
  // and all effects due by an item's start run before that item).
  void AtLocalNow(sim::InlineFunction effect, const void* owner = nullptr);

  // Drops every queued item and deferred effect queued with `owner`; returns
  // how many. Call before `owner` dies. REQUIRES: not called from an item or
  // effect that `owner` queued.
  size_t CancelOwned(const void* owner);

  // From inside running work: adds `cost` to the running item. From inside
  // an effect: occupies the VP for `cost` more from the effect's time on.
  // REQUIRES: running().
  void Charge(sim::SimDuration cost) {
    VMBSIM_CHECK(running_);
    VMBSIM_CHECK_GE(cost.nanoseconds(), 0);
    local_now_ += Scaled(cost);
  }
  // As Charge, for time the VP spends waiting (spinning on a lock another VP
  // holds) rather than working: not scaled by the VP's speed.
  void Spin(sim::SimDuration duration);

  // The VP's clock: inside running work, the item's start plus the cost
  // charged so far; inside an effect, its time plus what it charged;
  // otherwise the simulator's clock.
  sim::SimTime LocalNow() const { return running_ ? local_now_ : sim_->Now(); }

  // The VP whose item or effect is executing on this thread, or null.
  // Code that acts on behalf of whoever is running (a send charged to the
  // sender) asks this.
  static VirtualProcessor* Current() { return current_; }
  // The VP whose code is acting in `fallback`'s partition: Current() when it
  // belongs to that partition, else `fallback` (no code of it is running).
  static VirtualProcessor& ActingIn(VirtualProcessor& fallback) {
    return current_ != nullptr && current_->partition_id_ == fallback.partition_id_ ? *current_ : fallback;
  }

  // The IRQL of the running item (PASSIVE when idle).
  Irql current_irql() const { return running_ ? running_level_ : Irql::kPassive; }
  // Inside an item or one of its deferred effects.
  bool running() const { return running_; }
  // Whether the VP has nothing running, queued, deferred or pending (halted).
  bool idle() const;
  size_t deferred_effect_count() const { return effects_.size(); }

  // Deschedules the VP for `duration` from now. REQUIRES: duration >= 0.
  void Stall(sim::SimDuration duration);

  sim::SimDuration busy_time() const { return busy_time_; }
  // The part of busy_time() spent at `level` (item costs, charges and the
  // late charges of the effects its items deferred); the three add up to it.
  sim::SimDuration level_time(Irql level) const { return level_time_[LevelIndex(level)]; }
  // Items that started while a lower-level item was in progress.
  uint64_t preemptions() const { return preemptions_; }
  sim::SimDuration stalled_time() const { return stalled_time_; }
  uint64_t items_run() const { return items_run_; }
  size_t queue_depth() const { return queued_; }
  size_t queue_depth_max() const { return queue_depth_max_; }

 private:
  // Constructors (not aggregates), so that a queue builds an item in its
  // slot, moving the callable once, with compilers that lack C++20's
  // parenthesised aggregate initialisation.
  struct Item {
    Item(sim::InlineFunction&& work_in, sim::SimDuration cost_in, const void* owner_in, sim::SimTime ready_in,
         Irql level_in)
        : work(std::move(work_in)), cost(cost_in), owner(owner_in), ready(ready_in), level(level_in) {}
    sim::InlineFunction work;
    sim::SimDuration cost;
    const void* owner = nullptr;
    sim::SimTime ready;  // When it was queued, on the queuing VP's clock.
    Irql level = Irql::kPassive;
  };
  struct Effect {
    Effect(sim::SimTime at_in, sim::InlineFunction&& work_in, const void* owner_in, Irql level_in)
        : at(at_in), work(std::move(work_in)), owner(owner_in), level(level_in) {}
    sim::SimTime at;
    sim::InlineFunction work;
    const void* owner = nullptr;
    Irql level = Irql::kPassive;  // Of the item that deferred it.
  };
  // An item started and not yet over (kPacket): the innermost last.
  struct Span {
    sim::SimTime end;
    Irql level;
  };

  // `cost` on this VP: cost / speed.
  sim::SimDuration Scaled(sim::SimDuration cost) const {
    return speed_ppm_ == kNominalSpeedPpm ? cost : ScaledBySpeed(cost);
  }
  sim::SimDuration ScaledBySpeed(sim::SimDuration cost) const;

  static constexpr size_t LevelIndex(Irql level) {
    return level == Irql::kPassive ? 0 : level == Irql::kDispatch ? 1 : 2;
  }
  // The queue an item of `level` waits in: kNone keeps interrupts in the
  // DISPATCH queue, in arrival order.
  sim::RingDeque<Item>& QueueFor(Irql level) {
    if (level == Irql::kInterrupt && preemption_ == Preemption::kNone) return queues_[1];
    return queues_[LevelIndex(level)];
  }
  // The queue the next item comes from (REQUIRES: queue_depth() > 0).
  // Inline: asked twice for most items (NextStartTime, StartNext).
  sim::RingDeque<Item>& NextQueue() {
    if (!queues_[2].empty()) return queues_[2];
    if (!queues_[1].empty()) return queues_[1];
    VMBSIM_CHECK(!queues_[0].empty());  // REQUIRES: queue_depth() > 0.
    return queues_[0];
  }
  // Drops the spans that are over by Now().
  void PopEndedSpans();
  // When the next queued item may start (REQUIRES: queue_depth() > 0).
  sim::SimTime NextStartTime();

  // Whether `id` (start_event_ or effects_event_) names a pending event.
  // Every path that runs or cancels one of them clears it first, so a valid
  // id is a pending one: the test is the id's, not the event queue's
  // (checked against the queue in builds without NDEBUG).
  bool Armed(sim::EventId id) const {
#ifndef NDEBUG
    VMBSIM_CHECK(!id.valid() || sim_->IsPending(id));
#endif
    return id.valid();
  }
  // Cancels `*id`'s event if it is armed, and clears the id.
  void Disarm(sim::EventId& id) {
    if (Armed(id)) sim_->Cancel(id);
    id = {};
  }
  // Makes sure a start event is pending if there is work and none is.
  void ArmStart();
  void StartNext();
  // Makes sure an event is pending for the earliest deferred effect.
  void ArmEffects();
  // Runs the deferred effects due by Now(), in order. Returns whether any
  // charged the VP (its busy span moved).
  bool RunDueEffects();
  // Occupies the VP for `extra` more from Now() (a charge made by an effect).
  void Extend(sim::SimDuration extra);
  // Moves every deferred effect `extra` later (the VP reaches them later).
  void DelayEffects(sim::SimDuration extra);

  sim::Simulator* const sim_;
  const uint16_t partition_id_;
  const uint32_t vp_index_;
  Preemption preemption_ = Preemption::kPacket;
  uint32_t speed_ppm_ = kNominalSpeedPpm;
  sim::RingDeque<Item> queues_[3];  // By LevelIndex.
  size_t queued_ = 0;                // Items in queues_ (one load instead of three).
  sim::SimTime busy_until_;     // When the VP is through with every item started.
  std::vector<Span> spans_;     // kPacket: items in progress, outermost first.
  sim::SimTime stalled_until_;
  sim::EventId start_event_;
  sim::RingDeque<Effect> effects_;  // Deferred effects, by time then order.
  // While a preempting item runs: the effects the VP had not reached.
  sim::RingDeque<Effect> preempted_effects_;
  sim::EventId effects_event_;
  bool running_ = false;
  Irql running_level_ = Irql::kPassive;
  sim::SimTime local_now_;
  sim::SimDuration busy_time_;
  sim::SimDuration level_time_[3];
  uint64_t preemptions_ = 0;
  sim::SimDuration stalled_time_;
  uint64_t items_run_ = 0;
  size_t queue_depth_max_ = 0;
  static thread_local VirtualProcessor* current_;
};

}  // namespace vmbsim::fabric

#endif  // VMBSIM_SIM_FABRIC_VIRTUAL_PROCESSOR_H_
