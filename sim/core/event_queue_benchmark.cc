// event_queue_benchmark.cc
//
// The classic hold model on the kernel, against a plain baseline in the same
// binary and run. N events are pending; each step pops the earliest and
// schedules one new event at now + an exponential increment (mean 1000 ns).
//
//   kernel:   sim::Simulator::Run() over real events: each is a callable
//             capturing its state (16 bytes), cancellable by id, and its
//             run schedules its successor through Simulator::ScheduleAfter.
//   baseline: std::priority_queue of (time, sequence, function pointer).
//
// Both sides draw increments from the same precomputed table (2^16 draws of
// the project's deterministic exponential), so the comparison measures the
// queues, not the sampler. Reported: events/s per side and N, the ratio, and
// bytes per pending event at N = 10^6: peak RSS of the process (reset through
// /proc/self/clear_refs) over a kernel run made first, before any other
// benchmark has touched memory, divided by N. Kernel and baseline runs alternate in rounds and the
// table reports medians, because a shared 2-core machine is noisy.
//
// Run: bazel run --config=opt //sim/core:event_queue_benchmark
//      (--steps=N changes the step count per side and N, default 10^7;
//      --rounds=R the number of interleaved rounds, default 5).

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <queue>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "sim/core/distributions.h"
#include "sim/core/prng.h"
#include "sim/core/simulator.h"

namespace vmbsim::sim {
namespace {

int64_t g_steps = 10'000'000;

constexpr size_t kIncrementCount = size_t{1} << 16;

const std::vector<int64_t>& Increments() {
  static const std::vector<int64_t> increments = [] {
    Prng prng = Prng::FromSeed(2026).Fork("bench.hold");
    std::vector<int64_t> out(kIncrementCount);
    for (int64_t& v : out) v = Exponential(prng, SimDuration::Nanoseconds(1000)).nanoseconds();
    return out;
  }();
  return increments;
}

// Resident-set figures of this process, in bytes, from /proc/self/status.
int64_t ReadStatusBytes(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const size_t len = std::strlen(field);
  while (std::getline(status, line)) {
    if (line.compare(0, len, field) == 0) return std::stoll(line.substr(len + 1)) * 1024;
  }
  return -1;
}

void ResetPeakRss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
}

struct HoldState {
  Simulator* sim;
  const int64_t* increments;
  uint64_t next = 0;
};

// The kernel event: captures its state pointer and a payload word, like a
// model event capturing `this` and a packet id.
struct HoldEvent {
  HoldState* state;
  uint64_t payload;
  void operator()() const {
    HoldState& s = *state;
    const int64_t increment = s.increments[s.next++ & (kIncrementCount - 1)];
    s.sim->ScheduleAfter(SimDuration::Nanoseconds(increment), HoldEvent{state, payload + 1});
  }
};


int64_t g_rounds = 5;

void BM_KernelHold(benchmark::State& state, int64_t n, int64_t steps) {
  for (auto _ : state) {
    state.PauseTiming();
    ResetPeakRss();
    auto sim = std::make_unique<Simulator>(SimulatorOptions{.seed = 1});
    HoldState hold{sim.get(), Increments().data()};
    for (int64_t i = 0; i < n; ++i) {
      sim->ScheduleAt(SimTime::FromNanoseconds(hold.increments[hold.next++ & (kIncrementCount - 1)]),
                      HoldEvent{&hold, static_cast<uint64_t>(i)});
    }
    state.ResumeTiming();
    const RunResult result = sim->Run({.events_max = static_cast<uint64_t>(steps)});
    state.PauseTiming();
    if (result != RunResult::kEventBudgetExhausted || sim->pending_count() != static_cast<size_t>(n)) {
      state.SkipWithError("hold model did not keep N events pending");
    }
    sim.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * steps);
}

// Baseline: a plain priority queue of (time, sequence, function pointer).
struct BaselineItem {
  int64_t time;
  uint64_t seq;
  void (*fn)(struct BaselineContext&, const BaselineItem&);
};
struct BaselineLater {
  bool operator()(const BaselineItem& a, const BaselineItem& b) const {
    return a.time != b.time ? a.time > b.time : a.seq > b.seq;
  }
};
struct BaselineContext {
  std::priority_queue<BaselineItem, std::vector<BaselineItem>, BaselineLater> queue;
  const int64_t* increments;
  uint64_t next = 0;
  uint64_t seq = 0;
  int64_t now = 0;
};
void BaselineFire(BaselineContext& ctx, const BaselineItem&) {
  const int64_t increment = ctx.increments[ctx.next++ & (kIncrementCount - 1)];
  ctx.queue.push(BaselineItem{ctx.now + increment, ctx.seq++, &BaselineFire});
}

void BM_BaselineHold(benchmark::State& state, int64_t n, int64_t steps) {
  for (auto _ : state) {
    state.PauseTiming();
    auto ctx = std::make_unique<BaselineContext>();
    ctx->increments = Increments().data();
    for (int64_t i = 0; i < n; ++i) {
      ctx->queue.push(BaselineItem{ctx->increments[ctx->next++ & (kIncrementCount - 1)], ctx->seq++,
                                   &BaselineFire});
    }
    state.ResumeTiming();
    for (int64_t step = 0; step < steps; ++step) {
      const BaselineItem item = ctx->queue.top();
      ctx->queue.pop();
      ctx->now = item.time;
      item.fn(*ctx, item);
    }
    state.PauseTiming();
    benchmark::DoNotOptimize(ctx->now);
    ctx.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * steps);
}

// Rates per (N, round) for each side.
std::map<std::pair<int64_t, int64_t>, double> g_kernel_rates;
std::map<std::pair<int64_t, int64_t>, double> g_baseline_rates;

// Collects the rates to print the ratio table after the run. Benchmark names
// are "kernel/N/round:R" and "baseline/N/round:R".
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      const std::string name = run.benchmark_name();
      const size_t first = name.find('/');
      const size_t colon = name.find("round:");
      if (first == std::string::npos || colon == std::string::npos) continue;
      const int64_t n = std::stoll(name.substr(first + 1));
      const int64_t round = std::stoll(name.substr(colon + 6));
      const auto it = run.counters.find("items_per_second");
      if (it == run.counters.end()) continue;
      (name.rfind("kernel", 0) == 0 ? g_kernel_rates : g_baseline_rates)[{n, round}] = it->second.value;
    }
  }
};

// Peak RSS / N for a hold run at N pending events, measured before any other
// benchmark has run, so that the process holds nothing else but its code and
// the increment table.
double MeasureBytesPerPendingEvent(int64_t n, int64_t steps) {
  ResetPeakRss();
  {
    auto sim = std::make_unique<Simulator>(SimulatorOptions{.seed = 1});
    HoldState hold{sim.get(), Increments().data()};
    for (int64_t i = 0; i < n; ++i) {
      sim->ScheduleAt(SimTime::FromNanoseconds(hold.increments[hold.next++ & (kIncrementCount - 1)]),
                      HoldEvent{&hold, static_cast<uint64_t>(i)});
    }
    sim->Run({.events_max = static_cast<uint64_t>(steps)});
  }
  return static_cast<double>(ReadStatusBytes("VmHWM:")) / static_cast<double>(n);
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0.0 : values[values.size() / 2];
}

}  // namespace
}  // namespace vmbsim::sim

int main(int argc, char** argv) {
  using namespace vmbsim::sim;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--steps=", 8) == 0) g_steps = std::stoll(argv[i] + 8);
    if (std::strncmp(argv[i], "--rounds=", 9) == 0) g_rounds = std::max(1LL, std::stoll(argv[i] + 9));
  }
  benchmark::Initialize(&argc, argv);
  Increments();  // Built before the memory measurement: both sides share it.
  const double bytes_per_pending = MeasureBytesPerPendingEvent(1000000, 2000000);
  // Kernel and baseline alternate round by round, so that a slow phase of a
  // shared machine hits both sides; each round runs steps / rounds steps per
  // side, and the table reports medians over the rounds.
  const int64_t steps_per_round = std::max<int64_t>(1, g_steps / g_rounds);
  for (const int64_t n : {int64_t{1000}, int64_t{100000}, int64_t{1000000}}) {
    for (int64_t round = 0; round < g_rounds; ++round) {
      const std::string suffix = "/" + std::to_string(n) + "/round:" + std::to_string(round);
      benchmark::RegisterBenchmark(("kernel" + suffix).c_str(), BM_KernelHold, n, steps_per_round)
          ->Iterations(1)
          ->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark(("baseline" + suffix).c_str(), BM_BaselineHold, n, steps_per_round)
          ->Iterations(1)
          ->Unit(benchmark::kMillisecond);
    }
  }
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\nhold model, %lld steps per side and N in %lld interleaved rounds\n"
              "(events/s, medians over rounds; ratio = median of per-round kernel / std::priority_queue baseline)\n",
              static_cast<long long>(steps_per_round * g_rounds), static_cast<long long>(g_rounds));
  std::printf("%10s %16s %16s %8s %16s\n", "N", "kernel", "baseline", "ratio", "bytes/pending");
  for (const int64_t n : {int64_t{1000}, int64_t{100000}, int64_t{1000000}}) {
    std::vector<double> kernel;
    std::vector<double> baseline;
    std::vector<double> ratios;
    for (int64_t round = 0; round < g_rounds; ++round) {
      const auto k = g_kernel_rates.find({n, round});
      const auto b = g_baseline_rates.find({n, round});
      if (k == g_kernel_rates.end() || b == g_baseline_rates.end()) continue;
      kernel.push_back(k->second);
      baseline.push_back(b->second);
      ratios.push_back(k->second / b->second);
    }
    if (ratios.empty()) continue;
    std::printf("%10lld %16.0f %16.0f %8.2f", static_cast<long long>(n), Median(kernel), Median(baseline),
                Median(ratios));
    if (n == 1000000) {
      std::printf(" %16.1f\n", bytes_per_pending);
    } else {
      std::printf(" %16s\n", "-");
    }
  }
  benchmark::Shutdown();
  return 0;
}
