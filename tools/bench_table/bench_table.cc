// bench_table.cc
//
// One round of the benchmark table that `tools/bench` prints: where the
// simulator's time goes, from the whole scenario path down to the kernel.
//
//   scenario rows  every scenario of the library directory (--scenarios),
//                  loaded and run as `vmbsim run` runs it (LoadScenarioFile +
//                  RunScenario, report figures measured), unchanged: its own
//                  seed, costs and size. A scenario shorter than --min-seconds
//                  is run again until that much wall time has passed, and its
//                  wall time is the mean over those runs. Round trips are the
//                  transactions finished in both directions of every channel.
//   kernel         the event kernel alone: the hold model of
//                  sim/core/event_queue_benchmark.cc (1000 pending events,
//                  each step pops the earliest and schedules one at now plus
//                  an exponential increment of mean 1000 ns) on
//                  sim::Simulator, --kernel-steps steps.
//   kmcl           the KMCL layer alone: the closed loop of
//                  kmcl/kmcl_benchmark.cc written against the C API on a
//                  KmclWorld (one channel, 64-byte requests, 32 outstanding,
//                  8-byte completions, zero costs), --kmcl-round-trips round
//                  trips.
//
// Output, one line per row, tab-separated, for tools/bench to aggregate over
// rounds (this binary knows nothing of medians or of other commits):
//
//   row <name> <kind> <events per run> <round trips per run> <runs> <wall s per run> <cpu s per run>
//
// CPU time is the process's (CLOCK_PROCESS_CPUTIME_ID): it leaves out the
// time spent waiting for a core, the largest noise of a shared machine.
//
// A scenario that cannot be loaded or run is reported on stderr as
// "error <name>: <message>" and left out; the exit code is then 1.
// Flags: --scenarios DIR, --only NAME (repeatable: only those rows),
// --min-seconds S (default 0.3), --kernel-steps N (default 10^7),
// --kmcl-round-trips N (default 10^6).
//
// This file is built, unchanged, against an older commit by
// `tools/bench --compare`, so it uses only long-standing interfaces.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "kmcl/testing/kmcl_world.h"
#include "sim/core/distributions.h"
#include "sim/core/prng.h"
#include "sim/core/simulator.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"
#include "vmbuskernelmodeclientlibapi.h"

namespace vmbsim::bench {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double ProcessCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// Wall-clock and process CPU time since construction.
class Stopwatch {
 public:
  Stopwatch() : wall_start_(Clock::now()), cpu_start_(ProcessCpuSeconds()) {}
  double wall_seconds() const { return SecondsSince(wall_start_); }
  double cpu_seconds() const { return ProcessCpuSeconds() - cpu_start_; }

 private:
  Clock::time_point wall_start_;
  double cpu_start_;
};

struct Row {
  std::string name;
  std::string kind;  // "scenario", "kernel", "kmcl".
  uint64_t events = 0;
  uint64_t round_trips = 0;
  uint64_t runs = 0;
  double wall_seconds = 0;  // Per run.
  double cpu_seconds = 0;   // Per run.
};

void Print(const Row& row) {
  std::printf("row\t%s\t%s\t%llu\t%llu\t%llu\t%.9f\t%.9f\n", row.name.c_str(), row.kind.c_str(),
              static_cast<unsigned long long>(row.events), static_cast<unsigned long long>(row.round_trips),
              static_cast<unsigned long long>(row.runs), row.wall_seconds, row.cpu_seconds);
  std::fflush(stdout);
}

// ---- Scenario rows.

bool RunScenarioRow(const std::filesystem::path& file, double min_seconds, Row* row) {
  const scenario::DriverRegistry registry = scenario::DriverRegistry::WithBuiltins();
  absl::StatusOr<scenario::ScenarioSpec> spec = scenario::LoadScenarioFile(file.string(), registry.descriptors());
  if (!spec.ok()) {
    std::fprintf(stderr, "error %s: %s\n", row->name.c_str(), std::string(spec.status().message()).c_str());
    return false;
  }
  double total_seconds = 0;
  double total_cpu_seconds = 0;
  while (row->runs == 0 || total_seconds < min_seconds) {
    const Stopwatch stopwatch;
    absl::StatusOr<scenario::RunReport> report = scenario::RunScenario(*spec, registry);
    total_seconds += stopwatch.wall_seconds();
    total_cpu_seconds += stopwatch.cpu_seconds();
    if (!report.ok()) {
      std::fprintf(stderr, "error %s: %s\n", row->name.c_str(), std::string(report.status().message()).c_str());
      return false;
    }
    uint64_t round_trips = 0;
    for (const scenario::ChannelReport& c : report->channels) {
      round_trips += c.metrics.guest_to_host.transactions_finished + c.metrics.host_to_guest.transactions_finished;
    }
    // The same scenario and seed run the same events every time.
    if (row->runs > 0 && (report->events != row->events || round_trips != row->round_trips)) {
      std::fprintf(stderr, "error %s: runs differ (%llu events, then %llu)\n", row->name.c_str(),
                   static_cast<unsigned long long>(row->events), static_cast<unsigned long long>(report->events));
      return false;
    }
    row->events = report->events;
    row->round_trips = round_trips;
    ++row->runs;
  }
  row->wall_seconds = total_seconds / static_cast<double>(row->runs);
  row->cpu_seconds = total_cpu_seconds / static_cast<double>(row->runs);
  return true;
}

// ---- The kernel alone: the hold model.

constexpr size_t kIncrementCount = size_t{1} << 16;
constexpr int64_t kHoldPending = 1000;

struct HoldState {
  sim::Simulator* sim;
  const int64_t* increments;
  uint64_t next = 0;
};

// Captures its state and a payload word, like a model event capturing
// `this` and a packet id.
struct HoldEvent {
  HoldState* state;
  uint64_t payload;
  void operator()() const {
    HoldState& s = *state;
    const int64_t increment = s.increments[s.next++ & (kIncrementCount - 1)];
    s.sim->ScheduleAfter(sim::SimDuration::Nanoseconds(increment), HoldEvent{state, payload + 1});
  }
};

Row KernelRow(int64_t steps) {
  std::vector<int64_t> increments(kIncrementCount);
  sim::Prng prng = sim::Prng::FromSeed(2026).Fork("bench.hold");
  for (int64_t& v : increments) v = sim::Exponential(prng, sim::SimDuration::Nanoseconds(1000)).nanoseconds();
  sim::Simulator simulator(sim::SimulatorOptions{.seed = 1});
  HoldState hold{&simulator, increments.data()};
  for (int64_t i = 0; i < kHoldPending; ++i) {
    simulator.ScheduleAt(sim::SimTime::FromNanoseconds(increments[hold.next++ & (kIncrementCount - 1)]),
                         HoldEvent{&hold, static_cast<uint64_t>(i)});
  }
  const Stopwatch stopwatch;
  simulator.Run({.events_max = static_cast<uint64_t>(steps)});
  Row row{.name = "kernel", .kind = "kernel"};
  row.wall_seconds = stopwatch.wall_seconds();
  row.cpu_seconds = stopwatch.cpu_seconds();
  row.events = simulator.events_executed();
  row.runs = 1;
  return row;
}

// ---- KMCL alone: the closed round-trip loop.

constexpr GUID kType = {0x5ca1ab1e, 0x77, 0x2, {1, 2, 3, 4, 5, 6, 7, 8}};
constexpr int kOutstanding = 32;
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

bool KmclRow(int64_t round_trips, Row* row) {
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
  g_budget = round_trips;
  g_sent = 0;
  g_done = 0;
  world.runtime().RunDispatch(1, 0, [&client] {
    for (int i = 0; i < kOutstanding && g_sent < g_budget; ++i) {
      VMBPACKET p = VmbPacketAllocate(client);
      VmbPacketSetCompletionRoutine(p, Done);
      ++g_sent;
      VmbPacketSend(p, g_request, sizeof(g_request), nullptr, VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION);
    }
  });
  const uint64_t events_before = world.sim().events_executed();
  const Stopwatch stopwatch;
  world.sim().Run({});
  row->wall_seconds = stopwatch.wall_seconds();
  row->cpu_seconds = stopwatch.cpu_seconds();
  row->events = world.sim().events_executed() - events_before;
  row->round_trips = static_cast<uint64_t>(g_done);
  row->runs = 1;
  if (g_done != round_trips) {
    std::fprintf(stderr, "error kmcl: %lld of %lld round trips finished\n", static_cast<long long>(g_done),
                 static_cast<long long>(round_trips));
    return false;
  }
  return true;
}

int Usage() {
  std::fprintf(stderr,
               "usage: bench_table --scenarios DIR [--only NAME]... [--min-seconds S] [--kernel-steps N]\n"
               "                   [--kmcl-round-trips N]\n");
  return 2;
}

}  // namespace
}  // namespace vmbsim::bench

int main(int argc, char** argv) {
  using namespace vmbsim::bench;
  std::string scenarios_dir;
  std::set<std::string> only;
  double min_seconds = 0.3;
  int64_t kernel_steps = 10'000'000;
  int64_t kmcl_round_trips = 1'000'000;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--scenarios" && has_value) {
      scenarios_dir = argv[++i];
    } else if (arg == "--only" && has_value) {
      only.insert(argv[++i]);
    } else if (arg == "--min-seconds" && has_value) {
      if (!absl::SimpleAtod(argv[++i], &min_seconds) || min_seconds < 0) return Usage();
    } else if (arg == "--kernel-steps" && has_value) {
      if (!absl::SimpleAtoi(argv[++i], &kernel_steps) || kernel_steps < 1) return Usage();
    } else if (arg == "--kmcl-round-trips" && has_value) {
      if (!absl::SimpleAtoi(argv[++i], &kmcl_round_trips) || kmcl_round_trips < kOutstanding) return Usage();
    } else {
      return Usage();
    }
  }
  if (scenarios_dir.empty()) return Usage();

  std::vector<std::filesystem::path> files;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(scenarios_dir, error)) {
    if (entry.path().extension() == ".json" && entry.path().filename() != "scenario.schema.json") {
      files.push_back(entry.path());
    }
  }
  if (error) {
    std::fprintf(stderr, "error: --scenarios %s: %s\n", scenarios_dir.c_str(), error.message().c_str());
    return 2;
  }
  std::sort(files.begin(), files.end());
  auto wanted = [&only](const std::string& name) { return only.empty() || only.count(name) > 0; };

  bool ok = true;
  for (const std::filesystem::path& file : files) {
    Row row{.name = file.stem().string(), .kind = "scenario"};
    if (!wanted(row.name)) continue;
    if (RunScenarioRow(file, min_seconds, &row)) {
      Print(row);
    } else {
      ok = false;
    }
  }
  if (wanted("kernel")) Print(KernelRow(kernel_steps));
  if (wanted("kmcl")) {
    Row row{.name = "kmcl", .kind = "kmcl"};
    if (KmclRow(kmcl_round_trips, &row)) {
      Print(row);
    } else {
      ok = false;
    }
  }
  return ok ? 0 : 1;
}
