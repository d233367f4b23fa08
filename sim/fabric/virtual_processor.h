// virtual_processor.h
//
// A virtual processor executes timed work serially. Work is queued at one of
// two levels, DISPATCH (DPCs, interrupt-driven work) or PASSIVE (threads);
// whenever the VP is free it starts the oldest DISPATCH item, else the oldest
// PASSIVE item. An item occupies the VP for its modelled CPU cost plus
// whatever its callable charges while it runs (`Charge()`), so queueing delay
// and batching emerge from load. The item's own cost is the overhead of
// getting to the callable (an ISR hop, a DPC dispatch) and is charged before
// the callable runs. Effects the callable causes are timed at the VP's local
// clock (`LocalNow()`: start time plus the cost charged so far), so a
// callback that spends 2 us before sending sends 2 us later.
//
// Modelling choices (the spec is silent on VP scheduling):
//   * Work is not preempted: a DPC queued while a PASSIVE item runs starts
//     when that item ends. Items are short (one callback), so this bounds the
//     error by one item's cost.
//   * A stall (the VP descheduled by the hypervisor) delays the end of the
//     running item by the stall and starts nothing until it is over; queued
//     work waits. Stalls that overlap extend to the later end.
//   * Measured: busy time (sum of item costs), stalled time, items run, and
//     queue depth (current and maximum, both levels together).

#ifndef VMBSIM_SIM_FABRIC_VIRTUAL_PROCESSOR_H_
#define VMBSIM_SIM_FABRIC_VIRTUAL_PROCESSOR_H_

#include <cstdint>
#include <deque>

#include "sim/core/inline_function.h"
#include "sim/core/sim_time.h"
#include "sim/core/simulator.h"

namespace vmbsim::fabric {

enum class Irql : uint8_t { kPassive = 0, kDispatch = 2 };

class VirtualProcessor {
 public:
  // `*sim` must outlive this object.
  VirtualProcessor(sim::Simulator* sim, uint16_t partition_id, uint32_t vp_index);
  VirtualProcessor(const VirtualProcessor&) = delete;
  VirtualProcessor& operator=(const VirtualProcessor&) = delete;

  uint16_t partition_id() const { return partition_id_; }
  uint32_t vp_index() const { return vp_index_; }

  // Queues `work` to run at `level`, occupying the VP for `cost` (at least)
  // once it starts. May be called from inside running work. REQUIRES: cost >= 0.
  void Queue(Irql level, sim::SimDuration cost, sim::InlineFunction work);

  // From inside running work: adds `cost` to the running item.
  // REQUIRES: running().
  void Charge(sim::SimDuration cost);

  // The VP's clock: inside running work, the item's start plus the cost
  // charged so far; otherwise the simulator's clock.
  sim::SimTime LocalNow() const;

  // The IRQL of the running item (PASSIVE when idle).
  Irql current_irql() const { return running_ ? running_level_ : Irql::kPassive; }
  bool running() const { return running_; }
  // Whether the VP has nothing running, queued or pending (halted).
  bool idle() const;

  // Deschedules the VP for `duration` from now. REQUIRES: duration >= 0.
  void Stall(sim::SimDuration duration);

  sim::SimDuration busy_time() const { return busy_time_; }
  sim::SimDuration stalled_time() const { return stalled_time_; }
  uint64_t items_run() const { return items_run_; }
  size_t queue_depth() const { return dispatch_.size() + passive_.size(); }
  size_t queue_depth_max() const { return queue_depth_max_; }

 private:
  struct Item {
    sim::InlineFunction work;
    sim::SimDuration cost;
  };

  // Makes sure a start event is pending if there is work and none is.
  void ArmStart();
  void StartNext();

  sim::Simulator* const sim_;
  const uint16_t partition_id_;
  const uint32_t vp_index_;
  std::deque<Item> dispatch_;
  std::deque<Item> passive_;
  sim::SimTime busy_until_;     // End of the last item started.
  sim::SimTime stalled_until_;
  sim::EventId start_event_;
  bool running_ = false;
  Irql running_level_ = Irql::kPassive;
  sim::SimTime local_now_;
  sim::SimDuration busy_time_;
  sim::SimDuration stalled_time_;
  uint64_t items_run_ = 0;
  size_t queue_depth_max_ = 0;
};

}  // namespace vmbsim::fabric

#endif  // VMBSIM_SIM_FABRIC_VIRTUAL_PROCESSOR_H_
