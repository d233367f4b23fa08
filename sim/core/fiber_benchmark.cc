// fiber_benchmark.cc
//
// What a fiber switch costs: one Resume and one Suspend (a blocked PASSIVE
// worker woken and blocking again), against a ucontext ping-pong written
// here (swapcontext both ways, as sim::Fiber switched before it had its own
// switch code), measured in the same run. Report the ratio of the two
// times per round trip.
//
//   bazel run --config=opt //sim/core:fiber_benchmark

#include <ucontext.h>

#include <cstdint>
#include <memory>

#include "benchmark/benchmark.h"
#include "sim/core/fiber.h"

namespace vmbsim::sim {
namespace {

void BM_FiberResumeSuspend(benchmark::State& state) {
  bool done = false;
  Fiber fiber([&done] {
    while (!done) Fiber::Suspend();
  });
  for (auto _ : state) fiber.Resume();
  done = true;
  fiber.Resume();
}
BENCHMARK(BM_FiberResumeSuspend);

// The baseline: the same round trip with swapcontext.
ucontext_t caller_context;
ucontext_t callee_context;
bool callee_done = false;

void Callee() {
  while (!callee_done) swapcontext(&callee_context, &caller_context);
}

void BM_SwapcontextRoundTrip(benchmark::State& state) {
  constexpr size_t kStackBytes = 256 * 1024;
  auto stack = std::make_unique<char[]>(kStackBytes);
  getcontext(&callee_context);
  callee_context.uc_stack.ss_sp = stack.get();
  callee_context.uc_stack.ss_size = kStackBytes;
  callee_context.uc_link = &caller_context;
  makecontext(&callee_context, &Callee, 0);
  callee_done = false;
  for (auto _ : state) swapcontext(&caller_context, &callee_context);
  callee_done = true;
  swapcontext(&caller_context, &callee_context);
}
BENCHMARK(BM_SwapcontextRoundTrip);

}  // namespace
}  // namespace vmbsim::sim

BENCHMARK_MAIN();
