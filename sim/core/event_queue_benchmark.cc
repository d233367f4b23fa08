// event_queue_benchmark.cc
//
// The classic hold model on the kernel, against two plain baselines written
// here, in the same binary and run. N events are pending; each step pops the
// earliest and schedules one new event at now + an exponential increment
// (mean 1000 ns).
//
//   kernel: sim::Simulator::Run() over real events: each is a callable
//           capturing its state pointer and a payload word (16 bytes),
//           cancellable by id, and its run schedules its successor through
//           Simulator::ScheduleAfter.
//   wheel:  a raw bucket wheel, the fast baseline: 2^16 buckets of 1 ns
//           covering the window [base, base + 2^16 ns), each a FIFO list of
//           32-byte nodes (time, function pointer, payload, next) from one
//           pool sized for N, so a bucket holds a single due time and its
//           list order is the insertion order: (time, sequence) order
//           without a comparison. Events beyond the window wait in an
//           overflow list and move in, in order, when the window advances;
//           a bitmap finds the next non-empty bucket. It knows the model's
//           time scale (1 ns resolution, increments of about 1 us), which
//           the kernel does not; no cancellation, no tie-break.
//   heap:   std::priority_queue of (time, sequence, function pointer).
//
// Every side draws its increments from the same precomputed table (2^16
// draws of the project's deterministic exponential), so the comparison
// measures the queues, not the sampler. Sides alternate in rounds and the
// table reports medians over rounds of events/s and of the per-round ratios
// kernel/wheel and kernel/heap, because a shared machine is noisy.
//
// Bytes per pending event: this binary replaces operator new and delete
// with counting versions (the bytes malloc_usable_size reports, so the
// allocator's rounding is included); a side's figure is the peak of bytes
// allocated during its first round (setup and run) above what was allocated
// before it started, divided by N. Static data (the increment table) is
// shared and left out.
//
// Instructions per event: `--only=SIDE --pending=N --steps=S` runs one side
// once without the benchmark library; the steps run inside a function named
// SIDE + "Steps" (KernelSteps, WheelSteps, HeapSteps) so that callgrind can
// count them alone (sim/core/event_queue_instructions.sh does it):
//
//   valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*KernelSteps*'
//     bazel-bin/sim/core/event_queue_benchmark --only=kernel --pending=1000 --steps=1000000
//
// Run: bazel run --config=opt //sim/core:event_queue_benchmark
//      (--steps=S: steps per side and N, default 10^7, split over the
//      rounds; --rounds=R: interleaved rounds, default 5).

#include <malloc.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <queue>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "sim/core/distributions.h"
#include "sim/core/prng.h"
#include "sim/core/simulator.h"

// ---- Counting allocator: bytes live through operator new, and their peak.

namespace {
size_t g_live_bytes = 0;
size_t g_peak_bytes = 0;

void* CountedAllocate(size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  g_live_bytes += malloc_usable_size(p);
  g_peak_bytes = std::max(g_peak_bytes, g_live_bytes);
  return p;
}

void CountedFree(void* p) {
  if (p == nullptr) return;
  g_live_bytes -= malloc_usable_size(p);
  std::free(p);
}
}  // namespace

void* operator new(size_t size) { return CountedAllocate(size); }
void* operator new[](size_t size) { return CountedAllocate(size); }
void operator delete(void* p) noexcept { CountedFree(p); }
void operator delete[](void* p) noexcept { CountedFree(p); }
void operator delete(void* p, size_t) noexcept { CountedFree(p); }
void operator delete[](void* p, size_t) noexcept { CountedFree(p); }

namespace vmbsim::sim {
namespace {

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

// ---- The kernel side.

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

struct KernelSide {
  std::unique_ptr<Simulator> sim;
  HoldState hold{};

  explicit KernelSide(int64_t n) : sim(std::make_unique<Simulator>(SimulatorOptions{.seed = 1})) {
    hold = HoldState{sim.get(), Increments().data()};
    for (int64_t i = 0; i < n; ++i) {
      sim->ScheduleAt(SimTime::FromNanoseconds(hold.increments[hold.next++ & (kIncrementCount - 1)]),
                      HoldEvent{&hold, static_cast<uint64_t>(i)});
    }
  }
  size_t pending() const { return sim->pending_count(); }
};

__attribute__((noinline)) void KernelSteps(KernelSide& side, int64_t steps) {
  side.sim->Run({.events_max = static_cast<uint64_t>(steps)});
}

// ---- The raw bucket wheel.

class Wheel {
 public:
  using Fn = void (*)(Wheel& wheel, uint64_t payload);
  static constexpr int kSpanBits = 16;
  static constexpr int64_t kSpan = int64_t{1} << kSpanBits;  // Buckets, 1 ns each.
  static constexpr uint32_t kNil = 0xFFFFFFFFu;

  explicit Wheel(size_t capacity) : buckets_(kSpan, Bucket{kNil, kNil}), bitmap_(kSpan / 64, 0) {
    nodes_.reserve(capacity);
  }

  int64_t now() const { return now_; }
  size_t size() const { return size_; }

  void Schedule(int64_t time, Fn fn, uint64_t payload) {
    ++size_;
    uint32_t index;
    if (free_ != kNil) {
      index = free_;
      free_ = nodes_[index].next;
      nodes_[index] = Node{time, fn, payload, kNil};
    } else {
      index = static_cast<uint32_t>(nodes_.size());
      nodes_.push_back(Node{time, fn, payload, kNil});
    }
    if (time - base_ < kSpan) {
      Append(static_cast<uint32_t>(time - base_), index);
    } else {
      overflow_.push_back(index);
    }
  }

  // Pops the earliest event and runs it. REQUIRES: an event is pending.
  void RunNext() {
    while (buckets_[cursor_].head == kNil) Advance();
    Bucket& bucket = buckets_[cursor_];
    const uint32_t index = bucket.head;
    Node& node = nodes_[index];
    bucket.head = node.next;
    if (bucket.head == kNil) {
      bucket.tail = kNil;
      bitmap_[cursor_ >> 6] &= ~(uint64_t{1} << (cursor_ & 63));
    }
    const Fn fn = node.fn;
    const uint64_t payload = node.payload;
    now_ = node.time;
    --size_;
    node.next = free_;
    free_ = index;
    fn(*this, payload);
  }

 private:
  struct Node {
    int64_t time;
    Fn fn;
    uint64_t payload;
    uint32_t next;
  };
  struct Bucket {
    uint32_t head;
    uint32_t tail;
  };

  void Append(uint32_t bucket_index, uint32_t node_index) {
    Bucket& bucket = buckets_[bucket_index];
    if (bucket.tail == kNil) {
      bucket.head = node_index;
      bitmap_[bucket_index >> 6] |= uint64_t{1} << (bucket_index & 63);
    } else {
      nodes_[bucket.tail].next = node_index;
    }
    bucket.tail = node_index;
  }

  // Moves the cursor to the next non-empty bucket, advancing the window
  // (and moving overflow events in, in order) when this one is exhausted.
  void Advance() {
    uint32_t word = cursor_ >> 6;
    uint64_t bits = bitmap_[word] & (~uint64_t{0} << (cursor_ & 63));
    while (bits == 0 && ++word < bitmap_.size()) bits = bitmap_[word];
    if (bits != 0) {
      cursor_ = (word << 6) | static_cast<uint32_t>(__builtin_ctzll(bits));
      return;
    }
    // The window is empty: move it to the next span that holds an overflow
    // event (the earliest's span), then bring that span's events in.
    int64_t earliest = INT64_MAX;
    for (const uint32_t index : overflow_) earliest = std::min(earliest, nodes_[index].time);
    base_ = earliest - earliest % kSpan;
    cursor_ = 0;
    size_t kept = 0;
    for (const uint32_t index : overflow_) {
      const int64_t time = nodes_[index].time;
      if (time - base_ < kSpan) {
        Append(static_cast<uint32_t>(time - base_), index);
      } else {
        overflow_[kept++] = index;
      }
    }
    overflow_.resize(kept);
  }

  std::vector<Node> nodes_;
  uint32_t free_ = kNil;
  std::vector<Bucket> buckets_;
  std::vector<uint64_t> bitmap_;  // Bit b: bucket b is non-empty.
  std::vector<uint32_t> overflow_;  // Due at or after base_ + kSpan, in insertion order.
  int64_t base_ = 0;
  uint32_t cursor_ = 0;
  int64_t now_ = 0;
  size_t size_ = 0;
};

struct WheelSide {
  Wheel wheel;
  const int64_t* increments = Increments().data();
  uint64_t next = 0;

  static void Fire(Wheel& wheel, uint64_t payload);

  explicit WheelSide(int64_t n) : wheel(static_cast<size_t>(n)) {
    for (int64_t i = 0; i < n; ++i) {
      wheel.Schedule(increments[next++ & (kIncrementCount - 1)], &Fire, static_cast<uint64_t>(i));
    }
  }
  size_t pending() const { return wheel.size(); }
};

WheelSide* g_wheel_side = nullptr;  // Fire's context (the wheel is its first member).

void WheelSide::Fire(Wheel& wheel, uint64_t payload) {
  WheelSide& side = *g_wheel_side;
  const int64_t increment = side.increments[side.next++ & (kIncrementCount - 1)];
  wheel.Schedule(wheel.now() + increment, &Fire, payload + 1);
}

__attribute__((noinline)) void WheelSteps(WheelSide& side, int64_t steps) {
  g_wheel_side = &side;
  for (int64_t step = 0; step < steps; ++step) side.wheel.RunNext();
}

// ---- The binary heap.

struct HeapItem {
  int64_t time;
  uint64_t seq;
  void (*fn)(struct HeapSide& side, const HeapItem& item);
};
struct HeapLater {
  bool operator()(const HeapItem& a, const HeapItem& b) const {
    return a.time != b.time ? a.time > b.time : a.seq > b.seq;
  }
};
struct HeapSide {
  std::priority_queue<HeapItem, std::vector<HeapItem>, HeapLater> queue;
  const int64_t* increments = Increments().data();
  uint64_t next = 0;
  uint64_t seq = 0;
  int64_t now = 0;

  static void Fire(HeapSide& side, const HeapItem&) {
    const int64_t increment = side.increments[side.next++ & (kIncrementCount - 1)];
    side.queue.push(HeapItem{side.now + increment, side.seq++, &Fire});
  }

  explicit HeapSide(int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      queue.push(HeapItem{increments[next++ & (kIncrementCount - 1)], seq++, &Fire});
    }
  }
  size_t pending() const { return queue.size(); }
};

__attribute__((noinline)) void HeapSteps(HeapSide& side, int64_t steps) {
  for (int64_t step = 0; step < steps; ++step) {
    const HeapItem item = side.queue.top();
    side.queue.pop();
    side.now = item.time;
    item.fn(side, item);
  }
}

// ---- Measurement.

constexpr int64_t kSizes[] = {1000, 100000, 1000000};
const char* const kSideNames[] = {"kernel", "wheel", "heap"};
enum Side { kKernel, kWheel, kHeap, kSideCount };

// Per (side, N): events/s per round, and peak bytes per pending event.
std::map<std::pair<int, int64_t>, std::vector<double>> g_rates;
std::map<std::pair<int, int64_t>, double> g_bytes_per_pending;

template <typename SideT, void (*StepsFn)(SideT&, int64_t)>
void BM_Hold(benchmark::State& state, int side_index, int64_t n, int64_t steps) {
  for (auto _ : state) {
    state.PauseTiming();
    const size_t live_before = g_live_bytes;
    g_peak_bytes = g_live_bytes;
    auto side = std::make_unique<SideT>(n);
    state.ResumeTiming();
    StepsFn(*side, steps);
    state.PauseTiming();
    if (side->pending() != static_cast<size_t>(n)) state.SkipWithError("hold model did not keep N events pending");
    const double bytes = static_cast<double>(g_peak_bytes - live_before) / static_cast<double>(n);
    g_bytes_per_pending.try_emplace({side_index, n}, bytes);
    side.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * steps);
}

// Collects events/s per (side, N) from the runs "SIDE/N/round:R".
class RateReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      const std::string name = run.benchmark_name();
      const size_t slash = name.find('/');
      const auto it = run.counters.find("items_per_second");
      if (slash == std::string::npos || it == run.counters.end()) continue;
      for (int side = 0; side < kSideCount; ++side) {
        if (name.compare(0, slash, kSideNames[side]) == 0) {
          g_rates[{side, std::stoll(name.substr(slash + 1))}].push_back(it->second.value);
        }
      }
    }
  }
};

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0.0 : values[values.size() / 2];
}

// Median over rounds of the per-round ratio of two sides' rates.
double MedianRatio(int numerator, int denominator, int64_t n) {
  const std::vector<double>& a = g_rates[{numerator, n}];
  const std::vector<double>& b = g_rates[{denominator, n}];
  std::vector<double> ratios;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) ratios.push_back(a[i] / b[i]);
  return Median(ratios);
}

// One side, once, for callgrind: see the file comment.
int RunOnce(const std::string& only, int64_t n, int64_t steps) {
  size_t pending = 0;
  if (only == "kernel") {
    KernelSide side(n);
    KernelSteps(side, steps);
    pending = side.pending();
  } else if (only == "wheel") {
    WheelSide side(n);
    WheelSteps(side, steps);
    pending = side.pending();
  } else if (only == "heap") {
    HeapSide side(n);
    HeapSteps(side, steps);
    pending = side.pending();
  } else {
    std::fprintf(stderr, "--only: kernel, wheel or heap\n");
    return 2;
  }
  std::printf("%s: %lld pending, %lld steps\n", only.c_str(), static_cast<long long>(pending),
              static_cast<long long>(steps));
  return pending == static_cast<size_t>(n) ? 0 : 1;
}

}  // namespace
}  // namespace vmbsim::sim

int main(int argc, char** argv) {
  using namespace vmbsim::sim;
  int64_t steps = 10'000'000;
  int64_t rounds = 5;
  int64_t pending = 1000;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--steps=", 8) == 0) steps = std::max(1LL, std::stoll(argv[i] + 8));
    if (std::strncmp(argv[i], "--rounds=", 9) == 0) rounds = std::max(1LL, std::stoll(argv[i] + 9));
    if (std::strncmp(argv[i], "--pending=", 10) == 0) pending = std::max(1LL, std::stoll(argv[i] + 10));
    if (std::strncmp(argv[i], "--only=", 7) == 0) only = argv[i] + 7;
  }
  Increments();  // Built before any measurement: every side shares it.
  if (!only.empty()) return RunOnce(only, pending, steps);
  benchmark::Initialize(&argc, argv);
  // Sides alternate round by round, so that a slow phase of a shared machine
  // hits all of them; each round runs steps / rounds steps per side.
  const int64_t steps_per_round = std::max<int64_t>(1, steps / rounds);
  for (const int64_t n : kSizes) {
    for (int64_t round = 0; round < rounds; ++round) {
      const std::string suffix = "/" + std::to_string(n) + "/round:" + std::to_string(round);
      benchmark::RegisterBenchmark(("kernel" + suffix).c_str(), BM_Hold<KernelSide, KernelSteps>, kKernel, n,
                                   steps_per_round)
          ->Iterations(1)
          ->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark(("wheel" + suffix).c_str(), BM_Hold<WheelSide, WheelSteps>, kWheel, n,
                                   steps_per_round)
          ->Iterations(1)
          ->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark(("heap" + suffix).c_str(), BM_Hold<HeapSide, HeapSteps>, kHeap, n,
                                   steps_per_round)
          ->Iterations(1)
          ->Unit(benchmark::kMillisecond);
    }
  }
  RateReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\nhold model, %lld steps per side and N in %lld interleaved rounds\n"
              "(M events/s: medians over rounds; ratios: medians of per-round ratios;\n"
              " bytes/pending: peak bytes through operator new over N, first round)\n",
              static_cast<long long>(steps_per_round * rounds), static_cast<long long>(rounds));
  std::printf("%8s %8s %8s %8s %12s %12s %10s %10s %10s\n", "N", "kernel", "wheel", "heap", "kernel/wheel",
              "kernel/heap", "B kernel", "B wheel", "B heap");
  for (const int64_t n : kSizes) {
    std::printf("%8lld %8.2f %8.2f %8.2f %12.2f %12.2f %10.1f %10.1f %10.1f\n", static_cast<long long>(n),
                Median(g_rates[{kKernel, n}]) / 1e6, Median(g_rates[{kWheel, n}]) / 1e6,
                Median(g_rates[{kHeap, n}]) / 1e6, MedianRatio(kKernel, kWheel, n), MedianRatio(kKernel, kHeap, n),
                g_bytes_per_pending[{kKernel, n}], g_bytes_per_pending[{kWheel, n}], g_bytes_per_pending[{kHeap, n}]);
  }
  benchmark::Shutdown();
  return 0;
}
