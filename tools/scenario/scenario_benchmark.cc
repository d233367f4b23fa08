// scenario_benchmark.cc
//
// The scenario path's speed against the KMCL round-trip loop, in one run:
//   baseline  the closed loop of kmcl/kmcl_benchmark.cc (64-byte requests,
//             32 outstanding, zero costs, fingerprint on), written directly
//             against the KMCL C API on a KmclWorld;
//   hello     scenarios/hello.json scaled to N requests and set up as the
//             baseline is (zero costs and no monitor latency, 32 outstanding,
//             8-byte completions), loaded, built and run exactly as `vmbsim run`
//             does (LoadScenarioFile + RunScenario, with every report
//             figure measured and the fingerprint on);
//   batching  scenarios/monitor_latency_batching.json scaled to N requests
//             over its four channels, with its own costs.
// Baseline and hello run in five rounds, in alternating order (baseline
// first, then hello first, ...), so that a drift of the machine's speed
// favours neither; each round's hello/baseline ratio is taken from two
// neighbouring runs. It prints the medians of the rates, the median of the
// rounds' ratios (target >= 0.8) with its range, the ratio of the two sides'
// best rounds (the least disturbed by other load on the machine), the same
// per-round ratios by process CPU time (which leaves out waiting for a
// core), packets and events per wall-clock second, and the slowest
// load+validate time over the library's scenarios (target < 10 ms).
//
// Run: bazel run --config=opt //tools/scenario:scenario_benchmark -- [--packets=N]
// (N defaults to 10^7; run from the workspace: it reads scenarios/).
// --only=baseline or --only=hello runs that side once and prints its rate,
// for profilers (callgrind counts instructions deterministically, so the
// two sides' instructions per round trip give a noise-free ratio).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kmcl/testing/kmcl_world.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"
#include "vmbuskernelmodeclientlibapi.h"

namespace vmbsim::scenario {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

double ProcessCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// Wall-clock and CPU time since construction. CPU time leaves out the time
// the process waited for a core, one of the noises of a shared machine.
class Stopwatch {
 public:
  Stopwatch() : wall_start_(Clock::now()), cpu_start_(ProcessCpuSeconds()) {}
  double wall_seconds() const { return Seconds(wall_start_); }
  double cpu_seconds() const { return ProcessCpuSeconds() - cpu_start_; }

 private:
  Clock::time_point wall_start_;
  double cpu_start_;
};

// Round trips or packets per second, by wall clock and by CPU time.
struct Rate {
  double wall = 0;
  double cpu = 0;
};

// ---- The baseline: the KMCL round-trip loop.
constexpr GUID kType = {0x5ca1ab1e, 0x77, 0x1, {1, 2, 3, 4, 5, 6, 7, 8}};
int64_t g_budget = 0;
int64_t g_sent = 0;
int64_t g_done = 0;
uint8_t g_request[64] = {};

VOID HostPacket(VMBCHANNEL, VMBPACKETCOMPLETION packet, PVOID, UINT32, UINT32) {
  static UINT64 status = 0;
  VmbChannelPacketComplete(packet, &status, sizeof(status));
}
VOID GuestPacket(VMBCHANNEL, VMBPACKETCOMPLETION packet, PVOID, UINT32, UINT32) {
  VmbChannelPacketComplete(packet, nullptr, 0);
}
VOID Done(VMBPACKET packet, NTSTATUS, PVOID, UINT32) {
  ++g_done;
  if (g_sent < g_budget) {
    ++g_sent;
    VmbPacketSend(packet, g_request, sizeof(g_request), nullptr, VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION);
  }
}

Rate BaselineRate(int64_t packets) {
  kmcl::testing::KmclWorld world({.guests = 1, .root_vps = 2, .guest_vps = 2, .zero_costs = true});
  VMBCHANNEL client = nullptr;
  world.OnHost([&world] {
    VMBCHANNEL server = nullptr;
    VmbChannelAllocate(world.host_device(), TRUE, &server);
    VmbServerChannelInitSetVmbusHandle(server, world.vmbus_handle());
    VmbServerChannelInitSetTargetInterfaceId(server, kType, kType);
    VmbChannelInitSetProcessPacketCallbacks(server, HostPacket, nullptr);
    VmbChannelEnable(server);
    VmbChannelStart(server);
  });
  world.OnGuest([&world, &client] {
    VmbChannelAllocate(world.guest_device(), FALSE, &client);
    VmbClientChannelInitSetTargetPnp(client, &kType, nullptr, nullptr);
    VmbChannelInitSetProcessPacketCallbacks(client, GuestPacket, nullptr);
    VmbChannelEnable(client);
  });
  world.Run();
  world.sim().tracer().EnableFingerprint();
  g_budget = packets;
  g_sent = 0;
  g_done = 0;
  world.runtime().RunDispatch(1, 0, [&client] {
    for (int i = 0; i < 32 && g_sent < g_budget; ++i) {
      VMBPACKET p = VmbPacketAllocate(client);
      VmbPacketSetCompletionRoutine(p, Done);
      ++g_sent;
      VmbPacketSend(p, g_request, sizeof(g_request), nullptr, VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION);
    }
  });
  const Stopwatch stopwatch;
  world.sim().Run({});
  const Rate rate{static_cast<double>(packets) / stopwatch.wall_seconds(),
                  static_cast<double>(packets) / stopwatch.cpu_seconds()};
  if (g_done != packets) {
    std::fprintf(stderr, "baseline lost round trips: %lld of %lld\n", static_cast<long long>(g_done),
                 static_cast<long long>(packets));
    std::exit(1);
  }
  return rate;
}

struct ScenarioRate {
  double packets_per_second = 0;  // Wall clock.
  double events_per_second = 0;
  double cpu_packets_per_second = 0;
  uint64_t packets = 0;
};

ScenarioRate RunScaled(const std::string& file, const std::vector<std::string>& overrides) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  absl::StatusOr<ScenarioSpec> spec = LoadScenarioFile(file, registry.descriptors(), overrides);
  if (!spec.ok()) {
    std::fprintf(stderr, "%s\n", std::string(spec.status().message()).c_str());
    std::exit(1);
  }
  const Stopwatch stopwatch;
  absl::StatusOr<RunReport> report = RunScenario(*spec, registry);
  const double seconds = stopwatch.wall_seconds();
  const double cpu_seconds = stopwatch.cpu_seconds();
  if (!report.ok() || !report->expectations_met) {
    std::fprintf(stderr, "%s did not run cleanly\n", file.c_str());
    if (report.ok()) {
      for (const ExpectationResult& e : report->expectations) {
        if (!e.passed) std::fprintf(stderr, "  %s: %s\n", e.name.c_str(), e.detail.c_str());
      }
    }
    std::exit(1);
  }
  ScenarioRate rate;
  for (const ChannelReport& c : report->channels) rate.packets += c.metrics.guest_to_host.packets_processed;
  rate.packets_per_second = static_cast<double>(rate.packets) / seconds;
  rate.events_per_second = static_cast<double>(report->events) / seconds;
  rate.cpu_packets_per_second = static_cast<double>(rate.packets) / cpu_seconds;
  return rate;
}

// hello set up as the baseline is.
std::vector<std::string> HelloOverrides(int64_t packets) {
  return {absl::StrCat("workloads.0.requests=", packets), "workloads.0.arrival.outstanding=32",
          "fabric.cost_profile=\"zero\"", "channels.0.interrupt_latency_100ns=null",
          "channels.0.host_driver.params.completion_bytes=8", "expectations.latency=[]",
          "stop.time_ns=1000000000000000"};
}

}  // namespace
}  // namespace vmbsim::scenario

int main(int argc, char** argv) {
  using namespace vmbsim::scenario;
  int64_t packets = 10'000'000;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--packets=", 0) == 0 && absl::SimpleAtoi(arg.substr(10), &packets) && packets >= 1000) continue;
    if (arg == "--only=baseline" || arg == "--only=hello") {
      only = arg.substr(7);
      continue;
    }
    std::fprintf(stderr, "usage: scenario_benchmark [--packets=N (>= 1000)] [--only=baseline|hello]\n");
    return 2;
  }
  if (const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY")) std::filesystem::current_path(workspace);
  if (only == "baseline") {
    std::printf("KMCL loop (baseline)  %.0f round trips/s\n", BaselineRate(packets).wall);
    return 0;
  }
  if (only == "hello") {
    const ScenarioRate hello = RunScaled("scenarios/hello.json", HelloOverrides(packets));
    std::printf("hello (zero costs)  %.0f packets/s\n", hello.packets_per_second);
    return 0;
  }

  // Loading: every library scenario, 20 times each; the slowest single load.
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  double slowest_ms = 0;
  std::string slowest;
  for (const auto& entry : std::filesystem::directory_iterator("scenarios")) {
    if (entry.path().extension() != ".json" || entry.path().filename() == "scenario.schema.json") continue;
    for (int i = 0; i < 20; ++i) {
      const Clock::time_point start = Clock::now();
      absl::StatusOr<ScenarioSpec> spec = LoadScenarioFile(entry.path().string(), registry.descriptors());
      const double ms = Seconds(start) * 1000;
      if (!spec.ok()) return 1;
      if (ms > slowest_ms) {
        slowest_ms = ms;
        slowest = entry.path().filename().string();
      }
    }
  }

  constexpr int kRounds = 5;
  std::vector<double> baselines;  // Wall clock.
  std::vector<ScenarioRate> hellos;
  std::vector<double> ratios;      // Per round, wall clock.
  std::vector<double> cpu_ratios;  // Per round, CPU time.
  for (int round = 0; round < kRounds; ++round) {
    Rate baseline;
    if (round % 2 == 0) baseline = BaselineRate(packets);
    hellos.push_back(RunScaled("scenarios/hello.json", HelloOverrides(packets)));
    if (round % 2 == 1) baseline = BaselineRate(packets);
    baselines.push_back(baseline.wall);
    ratios.push_back(hellos.back().packets_per_second / baseline.wall);
    cpu_ratios.push_back(hellos.back().cpu_packets_per_second / baseline.cpu);
  }
  std::sort(baselines.begin(), baselines.end());
  std::sort(hellos.begin(), hellos.end(),
            [](const ScenarioRate& a, const ScenarioRate& b) { return a.packets_per_second < b.packets_per_second; });
  std::sort(ratios.begin(), ratios.end());
  std::sort(cpu_ratios.begin(), cpu_ratios.end());
  const double baseline = baselines[kRounds / 2];
  const ScenarioRate hello = hellos[kRounds / 2];
  const ScenarioRate batching = RunScaled(
      "scenarios/monitor_latency_batching.json",
      {absl::StrCat("workloads.0.requests=", packets / 4), absl::StrCat("workloads.1.requests=", packets / 4),
       absl::StrCat("workloads.2.requests=", packets / 4), absl::StrCat("workloads.3.requests=", packets / 4),
       "stop.time_ns=1000000000000000"});
  std::printf("scenario path vs the KMCL round-trip loop, %lld packets each (medians of %d rounds):\n",
              static_cast<long long>(packets), kRounds);
  std::printf("  KMCL loop (baseline)      %12.0f round trips/s\n", baseline);
  std::printf("  hello (zero costs)        %12.0f packets/s  %12.0f events/s\n", hello.packets_per_second,
              hello.events_per_second);
  std::printf("  hello / baseline, per round: median %.2f (%.2f .. %.2f); best rounds: %.2f (target >= 0.80)\n",
              ratios[kRounds / 2], ratios.front(), ratios.back(),
              hellos.back().packets_per_second / baselines.back());
  std::printf("  hello / baseline by CPU time, per round: median %.2f (%.2f .. %.2f)\n", cpu_ratios[kRounds / 2],
              cpu_ratios.front(), cpu_ratios.back());
  std::printf("  monitor_latency_batching  %12.0f packets/s  %12.0f events/s\n", batching.packets_per_second,
              batching.events_per_second);
  std::printf("  slowest load+validate: %.3f ms (%s)\n", slowest_ms, slowest.c_str());
  return 0;
}
