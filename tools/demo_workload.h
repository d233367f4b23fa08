// demo_workload.h
//
// A synthetic, seeded workload on the event kernel alone: requests arrive in
// bursts (Poisson burst arrivals, several requests at the same instant), each
// picks one of several servers at random, waits in that server's FIFO queue
// and is served for a log-normal time. It exercises what every model above
// uses — scheduling, same-time ordering, PRNG streams, the trace fingerprint
// and histograms — and is what `vmbsim demo` runs and what the cross-process
// determinism test compares. It is a kernel demonstration, not a VMBus model.

#ifndef VMBSIM_TOOLS_DEMO_WORKLOAD_H_
#define VMBSIM_TOOLS_DEMO_WORKLOAD_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "sim/core/histogram.h"
#include "sim/core/sim_time.h"

namespace vmbsim::tools {

struct DemoOptions {
  uint64_t seed = 1;
  std::optional<uint64_t> tie_break_seed;
  uint32_t server_count = 4;
  uint64_t request_count = 100000;
  uint32_t burst_size = 4;  // Requests arriving at the same instant.
  sim::SimDuration burst_interval_mean = sim::SimDuration::Nanoseconds(4000);
  sim::SimDuration service_median = sim::SimDuration::Nanoseconds(2500);
  double service_sigma = 0.5;
};

struct DemoResult {
  uint64_t events = 0;
  uint64_t requests_completed = 0;
  sim::SimTime end_time;
  sim::Histogram latency_ns;
  std::vector<sim::SimDuration> server_busy;
  uint64_t fingerprint = 0;
};

// Runs the workload to completion. REQUIRES: server_count >= 1,
// burst_size >= 1 (the command line validates them).
DemoResult RunDemo(const DemoOptions& options);

}  // namespace vmbsim::tools

#endif  // VMBSIM_TOOLS_DEMO_WORKLOAD_H_
