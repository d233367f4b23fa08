// spec.h
//
// A scenario as a validated value: what `vmbsim run` builds and runs. The
// loader (loader.h) is the only code that turns JSON into a ScenarioSpec;
// everything downstream (world builder, runner, reports) reads this struct
// and never sees JSON. Every field has a default, so a minimal scenario is
// short; units are in the names, as in the JSON keys (`_ns`, `_us`,
// `_100ns`, `_bytes`). scenarios/scenario.schema.json describes the same
// format for editors, and a test keeps the two in agreement.

#ifndef VMBSIM_TOOLS_SCENARIO_SPEC_H_
#define VMBSIM_TOOLS_SCENARIO_SPEC_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vmbsim::scenario {

// Sub-channels a channel may ask for besides its primary. This is the one
// limit of the format: the loader enforces it, the schema states it
// (schema_test checks), and drivers.cc asserts at compile time that the
// built-in drivers are sized for it (ECHO_VSP_MAX_CHANNELS and
// STREAMING_VSC_MAX_CHANNELS count the primary too).
//
// 127 is vmbsim's choice, not a Hyper-V limit it knows of: enough for one
// channel per VP of a 96-VP or 128-VP guest (the scaling_96vp scenario).
// Linux's netvsc stops at 64 channels per device (VRSS_CHANNEL_MAX).
inline constexpr uint32_t kSubChannelsMax = 127;

// The largest monitor latency an offer carries, in its unit of 100 ns
// (fabric::OfferParams::interrupt_latency_100ns and the monitor page's
// latency per id are 16 bits): 6.5535 ms. Both interrupt_latency_100ns and a
// monitor_latency_default_ns cost override must fit it.
inline constexpr uint32_t kInterruptLatency100nsMax = 65535;

// "stop": when the run ends. Whichever comes first; with none set the run
// ends at quiescence (nothing left to do) or after 60 s of simulated time.
struct StopSpec {
  std::optional<int64_t> time_ns;      // Simulated time limit.
  std::optional<uint64_t> events_max;  // Event budget.
  bool quiescence = true;              // End when the event queue is empty.
  // The warm-up: the report's figures leave out transactions sent before it
  // and what the data paths and VPs did before it. Less than time_ns.
  std::optional<int64_t> warmup_ns;
};

// A VP's speed relative to the cost model's nominal processor: every cost
// charged on a VP of speed s takes cost / s (heterogeneous cores, an SMT
// sibling that shares its core). JSON "vp_speed": one number for every VP of
// the partition, or an array with one per VP.
inline constexpr double kVpSpeedMin = 0.01;
inline constexpr double kVpSpeedMax = 100.0;

struct GuestSpec {
  uint32_t vps = 2;
  uint64_t memory_mib = 4096;
  // One speed per VP (vps entries), or empty: every VP at 1.
  std::vector<double> vp_speed;
  // A host->guest doorbell that arrives before the guest driver's channel
  // runs: "hold" (KMCL, Windows: the packets wait in the ring and are taken
  // once it starts) or "drop" (Linux: vmbus_chan_sched skips a channel with
  // no callback; nothing replays the interrupt).
  std::string early_signal = "hold";
};

// "fabric".
struct FabricSpec {
  uint32_t root_vps = 2;
  // One speed per root VP (root_vps entries), or empty: every VP at 1.
  std::vector<double> root_vp_speed;
  std::vector<GuestSpec> guests = {GuestSpec{}};
  std::string cost_profile = "default";  // "default" | "zero".
  // Cost-model fields by their JSON names ("hypercall_signal_event_ns", ...).
  std::map<std::string, int64_t> cost_overrides;
  std::string monitor_mode = "timer_per_id";  // "timer_per_id" | "periodic_poll".
  // "packet": interrupts preempt DPCs and DPCs preempt PASSIVE work; "none":
  // every work item runs to its end (fabric::Preemption).
  std::string preemption = "packet";
};

// A distribution of integer quantities: request sizes (bytes), arrival gaps
// and service times (ns). One shape for all three, so that a size, a gap
// and a service time are written and sampled the same way
// (tools/scenario/distribution.h samples it). In JSON every key carries the
// quantity's unit, as everywhere else in the format: a size is
// {"kind": "uniform", "min_bytes": 64, "max_bytes": 512}, a service time
// {"kind": "exponential", "mean_ns": 10000}; `unit` below is "bytes" or
// "ns".
//   "fixed":       always `value` (key "<unit>").
//   "uniform":     uniform over min..max, both inclusive
//                  ("min_<unit>", "max_<unit>").
//   "exponential": mean `mean` ("mean_<unit>").
//   "lognormal":   median `median` ("median_<unit>") and `sigma`, the
//                  standard deviation of the logarithm ("sigma").
//   "empirical":   one of the `table` values ("table": [{"<unit>": v,
//                  "weight": w}, ...]), chosen with probability weight /
//                  total weight.
// Truncation (exponential and lognormal): `min` and `max`, when set, clamp a
// draw into [min, max]; a draw outside becomes the bound. Clamping, not
// redrawing, keeps exactly one draw per sample, so a sweep over the bounds
// keeps every other draw of the stream where it was (common random
// numbers); the price is a point mass at each bound.
struct DistributionSpec {
  struct Row {
    int64_t value = 0;
    uint64_t weight = 1;
  };
  std::string kind = "fixed";
  int64_t value = 0;              // fixed.
  std::optional<int64_t> min;     // uniform: the range (unset is 0); exponential, lognormal: clamp.
  std::optional<int64_t> max;
  int64_t mean = 0;               // exponential.
  int64_t median = 0;             // lognormal.
  double sigma = 0;               // lognormal.
  std::vector<Row> table;         // empirical.
};

// The largest value `d` can draw, or nullopt when it is unbounded (an
// exponential or log-normal without `max`).
inline std::optional<int64_t> DistributionMax(const DistributionSpec& d) {
  if (d.kind == "fixed") return d.value;
  if (d.kind == "uniform") return d.max.value_or(0);
  if (d.kind == "empirical") {
    int64_t largest = 0;
    for (const DistributionSpec::Row& row : d.table) largest = std::max(largest, row.value);
    return largest;
  }
  return d.max;
}

// A driver on one end of a channel: a registered name and its parameters
// (driver-defined; kept as flat name -> number/string/bool pairs, and
// name -> distribution for the ones that take a distribution).
struct DriverSpec {
  std::string name;  // "echo_vsp", "rr_vsc", "streaming_vsc", "sync_client", or a --driver-lib name.
  std::map<std::string, std::string> string_params;
  std::map<std::string, int64_t> int_params;
  std::map<std::string, bool> bool_params;
  // Parameters whose value is a distribution (a JSON object of the
  // DistributionSpec shape, in ns): service times.
  std::map<std::string, DistributionSpec> distribution_params;
};

// "channels[].host_writer_policy" / "guest_writer_policy": what that
// endpoint publishes in pending_send_sz when its ring is full
// (fabric::WriterPolicy). Written "windows", "openvmm", "none" or "fixed:N".
struct WriterPolicySpec {
  std::string kind = "windows";  // KMCL's default.
  uint32_t fixed_bytes = 0;      // "fixed:N": N, 1..the ring's data size - 8.
};

// "channels[].host_reader" / "guest_reader": how that endpoint reads its
// ring (fabric::ReaderDiscipline).
struct ReaderSpec {
  // "dpc_drain" (the default), "napi", "batched" or "polled".
  std::string kind = "dpc_drain";
  // dpc_drain, batched: a batch ends once its DPC has run this long and the
  // drain goes on in a new DPC. Unset: no time budget.
  std::optional<int64_t> dpc_budget_ns;
  // napi: packets per poll (Linux's NAPI weight, 64).
  uint32_t budget_packets = 64;
  // polled: the poll period; required for that kind.
  std::optional<int64_t> poll_period_ns;
};

// "channels[]".
struct ChannelSpec {
  std::string name;                 // Unique; workloads and expectations refer to it.
  std::string interface_type;       // GUID text "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".
  std::string interface_instance;   // GUID text.
  uint16_t guest = 1;               // The guest partition that opens it (1-based).
  DriverSpec host_driver;           // Serves the offer on the root partition.
  DriverSpec guest_driver;          // Opens it in the guest.
  // Data pages of each ring (VmbClientChannelInitSetRingBufferPageCount);
  // each ring also has its 4 KiB control page.
  uint32_t incoming_ring_pages = 16;  // Host -> guest ring.
  uint32_t outgoing_ring_pages = 16;  // Guest -> host ring.
  uint32_t max_packet_bytes = 4096;
  bool monitored = true;
  // The server's choice for the guest->host signal (fabric.h): "dedicated"
  // (the channel's own connection and monitor id) or "shared" (one
  // connection and monitor id for all shared channels of the guest; the host
  // polls them all when it fires).
  std::string interrupt = "dedicated";
  // The offer's monitor latency, taken literally: 0 is no added latency.
  // Unset (absent or null in JSON): the cost model's
  // monitor_latency_default, which the runner writes into the offer.
  std::optional<uint16_t> interrupt_latency_100ns;
  std::optional<uint32_t> guest_target_vp;          // Unset: relid % guest VPs.
  // MODIFYCHANNEL from the guest: at each time the guest's VMBus driver
  // moves the channel's host->guest interrupts, and with them the guest
  // end's drain and its KMCL callbacks, to another guest VP (what Linux does
  // when a channel's target_cpu is written). Times do not decrease.
  struct Retarget {
    int64_t at_ns = 0;
    uint32_t vp = 0;
  };
  std::vector<Retarget> retarget;
  // The root VP that runs the host end of the channel and of its
  // sub-channels (interrupt, DPC and PASSIVE work). Unset: relid % root VPs.
  std::optional<uint32_t> host_target_vp;
  bool host_passive_processing = false;
  bool guest_passive_processing = false;
  std::optional<uint32_t> host_transaction_quota;
  std::optional<uint32_t> guest_transaction_quota;
  uint32_t sub_channels = 0;  // 0..kSubChannelsMax.
  // Deliberately buggy endpoint: "none" | "host" | "guest". That side's drain
  // loop does not re-check the ring after unmasking its interrupt (the
  // lost-wake-up race).
  std::string lost_wakeup_bug = "none";
  // Deliberately buggy endpoint: "none" | "host" | "guest". That side's
  // reader ignores pending_send_sz: it never signals the other side's
  // blocked writer when a read frees the room it waits for.
  std::string pending_send_bug = "none";
  // Each endpoint's blocked-writer policy and reader discipline.
  WriterPolicySpec host_writer_policy;
  WriterPolicySpec guest_writer_policy;
  ReaderSpec host_reader;
  ReaderSpec guest_reader;
  std::optional<int64_t> host_stop_ns;   // Host driver torn down then: a rescind.
  std::optional<int64_t> guest_stop_ns;  // Guest driver closes then, during traffic.
  // Pause / Disable / peer close on either end: unset, they block until the
  // driver completes every indicated packet (a teardown that never ends is a
  // finding at the run's end); set, they give up after this long and retire
  // the packets (kmcl::RuntimeOptions::force_retire_after).
  std::optional<int64_t> force_retire_after_ns;
  // The guest end's periodic re-check of the host->guest ring (OpenVMM's
  // "unstick" timer): every this long, when the ring holds data and no drain
  // runs, one starts. 0: none.
  int64_t unstick_timer_ns = 0;
  // The shared back-end ("backends[].name") that serves this channel's
  // requests on the host; empty: none (the host driver completes them
  // itself). Only a host driver that takes one (DriverDescriptor::
  // uses_backend) may have it.
  std::string backend;
};

// "backends[]": a shared device back-end (tools/scenario/backend.h):
// `servers` servers in front of one FIFO queue, each request holding a
// server for a time drawn from `service` (ns).
struct BackendSpec {
  std::string name;
  uint32_t servers = 1;
  DistributionSpec service = {.kind = "fixed", .value = 10000};
};

// "workloads[].arrival".
struct ArrivalSpec {
  // "closed_loop" (keep `outstanding` in flight), "fixed_rate", "poisson",
  // "bursts" (`burst` requests every interval), "on_off" (fixed rate during
  // on phases), "renewal" (independent gaps drawn from `gap`), "mmpp2" (a
  // two-state Markov-modulated Poisson process), "trace" (the recorded
  // arrivals in `events`).
  std::string kind = "closed_loop";
  uint32_t outstanding = 1;
  // fixed_rate, bursts, on_off: between arrivals; poisson: the mean gap;
  // mmpp2: the mean gap in the on state.
  int64_t interval_ns = 10000;
  uint32_t burst = 1;
  // on_off: the phase lengths. mmpp2: the mean sojourn in each state (each
  // sojourn is exponential); the process starts in the on state.
  int64_t on_ns = 0;
  int64_t off_ns = 0;
  // mmpp2: the mean gap in the off state; 0 sends nothing while off (the
  // interrupted Poisson process).
  int64_t off_interval_ns = 0;
  // renewal: the gap between arrivals, in ns.
  DistributionSpec gap = {.kind = "fixed", .value = 10000};
  // "trace": one request of `bytes` at start_ns + `time_ns`, in order (times
  // non-decreasing). A recorded or imported arrival process: `vmbsim import`
  // writes it from a capture, what-if replay from a trace file. JSON: "events":
  // [[time_ns, bytes], ...].
  struct Event {
    int64_t time_ns = 0;
    uint32_t bytes = 0;
    bool operator==(const Event&) const = default;
  };
  std::vector<Event> events;
};

// The largest request `size` draws, in bytes (the loader requires a bound).
inline uint32_t SizeBytesMax(const DistributionSpec& size) {
  return static_cast<uint32_t>(DistributionMax(size).value_or(0));
}

// "workloads[]": requests the guest driver of `channel` sends.
struct WorkloadSpec {
  std::string channel;
  ArrivalSpec arrival;
  // Request sizes in bytes; unused by "trace" (its events carry sizes).
  DistributionSpec size = {.kind = "fixed", .value = 64};
  uint64_t requests = 1000;   // Total requests to issue ("trace": its event count).
  int64_t start_ns = 0;       // First arrival (open-loop kinds).
  // Open-loop kinds: the guest VPs whose code sends, arrival i from
  // send_vps[i % size]; they serialise on the channel's outbound ring lock.
  // Empty: the channel's guest_target_vp (0 when unset).
  std::vector<uint32_t> send_vps;
};

// The largest request `workload` sends, in bytes.
inline uint32_t WorkloadBytesMax(const WorkloadSpec& workload) {
  if (workload.arrival.kind != "trace") return SizeBytesMax(workload.size);
  uint32_t largest = 0;
  for (const ArrivalSpec::Event& e : workload.arrival.events) largest = std::max(largest, e.bytes);
  return largest;
}

// "exploration".
struct ExplorationSpec {
  std::optional<uint64_t> tie_break_seed;
};

struct LatencyBound {
  std::string channel;          // Empty: every channel.
  std::string metric = "send_to_completion";  // or "send_to_process".
  double percentile = 99.0;     // 0 < p <= 100.
  int64_t max_ns = 0;
};

struct FindingExpectation {
  std::string rule;             // verifier.h RuleName, e.g. "double_completion".
  uint64_t min_count = 1;
  std::optional<uint64_t> max_count;
};

// "expectations".
struct ExpectationSpec {
  bool no_lost_packets = true;         // Every request sent was completed.
  bool no_verifier_findings = true;    // Unless listed in `findings`.
  std::vector<LatencyBound> latency;
  std::optional<double> interrupts_per_packet_max;
  std::optional<double> interrupts_per_packet_min;
  std::vector<FindingExpectation> findings;  // Negative scenarios.
  // Negative scenarios: at least this many requests were never completed.
  // Set: no_lost_packets is false (the loader rejects an explicit true).
  std::optional<uint64_t> lost_packets_min;
  // At least this many transactions ended with a failure status (cancelled,
  // timed out, device removed).
  std::optional<uint64_t> failed_transactions_min;
};

// The largest request a guest driver can send on `channel`, in bytes: its
// max_packet_bytes, no less. KMCL's maximum packet size bounds a send's
// in-band buffer (VmbPacketSend's BufferSize; kmcl/runtime_io.cc), not the
// ring packet: the descriptor, the padding to 8 bytes and the trailer come
// on top, and KMCL grows the rings so that one such packet fits. rr_vsc adds
// no header of its own (its 8-byte sequence number is the request's first
// bytes; request_response_vsc.h), so a request may be max_packet_bytes. A
// library driver that frames requests must fit its framing in that too.
inline uint32_t RequestBytesMax(const ChannelSpec& channel) { return channel.max_packet_bytes; }

// "faults.injections[].target": which channels (or partition) a fault
// applies to. Exactly one of the forms; absent means all.
struct FaultTargetSpec {
  std::string kind = "all";    // "all" | "channel" | "partition" | "class".
  std::string channel;         // kind "channel": a channel name (its sub-channels included).
  uint16_t partition = 0;      // kind "partition": 0 is the root, 1.. the guests.
  std::string interface_type;  // kind "class": every channel of this interface type.
};

// "faults.injections[].trigger": when a fault fires. Exactly one form;
// absent means every opportunity (probability 1/1).
struct FaultTriggerSpec {
  std::string kind = "probability";  // "at_ns" | "after" | "probability" | "while".
  int64_t at_ns = 0;                 // From this simulated time on.
  std::string event;                 // "after": a catalogue event name ...
  uint64_t count = 1;                // ... and how many of them first.
  uint64_t numerator = 1;            // "probability": numerator / denominator per opportunity.
  uint64_t denominator = 1;
  std::string predicate;             // "while": a catalogue predicate.
};

// "faults.injections[]": one fault of the catalogue (tools/faults/catalogue.h).
struct FaultSpec {
  std::string kind;  // A catalogue name.
  FaultTargetSpec target;
  FaultTriggerSpec trigger;
  // Parameters by name, checked against the catalogue; absent ones take the
  // catalogue's defaults.
  std::map<std::string, int64_t> int_params;
  std::map<std::string, std::string> string_params;
  // Unset: 1 for "at_ns" and "after" triggers, unlimited otherwise.
  std::optional<uint64_t> max_firings;
};

// "faults".
struct FaultsSpec {
  std::vector<FaultSpec> injections;
  // Liveness: a run that makes no progress (no send, completion, delivery
  // or ring read) for this long while sends no fault accounts for are
  // outstanding stops as "stuck". Unset: no liveness check.
  std::optional<int64_t> stuck_ns;
};

struct ScenarioSpec {
  std::string name;
  std::string description;
  uint64_t seed = 1;
  StopSpec stop;
  FabricSpec fabric;
  std::vector<BackendSpec> backends;
  std::vector<ChannelSpec> channels;
  std::vector<WorkloadSpec> workloads;
  ExplorationSpec exploration;
  ExpectationSpec expectations;
  FaultsSpec faults;
  // The document this spec was loaded from, overrides applied, as compact
  // JSON (LoadScenario sets it; empty for a spec built in code). A recording
  // keeps it, so that a replay loads exactly what ran.
  std::string document_json;
};

}  // namespace vmbsim::scenario

#endif  // VMBSIM_TOOLS_SCENARIO_SPEC_H_
