// simulator.h
//
// One simulation: a virtual clock, the pending events, the seed and the PRNG
// streams forked from it, and the trace. `Run()` pops events in
// (time, key) order, advances the clock to each event's time and runs it,
// until a limit is reached. Several simulators can live in one process (no
// globals); each is single-threaded.
//
// Time only moves forward: scheduling before `Now()` is a simulator bug
// (VMBSIM_CHECK). Events at `Now()` are allowed and run after the current
// one (see event_queue.h for the order of same-time events, FIFO by default
// or a seeded permutation with `tie_break_seed`).
//
// While `Run()` executes, the simulator installs its seed and clock as this
// thread's check context, so a failed VMBSIM_CHECK anywhere in the model
// prints the seed and time needed to replay it.

#ifndef VMBSIM_SIM_CORE_SIMULATOR_H_
#define VMBSIM_SIM_CORE_SIMULATOR_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

#include "sim/check.h"
#include "sim/core/event_queue.h"
#include "sim/core/prng.h"
#include "sim/core/sim_time.h"
#include "sim/core/trace.h"

namespace vmbsim::sim {

// Why Run() returned.
enum class RunResult {
  kQueueEmpty,             // No event is pending (quiescence).
  kEndTimeReached,         // The next event is due after `end_time`.
  kEventBudgetExhausted,   // `events_max` events ran in this call.
  kStopRequested,          // An event called RequestStop().
};

const char* RunResultName(RunResult result);

struct RunLimits {
  // Events due at or before this time run; the clock then rests at
  // `end_time` if later events remain.
  SimTime end_time = SimTime::Max();
  // At most this many events run in one call.
  uint64_t events_max = std::numeric_limits<uint64_t>::max();
};

struct SimulatorOptions {
  uint64_t seed = 0;
  // When set, same-time events run in an order that is a pure function of
  // this seed (schedule exploration) instead of insertion order.
  std::optional<uint64_t> tie_break_seed;
};

class Simulator {
 public:
  explicit Simulator(const SimulatorOptions& options);
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  SimTime Now() const { return SimTime::FromNanoseconds(now_ns_); }
  uint64_t seed() const { return seed_; }

  // Schedules `fn` (no arguments, at most 24 bytes of captures) at `when`.
  // REQUIRES: when >= Now().
  template <typename F>
  ABSL_ATTRIBUTE_ALWAYS_INLINE EventId ScheduleAt(SimTime when, F&& fn) {
    VMBSIM_CHECK_MSG(when.nanoseconds() >= now_ns_,
                     absl::StrCat("scheduling into the past: ", when.ToString(),
                                  " < now ", Now().ToString()));
    return queue_.Push(when, std::forward<F>(fn));
  }

  // Schedules `fn` at Now() + delay. REQUIRES: delay >= 0.
  template <typename F>
  ABSL_ATTRIBUTE_ALWAYS_INLINE EventId ScheduleAfter(SimDuration delay, F&& fn) {
    VMBSIM_CHECK_GE(delay.nanoseconds(), 0);
    // Now() + delay >= Now(): what ScheduleAt() would check holds.
    return queue_.Push(Now() + delay, std::forward<F>(fn));
  }

  // Cancels a pending event. Returns false if it already ran or was cancelled.
  bool Cancel(EventId id) { return queue_.Cancel(id); }
  bool IsPending(EventId id) const { return queue_.IsPending(id); }

  // Runs events until a limit is reached; see RunResult. May be called again
  // to continue. REQUIRES: not called from inside an event.
  RunResult Run(const RunLimits& limits);

  // Makes the current Run() return kStopRequested after the running event.
  void RequestStop() { stop_requested_ = attention_ = true; }

  // A PRNG stream for the component `name`, forked from the seed: the same
  // name always gives the same stream, whatever else the run draws.
  Prng ForkPrng(std::string_view name) const { return root_prng_.Fork(name); }

  Tracer& tracer() { return tracer_; }
  const Tracer& tracer() const { return tracer_; }

  // Called after every event (tests install invariant checkers here).
  void SetAfterEventHook(std::function<void()> hook) {
    after_event_ = std::move(hook);
    attention_ = after_event_ != nullptr || stop_requested_;
  }

  uint64_t events_executed() const { return events_executed_; }
  size_t pending_count() const { return queue_.pending_count(); }
  bool running() const { return running_; }
  std::optional<SimTime> NextEventTime() { return queue_.PeekTime(); }

 private:
  const uint64_t seed_;
  int64_t now_ns_ = 0;
  CheckContext check_context_;
  Prng root_prng_;
  EventQueue queue_;
  Tracer tracer_;
  std::function<void()> after_event_;
  uint64_t events_executed_ = 0;
  bool stop_requested_ = false;
  // after_event_ is set or a stop was requested: the run loop tests this
  // one flag after each event.
  bool attention_ = false;
  bool running_ = false;
};

}  // namespace vmbsim::sim

#endif  // VMBSIM_SIM_CORE_SIMULATOR_H_
