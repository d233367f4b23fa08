#include "sim/core/simulator.h"

#include <algorithm>
#include <cstdint>

#include "absl/base/optimization.h"

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
  attention_ = after_event_ != nullptr;
  ScopedCheckContext check_scope(&check_context_);
  // Locals, so that the loop does not reload them after each event.
  const SimTime end_time = limits.end_time;
  const uint64_t budget_end = events_executed_ + std::min(limits.events_max, UINT64_MAX - events_executed_);
  RunResult result = RunResult::kQueueEmpty;
  for (;;) {
    if (events_executed_ >= budget_end) {
      result = RunResult::kEventBudgetExhausted;
      break;
    }
    // Sets the clock to the event's time, then runs it.
    const EventQueue::PopResult pop = queue_.RunNext(end_time, &now_ns_);
    if (pop == EventQueue::PopResult::kEmpty) {
      result = RunResult::kQueueEmpty;
      break;
    }
    if (pop == EventQueue::PopResult::kBeyondLimit) {
      if (end_time.nanoseconds() > now_ns_) now_ns_ = end_time.nanoseconds();
      result = RunResult::kEndTimeReached;
      break;
    }
    ++events_executed_;
    if (ABSL_PREDICT_FALSE(attention_)) {
      if (after_event_) after_event_();
      if (stop_requested_) {
        result = RunResult::kStopRequested;
        break;
      }
    }
  }
  running_ = false;
  return result;
}

}  // namespace vmbsim::sim
