// vmbsim — the command line.
//
//   vmbsim demo [--seed N] [--tie-break-seed N] [--requests N] [--servers N]
//               [--burst N]
//       Runs the synthetic workload of tools/demo_workload.h on the event
//       kernel and prints the seed first, then a summary and the run's trace
//       fingerprint.
//   vmbsim fabric [--seed N] [--channels N] [--packets N] [--interval-us N]
//                 [--monitor-latency-us N] [--cost-profile default|zero]
//       Runs the VMBus fabric through its control plane (tools/fabric_demo.h):
//       a guest opens N channels and streams echoed requests on each; prints
//       per-channel round trips, doorbells, batching and the fingerprint.
//   vmbsim run | check | list ...
//       Scenarios (tools/scenario_commands.h); `run` is the default command.
//   vmbsim import CAPTURE -o FILE ...
//       A capture from a real system to a scenario that replays it
//       (tools/recording/import_command.h).
//   vmbsim help | --help | -h
//
// Exit codes: 0 success; 2 invalid command line (the message names the flag).

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sim/core/histogram.h"
#include "tools/demo_workload.h"
#include "tools/explore_command.h"
#include "tools/fabric_demo.h"
#include "tools/faults/catalogue.h"
#include "tools/recording/commands.h"
#include "tools/recording/import_command.h"
#include "tools/recording/trace_file.h"
#include "tools/scenario_commands.h"
#include "tools/studies/study_commands.h"
#include "tools/soak/soak_command.h"
#include "tools/swarm_command.h"
#include "tools/version.h"

namespace vmbsim::tools {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitInvalidInput = 2;
constexpr int kExitInternalError = 70;

constexpr const char* kUsage = R"(usage: vmbsim <command> [flags]

commands:
  run      run a scenario and print its report (default; see the scenario commands below)
  check    validate scenario files
  list     list the scenario library
  explore  run a scenario under many tie-break seeds and group the outcomes
  trace    print a recorded run (`run --record FILE`), filtered, or its timeline
  replay   re-run a recording and compare event by event; what-if with --set
  diff     compare two recordings: the first difference and the figures
  sweep    run a scenario over a grid of settings x seeds; mean, sd and 95% CI per point
  merge    combine the result directories of a sharded sweep
  report   an HTML page (or one SVG chart) from a sweep's results
  import   turn a capture from a real system (CSV, trace-cmd report) into a scenario
  faults   print the fault catalogue as JSON (kinds, semantics, parameters, targets, triggers)
  swarm    run scenarios under random faults per seed and group the failures
  shrink   reduce a failing swarm run to the smallest scenario that fails the same way
  soak     a long run with faults on, its invariants and memory checked while it runs
  version  print the version and the trace format version
  fabric   run the VMBus fabric alone: a guest opens channels and streams echoed requests
  demo     run the synthetic workload on the event kernel alone
  help     show this help

demo flags:
  --seed N             seed of the run (default 1)
  --tie-break-seed N   explore another order of same-time events
  --requests N         requests to issue (default 100000, at least 1)
  --servers N          servers to route them to (default 4, 1..1024)
  --burst N            requests arriving at the same instant (default 4, 1..1024)

fabric flags:
  --seed N                 seed of the run (default 1)
  --channels N             channels to open (default 4, 1..2000)
  --packets N              requests per channel (default 2000, 1..10^7)
  --interval-us N          time between requests on a channel (default 20)
  --monitor-latency-us N   monitor-page latency (default 100, 0..6553; 0 = direct doorbells)
  --cost-profile P         default or zero (nothing takes time)

exit codes: 0 success, 2 invalid command line, 70 internal error
)";

int Fail(const std::string& message) {
  std::fprintf(stderr, "vmbsim: %s\n(run 'vmbsim help' for usage)\n", message.c_str());
  return kExitInvalidInput;
}

// Parses "--flag=value" or "--flag value" into an integer in [min, max].
bool ParseFlag(const std::vector<std::string>& args, size_t* i, std::string_view name, uint64_t min,
               uint64_t max, uint64_t* out, std::string* error) {
  const std::string& arg = args[*i];
  const std::string prefix = "--" + std::string(name);
  std::string value;
  if (arg == prefix) {
    if (*i + 1 >= args.size()) {
      *error = absl::StrCat(prefix, ": missing value");
      return true;
    }
    value = args[++*i];
  } else if (arg.rfind(prefix + "=", 0) == 0) {
    value = arg.substr(prefix.size() + 1);
  } else {
    return false;
  }
  uint64_t parsed = 0;
  if (!absl::SimpleAtoi(value, &parsed) || parsed < min || parsed > max) {
    *error = absl::StrCat(prefix, ": expected an integer in [", min, ", ", max, "], got '", value, "'");
    return true;
  }
  *out = parsed;
  return true;
}

int RunDemoCommand(const std::vector<std::string>& args) {
  DemoOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string error;
    uint64_t value = 0;
    if (ParseFlag(args, &i, "seed", 0, UINT64_MAX, &value, &error)) {
      options.seed = value;
    } else if (ParseFlag(args, &i, "tie-break-seed", 0, UINT64_MAX, &value, &error)) {
      options.tie_break_seed = value;
    } else if (ParseFlag(args, &i, "requests", 1, uint64_t{1} << 40, &value, &error)) {
      options.request_count = value;
    } else if (ParseFlag(args, &i, "servers", 1, 1024, &value, &error)) {
      options.server_count = static_cast<uint32_t>(value);
    } else if (ParseFlag(args, &i, "burst", 1, 1024, &value, &error)) {
      options.burst_size = static_cast<uint32_t>(value);
    } else {
      return Fail(absl::StrCat("demo: unknown flag '", args[i], "'"));
    }
    if (!error.empty()) return Fail(absl::StrCat("demo: ", error));
  }

  // The seed comes first so that any failure can be replayed.
  std::printf("seed=%llu\n", static_cast<unsigned long long>(options.seed));
  if (options.tie_break_seed.has_value()) {
    std::printf("tie_break_seed=%llu\n", static_cast<unsigned long long>(*options.tie_break_seed));
  }
  std::fflush(stdout);
  const DemoResult result = RunDemo(options);
  const sim::Histogram::PercentileSummary p = result.latency_ns.Percentiles();
  std::printf("vmbsim demo: synthetic burst-arrival queueing workload on the event kernel\n");
  std::printf("  servers %u, requests %llu in bursts of %u\n", options.server_count,
              static_cast<unsigned long long>(options.request_count), options.burst_size);
  std::printf("  events executed   %llu\n", static_cast<unsigned long long>(result.events));
  std::printf("  requests done     %llu\n", static_cast<unsigned long long>(result.requests_completed));
  std::printf("  simulated time    %s\n", result.end_time.ToString().c_str());
  std::printf("  latency           p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
              sim::SimDuration::Nanoseconds(p.p50).ToString().c_str(),
              sim::SimDuration::Nanoseconds(p.p90).ToString().c_str(),
              sim::SimDuration::Nanoseconds(p.p99).ToString().c_str(),
              sim::SimDuration::Nanoseconds(p.p999).ToString().c_str(),
              sim::SimDuration::Nanoseconds(p.max).ToString().c_str());
  for (size_t s = 0; s < result.server_busy.size(); ++s) {
    const double utilisation = result.end_time.nanoseconds() == 0
                                   ? 0.0
                                   : 100.0 * static_cast<double>(result.server_busy[s].nanoseconds()) /
                                         static_cast<double>(result.end_time.nanoseconds());
    std::printf("  server %-3zu busy   %5.1f%%\n", s, utilisation);
  }
  std::printf("fingerprint=%016llx\n", static_cast<unsigned long long>(result.fingerprint));
  return kExitOk;
}

std::string Percentiles(const sim::Histogram& h) {
  const sim::Histogram::PercentileSummary p = h.Percentiles();
  return absl::StrCat("p50 ", sim::SimDuration::Nanoseconds(p.p50).ToString(), "  p99 ",
                      sim::SimDuration::Nanoseconds(p.p99).ToString(), "  max ",
                      sim::SimDuration::Nanoseconds(p.max).ToString());
}

int RunFabricCommand(const std::vector<std::string>& args) {
  FabricDemoOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string error;
    uint64_t value = 0;
    if (ParseFlag(args, &i, "seed", 0, UINT64_MAX, &value, &error)) {
      options.seed = value;
    } else if (ParseFlag(args, &i, "channels", 1, 2000, &value, &error)) {
      options.channel_count = static_cast<uint32_t>(value);
    } else if (ParseFlag(args, &i, "packets", 1, 10000000, &value, &error)) {
      options.packets_per_channel = value;
    } else if (ParseFlag(args, &i, "interval-us", 1, 1000000, &value, &error)) {
      options.send_interval = sim::SimDuration::Microseconds(static_cast<int64_t>(value));
    } else if (ParseFlag(args, &i, "monitor-latency-us", 0, 6553, &value, &error)) {
      options.monitor_latency_100ns = static_cast<uint16_t>(value * 10);
    } else if (args[i] == "--cost-profile" || args[i].rfind("--cost-profile=", 0) == 0) {
      std::string profile;
      if (args[i] == "--cost-profile") {
        if (i + 1 >= args.size()) return Fail("fabric: --cost-profile: missing value");
        profile = args[++i];
      } else {
        profile = args[i].substr(std::string("--cost-profile=").size());
      }
      if (profile != "default" && profile != "zero") {
        return Fail(absl::StrCat("fabric: --cost-profile: expected 'default' or 'zero', got '", profile, "'"));
      }
      options.zero_costs = profile == "zero";
    } else {
      return Fail(absl::StrCat("fabric: unknown flag '", args[i], "'"));
    }
    if (!error.empty()) return Fail(absl::StrCat("fabric: ", error));
  }
  std::printf("seed=%llu\n", static_cast<unsigned long long>(options.seed));
  std::fflush(stdout);
  const absl::StatusOr<FabricDemoReport> report = RunFabricDemo(options);
  if (!report.ok()) {
    std::fprintf(stderr, "vmbsim: internal error: %s\n", report.status().ToString().c_str());
    return kExitInternalError;
  }
  std::printf("vmbsim fabric: %u channel(s), %llu requests each, one every %s, %s doorbells, %s costs\n",
              options.channel_count, static_cast<unsigned long long>(options.packets_per_channel),
              options.send_interval.ToString().c_str(),
              options.monitor_latency_100ns == 0
                  ? "direct"
                  : absl::StrCat("monitored (", sim::SimDuration::Units100ns(options.monitor_latency_100ns).ToString(), ")").c_str(),
              options.zero_costs ? "zero" : "default");
  std::printf("  events executed   %llu\n", static_cast<unsigned long long>(report->events));
  std::printf("  simulated time    %s\n", report->end_time.ToString().c_str());
  sim::Histogram all;
  uint64_t sent = 0;
  uint64_t done = 0;
  size_t shown = 0;
  for (const ChannelReport& c : report->channels) {
    all.Merge(c.round_trip_ns);
    sent += c.packets_sent;
    done += c.completions;
    if (shown++ < 8) {
      std::printf("  channel %-4u %llu/%llu done  round trip %s  doorbells %llu (suppressed %llu)  host batches %llu (p50 %lld, max %lld)\n",
                  c.relid, static_cast<unsigned long long>(c.completions), static_cast<unsigned long long>(c.packets_sent),
                  Percentiles(c.round_trip_ns).c_str(), static_cast<unsigned long long>(c.guest_doorbells_sent),
                  static_cast<unsigned long long>(c.guest_signals_suppressed), static_cast<unsigned long long>(c.host_batches),
                  static_cast<long long>(c.host_batch_p50), static_cast<long long>(c.host_batch_max));
    }
  }
  if (shown > 8) std::printf("  ... %zu more channels\n", shown - 8);
  std::printf("  all channels      %llu/%llu done  round trip %s\n", static_cast<unsigned long long>(done),
              static_cast<unsigned long long>(sent), Percentiles(all).c_str());
  std::printf("  monitor page      %llu sets, %llu coalesced, %llu host signals\n",
              static_cast<unsigned long long>(report->monitor_sets), static_cast<unsigned long long>(report->monitor_coalesced),
              static_cast<unsigned long long>(report->monitor_fires));
  std::printf("  interrupts        host %llu, guest %llu\n", static_cast<unsigned long long>(report->host_interrupts),
              static_cast<unsigned long long>(report->guest_interrupts));
  for (size_t v = 0; v < report->host_vp_busy_percent.size(); ++v) {
    std::printf("  host VP %-2zu busy   %5.1f%%\n", v, report->host_vp_busy_percent[v]);
  }
  for (size_t v = 0; v < report->guest_vp_busy_percent.size(); ++v) {
    std::printf("  guest VP %-2zu busy  %5.1f%%\n", v, report->guest_vp_busy_percent[v]);
  }
  std::printf("  protocol violations %llu\n", static_cast<unsigned long long>(report->control_violations));
  std::printf("fingerprint=%016llx\n", static_cast<unsigned long long>(report->fingerprint));
  return kExitOk;
}

// Start-up settings that change how fast the process runs, never what a run
// computes. The dynamic loader and the C library read them only at start-up,
// so the process starts itself again with them set, once; if that fails it
// carries on as it is.
//
// - LD_BIND_NOW, for the commands that fork a child per run (sweep, swarm,
//   shrink, explore): every dynamic symbol is bound once, in the parent,
//   before the first fork. The shared libraries bind lazily, and each child
//   would otherwise resolve again every library function its run calls (a
//   tenth of a short run's cost, and more of a sweep's per-run overhead).
// - glibc.malloc.hugetlb=1 in GLIBC_TUNABLES, for the commands that simulate:
//   the heap asks for transparent huge pages (madvise), so a run whose rings,
//   VPs and packets outgrow the TLB's reach walks fewer page tables (the
//   64-channel streaming run: about 8 % less time, README "Benchmarks").
//   Not for `soak`, which judges resident memory, nor for the commands that
//   only read files. VMBSIM_HUGEPAGES=0 leaves the heap as it is; a
//   GLIBC_TUNABLES that already names the setting is kept.
//
// Not under valgrind (its preload library is in LD_PRELOAD): there
// /proc/self/exe is the tool, not this program, and a second start would
// leave the tool behind.
bool UnderValgrind() {
  const char* preload = std::getenv("LD_PRELOAD");
  return preload != nullptr && std::string_view(preload).find("vgpreload") != std::string_view::npos;
}

bool SimulatesRuns(const std::string& command) {
  for (const char* simulating : {"run", "sweep", "swarm", "shrink", "explore", "replay", "demo", "fabric"}) {
    if (command == simulating) return true;
  }
  return command.rfind("--", 0) == 0 && command != "--help" && command != "--version";  // Flags of `run`.
}

void StartAgainWithRunSettings(const std::string& command, char** argv) {
  const bool forks = command == "sweep" || command == "swarm" || command == "shrink" || command == "explore";
  const bool bind_now = forks && std::getenv("LD_BIND_NOW") == nullptr;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  const char* hugepages_setting = std::getenv("VMBSIM_HUGEPAGES");
  const bool hugepages = SimulatesRuns(command) &&
                         (hugepages_setting == nullptr || std::string_view(hugepages_setting) != "0") &&
                         (tunables == nullptr || std::string_view(tunables).find("glibc.malloc.hugetlb") ==
                                                     std::string_view::npos);
  if ((!bind_now && !hugepages) || UnderValgrind()) return;
  const std::optional<std::string> old_tunables =
      tunables == nullptr ? std::nullopt : std::optional<std::string>(tunables);
  if (bind_now && setenv("LD_BIND_NOW", "1", /*overwrite=*/1) != 0) return;
  if (hugepages) {
    const std::string value = old_tunables.has_value() && !old_tunables->empty()
                                  ? absl::StrCat(*old_tunables, ":glibc.malloc.hugetlb=1")
                                  : std::string("glibc.malloc.hugetlb=1");
    setenv("GLIBC_TUNABLES", value.c_str(), /*overwrite=*/1);
  }
  execv("/proc/self/exe", argv);
  // Not started again: as before.
  if (bind_now) unsetenv("LD_BIND_NOW");
  if (hugepages) {
    if (old_tunables.has_value()) {
      setenv("GLIBC_TUNABLES", old_tunables->c_str(), /*overwrite=*/1);
    } else {
      unsetenv("GLIBC_TUNABLES");
    }
  }
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  StartAgainWithRunSettings(args.empty() ? "run" : args[0], argv);
  if (args.empty()) return RunScenarioCommand({});
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "help" || command == "--help" || command == "-h") {
    std::fputs(kUsage, stdout);
    std::fputs("\n", stdout);
    std::fputs(kScenarioCommandsUsage, stdout);
    std::fputs("\n", stdout);
    std::fputs(kExploreUsage, stdout);
    std::fputs("\n", stdout);
    std::fputs(recording::kRecordingCommandsUsage, stdout);
    std::fputs("\n", stdout);
    std::fputs(studies::kStudyCommandsUsage, stdout);
    std::fputs("\n", stdout);
    std::fputs(recording::kImportUsage, stdout);
    std::fputs("\n", stdout);
    std::fputs(kSwarmUsage, stdout);
    std::fputs("\n", stdout);
    std::fputs(soak::kSoakUsage, stdout);
    return kExitOk;
  }
  if (command == "version" || command == "--version") {
    std::printf("vmbsim %s (trace format %u)\n", kVmbsimVersion, recording::kTraceFormatVersion);
    return kExitOk;
  }
  const bool wants_help = std::find(args.begin(), args.end(), "--help") != args.end();
  if (wants_help && (command == "run" || command == "check" || command == "list")) {
    std::fputs(kScenarioCommandsUsage, stdout);
    return kExitOk;
  }
  if (command == "run") return RunScenarioCommand(args);
  if (command == "check") return CheckScenarioCommand(args);
  if (command == "list") return ListScenariosCommand(args);
  if (command == "explore") {
    if (wants_help) {
      std::fputs(kExploreUsage, stdout);
      return kExitOk;
    }
    return ExploreCommand(args);
  }
  if (command == "trace" || command == "replay" || command == "diff") {
    if (wants_help) {
      std::fputs(recording::kRecordingCommandsUsage, stdout);
      return kExitOk;
    }
    if (command == "trace") return recording::TraceCommand(args);
    if (command == "replay") return recording::ReplayCommand(args);
    return recording::DiffCommand(args);
  }
  if (command == "sweep" || command == "merge" || command == "report") {
    if (wants_help) {
      std::fputs(studies::kStudyCommandsUsage, stdout);
      return kExitOk;
    }
    if (command == "sweep") return studies::SweepCommand(args);
    if (command == "merge") return studies::MergeCommand(args);
    return studies::ReportCommand(args);
  }
  if (command == "import") {
    if (wants_help) {
      std::fputs(recording::kImportUsage, stdout);
      return kExitOk;
    }
    return recording::ImportCommand(args);
  }
  if (command == "faults") {
    if (!args.empty() && !wants_help) return Fail(absl::StrCat("faults takes no arguments, found '", args[0], "'"));
    std::fputs(faults::CatalogueJson().c_str(), stdout);
    return kExitOk;
  }
  if (command == "swarm" || command == "shrink") {
    if (wants_help) {
      std::fputs(kSwarmUsage, stdout);
      return kExitOk;
    }
    return command == "swarm" ? SwarmCommand(args) : ShrinkCommand(args);
  }
  if (command == "soak") {
    if (wants_help) {
      std::fputs(soak::kSoakUsage, stdout);
      return kExitOk;
    }
    return soak::SoakCommand(args);
  }
  if (command == "demo") return RunDemoCommand(args);
  if (command == "fabric") return RunFabricCommand(args);
  if (command.rfind("--", 0) == 0) {  // Flags without a command: the default command's.
    args.insert(args.begin(), command);
    return RunScenarioCommand(args);
  }
  return Fail(absl::StrCat("unknown command '", command, "'"));
}

}  // namespace
}  // namespace vmbsim::tools

int main(int argc, char** argv) { return vmbsim::tools::Main(argc, argv); }
