// Goal: the run loop advances the clock to each event, stops for the reason
// it reports (queue empty, end time, event budget, stop request), continues
// where it stopped, and several simulators coexist.
#include "sim/core/simulator.h"

#include <vector>

#include "gtest/gtest.h"

namespace vmbsim::sim {
namespace {

SimTime T(int64_t ns) { return SimTime::FromNanoseconds(ns); }

TEST(SimulatorTest, RunsEventsInOrderAndAdvancesTheClock) {
  Simulator sim({.seed = 1});
  std::vector<int64_t> seen;
  sim.ScheduleAt(T(50), [&] { seen.push_back(sim.Now().nanoseconds()); });
  sim.ScheduleAfter(SimDuration::Nanoseconds(20), [&] {
    seen.push_back(sim.Now().nanoseconds());
    sim.ScheduleAfter(SimDuration::Nanoseconds(5), [&] { seen.push_back(sim.Now().nanoseconds()); });
  });
  EXPECT_EQ(sim.Run({}), RunResult::kQueueEmpty);
  EXPECT_EQ(seen, (std::vector<int64_t>{20, 25, 50}));
  EXPECT_EQ(sim.Now(), T(50));
  EXPECT_EQ(sim.events_executed(), 3u);
}

TEST(SimulatorTest, EndTimeStopsAndTheRunCanContinue) {
  Simulator sim({.seed = 1});
  int ran = 0;
  for (int i = 1; i <= 10; ++i) sim.ScheduleAt(T(i * 100), [&ran] { ++ran; });
  EXPECT_EQ(sim.Run({.end_time = T(450)}), RunResult::kEndTimeReached);
  EXPECT_EQ(ran, 4);
  EXPECT_EQ(sim.Now(), T(450));  // The clock rests at the end time.
  EXPECT_EQ(sim.Run({.end_time = T(500)}), RunResult::kEndTimeReached);
  EXPECT_EQ(ran, 5);  // An event exactly at the end time runs.
  EXPECT_EQ(sim.Run({}), RunResult::kQueueEmpty);
  EXPECT_EQ(ran, 10);
}

TEST(SimulatorTest, EventBudgetStops) {
  Simulator sim({.seed = 1});
  // A self-perpetuating event: without a budget it would never stop.
  struct Tick {
    Simulator* sim;
    void operator()() const { sim->ScheduleAfter(SimDuration::Nanoseconds(1), Tick{sim}); }
  };
  sim.ScheduleAt(T(0), Tick{&sim});
  EXPECT_EQ(sim.Run({.events_max = 1000}), RunResult::kEventBudgetExhausted);
  EXPECT_EQ(sim.events_executed(), 1000u);
  EXPECT_EQ(sim.Now(), T(999));
  EXPECT_EQ(sim.Run({.events_max = 10}), RunResult::kEventBudgetExhausted);
  EXPECT_EQ(sim.events_executed(), 1010u);
}

TEST(SimulatorTest, StopRequestStopsAfterTheRunningEvent) {
  Simulator sim({.seed = 1});
  int ran = 0;
  sim.ScheduleAt(T(1), [&] { ++ran; sim.RequestStop(); });
  sim.ScheduleAt(T(2), [&ran] { ++ran; });
  EXPECT_EQ(sim.Run({}), RunResult::kStopRequested);
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(sim.Run({}), RunResult::kQueueEmpty);
  EXPECT_EQ(ran, 2);
}

TEST(SimulatorTest, CancelledEventsDoNotRun) {
  Simulator sim({.seed = 1});
  bool ran = false;
  const EventId id = sim.ScheduleAt(T(5), [&ran] { ran = true; });
  EXPECT_TRUE(sim.IsPending(id));
  EXPECT_TRUE(sim.Cancel(id));
  EXPECT_EQ(sim.Run({}), RunResult::kQueueEmpty);
  EXPECT_FALSE(ran);
}

TEST(SimulatorTest, SimulatorsAreIndependent) {
  Simulator a({.seed = 1});
  Simulator b({.seed = 2});
  int a_ran = 0;
  int b_ran = 0;
  a.ScheduleAt(T(10), [&a_ran] { ++a_ran; });
  b.ScheduleAt(T(20), [&b_ran] { ++b_ran; });
  a.Run({});
  EXPECT_EQ(a_ran, 1);
  EXPECT_EQ(b_ran, 0);
  EXPECT_EQ(b.Now(), T(0));
  b.Run({});
  EXPECT_EQ(b_ran, 1);
  EXPECT_NE(a.ForkPrng("x").Next64(), b.ForkPrng("x").Next64());
  EXPECT_EQ(a.ForkPrng("x").Next64(), Simulator({.seed = 1}).ForkPrng("x").Next64());
}

TEST(SimulatorTest, AfterEventHookRunsAfterEveryEvent) {
  Simulator sim({.seed = 1});
  int hooks = 0;
  sim.SetAfterEventHook([&hooks] { ++hooks; });
  for (int i = 0; i < 5; ++i) sim.ScheduleAt(T(i), [] {});
  sim.Run({});
  EXPECT_EQ(hooks, 5);
}

TEST(SimulatorDeathTest, SchedulingIntoThePastNamesTheTimes) {
  Simulator sim({.seed = 77});
  sim.ScheduleAt(T(100), [&sim] { sim.ScheduleAt(T(50), [] {}); });
  EXPECT_DEATH(sim.Run({}), "scheduling into the past: 50ns < now 100ns.*seed=77 t=100ns");
}

}  // namespace
}  // namespace vmbsim::sim
