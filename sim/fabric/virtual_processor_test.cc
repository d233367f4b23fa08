// Goal: a VP runs work serially, DISPATCH before PASSIVE, occupying itself for
// each item's cost and charges, timing effects on its local clock; stalls
// delay work; busy time and queue depth are measured.
#include "sim/fabric/virtual_processor.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sim/core/trace.h"
#include "sim/fabric/trace_kinds.h"

namespace vmbsim::fabric {
namespace {

using sim::SimDuration;
using sim::SimTime;

SimDuration Ns(int64_t ns) { return SimDuration::Nanoseconds(ns); }

struct Log {
  std::vector<std::pair<int64_t, std::string>> entries;
  void Add(SimTime t, std::string what) { entries.emplace_back(t.nanoseconds(), std::move(what)); }
};

TEST(VirtualProcessorTest, RunsSeriallyDispatchFirst) {
  sim::Simulator sim({.seed = 1});
  VirtualProcessor vp(&sim, 0, 0);
  Log log;
  struct Ctx {
    sim::Simulator* sim;
    VirtualProcessor* vp;
    Log* log;
  } ctx{&sim, &vp, &log};
  vp.Queue(Irql::kPassive, Ns(100), [c = &ctx] { c->log->Add(c->sim->Now(), "passive1"); });
  vp.Queue(Irql::kPassive, Ns(100), [c = &ctx] { c->log->Add(c->sim->Now(), "passive2"); });
  vp.Queue(Irql::kDispatch, Ns(50), [c = &ctx] {
    c->log->Add(c->sim->Now(), "dpc");
    EXPECT_EQ(c->vp->current_irql(), Irql::kDispatch);
  });
  EXPECT_EQ(vp.queue_depth(), 3u);
  sim.Run({});
  ASSERT_EQ(log.entries.size(), 3u);
  EXPECT_EQ(log.entries[0], std::make_pair(int64_t{0}, std::string("dpc")));
  EXPECT_EQ(log.entries[1], std::make_pair(int64_t{50}, std::string("passive1")));
  EXPECT_EQ(log.entries[2], std::make_pair(int64_t{150}, std::string("passive2")));
  EXPECT_EQ(vp.busy_time(), Ns(250));
  EXPECT_EQ(vp.items_run(), 3u);
  EXPECT_EQ(vp.queue_depth_max(), 3u);
  // The last item started at 150 and occupies the VP until 250.
  EXPECT_FALSE(vp.idle());
  bool idle_at_250 = false;
  sim.ScheduleAt(SimTime::FromNanoseconds(250), [&] { idle_at_250 = vp.idle(); });
  sim.Run({});
  EXPECT_TRUE(idle_at_250);
}

TEST(VirtualProcessorTest, ChargesMoveTheLocalClockAndDelayTheNextItem) {
  sim::Simulator sim({.seed = 1});
  VirtualProcessor vp(&sim, 0, 0);
  std::vector<int64_t> seen;
  struct Ctx {
    VirtualProcessor* vp;
    std::vector<int64_t>* seen;
  } ctx{&vp, &seen};
  vp.Queue(Irql::kDispatch, Ns(10), [c = &ctx] {
    c->seen->push_back(c->vp->LocalNow().nanoseconds());  // 10: base cost charged first.
    c->vp->Charge(Ns(90));
    c->seen->push_back(c->vp->LocalNow().nanoseconds());  // 100.
    // Work queued from inside running work waits for this item to end.
    c->vp->Queue(Irql::kDispatch, Ns(0), [c] { c->seen->push_back(c->vp->LocalNow().nanoseconds()); });
  });
  sim.Run({});
  EXPECT_EQ(seen, (std::vector<int64_t>{10, 100, 100}));
  EXPECT_EQ(vp.busy_time(), Ns(100));
}

TEST(VirtualProcessorTest, StallDelaysStartAndEnd) {
  sim::Simulator sim({.seed = 1});
  VirtualProcessor vp(&sim, 0, 0);
  std::vector<int64_t> starts;
  struct Ctx {
    sim::Simulator* sim;
    std::vector<int64_t>* starts;
  } ctx{&sim, &starts};
  // Idle VP stalled for 500 ns: work queued at 0 starts at 500.
  vp.Stall(Ns(500));
  vp.Queue(Irql::kPassive, Ns(100), [c = &ctx] { c->starts->push_back(c->sim->Now().nanoseconds()); });
  // A second item, queued now, would start at 600; a stall at 550 (while the
  // first item runs) of 200 ns pushes the first item's end to 800.
  vp.Queue(Irql::kPassive, Ns(100), [c = &ctx] { c->starts->push_back(c->sim->Now().nanoseconds()); });
  sim.ScheduleAt(SimTime::FromNanoseconds(550), [&vp] { vp.Stall(Ns(200)); });
  // An overlapping stall at 600 until 700 adds nothing.
  sim.ScheduleAt(SimTime::FromNanoseconds(600), [&vp] { vp.Stall(Ns(100)); });
  sim.Run({});
  EXPECT_EQ(starts, (std::vector<int64_t>{500, 800}));
  EXPECT_EQ(vp.stalled_time(), Ns(700));
  EXPECT_EQ(vp.busy_time(), Ns(200));
}

// Goal: each item is traced as a start and an end record, the end stamped at
// the item's local clock after its cost and charges and carrying that busy
// time, so a timeline can draw the item as one slice.
TEST(VirtualProcessorTest, TracesEachItemsStartAndEnd) {
  sim::Simulator sim({.seed = 1});
  sim::RecordingTraceSink trace;
  sim.tracer().AddSink(&trace);
  VirtualProcessor vp(&sim, 3, 1);
  vp.Queue(Irql::kPassive, Ns(100), [] {});
  vp.Queue(Irql::kDispatch, Ns(50), [v = &vp] { v->Charge(Ns(30)); });
  sim.Run({});
  struct Seen {
    uint16_t kind;
    int64_t time_ns;
    uint64_t irql;
    uint64_t size0;
    bool operator==(const Seen&) const = default;
  };
  std::vector<Seen> seen;
  for (const sim::TraceRecord& r : trace.records()) {
    EXPECT_EQ(r.partition, 3u);
    EXPECT_EQ(r.vp, 1u);
    seen.push_back({r.kind, r.time.nanoseconds(), r.id0, r.size0});
  }
  const uint16_t start = TraceKind(FabricTraceKind::kVpWorkStart);
  const uint16_t end = TraceKind(FabricTraceKind::kVpWorkEnd);
  const std::vector<Seen> expected = {
      {start, 0, 2, 1},   // size0: queue depth after dequeue.
      {end, 80, 2, 80},   // Cost 50 plus the 30 charged.
      {start, 80, 0, 0},
      {end, 180, 0, 100},
  };
  EXPECT_EQ(seen, expected);
  sim.tracer().RemoveSink(&trace);
}

}  // namespace
}  // namespace vmbsim::fabric

namespace vmbsim::fabric {
namespace {

// Goal: an effect deferred with AtLocalNow becomes visible at the local time
// the VP reached it, in the order the VP produced it, even when the kernel
// permutes same-time events; an effect's charge occupies the VP afterwards.
TEST(VirtualProcessorEffectsTest, EffectsRunAtTheLocalTimeTheVpReachesThemInOrder) {
  for (uint64_t tie_break_seed = 0; tie_break_seed < 32; ++tie_break_seed) {
    sim::Simulator sim({.seed = 1, .tie_break_seed = tie_break_seed});
    VirtualProcessor vp(&sim, 0, 0);
    std::vector<std::pair<int64_t, int>> seen;
    vp.Queue(Irql::kDispatch, Ns(0), [&] {
      vp.AtLocalNow([&] { seen.emplace_back(sim.Now().nanoseconds(), 0); });  // At once: nothing charged.
      vp.Charge(Ns(100));
      vp.AtLocalNow([&] { seen.emplace_back(sim.Now().nanoseconds(), 1); });
      vp.AtLocalNow([&] { seen.emplace_back(sim.Now().nanoseconds(), 2); });  // Same instant, after 1.
      vp.Charge(Ns(50));
      vp.AtLocalNow([&] { seen.emplace_back(sim.Now().nanoseconds(), 3); });
    });
    // The next item starts at 150, after every effect due by then.
    vp.Queue(Irql::kDispatch, Ns(0), [&] { seen.emplace_back(sim.Now().nanoseconds(), 4); });
    sim.Run({});
    const std::vector<std::pair<int64_t, int>> expected = {{0, 0}, {100, 1}, {100, 2}, {150, 3}, {150, 4}};
    EXPECT_EQ(seen, expected) << "tie-break seed " << tie_break_seed;
  }
}

TEST(VirtualProcessorEffectsTest, AChargeInsideAnEffectPushesBackTheVpsLaterWork) {
  sim::Simulator sim({.seed = 1});
  VirtualProcessor vp(&sim, 0, 0);
  std::vector<std::pair<int64_t, int>> seen;
  vp.Queue(Irql::kDispatch, Ns(0), [&] {
    vp.Charge(Ns(100));
    vp.AtLocalNow([&] {
      EXPECT_TRUE(vp.running());
      EXPECT_EQ(VirtualProcessor::Current(), &vp);
      vp.Charge(Ns(30));  // A hypercall made at the publish.
      EXPECT_EQ(vp.LocalNow().nanoseconds(), 130);
      seen.emplace_back(sim.Now().nanoseconds(), 1);
    });
    vp.Charge(Ns(20));
    vp.AtLocalNow([&] { seen.emplace_back(sim.Now().nanoseconds(), 2); });  // 120 + 30.
  });
  vp.Queue(Irql::kDispatch, Ns(0), [&] { seen.emplace_back(sim.Now().nanoseconds(), 3); });
  sim.Run({});
  const std::vector<std::pair<int64_t, int>> expected = {{100, 1}, {150, 2}, {150, 3}};
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(vp.busy_time(), Ns(150));
  EXPECT_EQ(VirtualProcessor::Current(), nullptr);
}

// A stall while the VP is still inside an item delays that item's end and
// the effects it has not reached yet.
TEST(VirtualProcessorEffectsTest, AStallDelaysTheEffectsTheVpHasNotReached) {
  sim::Simulator sim({.seed = 1});
  VirtualProcessor vp(&sim, 0, 0);
  std::vector<int64_t> seen;
  vp.Queue(Irql::kDispatch, Ns(0), [&] {
    vp.Charge(Ns(100));
    vp.AtLocalNow([&] { seen.push_back(sim.Now().nanoseconds()); });
  });
  sim.ScheduleAt(SimTime::FromNanoseconds(40), [&] { vp.Stall(Ns(30)); });
  sim.Run({});
  EXPECT_EQ(seen, (std::vector<int64_t>{130}));
}

// Goal: the lifetime rule's mechanism. Work queued with an owner, and its
// deferred effects, never run once the owner cancels them.
TEST(VirtualProcessorEffectsTest, CancelOwnedDropsQueuedItemsAndDeferredEffects) {
  sim::Simulator sim({.seed = 1});
  VirtualProcessor vp(&sim, 0, 0);
  struct State {
    VirtualProcessor* vp;
    int owner_a = 0;
    int owner_b = 0;
    std::vector<int> ran;
  } state{&vp};
  int& owner_a = state.owner_a;
  int& owner_b = state.owner_b;
  std::vector<int>& ran = state.ran;
  vp.Queue(Irql::kDispatch, Ns(10), [s = &state] {
    s->vp->Charge(Ns(100));
    s->vp->AtLocalNow([s] { s->ran.push_back(1); }, &s->owner_a);
    s->vp->AtLocalNow([s] { s->ran.push_back(2); }, &s->owner_b);
  });
  vp.Queue(Irql::kDispatch, Ns(0), [&] { ran.push_back(3); }, &owner_a);
  vp.Queue(Irql::kPassive, Ns(0), [&] { ran.push_back(4); }, &owner_b);
  sim.ScheduleAt(SimTime::FromNanoseconds(50), [&] { EXPECT_EQ(vp.CancelOwned(&owner_a), 2u); });
  sim.Run({});
  EXPECT_EQ(ran, (std::vector<int>{2, 4}));
  // Cancelling everything leaves no start event behind.
  vp.Queue(Irql::kDispatch, Ns(0), [&] { ran.push_back(5); }, &owner_a);
  EXPECT_EQ(vp.CancelOwned(&owner_a), 1u);
  sim.Run({});
  EXPECT_TRUE(vp.idle());
  EXPECT_EQ(ran, (std::vector<int>{2, 4}));
}

}  // namespace
}  // namespace vmbsim::fabric
