// runner.h
//
// Builds the world a ScenarioSpec describes (simulator, fabric, KMCL
// runtime, the drivers on both ends of every channel, the workloads), runs
// it to its stop condition, and measures it: per-channel traffic and
// latency (the KMCL runtime's transaction metrics, kmcl::ChannelTransactions),
// data-path counters (signals, doorbells, batches, ring occupancy), per-VP
// utilisation and interrupts, monitor-page coalescing, verifier findings, the
// trace fingerprint, and the expectations' verdicts. The measuring is done
// by the layers that own the data, not by a trace sink, so a run's only
// trace cost is the fingerprint (and any sinks the caller adds).
//
// This is the simulator as a library: a test of a team's own driver builds
// a registry with its driver, loads or writes a spec, calls RunScenario and
// asserts on the report (README, "Your own driver").
//
// Workloads. A closed-loop workload configures the guest driver (it keeps
// `outstanding` requests in flight until `requests` have been sent). The
// open-loop kinds are driven by the runner: each arrival calls the guest
// driver's Submit(bytes) as a DPC on the channel's guest VP (or, with
// send_vps, on those VPs in turn), at times drawn
// from the scenario's PRNG ("workload.<index>" streams): fixed_rate every
// interval, poisson with exponential gaps of mean interval, bursts of
// `burst` arrivals every interval, on_off fixed rate during on_ns then
// silence for off_ns. Sizes: fixed, uniform in [min, max] (8-byte steps are
// not enforced), or an empirical weighted table, drawn from a stream of their
// own ("workload.<index>.size"), so that a workload's arrival times depend
// only on the seed and its arrival parameters: at every point of a sweep the
// same seed gives the same arrivals (common random numbers). Requests go out at the
// size drawn, never cut or padded: the guest driver's request size
// (DriverContext::request_bytes_max) is the closed loop's fixed size or the
// largest open-loop request, and a workload the channel cannot carry is
// refused before anything is built (CheckWorkloadRequests, loader.h). An
// arrival the driver does not send (Submit returns false: no submissions,
// driver gone, send failed) counts in arrivals_refused and as lost for
// "no_lost_packets".

#ifndef VMBSIM_TOOLS_SCENARIO_RUNNER_H_
#define VMBSIM_TOOLS_SCENARIO_RUNNER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kmcl/runtime.h"
#include "kmcl/verifier.h"
#include "sim/core/simulator.h"
#include "sim/core/trace.h"
#include "tools/faults/ledger.h"
#include "tools/scenario/backend.h"
#include "tools/scenario/drivers.h"
#include "tools/scenario/spec.h"

namespace vmbsim::scenario {

// What a run looks like between two slices of `RunOptions::progress_events`
// events, for checks during a run (`vmbsim soak`). The ledger figures are
// there when the run keeps one (faults, a liveness limit, or the
// exactly_once expectation).
struct RunCheckpoint {
  int64_t simulated_ns = 0;
  uint64_t events = 0;
  bool ledger = false;
  uint64_t sends = 0;
  uint64_t completed = 0;
  uint64_t failed = 0;
  uint64_t finished_twice = 0;  // Must stay 0.
  // Sends open longer than RunOptions::checkpoint_stale_ns that no fault
  // accounts for: work a correct fabric and driver would have finished.
  uint64_t stale_open = 0;
  uint64_t causality_violations = 0;  // Must stay 0.
  uint64_t fault_firings = 0;
};

struct RunOptions {
  std::optional<uint64_t> seed;            // Overrides the scenario's.
  std::optional<uint64_t> tie_break_seed;  // Overrides exploration.tie_break_seed.
  // Extra trace sinks (a timeline writer); they must outlive the run.
  std::vector<sim::TraceSink*> sinks;
  // Called about every `progress_events` events with (simulated ns, events).
  std::function<void(int64_t, uint64_t)> progress;
  uint64_t progress_events = 1 << 20;
  // Called with `progress`, at the same points, with the checks' figures.
  std::function<void(const RunCheckpoint&)> checkpoint;
  int64_t checkpoint_stale_ns = 1000 * 1000 * 1000;
  // The latency percentiles of the report, each in (0, 100]
  // (`--percentiles`); ParsePercentiles checks a user's list.
  std::vector<double> percentiles = {50, 90, 99, 99.9};
};

// Parses a `--percentiles` list ("50,90,99,99.9,99.99"): 1 to 16 numbers in
// (0, 100], no two of which print as the same report key (PercentileKey).
// InvalidArgumentError naming the bad entry otherwise.
absl::StatusOr<std::vector<double>> ParsePercentiles(const std::string& text);

// The report key of a percentile: "p" and its digits without the point
// ("p50", "p99", "p999" for 99.9, "p9999" for 99.99).
std::string PercentileKey(double percentile);

struct ExpectationResult {
  std::string name;    // "no_lost_packets", "latency[0]", "findings[1]", ...
  bool passed = false;
  std::string detail;  // What was measured against what was expected.
};

struct ChannelReport {
  std::string name;
  uint16_t guest = 0;
  std::string interrupt;  // "dedicated" or "shared" (ChannelSpec::interrupt).
  // ChannelSpec::retarget: the moves the host acknowledged, and each one the
  // protocol refused, with why.
  uint64_t retargets = 0;
  std::vector<std::string> retargets_refused;
  std::vector<uint32_t> relids;  // The primary first, then its sub-channels.
  kmcl::ChannelTransactions metrics;  // Summed over the relids.
  kmcl::EndpointTotals totals;   // Data-path counters, summed over the relids.
  uint64_t arrivals = 0;          // Open-loop arrivals the runner generated.
  uint64_t arrivals_refused = 0;  // ... that the guest driver did not take.
  int64_t requests_issued = -1;  // From the guest driver, when it issues requests.
  int64_t requests_ended = -1;
  std::map<std::string, int64_t> host_driver;
  std::map<std::string, int64_t> guest_driver;
};

struct VpReport {
  uint16_t partition = 0;
  uint32_t vp = 0;
  int64_t busy_ns = 0;
  // busy_ns by level (fabric::VirtualProcessor::level_time): they add up to it.
  int64_t isr_ns = 0;
  int64_t dpc_ns = 0;
  int64_t passive_ns = 0;
  uint64_t preemptions = 0;  // Items that preempted a lower level.
  double speed = 1;          // fabric.*vp_speed: costs here take cost / speed.
  double utilisation = 0;  // busy / measured time (RunReport::measured_ns).
  uint64_t interrupts = 0;
  uint64_t work_items = 0;
};

// A shared back-end over the measured window (backend.h).
struct BackendReport {
  std::string name;
  BackendFigures figures;
};

// The host's shared guest->host connections (fabric.h), over all guests:
// interrupts taken on them and the channel doorbells those rang (each shared
// channel of the guest, whether it had data or not).
struct SharedSignalReport {
  uint64_t interrupts = 0;
  uint64_t doorbells = 0;
};

struct MonitorReport {
  uint16_t guest = 0;
  std::string mode;  // The scan model (monitor_page.h): the real one is not public.
  uint64_t sets = 0;
  uint64_t coalesced = 0;
  uint64_t fires = 0;
};

// One injection of the scenario's "faults" section and how often it fired.
struct FaultReport {
  size_t index = 0;
  std::string kind;
  std::string target;   // "all", "channel c0", "partition 1", "class <guid>".
  std::string trigger;  // "at_ns 1000", "after kmcl_send x10", "probability 1/50", "while ring_nonempty".
  uint64_t firings = 0;
};

// One endpoint of a channel when a run was found stuck (liveness), with the
// KMCL channel on that side.
struct EndpointState {
  std::string channel;  // The scenario's channel name ("" when unknown).
  uint16_t guest = 0;
  uint32_t relid = 0;
  std::string side;     // "host" | "guest".
  // The ring this endpoint writes and the one it reads, as the control
  // pages say: write index, read index, the reader's interrupt mask and the
  // writer's pending_send_sz.
  uint32_t out_write_index = 0, out_read_index = 0, out_pending_send_sz = 0;
  uint32_t in_write_index = 0, in_read_index = 0, in_interrupt_mask = 0;
  bool writer_blocked = false;
  bool draining = false;
  bool stalled = false;  // Held by the layer above (quota).
  std::string failed;    // Why the endpoint failed on peer data; empty if not.
  uint64_t held_by_faults = 0;  // Packets a fault keeps back.
  // KMCL: the driver's channel state, its queued sends, its transactions in
  // flight and the peer's packets it holds.
  std::string driver_state;
  uint64_t queued_sends = 0;
  uint64_t open_transactions = 0;
  uint64_t packets_held = 0;
};

struct RunReport {
  std::string scenario;
  uint64_t seed = 0;
  std::optional<uint64_t> tie_break_seed;
  sim::RunResult stop_reason = sim::RunResult::kQueueEmpty;
  int64_t simulated_ns = 0;
  // stop.warmup_ns (0: none), and the measured window after it: the time the
  // figures cover (simulated_ns - warmup_ns, at least 0).
  int64_t warmup_ns = 0;
  int64_t measured_ns = 0;
  // The latency percentiles the report prints (RunOptions::percentiles).
  std::vector<double> percentiles;
  uint64_t events = 0;
  uint64_t fingerprint = 0;
  uint64_t trace_records = 0;
  double wall_seconds = 0;
  std::vector<ChannelReport> channels;
  std::vector<VpReport> vps;
  std::vector<MonitorReport> monitors;
  SharedSignalReport shared_signals;
  std::vector<BackendReport> backends;  // In "backends" order.
  std::vector<kmcl::Finding> findings;
  uint64_t findings_total = 0;
  uint64_t peer_violations = 0;
  kmcl::RuntimeCounters kmcl;
  // Packets seen before their cause (kmcl::CausalityViolation, formatted,
  // the first 16): a simulator bug; the run's exit code is 70.
  std::vector<std::string> causality_violations;
  uint64_t causality_violations_total = 0;
  std::vector<ExpectationResult> expectations;
  bool expectations_met = true;
  // Sends that never finished, arrivals the driver refused, requests never
  // answered: what "no_lost_packets" counts.
  uint64_t lost_packets = 0;
  // Verifier findings not listed in expectations.findings.
  uint64_t unexpected_findings = 0;
  // Fault injection: each injection's firings; the exactly-once ledger
  // (checked whenever the scenario injects faults or asks for liveness).
  std::vector<FaultReport> faults;
  uint64_t fault_firings = 0;
  bool ledger_checked = false;
  faults::LedgerSummary ledger;
  // Liveness (faults.stuck_ns): the run made no progress for stuck_ns while
  // sends no fault accounts for were outstanding, and was stopped.
  bool stuck = false;
  int64_t stuck_idle_ns = 0;     // Time since the last progress when stopped.
  bool stuck_queue_empty = false;  // Stopped because nothing was left to run at all.
  uint64_t stuck_open_sends = 0;  // Outstanding sends no fault accounts for.
  std::vector<EndpointState> stuck_state;
};

// Exit codes of `vmbsim run` (documented in the README).
inline constexpr int kExitOk = 0;
inline constexpr int kExitExpectationFailed = 1;
inline constexpr int kExitInvalidInput = 2;
inline constexpr int kExitVerifierFinding = 3;
inline constexpr int kExitStuck = 4;  // Liveness: no progress with work outstanding.
inline constexpr int kExitInternalError = 70;
int ExitCodeFor(const RunReport& report);

// Runs `spec`. Errors: InvalidArgument for a spec the world cannot be built
// from: more than one guest (the fabric runs one guest partition for now),
// workloads that CheckWorkloadRequests refuses, a GUID that does not
// parse, a driver missing from `drivers`, or a
// driver whose factory fails at time zero (a built-in's or a library's
// Create returned an error). The last is known only once the simulation has
// started; the run then goes on without that driver, is torn down, and the
// error names the channel's JSON pointer, the driver and its status:
//   /channels/0/host_driver: driver "my_vsp" on channel "c0" failed to start:
//   Create returned STATUS_INSUFFICIENT_RESOURCES (...)
// (`vmbsim run` exits 2 for it: an error of the driver library or the
// scenario, not of the simulator.)
absl::StatusOr<RunReport> RunScenario(const ScenarioSpec& spec, const DriverRegistry& drivers,
                                      const RunOptions& options = {});

// The cost model a run of `spec` uses, field by field, by the names of
// "fabric.cost_overrides" (what a recording's header keeps). Errors as
// RunScenario's for a cost override the model cannot take.
absl::StatusOr<std::map<std::string, int64_t>> CostValues(const FabricSpec& spec);

}  // namespace vmbsim::scenario

#endif  // VMBSIM_TOOLS_SCENARIO_RUNNER_H_
