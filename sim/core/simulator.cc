#include "sim/core/simulator.h"

namespace vmbsim::sim {

const char* RunResultName(RunResult result) {
  switch (result) {
    case RunResult::kQueueEmpty:
      return "queue_empty";
    case RunResult::kEndTimeReached:
      return "end_time_reached";
    case RunResult::kEventBudgetExhausted:
      return "event_budget_exhausted";
    case RunResult::kStopRequested:
      return "stop_requested";
  }
  return "unknown";
}

Simulator::Simulator(const SimulatorOptions& options)
    : seed_(options.seed),
      check_context_{options.seed, &now_ns_},
      root_prng_(Prng::FromSeed(options.seed)) {
  if (options.tie_break_seed.has_value()) {
    queue_.EnableTieBreak(Prng::FromSeed(*options.tie_break_seed).Fork("sim.tie_break"));
  }
}

RunResult Simulator::Run(const RunLimits& limits) {
  VMBSIM_CHECK(!running_);  // Run() is not re-entrant.
  running_ = true;
  stop_requested_ = false;
  ScopedCheckContext check_scope(&check_context_);
  RunResult result = RunResult::kQueueEmpty;
  uint64_t events_this_run = 0;
  for (;;) {
    if (events_this_run >= limits.events_max) {
      result = RunResult::kEventBudgetExhausted;
      break;
    }
    // Sets the clock to the event's time, then runs it.
    const EventQueue::PopResult pop = queue_.RunNext(limits.end_time, &now_ns_);
    if (pop == EventQueue::PopResult::kEmpty) {
      result = RunResult::kQueueEmpty;
      break;
    }
    if (pop == EventQueue::PopResult::kBeyondLimit) {
      if (limits.end_time.nanoseconds() > now_ns_) now_ns_ = limits.end_time.nanoseconds();
      result = RunResult::kEndTimeReached;
      break;
    }
    ++events_this_run;
    ++events_executed_;
    if (after_event_) after_event_();
    if (stop_requested_) {
      result = RunResult::kStopRequested;
      break;
    }
  }
  running_ = false;
  return result;
}

}  // namespace vmbsim::sim
