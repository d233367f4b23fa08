// Goal: fibers switch deterministically between the run loop and blocked
// code: a body runs until it suspends, resumes where it stopped, finishes;
// several fibers interleave as the run loop orders them; code can block in
// virtual time by suspending until an event resumes it; misuse aborts.
// Runs under ASan as well (the switches are announced to it).
#include "sim/core/fiber.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sim/core/simulator.h"

namespace vmbsim::sim {
namespace {

TEST(FiberTest, RunsSuspendsResumesAndFinishes) {
  std::vector<std::string> log;
  Fiber fiber([&log] {
    log.push_back("a");
    EXPECT_TRUE(Fiber::InFiber());
    Fiber::Suspend();
    log.push_back("b");
    Fiber::Suspend();
    log.push_back("c");
  });
  EXPECT_FALSE(Fiber::InFiber());
  fiber.Resume();
  EXPECT_EQ(log, (std::vector<std::string>{"a"}));
  EXPECT_FALSE(fiber.finished());
  fiber.Resume();
  fiber.Resume();
  EXPECT_EQ(log, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(fiber.finished());
  EXPECT_EQ(fiber.resume_count(), 3u);
  EXPECT_FALSE(Fiber::InFiber());
}

TEST(FiberTest, LocalsSurviveSuspensionAndDeepStacksWork) {
  int result = 0;
  Fiber fiber([&result] {
    // A recursive sum with a suspension at the bottom keeps every frame live.
    struct Rec {
      static int Sum(int n) {
        if (n == 0) {
          Fiber::Suspend();
          return 0;
        }
        volatile char pad[64] = {};
        return n + Sum(n - 1) + pad[0];
      }
    };
    result = Rec::Sum(500);
  });
  fiber.Resume();
  EXPECT_EQ(result, 0);
  fiber.Resume();
  EXPECT_EQ(result, 500 * 501 / 2);
  EXPECT_TRUE(fiber.finished());
}

// A blocking call in virtual time: the fiber sleeps until an event resumes it.
void SleepFor(Simulator& sim, SimDuration d) {
  Fiber* self = Fiber::Current();
  sim.ScheduleAfter(d, [self] { self->Resume(); });
  Fiber::Suspend();
}

TEST(FiberTest, FibersBlockInVirtualTimeAndInterleaveDeterministically) {
  Simulator sim({.seed = 1});
  std::vector<std::pair<int64_t, int>> log;
  std::vector<std::unique_ptr<Fiber>> fibers;
  for (int id = 0; id < 3; ++id) {
    fibers.push_back(std::make_unique<Fiber>([&sim, &log, id] {
      for (int step = 0; step < 3; ++step) {
        log.emplace_back(sim.Now().nanoseconds(), id);
        SleepFor(sim, SimDuration::Nanoseconds(100 * (id + 1)));
      }
    }));
    Fiber* fiber = fibers.back().get();
    sim.ScheduleAt(SimTime::Zero(), [fiber] { fiber->Resume(); });
  }
  sim.Run({});
  for (const auto& fiber : fibers) EXPECT_TRUE(fiber->finished());
  // At 200 both fiber 1 (woken by an event scheduled at 0) and fiber 0
  // (scheduled at 100) are due: the earlier-scheduled wake-up runs first.
  const std::vector<std::pair<int64_t, int>> expected = {
      {0, 0}, {0, 1}, {0, 2}, {100, 0}, {200, 1}, {200, 0}, {300, 2}, {400, 1}, {600, 2}};
  EXPECT_EQ(log, expected);
}

TEST(FiberDeathTest, MisuseAborts) {
  EXPECT_DEATH(Fiber::Suspend(), "only a fiber can suspend");
  EXPECT_DEATH(
      {
        Fiber outer([] {
          Fiber inner([] {});
          inner.Resume();  // Nested: not allowed.
        });
        outer.Resume();
      },
      "fibers do not nest");
  EXPECT_DEATH(
      {
        Fiber done([] {});
        done.Resume();
        done.Resume();
      },
      "resuming a finished fiber");
}

}  // namespace
}  // namespace vmbsim::sim
