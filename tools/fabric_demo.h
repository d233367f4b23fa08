// fabric_demo.h
//
// A built-in run of the VMBus fabric through its real control plane: one
// guest connects, the host offers `channel_count` channels, the guest
// creates each ring GPADL and opens the channel, then streams 64-byte
// requests at a fixed interval on every channel while the host echoes a
// completion for each. It reports per-channel and per-VP figures (round-trip
// latency, doorbells, suppressed signals, monitor-page coalescing,
// interrupts, batch sizes, VP utilisation) and the trace fingerprint. This
// is what `vmbsim fabric` runs until the scenario loader exists.

#ifndef VMBSIM_TOOLS_FABRIC_DEMO_H_
#define VMBSIM_TOOLS_FABRIC_DEMO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sim/core/histogram.h"
#include "sim/core/sim_time.h"

namespace vmbsim::tools {

struct FabricDemoOptions {
  uint64_t seed = 1;
  uint32_t channel_count = 4;
  uint64_t packets_per_channel = 2000;
  sim::SimDuration send_interval = sim::SimDuration::Microseconds(20);
  // Monitor latency of every channel in 100 ns units; 0: not monitored
  // (direct HvSignalEvent doorbells).
  uint16_t monitor_latency_100ns = 1000;
  bool zero_costs = false;
  uint32_t guest_vp_count = 2;
  uint32_t host_vp_count = 2;
};

struct ChannelReport {
  uint32_t relid = 0;
  uint64_t packets_sent = 0;
  uint64_t completions = 0;
  uint64_t guest_doorbells_sent = 0;
  uint64_t guest_signals_suppressed = 0;
  uint64_t host_doorbells_received = 0;
  uint64_t host_batches = 0;
  int64_t host_batch_p50 = 0;
  int64_t host_batch_max = 0;
  sim::Histogram round_trip_ns;
};

struct FabricDemoReport {
  std::vector<ChannelReport> channels;
  uint64_t events = 0;
  sim::SimTime end_time;
  uint64_t monitor_sets = 0;
  uint64_t monitor_coalesced = 0;
  uint64_t monitor_fires = 0;
  uint64_t host_interrupts = 0;
  uint64_t guest_interrupts = 0;
  uint64_t control_violations = 0;
  std::vector<double> host_vp_busy_percent;
  std::vector<double> guest_vp_busy_percent;
  uint64_t fingerprint = 0;
};

// Runs the demo. Errors (a channel that failed to open) are Internal: the
// configuration is the program's own.
absl::StatusOr<FabricDemoReport> RunFabricDemo(const FabricDemoOptions& options);

}  // namespace vmbsim::tools

#endif  // VMBSIM_TOOLS_FABRIC_DEMO_H_
